"""Clients served in 12 months are counted from merged enrolment spans (int_case_served_spans).

The merged spans must give exactly the month ends the definition gives when every enrolment is
joined to every month end: start_date <= X and (end_date null or end_date > X - 1 year), one
row per programme, client and X, and (for the other breakdowns) one per client and X. Random
enrolments probe overlaps, nesting, equal starts, open ends and 29 February.
"""

import datetime as dt
from pathlib import Path

import duckdb
from conftest import examples, memory_duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sqlmodels import discover_models, register_macros

MODELS = discover_models(Path(__file__).resolve().parent.parent / "models")

# Month ends from January 2019 to December 2025 (2020 and 2024 are leap years).
PERIODS = "select last_day(make_date(y, m, 1)) as period_end from range(2019, 2026) t(y), range(1, 13) u(m)"

# Month ends on which an enrolment (the definition) or a merged span serves, one row per
# {columns}: "e.program, e.client_id" or "e.client_id" ("s." for spans of that scope).
DEFINITION = """
select distinct p.period_end, {columns}
from int_case_periods p
join int_program_enrolments e
    on e.start_date <= p.period_end
    and coalesce(e.end_date, date '9999-12-31') > (p.period_end - interval 1 year)::date
"""

SPANS = """
select p.period_end, {columns}
from int_case_periods p
join int_case_served_spans s
    on s.scope = '{scope}'
    and s.start_date <= p.period_end
    and s.end_date > (p.period_end - interval 1 year)::date
"""
SPANS_BY_PROGRAM = SPANS.format(scope="program", columns="s.program, s.client_id")
SPANS_BY_CLIENT = SPANS.format(scope="client", columns="s.client_id")

dates = st.dates(min_value=dt.date(2019, 1, 1), max_value=dt.date(2025, 12, 31))
enrolment = st.tuples(
    st.sampled_from(["C1", "C2", "C3"]),
    st.sampled_from(["Family Support", "Parenting"]),
    dates,
    st.one_of(st.none(), st.integers(min_value=0, max_value=900)),
    st.sampled_from([None, dt.date(2020, 2, 29), dt.date(2024, 2, 29), dt.date(2023, 2, 28)]),
)


def _warehouse(rows) -> duckdb.DuckDBPyConnection:
    con = memory_duckdb()
    register_macros(con)
    con.execute(f"create table int_case_periods as {PERIODS}")
    con.execute(
        "create table int_program_enrolments (enrolment_id varchar, client_id varchar, program varchar, "
        "start_date date, end_date date, date_of_birth date, sex varchar, ethnicity varchar, locality varchar)"
    )
    for i, (client, program, start, length, pinned_end) in enumerate(rows):
        end = pinned_end if pinned_end is not None and pinned_end >= start else (
            None if length is None else start + dt.timedelta(days=length)
        )
        con.execute(
            "insert into int_program_enrolments values (?, ?, ?, ?, ?, date '2012-05-01', 'Female', 'White', 'AB1')",
            [f"E{i}", client, program, start, end],
        )
    con.execute(f"create table int_case_served_spans as {MODELS['int_case_served_spans'].sql}")
    return con


def _rows(con, sql):
    return sorted(con.execute(sql).fetchall())


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(enrolment, min_size=1, max_size=8))
def test_spans_serve_the_same_month_ends_as_the_definition(rows):
    con = _warehouse(rows)
    served = _rows(con, SPANS_BY_PROGRAM)
    assert served == _rows(con, DEFINITION.format(columns="e.program, e.client_id"))
    assert len(served) == len(set(served))  # one row per programme, client and month end
    by_client = _rows(con, SPANS_BY_CLIENT)
    assert by_client == _rows(con, DEFINITION.format(columns="e.client_id"))
    assert len(by_client) == len(set(by_client))


def test_overlapping_and_leap_day_enrolments():
    rows = [
        # Two overlapping Parenting enrolments of C1 merge into one span.
        ("C1", "Parenting", dt.date(2021, 1, 10), 200, None),
        ("C1", "Parenting", dt.date(2021, 6, 1), 30, None),
        # Ends on 29/02/2024: still served on 28/02/2025 (X - 1 year = 28/02/2024 < end).
        ("C2", "Family Support", dt.date(2023, 9, 1), None, dt.date(2024, 2, 29)),
        # C1 also in Family Support much later: a second client-level span.
        ("C1", "Family Support", dt.date(2024, 1, 15), None, None),
    ]
    con = _warehouse(rows)
    spans = con.execute(
        "select scope, program, client_id, start_date, end_date from int_case_served_spans order by all"
    ).fetchall()
    assert ("program", "Parenting", "C1", dt.date(2021, 1, 10), dt.date(2021, 7, 29)) in spans
    assert len([s for s in spans if s[0] == "client" and s[2] == "C1"]) == 2
    served = {(period_end, client) for period_end, _, client in _rows(con, SPANS_BY_PROGRAM)}
    assert (dt.date(2025, 2, 28), "C2") in served
    assert (dt.date(2025, 3, 31), "C2") not in served
