"""Where things live: the repository's folders and the run-time paths the asset graph uses.

Run-time paths come from environment variables so that the `oba` CLI and `dagster dev` share
one set of Definitions:

- ``OBA_EXPORTS``   folder of case exports to ingest (default ``demo/exports``)
- ``OBA_OUT``       output folder: warehouse, site, board pack (default ``demo``)
- ``OBA_CONFIG``    path of an ``oba.yaml`` (default: ``<exports>/oba.yaml`` when present)
- ``OBA_WAREHOUSE`` DuckDB file (default ``<OBA_OUT>/warehouse.duckdb``)
- ``OBA_MODELS``    SQL models folder (default: ``models/`` of this repository)
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = PROJECT_ROOT / "data_contracts"
DEFAULT_MODELS_DIR = PROJECT_ROOT / "models"

ENV_DEFAULTS = {
    "OBA_EXPORTS": str(PROJECT_ROOT / "demo" / "exports"),
    "OBA_OUT": str(PROJECT_ROOT / "demo"),
}


def apply_env_defaults(environ: dict | None = None) -> None:
    """Fill the OBA_* variables that are unset, deriving the warehouse path from the output folder."""
    env = os.environ if environ is None else environ
    for name, value in ENV_DEFAULTS.items():
        env.setdefault(name, value)
    env.setdefault("OBA_WAREHOUSE", str(Path(env["OBA_OUT"]) / "warehouse.duckdb"))
    env.setdefault("OBA_CONFIG", "")
    env.setdefault("OBA_AUTHORITIES", "")
    env.setdefault("OBA_MODELS", str(DEFAULT_MODELS_DIR))


def models_dir() -> Path:
    return Path(os.environ.get("OBA_MODELS") or DEFAULT_MODELS_DIR)
