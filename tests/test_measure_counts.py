"""int_measure_counts counts spans (int_measure_spans); it must give exactly what counting the
rows of each population's plain one-row-per-member-per-month definition gives.

The reference is tests/models/reference/population_months.sql (every member joined to every
month end), counted here in pandas: a count per population, month end and breakdown value,
zero-filled over the month ends for every value seen in any month. Random episodes, plans,
enrolments and assessments probe what the spans must get right: overlapping and nested
episodes and plans, open ends, short breaks, legal-status-only changes (RNE L), births and
birthdays inside a span (29 February included), an unborn child on a plan, and a year without
a return (a gap in the month ends).
"""

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.sqlmodels import discover_models, register_macros

MODELS = discover_models(Path(__file__).resolve().parent.parent / "models")

# SSDA903 returns for 2019/20, 2020/21, 2022/23 and 2023/24 (2021/22 missing); CIN census
# 2020/21 to 2023/24; the case export January 2019 to December 2024.
SSDA903_YEARS = (2020, 2021, 2023, 2024)
CIN_YEARS = (2021, 2022, 2023, 2024)
PERIODS = {
    "int_ssda903_periods": " union all ".join(
        f"select period_end, {year} as collection_year from collection_year_month_ends({year})"
        for year in SSDA903_YEARS
    ),
    "int_cin_periods": " union all ".join(
        f"select period_end, {year} as collection_year from collection_year_month_ends({year})"
        for year in CIN_YEARS
    ),
    "int_case_periods": "select period_end from month_ends(date '2019-01-01', date '2024-12-31')",
}

BREAKDOWNS = {
    "looked_after": ("age_band", "sex", "ethnicity", "category_of_need", "locality"),
    "cla_starts": ("age_band", "sex", "ethnicity", "category_of_need", "locality"),
    "child_protection": ("age_band", "sex", "ethnicity", "category_of_need"),
    "cp_plan_starts": ("age_band", "sex", "ethnicity", "category_of_need"),
    "program_assessed": ("age_band", "sex", "ethnicity", "locality", "program"),
    "program_plans": ("age_band", "sex", "ethnicity", "locality", "program"),
    "clients_served": ("age_band", "sex", "ethnicity", "locality"),
    "program_clients_served": ("program",),
}
PERIODS_OF = {
    "looked_after": "int_ssda903_periods",
    "cla_starts": "int_ssda903_periods",
    "child_protection": "int_cin_periods",
    "cp_plan_starts": "int_cin_periods",
    "program_assessed": "int_case_periods",
    "program_plans": "int_case_periods",
    "clients_served": "int_case_periods",
    "program_clients_served": "int_case_periods",
}
INTERMEDIATES = (
    "int_case_served_spans",
    "int_program_assessment_occasions",
    "int_measure_spans",
    "int_measure_counts",
)
REFERENCE = Path(__file__).resolve().parent / "models" / "reference" / "population_months.sql"

BIRTHS = [None, dt.date(2004, 2, 29), dt.date(2008, 2, 29), dt.date(2010, 7, 31), dt.date(2016, 1, 15),
          dt.date(2020, 2, 29), dt.date(2022, 11, 3)]
dates = st.dates(min_value=dt.date(2017, 6, 1), max_value=dt.date(2024, 12, 31))
lengths = st.one_of(st.none(), st.integers(min_value=0, max_value=900))
children = st.fixed_dictionaries({
    "date_of_birth": st.sampled_from(BIRTHS),
    "sex": st.sampled_from(["Male", "Female", None]),
    "ethnicity": st.sampled_from(["White", "Mixed", None]),
    "postcode_district": st.sampled_from(["AB1", "AB2", None]),
})
episode = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    dates,
    lengths,
    st.sampled_from(["S", "P", "B", "T", "U", "L"]),
    st.sampled_from([False, False, False, True]),  # a short break (LS V3/V4)
    st.sampled_from(["N1", "N2", None]),
    st.sampled_from(["AB1", "AB2", None]),
)
plan = st.tuples(st.sampled_from(["A", "B", "C"]), dates, lengths, st.sampled_from(["N1", "N4", None]), st.booleans())
enrolment = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["Family Support", "Parenting"]),
    dates,
    lengths,
    st.booleans(),
    st.lists(st.tuples(st.integers(min_value=0, max_value=700), st.integers(min_value=0, max_value=20)), max_size=4),
    st.booleans(),
)


def _warehouse(kids, episodes, plans, enrolments) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    register_macros(con)
    for name, sql in PERIODS.items():
        con.execute(f"create table {name} as {sql}")
    con.execute(
        "create table int_child_attributes (source varchar, child_id varchar, date_of_birth date, "
        "sex varchar, ethnicity varchar, postcode_district varchar)"
    )
    for source in ("ssda903", "cin", "case"):
        for child_id, kid in zip("ABC", kids, strict=True):
            con.execute(
                "insert into int_child_attributes values (?, ?, ?, ?, ?, ?)",
                [source, child_id, kid["date_of_birth"], kid["sex"], kid["ethnicity"],
                 kid["postcode_district"] if source == "case" else None],
            )
    con.execute(
        "create table int_care_episodes (child_id varchar, decom date, dec date, rne varchar, "
        "cin varchar, home_postcode_district varchar, is_short_break boolean)"
    )
    seen = set()
    for child_id, decom, length, rne, is_short_break, cin, district in episodes:
        if (child_id, decom) in seen:
            continue
        seen.add((child_id, decom))
        dec = None if length is None else decom + dt.timedelta(days=length)
        con.execute(
            "insert into int_care_episodes values (?, ?, ?, ?, ?, ?, ?)",
            [child_id, decom, dec, rne, cin, district, is_short_break],
        )
    con.execute(
        "create table int_cp_plans (child_id varchar, cpp_start_date date, cpp_end_date date, "
        "primary_need_code varchar, is_repeat boolean)"
    )
    seen = set()
    for child_id, start, length, need, is_repeat in plans:
        if (child_id, start) in seen:
            continue
        seen.add((child_id, start))
        end = None if length is None else start + dt.timedelta(days=length)
        con.execute("insert into int_cp_plans values (?, ?, ?, ?, ?)", [child_id, start, end, need, is_repeat])
    con.execute(
        "create table int_program_enrolments (enrolment_id varchar, client_id varchar, program varchar, "
        "start_date date, end_date date, has_plan_within_30d boolean, date_of_birth date, sex varchar, "
        "ethnicity varchar, locality varchar)"
    )
    con.execute(
        "create table stg_case_assessments (assessment_id varchar, enrolment_id varchar, assessment_date date, "
        "score integer, higher_is_better boolean)"
    )
    for i, (client_id, program, start, length, has_plan, assessments, higher) in enumerate(enrolments):
        kid = kids["ABC".index(client_id)]
        end = None if length is None else start + dt.timedelta(days=length)
        con.execute(
            "insert into int_program_enrolments values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [f"E{i}", client_id, program, start, end, has_plan, kid["date_of_birth"],
             kid["sex"] or "Unknown", kid["ethnicity"] or "Unknown", kid["postcode_district"] or "Unknown"],
        )
        for j, (days, score) in enumerate(assessments):
            con.execute(
                "insert into stg_case_assessments values (?, ?, ?, ?, ?)",
                [f"E{i}-{j}", f"E{i}", start + dt.timedelta(days=days), score, higher],
            )
    for name in INTERMEDIATES:
        con.execute(f"create table {name} as {MODELS[name].sql}")
    con.execute(f"create table population_months as {REFERENCE.read_text(encoding='utf-8')}")
    return con


def _by_month(con) -> pd.DataFrame:
    """Counts from the reference: population, period_end, breakdown, value, members, flagged."""
    counted = []
    rows = con.execute("select * from population_months").df()
    assert not rows.duplicated(["population", "period_end", "member_id"]).any()
    members = {population: rows[rows["population"] == population] for population in BREAKDOWNS}
    for population, frame in members.items():
        periods = con.execute(f"select period_end from {PERIODS_OF[population]}").df()["period_end"]
        frame = frame.assign(all="all")
        for breakdown in ("all", *BREAKDOWNS[population]):
            values = sorted(frame[breakdown].dropna().unique()) if len(frame) else []
            if breakdown == "all":
                values = ["all"]
            grouped = frame.groupby(["period_end", breakdown])["flag"].agg(["size", "sum"]) if len(frame) else None
            for value in values:
                for period in periods:
                    key = (period, value)
                    size, flagged = (grouped.loc[key].tolist() if grouped is not None and key in grouped.index else (0, 0))
                    counted.append((population, period, breakdown, value, int(size), int(flagged)))
    return pd.DataFrame(counted, columns=["population", "period_end", "breakdown", "breakdown_value", "members", "flagged"])


def _sorted(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.assign(period_end=pd.to_datetime(frame["period_end"]).dt.date)
    return sorted(frame.itertuples(index=False, name=None))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(children, min_size=3, max_size=3),
    st.lists(episode, max_size=8),
    st.lists(plan, max_size=5),
    st.lists(enrolment, max_size=5),
)
def test_span_counts_equal_the_per_month_counts(kids, episodes, plans, enrolments):
    con = _warehouse(kids, episodes, plans, enrolments)
    spans = con.execute("select * from int_measure_counts").df()
    assert _sorted(spans) == _sorted(_by_month(con))


def test_nested_episode_and_plan():
    """An episode inside a longer one gives its values while open, then the longer one again;
    the same for a plan opened during another; born on 29 February, 5 on 1 March 2013."""
    kids = [
        {"date_of_birth": dt.date(2008, 2, 29), "sex": "Female", "ethnicity": "White", "postcode_district": "AB1"},
        {"date_of_birth": None, "sex": None, "ethnicity": None, "postcode_district": None},
        {"date_of_birth": dt.date(2022, 11, 3), "sex": "Male", "ethnicity": "Mixed", "postcode_district": "AB2"},
    ]
    episodes = [
        ("A", dt.date(2019, 5, 2), 700, "S", False, "N1", "AB1"),
        ("A", dt.date(2019, 9, 10), 60, "P", False, "N2", "AB2"),
        ("A", dt.date(2020, 1, 5), None, "L", False, "N2", None),
    ]
    plans = [
        ("C", dt.date(2022, 6, 1), None, "N4", False),  # before birth: unborn
        ("C", dt.date(2023, 2, 1), 40, "N1", True),
    ]
    con = _warehouse(kids, episodes, plans, [])
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}
    # 30/09/2019: the nested episode (N2, AB2) is open; 30/11/2019 it has closed: N1 again.
    assert counts[("looked_after", "category_of_need", "N2", dt.date(2019, 9, 30))] == (1, 0)
    assert counts[("looked_after", "category_of_need", "N1", dt.date(2019, 11, 30))] == (1, 0)
    # 31/01/2020: the third episode (RNE L, overlapping the first) is the latest begun.
    assert counts[("looked_after", "category_of_need", "N2", dt.date(2020, 1, 31))] == (1, 0)
    # 28/02/2023 on the N1 plan, unborn until November 2022.
    assert counts[("child_protection", "category_of_need", "N1", dt.date(2023, 2, 28))] == (1, 0)
    assert counts[("child_protection", "age_band", "Unborn", dt.date(2022, 10, 31))] == (1, 0)
    assert counts[("child_protection", "age_band", "0-4", dt.date(2022, 11, 30))] == (1, 0)
