"""Staging XML exports for loading: streaming parse → Arrow record batches → Parquet files.

``stage_xml`` reads one XML export with its streaming reader (lxml ``iterparse``, elements
cleared as they go) and writes each source's rows, every value as text plus ``_row_number``,
to one Parquet file per source in batches of ``BATCH_ROWS``: memory stays flat whatever the
file size, and the loader then inserts with DuckDB's ``read_parquet``. ``XmlStager`` parses
several large files in worker processes (one per core) while the loader inserts the ones done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pipelines.ingest.files import ExportError
from pipelines.ingest.xml_readers import READERS

BATCH_ROWS = 50_000
# Parse in worker processes only when there is enough XML to repay starting them.
PARALLEL_MIN_BYTES = 64 * 1024 * 1024


def stage_xml(
    family: str, path: str | Path, columns: dict[str, list[str]], folder: str | Path, stem: str
) -> dict[str, str]:
    """Write the rows of each source in ``columns`` (source → contract column names) read from
    the XML file ``path`` to ``<folder>/<stem>.<source>.parquet``; returns source → path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    types = {
        source: pa.struct([(name, pa.string()) for name in names] + [("_row_number", pa.int64())])
        for source, names in columns.items()
    }
    paths = {source: folder / f"{stem}.{source}.parquet" for source in columns}
    buffers: dict[str, list] = {source: [] for source in columns}
    writers = {}

    def flush(source: str) -> None:
        rows = buffers[source]
        if rows:
            writers[source].write_batch(pa.RecordBatch.from_struct_array(pa.array(rows, type=types[source])))
            rows.clear()

    try:
        for source, struct in types.items():
            # read once, whole, by the loader: no dictionaries or statistics to build (a third of
            # the write time; the files are ~12 % larger)
            writers[source] = pq.ParquetWriter(
                paths[source], pa.schema(list(struct)), compression="snappy",
                use_dictionary=False, write_statistics=False,
            )
        for source, row in READERS[family](Path(path)):
            rows = buffers.get(source)
            if rows is None:
                continue
            rows.append(row)
            if len(rows) >= BATCH_ROWS:
                flush(source)
        for source in columns:
            flush(source)
    finally:
        for writer in writers.values():
            writer.close()
    return {source: str(p) for source, p in paths.items()}


class XmlStager:
    """Stages XML files into ``folder``, in worker processes when there are several large ones.

    ``submit(stem, family, path, columns)`` queues a file for a worker process (at most one per
    core run at once; does nothing without workers); ``result(stem, family, path, columns)``
    returns its Parquet paths, staging it in this process if it was not submitted. A worker is
    ``python -m pipelines.ingest.xml_stage`` (a plain subprocess: nothing depends on how this
    process was started); its ``ExportError`` (malformed XML) is raised again by ``result``.
    Use as a context manager: queued work is dropped and running workers stopped at exit.
    """

    def __init__(self, folder: Path, parallel: bool, workers: int | None = None):
        self.folder = Path(folder)
        self.futures: dict[str, Future] = {}
        self.done: dict[str, dict[str, str]] = {}
        self.running: set[subprocess.Popen] = set()
        self.closed = False
        self.pool = None
        if parallel:
            self.pool = ThreadPoolExecutor(max(1, min(workers or os.cpu_count() or 1, 4)), "xml-stage")

    @staticmethod
    def worth_parallel(sizes: list[int]) -> bool:
        return (os.cpu_count() or 1) > 1 and len(sizes) > 1 and sum(sizes) >= PARALLEL_MIN_BYTES

    def submit(self, stem: str, family: str, path: Path, columns: dict[str, list[str]]) -> None:
        if self.pool is not None and stem not in self.futures:
            self.futures[stem] = self.pool.submit(self._work, stem, family, Path(path), columns)

    def _work(self, stem: str, family: str, path: Path, columns: dict[str, list[str]]) -> dict[str, str]:
        if self.closed:
            raise RuntimeError("XML staging stopped")
        command = [
            sys.executable, "-m", "pipelines.ingest.xml_stage",
            family, str(path), str(self.folder), stem, json.dumps(columns),
        ]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.running.add(process)
        try:
            out, err = process.communicate()
        finally:
            self.running.discard(process)
        if process.returncode == EXPORT_ERROR_EXIT:
            raise ExportError(err.strip())
        if process.returncode != 0:
            tail = "\n".join(err.strip().splitlines()[-5:])
            raise RuntimeError(f"staging {path.name} failed (exit {process.returncode}): {tail}")
        return json.loads(out)

    def result(self, stem: str, family: str, path: Path, columns: dict[str, list[str]]) -> dict[str, str]:
        if stem not in self.done:
            if stem in self.futures:
                self.done[stem] = self.futures.pop(stem).result()
            else:
                self.done[stem] = stage_xml(family, path, columns, self.folder, stem)
        return self.done[stem]

    def close(self) -> None:
        self.closed = True
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            for process in list(self.running):
                process.kill()
            self.pool.shutdown(wait=True)
            self.pool = None

    def __enter__(self) -> XmlStager:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


EXPORT_ERROR_EXIT = 3


def main(argv: list[str] | None = None) -> int:
    """``python -m pipelines.ingest.xml_stage FAMILY XML FOLDER STEM COLUMNS_JSON``: stage one
    file; prints the Parquet paths as JSON (exit 3 with the message for malformed XML)."""
    family, path, folder, stem, columns = argv if argv is not None else sys.argv[1:]
    try:
        paths = stage_xml(family, path, json.loads(columns), folder, stem)
    except ExportError as exc:
        print(str(exc), file=sys.stderr)
        return EXPORT_ERROR_EXIT
    print(json.dumps(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
