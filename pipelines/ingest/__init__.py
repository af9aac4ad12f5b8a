"""Finding, recognising and loading export files into the ``raw`` schema of the warehouse."""

from pipelines.ingest.files import (
    ExportError,
    ExportFile,
    Part,
    collection_year_from_name,
    recognise,
    scan_exports,
)
from pipelines.ingest.load import ensure_raw_table, sha256_of, sync_source

__all__ = [
    "ExportError",
    "ExportFile",
    "Part",
    "collection_year_from_name",
    "ensure_raw_table",
    "recognise",
    "scan_exports",
    "sha256_of",
    "sync_source",
]
