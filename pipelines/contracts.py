"""Data contracts: ``data_contracts/<source>.yml`` is the one place a source is declared.

A contract names a source's columns (type, formats, aliases, code list), its keys, the columns
that identify its files, its identifier columns (pseudonymised after raw) and its row rules,
which may use values derived from a row's neighbours (``derived``, window functions over
``windows``: DfE's rules comparing an episode with the child's previous one).
From it come file recognition, the row checks that quarantine bad rows (set-based SQL in
DuckDB), the great-expectations suite of contract-level checks (both from ``column_checks``, the
one list of the checks a column's declaration implies) and the typing of the staging models
(``Column.typed_sql``, see ``pipelines.staging_models``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.settings import CONTRACTS_DIR
from pipelines.sqlquote import quote_literal

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

    def typed_sql(self) -> str:
        """SQL turning the column's exported text into its type: blank is null, a code
        upper-cased, a date in any of its formats, a number without thousands separators; null
        where the text does not parse. The row checks find the values this cannot type; staging
        types every value this way."""
        x = f'"{self.sql_name}"'
        blank = f"nullif(trim({x}), '')"
        if self.type == "code":
            return f"nullif(upper(trim({x})), '')"
        if self.type == "date":
            formats = ", ".join(quote_literal(f) for f in self.formats)
            return f"try_strptime({blank}, [{formats}])::date"
        if self.type == "integer":
            return f"try_cast({blank} as integer)"
        if self.type == "number":
            return f"try_cast(replace({blank}, ',', '') as double)"
        if self.type == "boolean":
            return (
                f"case when lower({blank}) in ('true', 't', 'yes', 'y', '1') then true "
                f"when lower({blank}) in ('false', 'f', 'no', 'n', '0') then false end"
            )
        return blank


# The checks a column's declaration implies, in the order they are made: ``missing_value`` for a
# column that is not nullable, ``<type>_format`` for a typed column, ``unknown_code`` for a column
# with a code list.
FORMAT_TYPES = ("date", "integer", "number", "boolean")


@dataclass(frozen=True)
class ColumnCheck:
    rule: str
    column: Column


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
    def column_checks(self) -> list[ColumnCheck]:
        """Every check the column declarations imply, column by column: the row checks and the
        great-expectations suite are both made from this list."""
        checks = []
        for c in self.columns:
            if not c.nullable:
                checks.append(ColumnCheck("missing_value", c))
            if c.type in FORMAT_TYPES:
                checks.append(ColumnCheck(f"{c.type}_format", c))
            if c.codes:
                checks.append(ColumnCheck("unknown_code", c))
        return checks

    def codes(self, column: Column) -> list[str]:
        """Every code of ``column``'s code list in any year, sorted."""
        return sorted(set().union(*(v.codes for v in self.code_lists[column.codes])))

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


def _one_of(value, allowed: set[str], what: str):
    """``value`` when it is one of ``allowed``; otherwise a ContractError naming ``what``."""
    if value not in allowed:
        raise ContractError(f"{what} must be one of {sorted(allowed)}")
    return value


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
        ctype = _one_of(c.get("type", "string"), TYPES, f"{where} columns[{i}]: type")
        formats = c.get("formats") or ([c["format"]] if c.get("format") else [])
        if ctype == "date" and not formats:
            formats = ["%Y-%m-%d"]
        personal = c.get("personal")
        if personal is not None:
            _one_of(personal, PERSONAL, f"{where} columns[{i}]: personal")
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
        rules.append(
            Rule(
                name=r["name"],
                fails_when=r["fails_when"],
                message=r["message"],
                column=r.get("column", ""),
                action=_one_of(r.get("action", "quarantine"), ACTIONS, f"{where} rules[{i}]: action"),
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
