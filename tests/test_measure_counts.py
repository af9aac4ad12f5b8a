"""int_measure_counts counts spans (int_measure_spans); it must give exactly what counting the
rows of each population's plain one-row-per-member-per-month definition gives.

The reference is tests/models/reference/population_months.sql (every member joined to every
month end), counted here in pandas: a count per population, month end and breakdown value,
zero-filled over the month ends for every value seen in any month. Random episodes, plans,
enrolments and assessments probe what the spans must get right: overlapping and nested
episodes and plans, open ends, short breaks, legal-status-only changes (RNE L), births and
birthdays inside a span (29 February included), an unborn child on a plan, and a year without
a return (a gap in the month ends). The wider catalogue (DOMAIN.md §3b) adds episodes of need,
referrals, assessments, section 47 enquiries and conferences (repeated across two censuses,
durations near 45 and 15 working days, bank holidays between), plans ending near their 2nd
anniversary, chains of episodes forming long periods of care (placements for adoption, odd legal
status and placement codes), Missing (M and A), UASC and OC2 rows.
"""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import holidays
import pandas as pd
from conftest import examples, memory_duckdb
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

PERSON = ("age_band", "sex", "ethnicity")
BREAKDOWNS = {
    "looked_after": (*PERSON, "category_of_need", "locality", "legal_status", "placement_type"),
    "cla_starts": (*PERSON, "category_of_need", "locality"),
    "long_term_looked_after": PERSON,
    "looked_after_in_year": PERSON,
    "uasc_looked_after": PERSON,
    "oc2_health_assessment": PERSON,
    "oc2_teeth_check": PERSON,
    "oc2_sdq_recorded": PERSON,
    "children_in_need": (*PERSON, "category_of_need"),
    "referrals": (*PERSON, "category_of_need"),
    "assessments_authorised": PERSON,
    "s47_enquiries": PERSON,
    "initial_conferences": PERSON,
    "child_protection": (*PERSON, "category_of_need", "category_of_abuse"),
    "cp_plan_starts": (*PERSON, "category_of_need"),
    "cp_plan_ends": (*PERSON, "category_of_need"),
    "program_assessed": (*PERSON, "locality", "program"),
    "program_reliable_change": (*PERSON, "locality", "program"),
    "program_plans": (*PERSON, "locality", "program"),
    "clients_served": (*PERSON, "locality"),
    "program_clients_served": ("program",),
}
SSDA903_31_MARCH = "int_ssda903_periods where month(period_end) = 3 and day(period_end) = 31"
PERIODS_OF = {
    "looked_after": "int_ssda903_periods",
    "cla_starts": "int_ssda903_periods",
    "long_term_looked_after": "int_ssda903_periods",
    "looked_after_in_year": "int_ssda903_periods",
    "uasc_looked_after": "int_ssda903_periods",
    "oc2_health_assessment": SSDA903_31_MARCH,
    "oc2_teeth_check": SSDA903_31_MARCH,
    "oc2_sdq_recorded": SSDA903_31_MARCH,
    "children_in_need": "int_cin_periods",
    "referrals": "int_cin_periods",
    "assessments_authorised": "int_cin_periods",
    "s47_enquiries": "int_cin_periods",
    "initial_conferences": "int_cin_periods",
    "child_protection": "int_cin_periods",
    "cp_plan_starts": "int_cin_periods",
    "cp_plan_ends": "int_cin_periods",
    "program_assessed": "int_case_periods",
    "program_reliable_change": "int_case_periods",
    "program_plans": "int_case_periods",
    "clients_served": "int_case_periods",
    "program_clients_served": "int_case_periods",
}
# The months of data a count on month end X needs (members, flag): 12 for a window of the 12
# months ending on X, 0 for the day alone. A month end whose months the source does not all
# cover has no count (a flag needing more months than the members: no flag count); a
# programme's counts start at its first enrolment, and its windows are full only once it has
# run for all their months.
WINDOWS = {
    "looked_after": (0, 12),
    "cla_starts": (12, 12),
    "long_term_looked_after": (0, 0),
    "looked_after_in_year": (12, 12),
    "uasc_looked_after": (0, 0),
    "oc2_health_assessment": (0, 0),
    "oc2_teeth_check": (0, 0),
    "oc2_sdq_recorded": (0, 0),
    "children_in_need": (0, 0),
    "referrals": (12, 12),
    "assessments_authorised": (12, 12),
    "s47_enquiries": (12, 12),
    "initial_conferences": (12, 12),
    "child_protection": (0, 0),
    "cp_plan_starts": (12, 12),
    "cp_plan_ends": (12, 12),
    "program_assessed": (12, 12),
    "program_reliable_change": (12, 12),
    "program_plans": (12, 12),
    "clients_served": (12, 12),
    "program_clients_served": (12, 12),
}
INTERMEDIATES = (
    "int_calendar",
    "int_child_attributes",
    "int_care_episodes",
    "int_cp_plans",
    "int_program_enrolments",
    "int_cin_episodes",
    "int_cin_assessments",
    "int_cin_section47",
    "int_care_episode_periods",
    "int_long_term_stability_spans",
    "int_missing_spans",
    "int_case_served_spans",
    "int_assessment_tools",
    "int_program_assessment_occasions",
    "int_measure_spans",
    "int_measure_counts",
)
REFERENCE = Path(__file__).resolve().parent / "models" / "reference" / "population_months.sql"

# The configured assessment tools (sd, reliability): Family Support's (" Star " in the export)
# has a reliable change criterion of 1.96 * 12.5 * sqrt(2 * 0.5) = 24.5, which a change of
# half-point domain scores can equal (not enough); Parenting's ("Scale") has none, its clients
# falling back to any improvement.
TOOLS = {"star": (12.5, 0.5)}
# The staged codes of the children's labels, and what an older return (or file) said of every
# child: the newest record wins.
SEX_CODES = {"Male": "M", "Female": "F", None: None}
ETHNIC_CODES = {"White": "WBRI", "Mixed": "MWBC", "Refused": "REFU", None: None}
OLDER_RECORD = ("U", dt.date(1999, 1, 1), "AIND")

BIRTHS = [None, dt.date(2004, 2, 29), dt.date(2005, 6, 30), dt.date(2008, 2, 29), dt.date(2010, 7, 31),
          dt.date(2016, 1, 15), dt.date(2020, 2, 29), dt.date(2022, 11, 3)]
CHILDREN = "ABCDE"
BANK_HOLIDAYS = sorted(holidays.country_holidays("GB", subdiv="ENG", years=range(2015, 2027)).items())
HOLIDAY_DATES = {day for day, _ in BANK_HOLIDAYS}
# A few weeks before bank holidays (Christmas, Easter, the 2022 Jubilee and the Queen's funeral,
# the 2023 Coronation): durations counted in working days cross them.
NEAR_HOLIDAYS = [dt.date(2019, 11, 20), dt.date(2020, 2, 20), dt.date(2020, 11, 25), dt.date(2021, 2, 10),
                 dt.date(2021, 11, 15), dt.date(2022, 2, 25), dt.date(2022, 4, 20), dt.date(2022, 8, 1),
                 dt.date(2022, 11, 20), dt.date(2023, 2, 20), dt.date(2023, 3, 10), dt.date(2023, 11, 10)]
LS_CODES = ["C2", "C1", "E1", "V2", "J2", "L1", "D1", "V3", "V4", None]
PLACE_CODES = ["U1", "U3", "U4", "U6", "A3", "A4", "A5", "A6", "P1", "P2", "H5", "K1", "K2", "R1", "S1",
               "Z11", "Z14", "T0", "Z1", None]

dates = st.dates(min_value=dt.date(2017, 6, 1), max_value=dt.date(2024, 12, 31))
lengths = st.one_of(st.none(), st.integers(min_value=0, max_value=900))
children = st.fixed_dictionaries({
    "date_of_birth": st.sampled_from(BIRTHS),
    "sex": st.sampled_from(["Male", "Female", None]),
    "ethnicity": st.sampled_from(["White", "Mixed", "Refused", None]),
    "postcode_district": st.sampled_from(["AB1", "AB2", None]),
})
# A length, or the versions of the returns that have the episode (or plan): the newest wins, a
# DEC may change from one return to the next, and an open episode absent from later returns is
# closed by the repair rule.
episode = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    dates,
    st.one_of(lengths, st.lists(st.tuples(st.sampled_from(SSDA903_YEARS), lengths), min_size=1, max_size=3)),
    st.sampled_from(["S", "P", "B", "T", "U", "L"]),
    st.sampled_from(LS_CODES),  # V3/V4: a short break
    st.sampled_from(["N1", "N2", None]),
    st.sampled_from(["AB1", "AB2", None]),
    st.sampled_from(PLACE_CODES),
)
# Episodes in a row (each starting when the one before ends, or after a gap): periods of care
# begun from 2015, long enough for the 30 months of long-term stability.
chain = st.tuples(
    st.sampled_from(CHILDREN),
    st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2021, 6, 30)),
    st.lists(
        st.tuples(
            st.sampled_from([0, 0, 0, 0, 1, 30]),
            st.one_of(st.none(), st.integers(min_value=20, max_value=1100)),
            st.sampled_from(["S", "P", "B", "T", "U", "L"]),
            st.sampled_from(LS_CODES),
            st.sampled_from(PLACE_CODES),
            st.sampled_from(["N1", "N2", None]),
        ),
        min_size=1,
        max_size=4,
    ),
)
plan_lengths = st.one_of(lengths, st.sampled_from(["2y", "2y-1d", "2y+1d"]))
plan = st.tuples(
    st.sampled_from(["A", "B"]),  # two children: often several plans each
    dates,
    st.one_of(plan_lengths, st.lists(st.tuples(st.sampled_from(CIN_YEARS), plan_lengths), min_size=1, max_size=2)),
    st.sampled_from(["N1", "N4", None]),
    st.sampled_from([0, 0, 0, 2]),  # NumberOfPreviousCPP
    st.sampled_from(["NEG", "EMO", "PHY", None]),  # initial category of abuse
    st.sampled_from(["SAB", "MUL", "NEG", None, None]),  # latest
)
enrolment = st.tuples(
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["Family Support", "Parenting"]),
    dates,
    lengths,
    st.lists(st.sampled_from([-1, 0, 30, 31]), max_size=2),  # service plans, days after the start
    # assessments: days after the start (often the same day as another), half-point domain scores
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from([0, 90, 365]), st.integers(min_value=0, max_value=700)),
            st.lists(st.integers(min_value=0, max_value=40).map(lambda half_points: half_points / 2),
                     min_size=1, max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
cin_days = st.one_of(
    st.dates(min_value=dt.date(2018, 6, 1), max_value=dt.date(2024, 6, 30)),
    st.builds(lambda day, offset: day + dt.timedelta(days=offset), st.sampled_from(NEAR_HOLIDAYS), st.integers(0, 45)),
)
cin_years = st.sampled_from(CIN_YEARS)
# An episode of need, assessment or enquiry as each census that has it gives it (one census or
# two: the newest wins).
need = st.tuples(
    st.sampled_from(CHILDREN),
    st.one_of(cin_days, st.sampled_from([dt.date(2020, 6, 15), dt.date(2021, 6, 15), dt.date(2022, 6, 14)])),
    st.lists(
        st.tuples(cin_years, lengths, st.sampled_from([None, False, True, False]), st.sampled_from(["N1", "N3", None])),
        min_size=1,
        max_size=2,
    ),
)
# A duration: None (none yet), calendar days, or ("wd", n): n working days later.
assessment = st.tuples(
    st.sampled_from(CHILDREN),
    cin_days,
    st.lists(
        st.tuples(
            cin_years,
            st.one_of(
                st.none(),
                st.tuples(st.just("wd"), st.integers(40, 50)),
                st.integers(55, 80),
                st.integers(-2, 120),
            ),
        ),
        min_size=1,
        max_size=2,
    ),
)
enquiry = st.tuples(
    st.sampled_from(CHILDREN),
    cin_days,
    st.lists(
        st.tuples(
            cin_years,
            st.one_of(
                st.none(),
                st.tuples(st.just("wd"), st.integers(10, 20)),
                st.integers(18, 30),
                st.integers(-1, 40),
            ),
            st.sampled_from([None, False, True, False]),  # ICPCnotRequired
        ),
        min_size=1,
        max_size=2,
    ),
)
missing = st.tuples(
    st.sampled_from(CHILDREN),
    st.dates(min_value=dt.date(2018, 6, 1), max_value=dt.date(2024, 6, 30)),
    st.sampled_from(["M", "A"]),
    st.sampled_from(SSDA903_YEARS),
)
uasc = st.tuples(
    st.sampled_from(CHILDREN),
    st.one_of(st.none(), st.dates(min_value=dt.date(2018, 1, 1), max_value=dt.date(2025, 12, 31))),
    st.sampled_from(SSDA903_YEARS),
)
oc2 = st.tuples(
    st.sampled_from(CHILDREN),
    st.sampled_from((*SSDA903_YEARS, 2022)),  # 2022: no return, no 31 March counted
    st.sampled_from([None, True, False]),  # HEALTH_ASSESSMENT
    st.sampled_from([None, True, False]),  # TEETH_CHECK
    st.one_of(st.none(), st.integers(0, 40)),  # SDQ_SCORE
)


def _after_working_days(start: dt.date, n: int) -> dt.date:
    day = start
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and day not in HOLIDAY_DATES:
            n -= 1
    return day


def _later(start: dt.date, duration) -> dt.date | None:
    """start + duration: None, calendar days, ("wd", n) working days, or "2y", "2y-1d", "2y+1d"
    (two years on, 29 February to 28 February)."""
    if duration is None:
        return None
    if isinstance(duration, tuple):
        return _after_working_days(start, duration[1])
    if isinstance(duration, str):
        try:
            anniversary = start.replace(year=start.year + 2)
        except ValueError:
            anniversary = start.replace(year=start.year + 2, day=28)
        return anniversary + dt.timedelta(days={"2y": 0, "2y-1d": -1, "2y+1d": 1}[duration])
    return start + dt.timedelta(days=duration)


def chain_episodes(chains) -> list[tuple]:
    """Episodes (as the episode strategy gives them) of chains of episodes: each starts when the
    one before it ends (plus the gap), until one is left open."""
    episodes = []
    for child_id, start, links in chains:
        decom = start
        for gap, length, rne, ls, place, cin in links:
            episodes.append((child_id, decom, length, rne, ls, cin, None, place))
            if length is None:
                break
            decom = decom + dt.timedelta(days=length + gap)
    return episodes


def _insert(con, table: str, columns: str, rows: list[tuple]) -> None:
    """Create a staged table with its columns and the rows, each row given collection_year as
    its first value; source_file and source_row_number follow."""
    con.execute(
        f"create table {table} ({columns}, collection_year integer, source_file varchar, "
        "source_row_number integer)"
    )
    for number, (year, *values) in enumerate(rows, start=1):
        con.execute(
            f"insert into {table} values ({', '.join('?' * (len(values) + 3))})",
            [*values, year, f"{table}_{year}", number],
        )


def _versions(length, year: int) -> list[tuple]:
    """An episode's or plan's versions as (collection year, length): a length alone is one
    version, in the return of ``year``; a list gives each return's version."""
    return list(length) if isinstance(length, list) else [(year, length)]


def _insert_export(con, table: str, columns: str, rows: list[tuple]) -> None:
    """Create a staged table of the case export (no collection year), each row given the number
    of its file (a newer file has a higher number) first; source_file and source_row_number follow."""
    con.execute(f"create table {table} ({columns}, source_file varchar, source_row_number integer)")
    for number, (file, *values) in enumerate(rows, start=1):
        con.execute(
            f"insert into {table} values ({', '.join('?' * (len(values) + 2))})",
            [*values, f"{table}_{file}", number],
        )


def _reliable_change(sd: float, reliability: float) -> float:
    """The Jacobson-Truax reliable change criterion 1.96 * sd * sqrt(2 * (1 - r)), on paper
    (decimal arithmetic, so that 1.96 * 12.5 * 1 is 24.5 and not a float near it)."""
    paper = Decimal("1.96") * Decimal(str(sd)) * (2 * (1 - Decimal(str(reliability)))).sqrt()
    return float(round(paper, 12))


def _warehouse(kids, episodes, plans, enrolments, *, needs=(), assessments=(), enquiries=(), missing=(),
               uasc=(), oc2=()) -> duckdb.DuckDBPyConnection:
    con = memory_duckdb()
    register_macros(con)
    for name, sql in PERIODS.items():
        con.execute(f"create table {name} as {sql}")
    con.execute("create table bank_holidays (holiday_date date, holiday_name varchar)")
    con.executemany("insert into bank_holidays values (?, ?)", BANK_HOLIDAYS)
    # Each child as the SSDA903 header and the CIN census of the newest return give it, after an
    # older return's different record; the case export's client row likewise after an older file's.
    _insert(
        con, "stg_ssda903_header", "child_id varchar, sex varchar, date_of_birth date, ethnic_code varchar",
        [row for child_id, kid in zip(CHILDREN, kids, strict=True) for row in (
            (SSDA903_YEARS[0], child_id, *OLDER_RECORD),
            (SSDA903_YEARS[-1], child_id, SEX_CODES[kid["sex"]], kid["date_of_birth"], ETHNIC_CODES[kid["ethnicity"]]),
        )],
    )
    _insert(
        con, "stg_cin_children", "child_id varchar, date_of_birth date, sex varchar, ethnic_code varchar",
        [row for child_id, kid in zip(CHILDREN, kids, strict=True) for row in (
            (CIN_YEARS[-1], child_id, kid["date_of_birth"], SEX_CODES[kid["sex"]] or "U", ETHNIC_CODES[kid["ethnicity"]]),
            (CIN_YEARS[0], child_id, OLDER_RECORD[1], OLDER_RECORD[0], OLDER_RECORD[2]),
        )],
    )
    _insert_export(
        con, "stg_case_clients",
        "client_id varchar, date_of_birth date, sex varchar, ethnic_code varchar, postcode_district varchar, "
        "intake_date date",
        [row for child_id, kid in zip(CHILDREN, kids, strict=True) for row in (
            (2, child_id, kid["date_of_birth"], SEX_CODES[kid["sex"]] or "U", ETHNIC_CODES[kid["ethnicity"]],
             kid["postcode_district"], None),
            (1, child_id, OLDER_RECORD[1], OLDER_RECORD[0], OLDER_RECORD[2], "ZZ9", None),
        )],
    )
    # Episodes as each return that has them gives them: an open episode absent from every later
    # return is closed by the repair rule.
    _insert(
        con, "stg_ssda903_episodes",
        "child_id varchar, decom date, rne varchar, ls varchar, cin varchar, place varchar, "
        "place_provider varchar, dec date, rec varchar, reason_place_change varchar, "
        "home_postcode_district varchar",
        [(year, child_id, decom, rne, ls, cin, place, None, _later(decom, length), None, None, district)
         for child_id, decom, versions, rne, ls, cin, district, place in episodes
         for year, length in _versions(versions, SSDA903_YEARS[-1])],
    )
    # Plans as each census that has them gives them; NumberOfPreviousCPP as the newest gives it
    # (0 in older ones).
    plan_rows = []
    for child_id, start, versions, need, previous, initial, latest in plans:
        versions = sorted(_versions(versions, CIN_YEARS[-1]), key=lambda version: version[0])
        for k, (year, length) in enumerate(versions):
            newest = k == len(versions) - 1
            plan_rows.append((year, child_id, None, start, _later(start, length), initial if newest else None,
                              latest if newest else None, previous if newest else 0, need))
    _insert(
        con, "stg_cp_plans",
        "child_id varchar, cin_referral_date date, cpp_start_date date, cpp_end_date date, "
        "initial_category_of_abuse varchar, latest_category_of_abuse varchar, number_of_previous_cpp integer, "
        "primary_need_code varchar",
        plan_rows,
    )
    con.execute("create table assessment_tools (tool varchar, sd double, reliability double)")
    con.executemany("insert into assessment_tools values (?, ?, ?)", [(tool, *config) for tool, config in TOOLS.items()])
    con.execute("create table ref_reliable_change (tool varchar, criterion double)")
    con.executemany("insert into ref_reliable_change values (?, ?)",
                    [(tool, _reliable_change(*config)) for tool, config in TOOLS.items()])
    enrolment_rows, plan_rows, assessment_rows = [], [], []
    for i, (client_id, program, start, length, plan_days, occasions, higher) in enumerate(enrolments):
        end = None if length is None else start + dt.timedelta(days=length)
        enrolment_rows.append((1, f"E{i}", client_id, program, start, end, None))
        plan_rows.extend((1, f"E{i}-P{k}", f"E{i}", start + dt.timedelta(days=days)) for k, days in enumerate(plan_days))
        for j, (days, scores) in enumerate(occasions):
            # one row per domain score of the assessment
            assessment_rows.extend(
                (1, f"E{i}-{j}", client_id, f"E{i}", start + dt.timedelta(days=days),
                 " Star " if program == "Family Support" else "Scale", f"D{k}", score, higher)
                for k, score in enumerate(scores)
            )
    _insert_export(
        con, "stg_case_enrolments",
        "enrolment_id varchar, client_id varchar, program varchar, start_date date, end_date date, "
        "exit_reason varchar",
        enrolment_rows,
    )
    _insert_export(con, "stg_case_service_plans", "plan_id varchar, enrolment_id varchar, plan_date date", plan_rows)
    _insert_export(
        con, "stg_case_assessments",
        "assessment_id varchar, client_id varchar, enrolment_id varchar, assessment_date date, tool varchar, "
        "domain varchar, score double, higher_is_better boolean",
        assessment_rows,
    )
    _insert(
        con, "stg_cin_details",
        "child_id varchar, referral_date date, referral_source varchar, primary_need_code varchar, "
        "closure_date date, reason_for_closure varchar, referral_nfa boolean",
        [(year, child_id, referral, "1A", need_code, _later(referral, length), None, nfa)
         for child_id, referral, versions in needs for year, length, nfa, need_code in versions],
    )
    _insert(
        con, "stg_cin_assessments",
        "child_id varchar, referral_date date, assessment_start_date date, "
        "assessment_internal_review_date date, assessment_authorisation_date date",
        [(year, child_id, start, start, None, _later(start, duration))
         for child_id, start, versions in assessments for year, duration in versions],
    )
    _insert(
        con, "stg_cin_section47",
        "child_id varchar, referral_date date, s47_start_date date, icpc_target_date date, "
        "icpc_date date, icpc_not_required boolean",
        [(year, child_id, start, start, _after_working_days(start, 15), _later(start, duration), not_required)
         for child_id, start, versions in enquiries for year, duration, not_required in versions],
    )
    _insert(
        con, "stg_ssda903_missing",
        "child_id varchar, date_of_birth date, missing_type varchar, missing_start date, missing_end date",
        [(year, child_id, None, kind, start, start + dt.timedelta(days=2)) for child_id, start, kind, year in missing],
    )
    _insert(
        con, "stg_ssda903_uasc", "child_id varchar, sex varchar, date_of_birth date, uasc_ceased_date date",
        [(year, child_id, None, None, ceased) for child_id, ceased, year in uasc],
    )
    _insert(
        con, "stg_ssda903_oc2",
        "child_id varchar, date_of_birth date, sdq_score integer, sdq_reason varchar, convicted boolean, "
        "health_check boolean, immunisations boolean, teeth_check boolean, health_assessment boolean, "
        "substance_misuse boolean, intervention_received boolean, intervention_offered boolean",
        [(year, child_id, None, sdq, None, None, None, None, teeth, health, None, None, None)
         for child_id, year, health, teeth, sdq in oc2],
    )
    for name in INTERMEDIATES:
        con.execute(f"create table {name} as {MODELS[name].sql}")
    _reference_functions(con)
    con.execute(f"create table population_months as {REFERENCE.read_text(encoding='utf-8')}")
    return con


def _ref_age_years(date_of_birth: dt.date, on_day: dt.date) -> int:
    """Whole years of age, the way a person counts birthdays: one more once this year's
    birthday (1 March for a 29 February birthday in other years) has been reached."""
    birthday_passed = (on_day.month, on_day.day) >= (date_of_birth.month, date_of_birth.day)
    return on_day.year - date_of_birth.year - (0 if birthday_passed else 1)


def _ref_age_band(date_of_birth: dt.date | None, on_day: dt.date) -> str:
    if date_of_birth is None:
        return "Unknown"
    if date_of_birth > on_day:
        return "Unborn"
    age = _ref_age_years(date_of_birth, on_day)
    for top, band in ((4, "0-4"), (9, "5-9"), (15, "10-15"), (17, "16-17")):
        if age <= top:
            return band
    return "18+"


def _reference_functions(con) -> None:
    """The reference's ages in plain Python, never the production macros of models/macros.sql."""
    try:
        from duckdb.sqltypes import BIGINT, DATE, VARCHAR
    except ImportError:  # DuckDB before 1.4
        from duckdb.typing import BIGINT, DATE, VARCHAR

    con.create_function("ref_age_years", _ref_age_years, [DATE, DATE], BIGINT, null_handling="special")
    con.create_function("ref_age_band", _ref_age_band, [DATE, DATE], VARCHAR, null_handling="special")


def test_reference_ages_by_hand():
    assert _ref_age_years(dt.date(2008, 2, 29), dt.date(2025, 2, 28)) == 16
    assert _ref_age_years(dt.date(2008, 2, 29), dt.date(2025, 3, 1)) == 17
    assert _ref_age_years(dt.date(2010, 6, 15), dt.date(2025, 6, 15)) == 15
    assert _ref_age_band(dt.date(2025, 7, 1), dt.date(2025, 6, 30)) == "Unborn"
    assert _ref_age_band(dt.date(2020, 7, 1), dt.date(2025, 6, 30)) == "0-4"
    assert _ref_age_band(dt.date(2007, 6, 30), dt.date(2025, 6, 30)) == "18+"
    assert _ref_age_band(None, dt.date(2025, 6, 30)) == "Unknown"


def _by_month(con) -> pd.DataFrame:
    """Counts from the reference: population, period_end, breakdown, value, members, flagged."""
    frame = con.execute("select * from population_months").df()
    assert not frame.duplicated(["population", "period_end", "member_id"]).any()
    frame = frame.assign(period_end=pd.to_datetime(frame["period_end"]).dt.date, all="all")
    counts: dict[tuple, list[int]] = {}
    values: dict[tuple, set] = {}
    for row in frame.to_dict("records"):
        population = row["population"]
        for breakdown in ("all", *BREAKDOWNS[population]):
            value = row[breakdown]
            if value is None or value != value:  # null: not a value of this breakdown
                continue
            values.setdefault((population, breakdown), set()).add(value)
            tally = counts.setdefault((population, row["period_end"], breakdown, value), [0, 0])
            tally[0] += 1
            tally[1] += 1 if row["flag"] is not None and row["flag"] == row["flag"] and row["flag"] else 0
    first_enrolments = dict(con.execute("select program, min(start_date) from stg_case_enrolments group by program").fetchall())
    counted = []
    for population, breakdowns in BREAKDOWNS.items():
        periods = [period for (period,) in con.execute(f"select period_end from {PERIODS_OF[population]}").fetchall()]
        source_months = {(period.year, period.month) for period in periods}
        members_window, flag_window = WINDOWS[population]
        for breakdown in ("all", *breakdowns):
            seen = {"all"} if breakdown == "all" else values.get((population, breakdown), set())
            for value in sorted(seen):
                first = first_enrolments.get(value) if breakdown == "program" else None
                for period in periods:
                    if not _covered(period, members_window, source_months, first):
                        continue
                    members, flagged = counts.get((population, period, breakdown, value), (0, 0))
                    counted.append((population, period, breakdown, value, members,
                                    flagged if _covered(period, flag_window, source_months, first) else None))
    return pd.DataFrame(counted, columns=["population", "period_end", "breakdown", "breakdown_value", "members", "flagged"])


def _month_back(day: dt.date, k: int) -> tuple[int, int]:
    """(year, month) of the month k months before day's."""
    index = day.year * 12 + day.month - 1 - k
    return index // 12, index % 12 + 1


def _covered(period: dt.date, months: int, source_months: set, first: dt.date | None) -> bool:
    """Whether the source has every one of the ``months`` months ending with period's (at least
    that month), none before the programme's first enrolment ``first``."""
    wanted = [_month_back(period, k) for k in range(max(months, 1))]
    return all(month in source_months for month in wanted) and (
        first is None or (first.year, first.month) <= wanted[-1]
    )


def _sorted(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.assign(period_end=pd.to_datetime(frame["period_end"]).dt.date)
    # a count not given is null (None, or NaN in a numeric column)
    return sorted(
        tuple(None if pd.isna(value) else value for value in row)
        for row in frame.itertuples(index=False, name=None)
    )


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    st.lists(children, min_size=len(CHILDREN), max_size=len(CHILDREN)),
    st.lists(episode, max_size=8),
    st.lists(chain, max_size=3),
    st.lists(plan, max_size=5),
    st.lists(enrolment, min_size=1, max_size=5),
    st.fixed_dictionaries({
        "needs": st.lists(need, max_size=5),
        "assessments": st.lists(assessment, max_size=4),
        "enquiries": st.lists(enquiry, max_size=4),
        "missing": st.lists(missing, max_size=4),
        "uasc": st.lists(uasc, max_size=3),
        "oc2": st.lists(oc2, max_size=4),
    }),
)
def test_span_counts_equal_the_per_month_counts(kids, episodes, chains, plans, enrolments, returns):
    con = _warehouse(kids, episodes + chain_episodes(chains), plans, enrolments, **returns)
    spans = con.execute("select * from int_measure_counts").df()
    assert _sorted(spans) == _sorted(_by_month(con))


def test_nested_episode_and_plan():
    """An episode inside a longer one gives its values while open, then the longer one again;
    the same for a plan opened during another; born on 29 February, 5 on 1 March 2013."""
    kids = [
        {"date_of_birth": dt.date(2008, 2, 29), "sex": "Female", "ethnicity": "White", "postcode_district": "AB1"},
        {"date_of_birth": None, "sex": None, "ethnicity": None, "postcode_district": None},
        {"date_of_birth": dt.date(2022, 11, 3), "sex": "Male", "ethnicity": "Mixed", "postcode_district": "AB2"},
        *[{"date_of_birth": None, "sex": None, "ethnicity": None, "postcode_district": None}] * 2,
    ]
    episodes = [
        ("A", dt.date(2019, 5, 2), 700, "S", "C2", "N1", "AB1", "U4"),
        ("A", dt.date(2019, 9, 10), 60, "P", "V2", "N2", "AB2", "R1"),
        ("A", dt.date(2020, 1, 5), None, "L", "E1", "N2", None, "A4"),
    ]
    plans = [
        ("C", dt.date(2022, 6, 1), None, "N4", 0, "NEG", None),  # before birth: unborn
        ("C", dt.date(2023, 2, 1), 40, "N1", 1, "EMO", "SAB"),
    ]
    con = _warehouse(kids, episodes, plans, [])
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}
    # 30/09/2019: the nested episode (N2, AB2) is open; 30/11/2019 it has closed: N1 again. The
    # placements of the 12 months (the flag) are not counted before the first return's 12 months
    # are complete (31/03/2020).
    assert counts[("looked_after", "category_of_need", "N2", dt.date(2019, 9, 30))] == (1, None)
    assert counts[("looked_after", "category_of_need", "N1", dt.date(2019, 11, 30))] == (1, None)
    # 31/01/2020: the third episode (RNE L, overlapping the first) is the latest begun.
    assert counts[("looked_after", "category_of_need", "N2", dt.date(2020, 1, 31))] == (1, None)
    assert counts[("looked_after", "category_of_need", "N2", dt.date(2020, 3, 31))] == (1, 0)
    # 28/02/2023 on the N1 plan, unborn until November 2022.
    assert counts[("child_protection", "category_of_need", "N1", dt.date(2023, 2, 28))] == (1, 0)
    assert counts[("child_protection", "age_band", "Unborn", dt.date(2022, 10, 31))] == (1, 0)
    assert counts[("child_protection", "age_band", "0-4", dt.date(2022, 11, 30))] == (1, 0)


def test_catalogue_edges():
    """The edges of the wider catalogue, each on the month end it turns on: a period of care
    begun exactly X - 30 months; a placement begun exactly X - 2 years; a placement for adoption
    whose placement before began by then; a 16th birthday (29 February); a re-referral exactly a
    year after the one before, and one a year and a day after; an episode of need repeated in
    two censuses (the newest wins); an assessment authorised on working day 45 and one on day 46
    (bank holidays of May and June 2022 between); conferences on working day 15 and 16 (Christmas
    between) and one not required; plans ending on their 2nd anniversary and the day before;
    categories of abuse; Missing A and M; UASC ceasing inside the months, and a newer return's DUC
    overriding an older blank one; OC2 flags and a blank SDQ score."""
    kids = [
        {"date_of_birth": dt.date(2004, 2, 29), "sex": "Female", "ethnicity": "White", "postcode_district": None},
        {"date_of_birth": dt.date(2010, 7, 31), "sex": "Male", "ethnicity": "Mixed", "postcode_district": None},
        {"date_of_birth": dt.date(2012, 5, 1), "sex": "Female", "ethnicity": "White", "postcode_district": None},
        {"date_of_birth": dt.date(2016, 1, 15), "sex": "Male", "ethnicity": None, "postcode_district": None},
        {"date_of_birth": dt.date(2008, 9, 9), "sex": "Male", "ethnicity": "White", "postcode_district": None},
    ]
    chains = [
        # A: looked after since 2016, 16 on 29 February 2020.
        ("A", dt.date(2016, 1, 10), [(0, None, "S", "V2", "R1", "N1")]),
        # B: period begun 31/03/2017, placement from 31/03/2018 (X - 2 years for X = 31/03/2020).
        ("B", dt.date(2017, 3, 31), [(0, 365, "S", "C2", "U1", "N1"), (0, None, "P", "D1", "Z1", "N1")]),
        # C: period begun 30/09/2017 (X - 30 months for X = 31/03/2020); placed for adoption 2019.
        ("C", dt.date(2017, 9, 30), [(0, 609, "S", "C2", "U4", "N2"), (0, None, "P", "E1", "A4", "N2")]),
        ("E", dt.date(2019, 6, 1), [(0, None, "S", "V2", "U4", "N1")]),
    ]
    episodes = chain_episodes(chains)
    assert episodes[3][1] + dt.timedelta(days=609) == dt.date(2019, 6, 1)
    plans = [
        ("D", dt.date(2020, 5, 10), "2y", "N1", 0, "NEG", "SAB"),  # ends 10/05/2022: 2 years
        ("E", dt.date(2020, 6, 1), "2y-1d", "N1", 0, "NEG", None),  # ends 31/05/2022
        ("A", dt.date(2021, 1, 1), None, "N1", 0, None, None),
    ]
    needs = [
        ("D", dt.date(2020, 6, 15), [(2021, None, True, "N1")]),  # no further action
        ("D", dt.date(2021, 6, 15), [(2021, None, False, "N1"), (2022, 30, False, "N3")]),
        ("D", dt.date(2022, 6, 16), [(2023, None, False, "N2")]),
    ]
    assessments = [
        ("D", dt.date(2022, 4, 20), [(2022, None), (2023, 68)]),  # 27/06/2022: working day 45
        ("D", dt.date(2022, 4, 22), [(2023, 69)]),  # 30/06/2022: working day 46
    ]
    enquiries = [
        ("D", dt.date(2022, 12, 12), [(2023, 24, False)]),  # 05/01/2023: working day 15
        ("D", dt.date(2022, 12, 13), [(2023, 27, None)]),  # 09/01/2023: working day 16
        ("D", dt.date(2022, 12, 14), [(2023, 20, True)]),  # not required
    ]
    missing = [("E", dt.date(2020, 5, 5), "M", 2021), ("A", dt.date(2020, 6, 1), "A", 2021)]
    uasc = [("E", dt.date(2020, 8, 15), 2021), ("C", None, 2020), ("C", dt.date(2019, 1, 1), 2021)]
    oc2 = [("A", 2020, True, False, 12), ("B", 2020, None, True, None)]
    con = _warehouse(kids, episodes, plans, [], needs=needs, assessments=assessments, enquiries=enquiries,
                     missing=missing, uasc=uasc, oc2=oc2)
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}

    def count(population, day, breakdown="all", value="all"):
        return counts.get((population, breakdown, value, day), (0, 0))

    # Long-term stability. 31/01/2020: A (placed since 2016); B is in care 30 months but placed
    # under 2 years; C's period is under 30 months.
    assert count("long_term_looked_after", dt.date(2020, 1, 31)) == (2, 1)
    # 29/02/2020: A is 16.
    assert count("long_term_looked_after", dt.date(2020, 2, 29)) == (1, 0)
    assert count("long_term_looked_after", dt.date(2020, 1, 31), "age_band", "16-17") == (0, 0)
    # 31/03/2020: B placed exactly 2 years; C's period begun exactly 30 months before, placed
    # for adoption after a placement begun by 31/03/2018.
    assert count("long_term_looked_after", dt.date(2020, 3, 31)) == (2, 2)
    assert count("looked_after", dt.date(2020, 3, 31), "legal_status", "other") == (1, 0)
    assert count("looked_after", dt.date(2020, 3, 31), "legal_status", "placement order") == (1, 0)
    assert count("looked_after", dt.date(2020, 3, 31), "placement_type", "placed for adoption") == (1, 0)
    assert count("looked_after", dt.date(2020, 3, 31), "placement_type", "secure/custody and other") == (1, 0)
    # Missing: E's M of 05/05/2020 counts from May 2020 to April 2021; A's A never.
    assert count("looked_after_in_year", dt.date(2020, 4, 30)) == (4, 0)
    assert count("looked_after_in_year", dt.date(2020, 5, 31)) == (4, 1)
    assert count("looked_after_in_year", dt.date(2021, 3, 31)) == (4, 1)
    # UASC: E until DUC 15/08/2020; C's newer return says UASC ceased in 2019.
    assert count("uasc_looked_after", dt.date(2020, 7, 31)) == (1, 0)
    assert count("uasc_looked_after", dt.date(2020, 8, 31)) == (0, 0)
    # OC2 of 2019/20 on 31/03/2020 only.
    assert count("oc2_health_assessment", dt.date(2020, 3, 31)) == (2, 1)
    assert count("oc2_teeth_check", dt.date(2020, 3, 31)) == (2, 1)
    assert count("oc2_sdq_recorded", dt.date(2020, 3, 31)) == (2, 1)
    assert count("oc2_sdq_recorded", dt.date(2020, 2, 29)) == (0, 0)
    # Referrals: 15/06/2021 is a re-referral (exactly a year after 15/06/2020, NFA); 16/06/2022
    # is not (a year and a day).
    assert count("referrals", dt.date(2021, 5, 31)) == (1, 0)
    assert count("referrals", dt.date(2021, 6, 30)) == (1, 1)
    assert count("referrals", dt.date(2022, 6, 30)) == (1, 0)
    # In need: not the NFA referral; the 2021 episode as the 2022 census gives it (N3, closed
    # 15/07/2021).
    assert count("children_in_need", dt.date(2020, 6, 30)) == (0, 0)
    assert count("children_in_need", dt.date(2021, 6, 30), "category_of_need", "N3") == (1, 0)
    assert count("children_in_need", dt.date(2021, 7, 31)) == (0, 0)
    assert count("children_in_need", dt.date(2022, 6, 30), "category_of_need", "N2") == (1, 0)
    # Assessments authorised in June 2022: working day 45 in time, 46 not.
    assert count("assessments_authorised", dt.date(2022, 6, 30)) == (2, 1)
    # Enquiries of December 2022; conferences on working days 15 (in time) and 16.
    assert count("s47_enquiries", dt.date(2022, 12, 31)) == (3, 0)
    assert count("initial_conferences", dt.date(2023, 1, 31)) == (2, 1)
    # Plans ending in May 2022: on the 2nd anniversary (2 years) and the day before.
    assert count("cp_plan_ends", dt.date(2022, 5, 31)) == (2, 1)
    # Categories of abuse: latest, else initial, else Unknown.
    assert count("child_protection", dt.date(2021, 3, 31), "category_of_abuse", "SAB") == (1, 0)
    assert count("child_protection", dt.date(2021, 3, 31), "category_of_abuse", "NEG") == (1, 0)
    assert count("child_protection", dt.date(2021, 3, 31), "category_of_abuse", "Unknown") == (1, 0)


def test_long_term_child_with_overlapping_episodes_counts_once():
    """Two open episodes of one child (a data error a return can hold), each beginning a period
    of care over 30 months before X: the child counts once, by the latest-begun episode's period."""
    kid = {"date_of_birth": dt.date(2010, 7, 31), "sex": "Male", "ethnicity": "White", "postcode_district": None}
    episodes = [
        ("A", dt.date(2016, 1, 1), None, "S", "C2", "N1", None, "U4"),
        ("A", dt.date(2017, 1, 1), None, "P", "C2", "N1", None, "U1"),
        # B: the later overlapping episode's period is under 30 months old on 31/03/2020.
        ("B", dt.date(2016, 1, 1), None, "S", "C2", "N1", None, "U4"),
        ("B", dt.date(2018, 1, 1), None, "P", "C2", "N1", None, "U1"),
    ]
    con = _warehouse([kid] * len(CHILDREN), episodes, [], [])
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}
    assert counts[("long_term_looked_after", "all", "all", dt.date(2020, 3, 31))] == (1, 1)
    assert counts[("long_term_looked_after", "all", "all", dt.date(2020, 7, 31))] == (2, 2)


def test_windows_start_full():
    """A 12-month count is first given on the month end closing the source's first 12 months
    (31/03/2020 for SSDA903 returns from 2019/20), never the month before; after the missing
    2021/22 return again only from 31/03/2023. A count on the day (children looked after) starts
    with the returns. A programme's rows start with its first enrolment, its 12-month counts 12
    months on: P2, first enrolled 10/06/2023, from 31/05/2024 (not 30/04/2024); the 'all' row
    from the export's first 12 months (January to December 2019)."""
    kid = {"date_of_birth": dt.date(2010, 7, 31), "sex": "Male", "ethnicity": "White", "postcode_district": None}
    episodes = [
        ("A", dt.date(2019, 5, 1), None, "S", "C2", "N1", None, "U4"),
        ("B", dt.date(2022, 5, 1), None, "S", "C2", "N1", None, "U4"),
    ]
    enrolments = [
        ("A", "P1", dt.date(2019, 1, 15), None, [0], [], True),
        ("B", "P2", dt.date(2023, 6, 10), None, [0], [], True),
    ]
    con = _warehouse([kid] * len(CHILDREN), episodes, [], enrolments)
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}

    def count(population, day, breakdown="all", value="all"):
        return counts.get((population, breakdown, value, day))

    assert count("cla_starts", dt.date(2020, 2, 29)) is None
    assert count("cla_starts", dt.date(2020, 3, 31)) == (1, 0)
    assert count("cla_starts", dt.date(2023, 2, 28)) is None
    assert count("cla_starts", dt.date(2023, 3, 31)) == (1, 0)
    assert count("looked_after", dt.date(2019, 4, 30)) == (0, None)
    assert count("looked_after", dt.date(2019, 5, 31)) == (1, None)
    assert count("looked_after", dt.date(2020, 3, 31)) == (1, 0)
    assert count("looked_after", dt.date(2022, 4, 30)) == (1, None)
    assert count("looked_after", dt.date(2023, 3, 31)) == (2, 0)
    assert count("clients_served", dt.date(2019, 11, 30)) is None
    assert count("clients_served", dt.date(2019, 12, 31)) == (1, 0)
    assert count("program_clients_served", dt.date(2024, 4, 30), "program", "P2") is None
    assert count("program_clients_served", dt.date(2024, 5, 31), "program", "P2") == (1, 0)
    assert count("program_clients_served", dt.date(2024, 4, 30), "program", "P1") == (1, 0)
    assert count("program_plans", dt.date(2024, 4, 30), "program", "P2") is None
    assert count("program_plans", dt.date(2024, 5, 31), "program", "P2") == (1, 1)


def test_staged_rules_by_hand():
    """The rules the reference derives from the staged tables, each on the month end it turns
    on: a short break (LS V3) is not looked after; an episode re-submitted with a DEC counts as
    the newest return gives it; an episode left open in the 2019/20 return and absent from
    later ones closes on 1 April 2020, or on the child's next episode's DECOM; a plan is a repeat
    when the child had an earlier plan or NumberOfPreviousCPP > 0; the newest record of a child
    gives age and sex; a service plan on day 31 is late; of assessments on the same day the
    greater assessment_id is the later; a change equal to the reliable change criterion (24.5)
    is not enough, one above it is; a tool without a criterion falls back to any improvement
    (lower is better here)."""
    kids = [
        {"date_of_birth": dt.date(2010, 7, 31), "sex": "Female", "ethnicity": "White", "postcode_district": "AB1"},
        {"date_of_birth": dt.date(2010, 7, 31), "sex": "Male", "ethnicity": "Mixed", "postcode_district": "AB2"},
        {"date_of_birth": dt.date(2008, 2, 29), "sex": "Female", "ethnicity": "Refused", "postcode_district": None},
        {"date_of_birth": dt.date(2016, 1, 15), "sex": "Male", "ethnicity": None, "postcode_district": None},
        {"date_of_birth": dt.date(2012, 5, 1), "sex": None, "ethnicity": None, "postcode_district": None},
    ]
    episodes = [
        ("A", dt.date(2020, 5, 1), None, "S", "V3", "N1", None, "U4"),  # a short break
        ("B", dt.date(2019, 6, 1), [(2020, None), (2021, 400)], "S", "C2", "N1", None, "U4"),  # DEC 05/07/2020
        ("C", dt.date(2019, 10, 1), [(2020, None)], "S", "C2", "N1", None, "U4"),  # closed 01/04/2020
        ("D", dt.date(2019, 8, 1), [(2020, None)], "S", "C2", "N1", None, "U4"),  # closed 01/09/2020
        ("D", dt.date(2020, 9, 1), [(2021, 60)], "P", "C2", "N1", None, "U1"),
        ("E", dt.date(2020, 1, 10), [(2024, 2000)], "S", "V4", "N1", None, "U4"),  # a short break
    ]
    plans = [
        ("A", dt.date(2021, 5, 1), [(2021, None), (2022, None)], "N1", 2, None, None),  # 2 previous plans
        ("B", dt.date(2021, 6, 1), None, "N1", 0, None, None),
        ("B", dt.date(2022, 1, 10), None, "N1", 0, None, None),  # B's second plan
        ("C", dt.date(2022, 3, 1), [(2022, None), (2023, 100)], "N1", 0, None, None),  # ended 09/06/2022
    ]
    enrolments = [
        # the programmes' first enrolments, in 2019
        ("E", "Family Support", dt.date(2019, 1, 5), 30, [], [], True),
        ("E", "Parenting", dt.date(2019, 1, 5), 30, [], [], False),
        # A: 15 and 1 on 10/01/2022 (15 first), 30 and 39.5 on 29/07/2022 (39.5 latest): +24.5
        ("A", "Family Support", dt.date(2022, 1, 10), None, [0],
         [(0, [10, 5]), (0, [1]), (200, [20, 10]), (200, [20, 19.5])], True),
        # B: 10 then 35 (+25); its plan is on day 31
        ("B", "Family Support", dt.date(2022, 1, 5), None, [31], [(0, [10]), (100, [20, 15])], True),
        # C: 12 then 11, lower is better; its plan the day before the start
        ("C", "Parenting", dt.date(2022, 1, 20), None, [-1], [(0, [12]), (50, [11])], False),
    ]
    con = _warehouse(kids, episodes, plans, enrolments)
    got = _sorted(con.execute("select * from int_measure_counts").df())
    assert got == _sorted(_by_month(con))
    counts = {(p, b, v, pe): (m, f) for p, pe, b, v, m, f in got}

    def members(population, day, breakdown="all", value="all"):
        return counts.get((population, breakdown, value, day), (0, 0))[0]

    # Looked after: B, C and D on 31/03/2020; C's episode closed on 1 April 2020; A's and E's
    # short breaks never; B's episode closed 05/07/2020 by the 2020/21 return; D's first
    # episode closed on 01/09/2020, its second on 31/10/2020.
    assert members("looked_after", dt.date(2020, 3, 31)) == 3
    assert members("looked_after", dt.date(2020, 4, 30)) == 2
    assert members("looked_after", dt.date(2020, 5, 31)) == 2
    assert members("looked_after", dt.date(2020, 7, 31)) == 1
    assert members("looked_after", dt.date(2020, 8, 31)) == 1
    assert members("looked_after", dt.date(2020, 12, 31)) == 0
    # The newest header: B is 9 and Male, C (29 February 2008) 12.
    assert members("looked_after", dt.date(2020, 3, 31), "age_band", "5-9") == 1
    assert members("looked_after", dt.date(2020, 3, 31), "age_band", "10-15") == 1
    assert members("looked_after", dt.date(2020, 3, 31), "age_band", "18+") == 0
    assert members("looked_after", dt.date(2020, 3, 31), "sex", "Male") == 2
    assert members("looked_after", dt.date(2020, 3, 31), "sex", "Unknown") == 0
    # Plans begun in the 12 months to 31/03/2022: A's (2 previous) and B's second are repeats.
    assert counts[("cp_plan_starts", "all", "all", dt.date(2022, 3, 31))] == (4, 2)
    # C's plan ended 09/06/2022 (the 2022/23 census).
    assert members("child_protection", dt.date(2022, 5, 31)) == 3
    assert members("child_protection", dt.date(2022, 6, 30)) == 2
    # Enrolments begun at least 30 days before 28/02/2022: only A's plan is on time.
    assert counts[("program_plans", "program", "Family Support", dt.date(2022, 2, 28))] == (2, 1)
    assert counts[("program_plans", "program", "Parenting", dt.date(2022, 2, 28))] == (1, 0)
    # 31/07/2022: A and B better off, only B by more than 24.5; C better (lower) and, with no
    # criterion for its tool, better off reliably too.
    assert counts[("program_assessed", "program", "Family Support", dt.date(2022, 7, 31))] == (2, 2)
    assert counts[("program_reliable_change", "program", "Family Support", dt.date(2022, 7, 31))] == (2, 1)
    assert counts[("program_reliable_change", "program", "Parenting", dt.date(2022, 7, 31))] == (1, 1)
    # 30/06/2022: A's latest is 1 (the later of 10/01/2022's two), not better than 15; B +25.
    assert counts[("program_assessed", "program", "Family Support", dt.date(2022, 6, 30))] == (2, 1)
    assert counts[("program_reliable_change", "program", "Family Support", dt.date(2022, 6, 30))] == (2, 1)
