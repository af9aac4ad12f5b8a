"""Staging models declared from the data contracts: ``models/staging/<table>.yml``.

A staging model renames, types and pseudonymises one source; nothing else. Everything but the
names is already in the source's contract, so a staging model is declared rather than written:

    description: One row per missing (M) or away from placement (A) episode per SSDA903 return.
    source: ssda903_missing
    columns:
      child_id: CHILD
      missing_type: MISSING
      missing_end: MIS_END

Each entry of ``columns`` names a staging column and gives a contract column (its value typed
as the contract declares it, ``Column.typed_sql``; an identifier as its pseudonym) or, for a
value the source does not give as such, a SQL expression over the typed columns (lower-case
contract names; tidying shared by several models is a macro of ``models/macros.sql``). The
model reads the source's checked view (``pipelines.quality.checked_view``): rows a check
excluded are left out and values a check cleared are null, so every value left types. Each
distinct identifier is hashed once and joined back: the HMAC is the costly part at scale.

``lineage`` lists the columns naming where a row came from (all three by default:
``collection_year``, ``source_file``, ``source_row_number``); ``materialized: view`` builds
the model as a view. The generated SQL is an ordinary model's (``pipelines.sqlmodels``): its
dependencies are read from it like any other's.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from pipelines.contracts import Contract, load_contracts
from pipelines.quality import checked_view
from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.sqlquote import quote_identifier

# Staging column -> the raw table's own column it comes from.
LINEAGE = {
    "collection_year": "_collection_year",
    "source_file": "_source_file",
    "source_row_number": "_row_number",
}
KEYS = {"description", "source", "columns", "lineage", "materialized"}


class StagingModelError(ValueError):
    """A staging model declaration is malformed; the message names the file."""


def declared_models(folder: Path) -> list[tuple[Path, str]]:
    """(declaration, generated SQL) for every ``*.yml`` staging model in ``folder``."""
    return [(path, staging_sql(path)) for path in sorted(folder.glob("*.yml"))]


def staging_sql(path: Path) -> str:
    """The select of the staging model declared in ``path``."""
    try:
        doc = load_yaml(path, what="staging model")
    except YamlFileError as exc:
        raise StagingModelError(str(exc)) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("columns"), dict) or not doc["columns"]:
        raise StagingModelError(f"{path}: expected a mapping with a source and its columns")
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise StagingModelError(f"{path}: unknown key(s) {', '.join(unknown)}")
    contract = load_contracts().get(doc.get("source"))
    if contract is None:
        raise StagingModelError(f"{path}: source {doc.get('source')!r} has no data contract")
    lineage = doc.get("lineage", list(LINEAGE))
    if not isinstance(lineage, list) or set(lineage) - set(LINEAGE):
        raise StagingModelError(f"{path}: lineage lists some of {', '.join(LINEAGE)}")
    columns = {str(name): str(value).strip() for name, value in doc["columns"].items()}
    header = textwrap.wrap(" ".join(str(doc.get("description", "")).split()), 96)
    if doc.get("materialized"):
        header.append(f"materialized: {doc['materialized']}")
    return _select(contract, columns, lineage, header)


def _select(contract: Contract, columns: dict[str, str], lineage: list[str], header: list[str]) -> str:
    by_name = {c.name.upper(): c for c in contract.columns}
    # identifiers given as staging columns, each joined to its pseudonym
    pseudonymised = [
        by_name[value.upper()].sql_name
        for value in columns.values()
        if value.upper() in by_name and by_name[value.upper()].name in contract.identifiers
    ]
    typed = [
        quote_identifier(c.sql_name)
        if c.name in contract.identifiers
        else f"{c.typed_sql()} as {quote_identifier(c.sql_name)}"
        for c in contract.columns
    ]
    selected = []
    for name, value in columns.items():
        column = by_name.get(value.upper())
        if column is None:
            selected.append(f"{value} as {name}")
        elif column.sql_name in pseudonymised:
            selected.append(f"{column.sql_name}_pseudonym.pseudonym as {name}")
        else:
            selected.append(f"{quote_identifier(column.sql_name)} as {name}")
    selected += [f"{LINEAGE[name]} as {name}" for name in lineage]
    ctes = [
        f"source as not materialized (\n    select * from {checked_view(contract)}"
        "  -- active rows not excluded; values a check cleared are null\n)"
    ]
    joins = ""
    if pseudonymised:
        ids = " union all ".join(f"select {quote_identifier(c)} as id from source" for c in pseudonymised)
        ctes.append(
            "pseudonyms as (\n"
            "    -- Each distinct identifier is hashed once, then joined back: the HMAC is the costly part.\n"
            f"    select id, pseudonym(id) as pseudonym from (select distinct id from ({ids}))\n)"
        )
        joins = "".join(
            f"\n    left join pseudonyms as {c}_pseudonym on typed.{quote_identifier(c)} = {c}_pseudonym.id"
            for c in pseudonymised
        )
    ctes.append(_cte("typed", typed + list(LINEAGE.values()), "source"))
    ctes.append(_cte("renamed", selected, "typed" + joins))
    comment = "".join(f"-- {line}\n" for line in header)
    return comment + "with " + ",\n\n".join(ctes) + "\n\nselect * from renamed"


def _cte(name: str, expressions: list[str], relation: str) -> str:
    body = "".join(f"        {e},\n" for e in expressions)
    return f"{name} as (\n    select\n{body}    from {relation}\n)"
