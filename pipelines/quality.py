"""Row checks from the data contracts, as set-based SQL over the raw tables.

Every rule a source must meet is declared in its contract: required values, date and number
formats, code lists versioned by collection year, keys unique within a file and the contract's
own row rules, which may compare a row with its neighbours through the contract's ``derived``
values (window functions, e.g. the child's previous episode for DfE's rules ``dfe_<code>``).
Rows failing a ``quarantine`` rule go to ``quality.quarantine`` with the file,
row number, column, value, rule and message, and are flagged ``_quarantined`` in raw so staging
leaves them out; ``warn`` rules are recorded but the row flows on. Identifier values are
pseudonymised before they are written to the quality schema, and personal values (a column the
contract marks ``personal``: dates, postcodes, names) are masked in both value and message
(``19**-**-**``, the postcode district only, the first letter of a name).
"""

from __future__ import annotations

import re

import duckdb

from pipelines.contracts import Column, Contract
from pipelines.sqlquote import quote_literal

QUARANTINE_DDL = """
create table if not exists quality.quarantine (
    source varchar, source_file varchar, row_number bigint, column_name varchar, value varchar,
    rule varchar, message varchar, action varchar, collection_year integer, record_id varchar
)"""
QUARANTINE_COLUMNS = (
    "source, source_file, row_number, column_name, value, rule, message, action, collection_year, record_id"
)
# What a failing value does to its row (DESIGN §2b): ``excluded`` the row leaves the figures (its
# key is unusable); ``kept`` the value is cleared to null and the row stays; ``warn`` recorded only.
EXCLUDED, KEPT, WARN = "excluded", "kept", "warn"
# How each action treated its row, in the words every report and the data-quality page use
# ("quarantine": the excluded rows of a warehouse built before actions were recorded).
TREATMENT = {
    EXCLUDED: "excluded from the figures",
    "quarantine": "excluded from the figures",
    KEPT: "kept with the value cleared",
    WARN: "kept, warning only",
}
CONTRACT_RESULTS_DDL = """
create table if not exists quality.contract_results (
    source varchar, check_name varchar, success boolean, unexpected_count bigint,
    severity varchar, message varchar, engine varchar, checked_at timestamp
)"""

_FORMAT_LABELS = {"%d/%m/%Y": "dd/mm/YYYY", "%Y-%m-%d": "YYYY-MM-DD"}


_q = quote_literal


def mask_sql(kind: str, x: str) -> str:
    """SQL masking the text ``x`` of a personal value of ``kind`` (see ``contracts.PERSONAL``).

    A date keeps its separators and the century of its year (``1987-03-12`` and ``12/03/1987``
    become ``19**-**-**`` and ``**/**/19**``); a postcode keeps its district (the outward code,
    ``SW1A 1AA`` -> ``SW1A ***``); a name keeps its first letter. Every other digit or letter in
    a date column is starred (a month name or a name typed into it included).
    """
    if kind == "date":
        starred = f"regexp_replace({x}, '[0-9A-Za-z]', '*', 'g')"
        century = f"regexp_extract({x}, '(?:^|[^0-9])(19|20)[0-9][0-9](?:[^0-9]|$)', 1)"
        return (
            f"case when {century} <> '' then regexp_replace({starred}, "
            f"'(^|[^*])\\*\\*\\*\\*($|[^*])', '\\1' || {century} || '**\\2') "
            f"else {starred} end"
        )
    if kind == "postcode":
        compact = f"upper(regexp_replace(trim({x}), '\\s+', '', 'g'))"
        return (
            f"case when length({compact}) >= 5 then left({compact}, length({compact}) - 3) || ' ***' "
            f"when length({compact}) > 0 then '***' end"
        )
    if kind == "name":
        return f"case when length(trim({x})) > 0 then left(trim({x}), 1) || '***' end"
    raise ValueError(f"unknown kind of personal value {kind!r}")


def shown_value_sql(column: Column, x: str, identifiers=()) -> str:
    """SQL for the value of ``column`` as the quality schema may show it: an identifier as its
    pseudonym, a personal value masked, anything else as exported."""
    if column.name in identifiers:
        return f"pseudonym({x})::varchar"
    if column.personal:
        return mask_sql(column.personal, x)
    return f"{x}::varchar"


def _expected(column: Column) -> str:
    """What a value of a typed column must be, as a failure message says it."""
    if column.type == "date":
        return "a date in " + " or ".join(_FORMAT_LABELS.get(f, f) for f in column.formats)
    return {"integer": "a whole number", "number": "a number", "boolean": "true/false"}[column.type]


def _code_condition(versions, value: str) -> str:
    """SQL true when ``value`` is in the code list version of the row's collection year."""
    every = sorted(set().union(*(v.codes for v in versions)))
    branches = []
    for v in versions:
        low = v.first_year if v.first_year is not None else -9999
        high = v.last_year if v.last_year is not None else 9999
        branches.append(
            f"when _collection_year between {low} and {high} then {value} in ({', '.join(_q(c) for c in sorted(v.codes))})"
        )
    return (
        f"(case when _collection_year is null then {value} in ({', '.join(_q(c) for c in every)}) "
        + " ".join(branches)
        + f" else {value} in ({', '.join(_q(c) for c in every)}) end)"
    )


def failures_sql(contract: Contract) -> str:
    """One select of every row failure of ``raw.<source>``: one row per failing value."""
    table = f"raw.{contract.source}"
    typed_cols = ", ".join(
        f'"{c.sql_name}" as "raw__{c.sql_name}", {c.typed_sql()} as "{c.sql_name}"' for c in contract.columns
    )
    record = (
        f'"{contract.column(contract.identifiers[0]).sql_name}"' if contract.identifiers else "null::varchar"
    )
    typed = f"select _source_file, _row_number, _collection_year, {record} as _record, {typed_cols} from {table}"
    ctes = [f"typed as not materialized ({typed})"]
    if contract.derived:
        # Values derived from a row's neighbours (the contract's ``derived``: window functions
        # over the typed rows, e.g. the previous episode's DEC). The rules using them scan this
        # relation; DuckDB carries only the columns those rules read through the window's sort.
        values = ", ".join(f'({sql}) as "{name}"' for name, sql in contract.derived.items())
        windows = ", ".join(f"{name} as ({spec})" for name, spec in contract.windows.items())
        window_clause = f" window {windows}" if windows else ""
        ctes.append(f"derived as not materialized (select typed.*, {values} from typed{window_clause})")
    # scanned relation (typed or derived) -> [(condition, struct of column_name, value, rule, message, action)]
    row_rules: dict[str, list[tuple[str, str]]] = {}
    selects = []
    row_key = contract.row_key

    def add(
        column: Column, rule: str, condition: str, message_sql: str, action: str = "quarantine",
        scan: str = "typed",
    ):
        if action != "warn":  # a failing key excludes the row; any other value is cleared, the row kept
            action = EXCLUDED if column.name in row_key else KEPT
        value = shown_value_sql(column, f'"raw__{column.sql_name}"', contract.identifiers)
        row_rules.setdefault(scan, []).append((
            f"({condition})",
            f"{{'column_name': {_q(column.name)}, 'value': {value}, 'rule': {_q(rule)}, "
            f"'message': ({message_sql})::varchar, 'action': {_q(action)}}}",
        ))

    for check in contract.column_checks:
        c = check.column
        raw = f'nullif(trim("raw__{c.sql_name}"), \'\')'
        if check.rule == "missing_value":
            add(c, check.rule, f"{raw} is null", _q(f"{c.name} is blank; a value is required"))
        elif check.rule == "unknown_code":
            versions = contract.code_lists[c.codes]
            add(
                c,
                check.rule,
                f'"{c.sql_name}" is not null and not {_code_condition(versions, chr(34) + c.sql_name + chr(34))}',
                f"{_q(c.name + ' ')} || {_q(chr(39))} || \"{c.sql_name}\" || {_q(chr(39) + ' is not in the code list for ')} "
                f"|| coalesce(_collection_year::varchar, 'any year')",
            )
        else:  # <type>_format: text given that does not parse as the column's type
            add(
                c,
                check.rule,
                f'{raw} is not null and "{c.sql_name}" is null',
                f"{_q(c.name + ' ')} || {_q(chr(39))} || "
                f"{shown_value_sql(c, chr(34) + 'raw__' + c.sql_name + chr(34), contract.identifiers)} "
                f"|| {_q(chr(39) + ' is not ' + _expected(c))}",
            )
    derived_name = re.compile(r"\b(?:" + "|".join(map(re.escape, contract.derived)) + r")\b")
    for rule in contract.rules:
        column = contract.column(rule.column) if rule.column else contract.columns[0]
        scan = "derived" if contract.derived and derived_name.search(rule.fails_when) else "typed"
        add(column, rule.name, f"coalesce(({rule.fails_when}), false)", _q(rule.message), rule.action, scan)
    for key in contract.keys:
        cols = [contract.column(k) for k in key]
        names = ", ".join(f'"{c.sql_name}"' for c in cols)
        not_null = " and ".join(f'"{c.sql_name}" is not null' for c in cols)
        label = " + ".join(c.name for c in cols)
        selects.append(
            f"select _source_file, _row_number, {_q(cols[-1].name)} as column_name, "
            + (
                f'pseudonym("raw__{cols[0].sql_name}")::varchar'
                if cols[0].name in contract.identifiers
                else shown_value_sql(cols[-1], f'"raw__{cols[-1].sql_name}"')
            )
            + f" as value, 'duplicate_key' as rule, "
            f"{_q('duplicate ' + label + ' in this file; first given at row ')} || first_row::varchar as message, "
            f"'{EXCLUDED}' as action, _collection_year, pseudonym(_record)::varchar as record_id from ("
            f"select typed.*, row_number() over (partition by _source_file, {names} order by _row_number) as n, "
            f"min(_row_number) over (partition by _source_file, {names}) as first_row "
            # Window only over keys that may repeat: those whose 64-bit hash repeats (a hash
            # aggregate over one integer, not the key's text; a collision only adds a key the
            # window then finds unrepeated). Sorting every row of a large source to find a
            # handful of duplicates cost seconds.
            f"from typed where {not_null} and hash(_source_file, {names}) in (select hash(_source_file, {names}) "
            f"from typed where {not_null} group by all having count(*) > 1)) where n > 1"
        )
    scans = []
    for scanned, rules in row_rules.items():
        # One scan for every row rule (and one of the derived rows for the rules using derived
        # values): the rows failing any, then one row per failure.
        any_failure = " or ".join(condition for condition, _ in rules)
        failures = ", ".join(f"case when {condition} then {failure} end" for condition, failure in rules)
        scans.append(
            "select _source_file, _row_number, failure.column_name, failure.value, failure.rule, "
            "failure.message, failure.action, _collection_year, pseudonym(_record)::varchar as record_id from ("
            f"select _source_file, _row_number, _collection_year, _record, "
            f"unnest(list_filter([{failures}], lambda f: f is not null)) as failure "
            f"from {scanned} where {any_failure})"
        )
    return "with " + ",\n".join(ctes) + "\n" + "\nunion all\n".join(scans + selects)


def checked_view(contract: Contract) -> str:
    """Name of the view staging reads: the active rows not excluded, each value a check
    cleared (``action = 'kept'``) as null, every other value as exported."""
    return f"raw.{contract.source}_checked"


def _create_checked_view(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    columns = ", ".join(
        f"case when list_contains(cleared.columns, {_q(c.sql_name)}) then null else t.\"{c.sql_name}\" end "
        f"as \"{c.sql_name}\""
        for c in contract.columns
    )
    con.execute(
        f"""create or replace view {checked_view(contract)} as
        select {columns}, t._extra, t._source_file, t._row_number, t._collection_year
        from raw.{contract.source} as t
        left join (
            select source_file, row_number, list(distinct lower(column_name)) as columns
            from quality.quarantine where source = {_q(contract.source)} and action = '{KEPT}'
            group by all
        ) as cleared on t._source_file = cleared.source_file and t._row_number = cleared.row_number
        where t._active and not t._quarantined"""
    )


def check_rows(con: duckdb.DuckDBPyConnection, contract: Contract) -> dict:
    """Recompute the quarantine of one source, flag its excluded raw rows and (re)create the
    checked view staging reads; returns counts by rule."""
    con.execute("create schema if not exists quality")
    con.execute(QUARANTINE_DDL)
    con.execute("alter table quality.quarantine add column if not exists record_id varchar")
    table = f"raw.{contract.source}"
    con.execute("delete from quality.quarantine where source = ?", [contract.source])
    total = con.execute(f"select count(*) from {table}").fetchone()[0]
    if not total:  # no export of this source: nothing to check (the rules' query is not planned)
        _create_checked_view(con, contract)
        return {"rows": 0, "quarantined_rows": 0, "by_rule": {}}
    con.execute(
        f"insert into quality.quarantine ({QUARANTINE_COLUMNS}) select {_q(contract.source)}, _source_file, "
        f"_row_number, column_name, value, rule, message, action, _collection_year, record_id "
        f"from ({failures_sql(contract)})"
    )
    con.execute(f"update {table} set _quarantined = false where _quarantined")
    con.execute(
        f"""update {table} as t set _quarantined = true
        from (select distinct source_file, row_number from quality.quarantine
              where source = ? and action = '{EXCLUDED}') as q
        where t._source_file = q.source_file and t._row_number = q.row_number""",
        [contract.source],
    )
    _create_checked_view(con, contract)
    rows = con.execute(
        "select rule, action, count(*) from quality.quarantine where source = ? group by all order by all",
        [contract.source],
    ).fetchall()
    quarantined = con.execute(f"select count(*) from {table} where _quarantined").fetchone()[0]
    return {
        "rows": total,
        "quarantined_rows": quarantined,
        "by_rule": {f"{rule} ({action})": n for rule, action, n in rows},
    }
