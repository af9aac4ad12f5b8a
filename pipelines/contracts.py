"""Data contracts: ``data_contracts/<source>.yml`` is the one place a source's columns are declared."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from pipelines.settings import CONTRACTS_DIR


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    format: str | None = None


@dataclass(frozen=True)
class Contract:
    source: str
    title: str
    family: str
    format: str
    columns: tuple[Column, ...]
    keys: tuple[tuple[str, ...], ...]
    collection_year_from: tuple[str, ...]
    path: Path

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> set[str]:
        return {c.name.upper() for c in self.columns if c.required}


def _parse(path: Path) -> Contract:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    columns = tuple(
        Column(
            name=c["name"],
            type=c.get("type", "string"),
            required=bool(c.get("required", False)),
            format=c.get("format"),
        )
        for c in doc["columns"]
    )
    return Contract(
        source=doc["source"],
        title=doc.get("title", doc["source"]),
        family=doc.get("family", doc["source"]),
        format=doc.get("format", "csv"),
        columns=columns,
        keys=tuple(tuple(k) for k in doc.get("keys", [])),
        collection_year_from=tuple(doc.get("collection_year_from") or ()),
        path=path,
    )


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """Every contract in ``directory``, by source name."""
    contracts = {}
    for path in sorted(directory.glob("*.yml")):
        contract = _parse(path)
        contracts[contract.source] = contract
    return contracts
