"""The wider catalogue (DOMAIN.md §3b; the exact rules of catalogue issue #18) on a hand-made
council whose answers were worked out on paper.

Fixture: tests/fixtures/catalogue/exports (README.md there lists every record and the working).
It holds three SSDA903 returns (2022-23, 2023-24, 2024-25: header, episodes, UASC, Missing, OC2,
OC3, PlacedAdoption, AD1), two CIN censuses (2024, 2025) and ONS-style population:
  mid-2022 and mid-2023: 1,000 at every single year 0-17 (18,000);
  mid-2024: 500 at every single year 0-17 (9,000; bands 0-4 2,500, 5-9 2,500, 10-15 3,000).
Windows: a 12-month measure ending X covers (X - 1 year, X]. Working days: Monday-Friday except
England bank holidays, counted from the day after the start to the end inclusive.
England bank holidays met here: 25, 26 Dec 2023, 1 Jan 2024 (Christmas); 29 Mar, 1 Apr 2024
(Easter); 6 May, 27 May 2024.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import holidays
import pandas as pd
import pytest
from conftest import FIXTURES, materialise_all, query

from pipelines.contracts import load_contracts
from pipelines.sqlmodels import load_breakdown_codes, register_macros

D = dt.date
EXPORTS = FIXTURES / "catalogue" / "exports"
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def _month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    return [d.date() for d in pd.date_range(first, last, freq="ME")]


SSDA903_PERIODS = _month_ends(D(2022, 4, 30), D(2025, 3, 31))  # the three returns' months
CIN_PERIODS = _month_ends(D(2023, 4, 30), D(2025, 3, 31))  # the 2024 and 2025 censuses
ANNUAL_PERIODS = [D(2023, 3, 31), D(2024, 3, 31), D(2025, 3, 31)]  # one per SSDA903 return
# A 12-month measure starts at its first full window: the 31 March closing the first collection
# year loaded (models/measures.yml, Windows).
SSDA903_FULL_WINDOWS = _month_ends(D(2023, 3, 31), D(2025, 3, 31))
CIN_FULL_WINDOWS = _month_ends(D(2024, 3, 31), D(2025, 3, 31))
WINDOWED = (
    "cla_missing_12m_pct", "referrals_12m", "referral_rate_per_10k", "rereferrals_12m_pct",
    "assessments_45wd_pct", "s47_rate_per_10k_12m", "icpc_15wd_pct", "cpp_2yrs_pct_12m",
)

MONTHLY_SSDA903 = ("placement_stability_long_term_pct", "cla_missing_12m_pct", "uasc_count")
MONTHLY_CIN = (
    "cin_count", "cin_rate_per_10k", "referrals_12m", "referral_rate_per_10k", "rereferrals_12m_pct",
    "assessments_45wd_pct", "s47_rate_per_10k_12m", "icpc_15wd_pct", "cpp_2yrs_pct_12m",
)
ANNUAL_SSDA903 = (
    "cla_health_assessment_pct", "cla_teeth_check_pct", "cla_sdq_recorded_pct",
    "adoption_entry_to_placed_days_3y", "care_leavers_17_18_suitable_accommodation_pct",
)
NEW_MEASURES = MONTHLY_SSDA903 + MONTHLY_CIN + ANNUAL_SSDA903
assert len(NEW_MEASURES) == 17

BANK_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG", years=range(2022, 2026))


def working_days(start: dt.date, end: dt.date) -> int:
    """Mon-Fri, not an England bank holiday, from start + 1 day to end inclusive."""
    days = (start + dt.timedelta(days=n) for n in range(1, (end - start).days + 1))
    return sum(1 for d in days if d.weekday() < 5 and d not in BANK_HOLIDAYS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("catalogue")
    result = materialise_all(EXPORTS, out)
    # Only the measure assets are under test here; later assets (status, site) belong to others.
    built = {e.asset_key for e in result.get_asset_materialization_events()}
    assert {dg.AssetKey(["marts", "measures"]), dg.AssetKey(["marts", "measure_values"])} <= built
    return out


@pytest.fixture(scope="module")
def values(run) -> pd.DataFrame:
    frame = query(run, "select * from marts.measure_values")
    frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.date
    return frame


def absent(values, measure_id, period_end) -> None:
    """No row at all on the period end (a window the data do not fully cover)."""
    rows = values[(values["measure_id"] == measure_id) & (values["period_end"] == period_end)]
    assert rows.empty, (measure_id, period_end, len(rows))


def row(values, measure_id, period_end, breakdown="all", breakdown_value="all") -> dict:
    rows = values[
        (values["measure_id"] == measure_id)
        & (values["period_end"] == period_end)
        & (values["breakdown"] == breakdown)
        & (values["breakdown_value"] == breakdown_value)
    ]
    assert len(rows) == 1, (measure_id, period_end, breakdown, breakdown_value, len(rows))
    found = rows.iloc[0].to_dict()
    return {k: (None if pd.isna(v) else v) for k, v in found.items() if k in ("numerator", "denominator", "value")}


def counted(values, measure_id, period_end, breakdown) -> dict:
    """A breakdown's non-zero numerators by value on one period end."""
    rows = values[
        (values["measure_id"] == measure_id)
        & (values["period_end"] == period_end)
        & (values["breakdown"] == breakdown)
    ]
    assert len(rows), (measure_id, period_end, breakdown)
    return {v: int(n) for v, n in zip(rows["breakdown_value"], rows["numerator"], strict=True) if n}


def count(n) -> dict:
    return {"numerator": n, "denominator": None, "value": n}


def pct(n, d) -> dict:
    return {"numerator": n, "denominator": d, "value": pytest.approx(100 * n / d) if d else None}


def per_10k(n, d) -> dict:
    return {"numerator": n, "denominator": d, "value": pytest.approx(10000 * n / d)}


# --------------------------------------------------------------------------- the fixture's dates
def test_the_working_day_edge_cases_are_what_the_fixture_says():
    # R05's assessment: 45 working days although 48 weekdays (25, 26 Dec 2023 and 1 Jan 2024).
    assert working_days(D(2023, 11, 20), D(2024, 1, 25)) == 45
    # R06's assessment: 46 working days (48 weekdays; Good Friday 29 Mar and Easter Monday 1 Apr).
    assert working_days(D(2024, 2, 12), D(2024, 4, 18)) == 46
    # R07's conference: day 15 (16 weekdays: 6 May 2024); R08's: day 16 (17 weekdays: 27 May).
    assert working_days(D(2024, 4, 29), D(2024, 5, 21)) == 15
    assert working_days(D(2024, 5, 20), D(2024, 6, 12)) == 16
    # R12's conference 5 days after; R04's, R02's, R12's and R03's assessments 34, 23, 73 and 82.
    assert working_days(D(2023, 7, 3), D(2023, 7, 10)) == 5
    assert working_days(D(2023, 9, 4), D(2023, 10, 20)) == 34
    assert working_days(D(2024, 4, 22), D(2024, 5, 24)) == 23
    assert working_days(D(2023, 6, 5), D(2023, 9, 15)) == 73
    assert working_days(D(2024, 5, 3), D(2024, 8, 30)) == 82
    assert working_days(D(2024, 5, 3), D(2024, 5, 3)) == 0


# --------------------------------------------------------------------------- the exports load
STAGED_ROWS = {
    # CIN: 12 episodes in the 2024 census + 10 in 2025; assessments 4 + 6; enquiries 2 + 4;
    # plans 4 + 5. SSDA903 tables by return 2022-23 + 2023-24 + 2024-25.
    "stg_cin_details": 22,
    "stg_cin_assessments": 10,
    "stg_cin_section47": 6,
    "stg_cp_plans": 9,
    "stg_ssda903_episodes": 13 + 18 + 19,
    "stg_ssda903_missing": 1 + 4 + 3,
    "stg_ssda903_uasc": 1 + 2 + 4,
    "stg_ssda903_oc2": 2 + 4 + 3,
    "stg_ssda903_oc3": 1 + 4 + 7,
    "stg_ssda903_placed_adoption": 1 + 3 + 2,
    "stg_ssda903_ad1": 0 + 1 + 1,
}


def test_the_exports_load_whole(run):
    """Every record of the fixture reaches staging; nothing is quarantined or cleared."""
    for model, n in STAGED_ROWS.items():
        assert query(run, f"select count(*) as n from staging.{model}")["n"][0] == n, model
    assert query(run, "select count(*) as n from quality.quarantine")["n"][0] == 0
    assert query(run, "select count(*) as n from quality.contract_results where not success")["n"][0] == 0


# --------------------------------------------------------------------------- every period present
def test_each_new_measure_has_a_row_for_every_period(values):
    expected = (
        {m: SSDA903_PERIODS for m in MONTHLY_SSDA903}
        | {m: CIN_PERIODS for m in MONTHLY_CIN}
        | {m: ANNUAL_PERIODS for m in ANNUAL_SSDA903}
    )
    expected |= {m: SSDA903_FULL_WINDOWS for m in WINDOWED if m in MONTHLY_SSDA903}
    expected |= {m: CIN_FULL_WINDOWS for m in WINDOWED if m in MONTHLY_CIN}
    assert set(WINDOWED) <= set(MONTHLY_SSDA903 + MONTHLY_CIN)
    for measure_id, periods in expected.items():
        mine = values[(values["measure_id"] == measure_id) & (values["breakdown"] == "all")]
        assert sorted(mine["period_end"]) == periods, measure_id
        assert (mine["breakdown_value"] == "all").all(), measure_id
    # the new breakdowns cover every period of their measure
    for measure_id, breakdown, periods in (
        ("cpp_count", "category_of_abuse", CIN_PERIODS),
        ("cla_count", "legal_status", SSDA903_PERIODS),
        ("cla_count", "placement_type", SSDA903_PERIODS),
    ):
        mine = values[(values["measure_id"] == measure_id) & (values["breakdown"] == breakdown)]
        assert sorted(set(mine["period_end"])) == periods, (measure_id, breakdown)


def test_catalogue_lists_the_new_measures(run):
    listed = query(run, "select measure_id, unit, frequency from marts.measures")
    units = dict(zip(listed["measure_id"], listed["unit"], strict=True))
    assert set(NEW_MEASURES) <= set(units)
    assert units["adoption_entry_to_placed_days_3y"] == "days"
    assert {units[m] for m in ("cin_count", "referrals_12m", "uasc_count")} == {"count"}
    assert {units[m] for m in ("cin_rate_per_10k", "referral_rate_per_10k", "s47_rate_per_10k_12m")} == {
        "rate_per_10k"
    }


# --------------------------------------------------------------------------- children in need
# CIN episodes (child + CINreferralDate; the newest census wins), open on X when referral <= X
# and (closure blank or > X); ReferralNFA true is never open:
#   R01a 15/06/2023 NFA, closed 03/07/2023        never (would be open on 30/06/2023)
#   R01b 04/12/2023 - 15/03/2024                    Dec 2023 - Feb 2024
#   R02a 20/04/2023 - 30/06/2023 (closed ON a period end)   Apr - May 2023
#   R02b 20/04/2024, open                           Apr 2024 on
#   R03a 01/05/2023 - 31/08/2023                    May - Jul 2023
#   R03b 02/05/2024 - 15/10/2024                    May - Sep 2024
#   R04  01/09/2023, open in 2024, closed 10/12/2024 by the 2025 census (in both: once)  Sep 2023 - Nov 2024
#   R05  15/11/2023 - 29/02/2024 (closed on the leap-day period end)   Nov 2023 - Jan 2024
#   R06  01/02/2024, open (both censuses)           Feb 2024 on
#   R07  15/04/2024, open; R08 13/05/2024, open     Apr / May 2024 on
#   R09  02/10/2023 - 01/12/2023                    Oct - Nov 2023
#   R10  01/05/2022, closed 30/09/2024 (2025 census)      to Aug 2024
#   R11  01/07/2022, open; R12 01/06/2023, open
#   R13  01/03/2021 - 31/07/2023                    to Jun 2023
#   R14  01/10/2024, open
def test_cin_count(values):
    # 30/06/2023: R03a, R10, R11, R12, R13. R02a closed on the day; R01a is NFA (open otherwise).
    assert row(values, "cin_count", D(2023, 6, 30)) == count(5)
    # 29/02/2024: R01b, R04, R06, R10, R11, R12; R05 closed on the day.
    assert row(values, "cin_count", D(2024, 2, 29)) == count(6)
    # 31/03/2024: R04, R06, R10, R11, R12 (R01b closed 15/03/2024).
    assert row(values, "cin_count", D(2024, 3, 31)) == count(5)
    # 31/05/2024: R02b, R03b, R04, R06, R07, R08, R10, R11, R12.
    assert row(values, "cin_count", D(2024, 5, 31)) == count(9)
    # 31/12/2024: R04 closed 10/12/2024 by the newer census (the 2024 census had it open).
    assert row(values, "cin_count", D(2024, 12, 31)) == count(7)
    # 31/03/2025: R02b (12), R06 (5), R07 (11), R08 (13), R11 (9), R12 (5), R14 (15, born 30/04/2009).
    assert row(values, "cin_count", D(2025, 3, 31)) == count(7)
    assert counted(values, "cin_count", D(2025, 3, 31), "age_band") == {"5-9": 3, "10-15": 4}
    assert counted(values, "cin_count", D(2025, 3, 31), "sex") == {"Male": 4, "Female": 3}


def test_cin_rate_per_10k(values):
    # 5 children over mid-2023 (18,000); 7 over mid-2024 (9,000).
    assert row(values, "cin_rate_per_10k", D(2024, 3, 31)) == per_10k(5, 18000)
    assert row(values, "cin_rate_per_10k", D(2025, 3, 31)) == per_10k(7, 9000)
    # 30/06/2023 (mid-2023): 5 / 18,000.
    assert row(values, "cin_rate_per_10k", D(2023, 6, 30)) == per_10k(5, 18000)
    # By age band: 5-9 at 31/03/2025 = R06, R11, R12 over 2,500 children aged 5-9 (mid-2024).
    assert row(values, "cin_rate_per_10k", D(2025, 3, 31), "age_band", "5-9") == per_10k(3, 2500)


# Referral dates (events; NFA included; an episode in both censuses once):
#   R13 01/03/2021, R10 01/05/2022, R11 01/07/2022, R02a 20/04/2023, R03a 01/05/2023,
#   R12 01/06/2023, R01a 15/06/2023 (NFA), R04 01/09/2023 (both censuses), R09 02/10/2023,
#   R05 15/11/2023, R01b 04/12/2023, R06 01/02/2024 (both censuses), R07 15/04/2024,
#   R02b 20/04/2024, R03b 02/05/2024, R08 13/05/2024, R14 01/10/2024
def test_referrals_12m(values):
    # (30/04/2022, 30/04/2023] and up to (28/02/2023, 29/02/2024]: before the first census year
    # (2023-24) closes, no value; 31/03/2024 is the first.
    absent(values, "referrals_12m", D(2023, 4, 30))
    absent(values, "referrals_12m", D(2024, 2, 29))
    # (31/03/2023, 31/03/2024]: R02a, R03a, R12, R01a (NFA counts), R04 (once), R09, R05, R01b, R06.
    assert row(values, "referrals_12m", D(2024, 3, 31)) == count(9)
    # (30/04/2023, 30/04/2024]: R02a drops out; R07 and R02b come in.
    assert row(values, "referrals_12m", D(2024, 4, 30)) == count(10)
    # (31/05/2023, 31/05/2024]: R03a (01/05/2023) drops out; R03b and R08 come in.
    assert row(values, "referrals_12m", D(2024, 5, 31)) == count(11)
    # (31/03/2024, 31/03/2025]: R07, R02b, R03b, R08, R14.
    assert row(values, "referrals_12m", D(2025, 3, 31)) == count(5)


def test_referral_rate_per_10k(values):
    assert row(values, "referral_rate_per_10k", D(2024, 3, 31)) == per_10k(9, 18000)
    assert row(values, "referral_rate_per_10k", D(2024, 5, 31)) == per_10k(11, 9000)
    assert row(values, "referral_rate_per_10k", D(2025, 3, 31)) == per_10k(5, 9000)


def test_rereferrals_12m_pct(values):
    m = "rereferrals_12m_pct"
    # Re-referrals: R01b (04/12/2023; R01a 15/06/2023, an NFA referral, is within the year) and
    # R02b (20/04/2024; R02a 20/04/2023 exactly one year earlier: counts). R03b (02/05/2024) is
    # not one: R03a (01/05/2023) is one year and one day earlier.
    # 30/11/2023: (30/11/2022, 30/11/2023] is not all in the censuses: no value.
    absent(values, m, D(2023, 11, 30))
    # 31/03/2024: the 9 referrals of test_referrals_12m; R01b.
    assert row(values, m, D(2024, 3, 31)) == pct(1, 9)
    # 30/04/2024: the 10; R01b and R02b.
    assert row(values, m, D(2024, 4, 30)) == pct(2, 10)
    # 31/05/2024: the 11; R01b and R02b (R03b is not).
    assert row(values, m, D(2024, 5, 31)) == pct(2, 11)
    # 31/03/2025: R07, R02b, R03b, R08, R14; R02b only.
    assert row(values, m, D(2025, 3, 31)) == pct(1, 5)


# Assessments (child + start date; the newest census wins), working days start -> authorised:
#   R12 05/06/2023 -> 15/09/2023   73 late
#   R04 04/09/2023 -> 20/10/2023   34 in time (in both censuses: once)
#   R05 20/11/2023 -> 25/01/2024   45 in time: 48 weekdays less 25, 26 Dec and 1 Jan
#   R06 12/02/2024 -> 18/04/2024   46 late (Easter); the 2024 census had no authorisation date
#   R02b 22/04/2024 -> 24/05/2024  23 in time
#   R03b 03/05/2024 -> 30/08/2024  82 late
#   R14 10/03/2025, not authorised: never counted
def test_assessments_45wd_pct(values):
    m = "assessments_45wd_pct"
    # Windows before the first census year closes: no value.
    absent(values, m, D(2023, 6, 30))
    absent(values, m, D(2024, 2, 29))
    # 31/03/2024: R12 (late), R04 (in time), R05 at exactly 45 working days: in time.
    assert row(values, m, D(2024, 3, 31)) == pct(2, 3)
    # 30/04/2024: + R06 at 46 working days: late. (Its 2024 census row had no authorisation.)
    assert row(values, m, D(2024, 4, 30)) == pct(2, 4)
    # 31/05/2024: + R02b in time.
    assert row(values, m, D(2024, 5, 31)) == pct(3, 5)
    # 31/03/2025: (31/03/2024, 31/03/2025]: R06 (late), R02b (in time), R03b (late).
    assert row(values, m, D(2025, 3, 31)) == pct(1, 3)


# Section 47 enquiries (child + start date), conferences (ICPCnotRequired not true):
#   R12 03/07/2023, ICPC 10/07/2023 (5 working days; in both censuses: once)
#   R09 05/10/2023, ICPCnotRequired true: an enquiry, no conference
#   R07 29/04/2024, ICPC 21/05/2024 = working day 15 (6 May a bank holiday): in time
#   R08 20/05/2024, ICPC 12/06/2024 = working day 16 (27 May a bank holiday): late
#   R14 17/03/2025, no conference yet
def test_s47_rate_per_10k_12m(values):
    m = "s47_rate_per_10k_12m"
    absent(values, m, D(2023, 6, 30))
    # (31/03/2023, 31/03/2024]: R12 (once although in both censuses), R09.
    assert row(values, m, D(2024, 3, 31)) == per_10k(2, 18000)
    # (31/05/2023, 31/05/2024]: R12, R09, R07, R08 over mid-2024.
    assert row(values, m, D(2024, 5, 31)) == per_10k(4, 9000)
    # (31/03/2024, 31/03/2025]: R07, R08, R14.
    assert row(values, m, D(2025, 3, 31)) == per_10k(3, 9000)


def test_icpc_15wd_pct(values):
    m = "icpc_15wd_pct"
    # 31/03/2024: R12 only (R09's enquiry needed no conference).
    assert row(values, m, D(2024, 3, 31)) == pct(1, 1)
    # 31/05/2024: R12 and R07 (day 15: in time).
    assert row(values, m, D(2024, 5, 31)) == pct(2, 2)
    # 30/06/2024: + R08 (day 16: late).
    assert row(values, m, D(2024, 6, 30)) == pct(2, 3)
    # 31/03/2025: R07 in time, R08 late; R14 has no conference.
    assert row(values, m, D(2025, 3, 31)) == pct(1, 2)
    absent(values, m, D(2023, 6, 30))


# CP plans (child + CPPstartDate; the newest census wins):
#   R13 01/04/2021 - 30/06/2023   over 2 years; initial MUL, latest NEG -> NEG
#   R10 01/06/2022 - 01/06/2024   ends ON its 2nd anniversary: 2 years; NEG -> EMO (2025 census;
#                                 the 2024 census said latest NEG, plan open)
#   R11 15/07/2022 - 14/07/2024   a day short of 2 years; initial PHY, latest blank -> PHY
#   R12 10/07/2023 - 29/11/2024   both categories blank -> Unknown
#   R07 21/05/2024, open          initial SAB, latest blank -> SAB
#   R08 12/06/2024, open          initial PHY, latest MUL -> MUL
def test_cpp_2yrs_pct_12m(values):
    m = "cpp_2yrs_pct_12m"
    # Windows before the first census year closes (R13 ended 30/06/2023): no value.
    absent(values, m, D(2023, 5, 31))
    absent(values, m, D(2023, 6, 30))
    # (31/03/2023, 31/03/2024]: R13 (over 2 years).
    assert row(values, m, D(2024, 3, 31)) == pct(1, 1)
    # (30/06/2023, 30/06/2024]: R13 ended on the excluded first boundary; R10 (exactly 2 years).
    assert row(values, m, D(2024, 6, 30)) == pct(1, 1)
    # (31/07/2023, 31/07/2024]: R10 yes, R11 (2 years less a day) no.
    assert row(values, m, D(2024, 7, 31)) == pct(1, 2)
    # (31/03/2024, 31/03/2025]: R10, R11, R12.
    assert row(values, m, D(2025, 3, 31)) == pct(1, 3)


def test_cpp_count_by_category_of_abuse(values):
    m = "cpp_count"
    assert counted(values, m, D(2023, 5, 31), "category_of_abuse") == {"NEG": 1, "EMO": 1, "PHY": 1}
    # 31/03/2024: R10 EMO (the newer census's latest category), R11 PHY, R12 Unknown.
    assert counted(values, m, D(2024, 3, 31), "category_of_abuse") == {"EMO": 1, "PHY": 1, "Unknown": 1}
    # 30/06/2024: R10 ended 01/06/2024; R11 PHY, R12 Unknown, R07 SAB, R08 MUL.
    assert counted(values, m, D(2024, 6, 30), "category_of_abuse") == {
        "PHY": 1, "Unknown": 1, "SAB": 1, "MUL": 1,
    }
    # 31/03/2025: R07 SAB, R08 MUL.
    assert counted(values, m, D(2025, 3, 31), "category_of_abuse") == {"SAB": 1, "MUL": 1}
    for x in (D(2024, 3, 31), D(2024, 6, 30)):
        total = row(values, m, x)["numerator"]
        assert sum(counted(values, m, x, "category_of_abuse").values()) == total


# --------------------------------------------------------------------------- children looked after
# Episodes (newest return wins; C16's V3 short break never counts), open on X when DECOM <= X < DEC:
#   C01 30/09/2022 S C2 U4                       C02 01/10/2022 S C2 U4
#   C03 01/06/2021 S C2 U4 -> 31/03/2023 P C2 U5  C04 01/06/2021 S C2 U4 -> 01/04/2023 P C2 U6
#   C05 01/01/2022 S C2 U4 -> 15/10/2024 B E1 A4  C06 01/05/2020 S C2 K2 (born 31/03/2009)
#   C07 10/05/2022 S C2 U4 -> 01/02/2024 B E1 A5 -> adopted 20/11/2024 (E11)
#   C08 01/03/2022 S C2 U4 -> 15/09/2022 B E1 A4 -> adopted 30/06/2023 (E12)
#   C09 05/04/2022 S C2 U1 -> adopted 31/01/2025 (E11), no PlacedAdoption row
#   C10 01/07/2023 S V2 U5                       C11 01/11/2022 S C1 P2 (UASC)
#   C12 15/01/2023 S C2 U4 -> 01/05/2023 (E13)    C13 01/09/2023 S V2 H5 (UASC, DUC 15/11/2024)
#   C14 15/06/2024 S V2 U5 (UASC, no DUC)         C15 01/04/2024 S V2 U4 -> 30/09/2024 (UASC, no DUC)
#   C17 01/02/2024 S D1 R3                       C18 10/08/2024 S J2 R1
#   C19 28/01/2025 S L2 U1 -> 03/02/2025 L C1 U1  C20 01/03/2024 S C2 P1
def test_cla_count_by_legal_status(values):
    m = "cla_count"
    # 31/10/2022: C01-C07, C09 on care orders (C2); C08 placement order (E1).
    assert counted(values, m, D(2022, 10, 31), "legal_status") == {"care order": 8, "placement order": 1}
    # 31/03/2024: care order C01-C06, C09, C20 (C2), C11 (C1); placement order C07; s20 C10, C13;
    # other C17 (D1).
    assert counted(values, m, D(2024, 3, 31), "legal_status") == {
        "care order": 9, "placement order": 1, "accommodated under s20": 2, "other": 1,
    }
    # 31/01/2025: care order C01-C04, C06, C11, C20; placement order C05 (E1 since 15/10/2024);
    # s20 C10, C13, C14; youth justice C18 (J2); police protection C19 (L2); other C17.
    assert counted(values, m, D(2025, 1, 31), "legal_status") == {
        "care order": 7, "placement order": 1, "accommodated under s20": 3, "youth justice": 1,
        "police protection/emergency": 1, "other": 1,
    }
    # 28/02/2025: C19's open episode is now the RNE L one, C1: a care order.
    assert counted(values, m, D(2025, 2, 28), "legal_status") == {
        "care order": 8, "placement order": 1, "accommodated under s20": 3, "youth justice": 1, "other": 1,
    }
    assert row(values, m, D(2025, 1, 31)) == count(14)


def test_cla_count_by_placement_type(values):
    m = "cla_count"
    # 31/10/2022: other foster C01-C05, C07 (U4); relatives C09 (U1); adoption C08 (A4);
    # residential C06 (K2).
    assert counted(values, m, D(2022, 10, 31), "placement_type") == {
        "other foster": 6, "foster with relatives/friends": 1, "placed for adoption": 1, "residential": 1,
    }
    # 31/03/2024: other foster C01, C02, C03 (U5), C04 (U6), C05, C10 (U5); relatives C09;
    # adoption C07 (A5); parents C20 (P1); independent C11 (P2), C13 (H5); residential C06;
    # secure/custody and other C17 (R3).
    assert counted(values, m, D(2024, 3, 31), "placement_type") == {
        "other foster": 6, "foster with relatives/friends": 1, "placed for adoption": 1,
        "placed with parents": 1, "independent/semi-independent living": 2, "residential": 1,
        "secure/custody and other": 1,
    }
    # 31/01/2025: other foster C01-C04, C10, C14; relatives C19 (U1); adoption C05 (A4);
    # parents C20; independent C11, C13; residential C06 (K2), C18 (R1); other C17 (R3).
    # C09's DEC is the day itself: not counted.
    assert counted(values, m, D(2025, 1, 31), "placement_type") == {
        "other foster": 6, "foster with relatives/friends": 1, "placed for adoption": 1,
        "placed with parents": 1, "independent/semi-independent living": 2, "residential": 2,
        "secure/custody and other": 1,
    }


def test_placement_stability_long_term_pct(values):
    m = "placement_stability_long_term_pct"
    # X = 31/03/2024: X - 30 months = 30/09/2021, X - 2 years = 31/03/2022. Under 16, looked after,
    # period of care from on or before 30/09/2021: C03, C04 (01/06/2021), C06 (01/05/2020, aged 15).
    # C06's placement began 01/05/2020: yes. C03 (31/03/2023) and C04 (01/04/2023) moved since.
    assert row(values, m, D(2024, 3, 31)) == pct(1, 3)
    # X = 30/09/2024: X - 30 months = 31/03/2022, X - 2 years = 30/09/2022. Cohort C03, C04,
    # C05 (01/01/2022), C06; C07 (10/05/2022) and C09 (05/04/2022) too recent.
    # Yes: C05 (placement 01/01/2022), C06.
    assert row(values, m, D(2024, 9, 30)) == pct(2, 4)
    # X = 31/10/2024: X - 30 months = 30/04/2022, X - 2 years = 31/10/2022. Cohort C03, C04, C05,
    # C06, C09 (05/04/2022). Yes: C06, C09 (placement 05/04/2022) and C05: now placed for adoption
    # (A4 from 15/10/2024), the placement before it began 01/01/2022.
    assert row(values, m, D(2024, 10, 31)) == pct(3, 5)
    # X = 28/02/2025: X - 30 months = 28/08/2022, X - 2 years = 28/02/2023. Cohort C03, C04, C05,
    # C06 (15 until 31/03/2025); C01 (30/09/2022) too recent; C09 adopted 31/01/2025.
    # Yes: C05 (adoption), C06. C03's placement (31/03/2023) is a month too recent.
    assert row(values, m, D(2025, 2, 28)) == pct(2, 4)
    # X = 31/03/2025: X - 30 months = 30/09/2022, X - 2 years = 31/03/2023. Cohort: C01 (its period
    # began exactly on X - 30 months), C03, C04, C05; C02 (01/10/2022) a day too late; C06 turned
    # 16 on the day. Yes: C01 (placement 30/09/2022), C03 (placement exactly on X - 2 years),
    # C05 (adoption); C04's placement (01/04/2023) is a day too late.
    assert row(values, m, D(2025, 3, 31)) == pct(3, 4)
    # Nobody looked after long enough in April 2022: a null value, the row still there.
    assert row(values, m, D(2022, 4, 30)) == pct(0, 0)


def test_cla_missing_12m_pct(values):
    m = "cla_missing_12m_pct"
    # Missing rows: C01 M 05/03/2023; C12 M 20/04/2023; C16 M 30/06/2023 (short breaks only: never
    # looked after); C10 M 12/08/2023, A 03/02/2025 (away: not counted); C11 A 10/10/2023 only;
    # C18 M 20/08/2024; C14 M 01/12/2024.
    # X = 31/03/2023, window from 01/04/2022: C01-C09, C11, C12 looked after in it; C01 missing.
    assert row(values, m, D(2023, 3, 31)) == pct(1, 11)
    # X = 31/03/2024, from 01/04/2023: C01-C13 (C08 to 30/06/2023, C12 to 01/05/2023), C17, C20 = 15;
    # missing C12 (20/04/2023), C10 (12/08/2023). C11's A row does not count; C16 is not in care.
    assert row(values, m, D(2024, 3, 31)) == pct(2, 15)
    # X = 30/04/2024, from 01/05/2023: C12's episode ended ON the first day: out; C15 (01/04/2024)
    # in. Missing: C10 only.
    assert row(values, m, D(2024, 4, 30)) == pct(1, 15)
    # X = 31/08/2024, from 01/09/2023: C01-C07, C09, C10, C11, C13, C14, C15, C17, C18, C20 = 16;
    # C10's 12/08/2023 is before the window; C18 (20/08/2024).
    assert row(values, m, D(2024, 8, 31)) == pct(1, 16)
    # X = 31/03/2025, from 01/04/2024: C01-C07, C09, C10, C11, C13, C14, C15, C17-C20 = 17;
    # C18 and C14 (C10's 03/02/2025 row is A).
    assert row(values, m, D(2025, 3, 31)) == pct(2, 17)


def test_uasc_count(values):
    m = "uasc_count"
    # C11 (UASC in every return, DUC 17/07/2026) looked after from 01/11/2022.
    assert row(values, m, D(2022, 10, 31)) == count(0)
    assert row(values, m, D(2022, 11, 30)) == count(1)
    # + C13 from 01/09/2023.
    assert row(values, m, D(2023, 9, 30)) == count(2)
    # 31/08/2024: C11, C13, C14 (15/06/2024, DUC blank), C15 (01/04/2024, DUC blank).
    assert row(values, m, D(2024, 8, 31)) == count(4)
    assert counted(values, m, D(2024, 8, 31), "sex") == {"Female": 2, "Male": 2}
    # C11 16, C13 17, C14 15, C15 15.
    assert counted(values, m, D(2024, 8, 31), "age_band") == {"16-17": 2, "10-15": 2}
    # 30/09/2024: C15's episode ended on the day: no longer looked after.
    assert row(values, m, D(2024, 9, 30)) == count(3)
    # 31/10/2024: C13's DUC (15/11/2024) is after the day: still counted.
    assert row(values, m, D(2024, 10, 31)) == count(3)
    # 30/11/2024: C13's DUC is before the day: C11, C14.
    assert row(values, m, D(2024, 11, 30)) == count(2)
    assert row(values, m, D(2025, 3, 31)) == count(2)


# OC2 (denominator: the return's OC2 rows):
#   2022-23: C03 SDQ 12, teeth 1, HA 1; C06 SDQ blank (SDQ3), teeth 0, HA 0
#   2023-24: C01 14/1/1; C03 blank (SDQ1)/1/0; C05 20/0/1; C06 0 (a score of nought is given)/0/1
#   2024-25: C01 9/1/1; C02 blank/blank/1; C04 17/0/0
def test_cla_health_assessment_pct(values):
    m = "cla_health_assessment_pct"
    assert row(values, m, D(2023, 3, 31)) == pct(1, 2)
    assert row(values, m, D(2024, 3, 31)) == pct(3, 4)
    assert row(values, m, D(2025, 3, 31)) == pct(2, 3)
    # 2023-24 by sex: Male C01 (1), C06 (1); Female C03 (0), C05 (1).
    assert row(values, m, D(2024, 3, 31), "sex", "Male") == pct(2, 2)
    assert row(values, m, D(2024, 3, 31), "sex", "Female") == pct(1, 2)
    # by age at 31/03/2024: C05 is 4; C01 11, C03 12, C06 15.
    assert row(values, m, D(2024, 3, 31), "age_band", "0-4") == pct(1, 1)
    assert row(values, m, D(2024, 3, 31), "age_band", "10-15") == pct(2, 3)


def test_cla_teeth_check_pct(values):
    m = "cla_teeth_check_pct"
    assert row(values, m, D(2023, 3, 31)) == pct(1, 2)
    assert row(values, m, D(2024, 3, 31)) == pct(2, 4)  # C01, C03
    assert row(values, m, D(2025, 3, 31)) == pct(1, 3)  # C01; C02's blank is not a yes


def test_cla_sdq_recorded_pct(values):
    m = "cla_sdq_recorded_pct"
    assert row(values, m, D(2023, 3, 31)) == pct(1, 2)
    assert row(values, m, D(2024, 3, 31)) == pct(3, 4)  # C01, C05, C06 (score 0)
    assert row(values, m, D(2025, 3, 31)) == pct(2, 3)  # C01, C04


def test_adoption_entry_to_placed_days_3y(values):
    m = "adoption_entry_to_placed_days_3y"
    # Adopted (REC E11/E12): C08 30/06/2023, C07 20/11/2024, C09 31/01/2025.
    # C08: period of care from 01/03/2022, PlacedAdoption DATE_PLACED 01/08/2022: 153 days.
    # C07: from 10/05/2022; rows 01/10/2023 (ceased) and 15/12/2023: the latest, 584 days.
    # C09: no PlacedAdoption row: left out.
    assert (D(2022, 8, 1) - D(2022, 3, 1)).days == 153 and (D(2023, 12, 15) - D(2022, 5, 10)).days == 584
    # (31/03/2020, 31/03/2023]: nobody adopted: zero children, a null mean.
    found = row(values, m, D(2023, 3, 31))
    assert found["denominator"] == 0 and found["value"] is None and found["numerator"] in (0, None)
    # (31/03/2021, 31/03/2024]: C08.
    assert row(values, m, D(2024, 3, 31)) == {"numerator": 153, "denominator": 1, "value": pytest.approx(153.0)}
    # (31/03/2022, 31/03/2025]: C08, C07.
    assert row(values, m, D(2025, 3, 31)) == {"numerator": 737, "denominator": 2, "value": pytest.approx(368.5)}


def test_care_leavers_17_18_suitable_accommodation_pct(values):
    m = "care_leavers_17_18_suitable_accommodation_pct"
    # 2022-23: Q9 (born 15/05/2003) had her 20th birthday: no 17- or 18-year-old. Null.
    assert row(values, m, D(2023, 3, 31)) == pct(0, 0)
    # 2023-24 (01/04/2023 - 31/03/2024): O6 18 on 31/03/2024 (B1 suitable), Q2 18 on 01/04/2023
    # (C2), Q3 17 on 12/12/2023 (REFU, ACCOM 0: stays in, not suitable); Q4 DIED: out.
    assert row(values, m, D(2024, 3, 31)) == pct(1, 3)
    assert row(values, m, D(2024, 3, 31), "sex", "Male") == pct(1, 2)  # O6, Q3
    assert row(values, m, D(2024, 3, 31), "sex", "Female") == pct(0, 1)  # Q2
    # 2024-25: O1 17 on 01/04/2024 (C1), O2 18 on 31/03/2025 (B2), O5 18 (NO, ACCOM 0),
    # O7 17 (E1); O3 DIED, O4 RHOM out; O6 turned 19 (31/03/2025): not 17 or 18.
    assert row(values, m, D(2025, 3, 31)) == pct(2, 4)
    assert row(values, m, D(2025, 3, 31), "ethnicity", "White") == pct(1, 2)  # O1, O2
    assert row(values, m, D(2025, 3, 31), "ethnicity", "Asian or Asian British") == pct(1, 1)  # O7
    assert row(values, m, D(2025, 3, 31), "ethnicity", "Black or Black British") == pct(0, 1)  # O5


# --------------------------------------------------------------------------- code labels
def test_breakdown_codes_label_every_group_and_need_code():
    """Category of need N1-N9 carry DfE's names; every legal status and placement type group the
    macros give for a code of the SSDA903 code lists (all years), or for an unlisted code, has a
    label (Unknown, a blank code, shows as it is)."""
    labels = load_breakdown_codes(MODELS_DIR)
    assert labels["category_of_need"] == {
        "N1": "Abuse or neglect",
        "N2": "Child's disability or illness",
        "N3": "Parental disability or illness",
        "N4": "Family in acute stress",
        "N5": "Family dysfunction",
        "N6": "Socially unacceptable behaviour",
        "N7": "Low income",
        "N8": "Absent parenting",
        "N9": "Cases other than children in need",
    }
    episodes = load_contracts()["ssda903_episodes"]
    con = duckdb.connect()
    register_macros(con)
    for breakdown, macro, codes in (
        ("legal_status", "legal_status_group", episodes.code_lists["ls"]),
        ("placement_type", "placement_type_group", episodes.code_lists["place"]),
    ):
        listed = sorted({code for version in codes for code in version.codes} | {"ZZ9"})
        groups = {g for (g,) in con.execute(f"select distinct {macro}(unnest(?))", [listed]).fetchall()}
        assert groups - {"Unknown"} == set(labels[breakdown]), breakdown
