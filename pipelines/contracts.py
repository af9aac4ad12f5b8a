"""Data contracts: ``data_contracts/<source>.yml`` is the one place a source is declared.

A contract names a source's columns (type, formats, aliases, code list), its keys, the columns
that identify its files, its identifier columns (pseudonymised after raw) and its row rules,
which may use values derived from a row's neighbours (``derived``, window functions over
``windows``: DfE's rules comparing an episode with the child's previous one).
From it come file recognition, the row checks that quarantine bad rows (set-based SQL in
DuckDB) and the great-expectations suite of contract-level checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.settings import CONTRACTS_DIR

TYPES = {"string", "code", "date", "integer", "number", "boolean"}
# Kinds of personal value a column may hold: masked wherever a value is shown (quarantine,
# ``oba validate``, the data-quality page), see ``pipelines.quality.mask_sql``.
PERSONAL = {"date", "postcode", "name"}
SEVERITIES = {"blocking", "warning"}
ACTIONS = {"quarantine", "warn"}
# A derived value or named window: a lower-case SQL identifier (used unquoted in rule SQL).
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# Columns every row of a raw table has besides the contract's own (see ``quality.failures_sql``).
META_NAMES = {"_source_file", "_row_number", "_collection_year", "_record"}


class ContractError(ValueError):
    """A contract file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    required: bool = True
    nullable: bool = True
    formats: tuple[str, ...] = ()
    codes: str | None = None
    aliases: tuple[str, ...] = ()
    personal: str | None = None  # date, postcode or name: masked wherever a value is shown

    @property
    def sql_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class CodeListVersion:
    codes: frozenset[str]
    first_year: int | None = None
    last_year: int | None = None
    # The guidance the codes come from (e.g. "DfE SSDA903 guide 2018 to 2019"); the loader
    # refuses a version without one, so every list in force cites its source.
    source: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    fails_when: str
    message: str
    column: str
    action: str = "quarantine"


@dataclass(frozen=True)
class Contract:
    source: str
    title: str
    family: str
    format: str
    columns: tuple[Column, ...]
    keys: tuple[tuple[str, ...], ...]
    collection_year_from: tuple[str, ...]
    recognise_by: frozenset[str]
    identifiers: tuple[str, ...]
    code_lists: dict[str, tuple[CodeListVersion, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    path: Path | None = None
    # Values a row's rules may use besides its own columns: name -> SQL expression over the
    # typed columns, typically a window function comparing a row with its neighbours (the
    # previous episode of the same child). ``windows`` names window specifications
    # (``over <name>``) these expressions share.
    derived: dict[str, str] = field(default_factory=dict)
    windows: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def row_key(self) -> frozenset[str]:
        """Columns without which a row cannot be used (DESIGN §2b): its keys, its non-nullable
        identifiers and its non-nullable dates that are not personal (a start date such as
        DECOM). A problem in one of these excludes the row; anywhere else the value is cleared
        and the row kept."""
        key = {name for k in self.keys for name in k}
        key |= {c.name for c in self.columns if not c.nullable and c.name in self.identifiers}
        key |= {c.name for c in self.columns if not c.nullable and c.type == "date" and not c.personal}
        return frozenset(key)

    @property
    def required_columns(self) -> set[str]:
        return {c.name.upper() for c in self.columns if c.required}

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name.upper() == name.upper():
                return c
        raise KeyError(name)

    def header_map(self, header: tuple[str, ...]) -> dict[str, str]:
        """Contract column name → the file's own header name, via names and aliases."""
        upper = {h.strip().upper(): h for h in header}
        found = {}
        for c in self.columns:
            for candidate in (c.name, *c.aliases):
                if candidate.upper() in upper:
                    found[c.name] = upper[candidate.upper()]
                    break
        return found


def _parse(path: Path) -> Contract:
    where = str(path)
    try:
        doc = load_yaml(path, what="data contract")
    except YamlFileError as exc:
        raise ContractError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise ContractError(f"{where}: expected a mapping at the top level")
    columns = []
    for i, c in enumerate(doc.get("columns") or [], start=1):
        ctype = c.get("type", "string")
        if ctype not in TYPES:
            raise ContractError(f"{where} columns[{i}]: type must be one of {sorted(TYPES)}")
        formats = c.get("formats") or ([c["format"]] if c.get("format") else [])
        if ctype == "date" and not formats:
            formats = ["%Y-%m-%d"]
        personal = c.get("personal")
        if personal is not None and personal not in PERSONAL:
            raise ContractError(f"{where} columns[{i}]: personal must be one of {sorted(PERSONAL)}")
        columns.append(
            Column(
                name=c["name"],
                type=ctype,
                required=bool(c.get("required", True)),
                nullable=bool(c.get("nullable", True)),
                formats=tuple(formats),
                codes=c.get("codes"),
                aliases=tuple(c.get("aliases") or ()),
                personal=personal,
            )
        )
    if not columns:
        raise ContractError(f"{where}: a contract needs columns")
    code_lists = {}
    for name, versions in (doc.get("code_lists") or {}).items():
        parsed = []
        for i, v in enumerate(versions or [], start=1):
            source = v.get("source")
            if not isinstance(source, str) or not source.strip():
                raise ContractError(
                    f"{where} code_lists.{name}[{i}]: a code list version needs a source "
                    "(the guidance its codes come from, e.g. \"DfE SSDA903 guide 2018 to 2019\")"
                )
            parsed.append(
                CodeListVersion(
                    codes=frozenset(str(x).upper() for x in v["codes"]),
                    first_year=v.get("from"),
                    last_year=v.get("to"),
                    source=source.strip(),
                )
            )
        code_lists[name] = tuple(parsed)
    for c in columns:
        if c.codes and c.codes not in code_lists:
            raise ContractError(f"{where}: column {c.name} names unknown code list {c.codes!r}")
    rules = []
    for i, r in enumerate(doc.get("rules") or [], start=1):
        action = r.get("action", "quarantine")
        if action not in ACTIONS:
            raise ContractError(f"{where} rules[{i}]: action must be one of {sorted(ACTIONS)}")
        rules.append(
            Rule(
                name=r["name"],
                fails_when=r["fails_when"],
                message=r["message"],
                column=r.get("column", ""),
                action=action,
            )
        )
    taken = {c.sql_name for c in columns} | META_NAMES
    named = {}
    for key in ("windows", "derived"):
        entries = doc.get(key) or {}
        if not isinstance(entries, dict):
            raise ContractError(f"{where}: {key} must be a mapping of name to SQL")
        named[key] = {}
        for name, sql in entries.items():
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise ContractError(f"{where} {key}.{name}: a name must be lower-case letters, digits and _")
            if name in taken or name.startswith("raw__"):
                raise ContractError(f"{where} {key}.{name}: the name is already a column of the source")
            if not isinstance(sql, str) or not sql.strip() or ";" in sql:
                raise ContractError(f"{where} {key}.{name}: expected one SQL expression")
            taken.add(name)
            named[key][name] = sql.strip()
    required = {c.name.upper() for c in columns if c.required}
    return Contract(
        source=doc["source"],
        title=doc.get("title", doc["source"]),
        family=doc.get("family", doc["source"]),
        format=doc.get("format", "csv"),
        columns=tuple(columns),
        keys=tuple(tuple(k) for k in doc.get("keys", [])),
        collection_year_from=tuple(doc.get("collection_year_from") or ()),
        recognise_by=frozenset(x.upper() for x in (doc.get("recognise_by") or required)),
        identifiers=tuple(doc.get("identifiers") or ()),
        code_lists=code_lists,
        rules=tuple(rules),
        path=path,
        derived=named["derived"],
        windows=named["windows"],
    )


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """Every contract in ``directory``, by source name."""
    contracts = {}
    for path in sorted(directory.glob("*.yml")):
        contract = _parse(path)
        contracts[contract.source] = contract
    return contracts
