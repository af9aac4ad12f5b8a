"""The measure catalogue on a hand-made council whose answers were worked out on paper.

Fixture: tests/fixtures/measures/exports (README.md there lists every record). It holds three
SSDA903 returns (2020-21, 2023-24, 2024-25), two CIN censuses (2024, 2025), one case export
(April 2023 - March 2025) and ONS-style population:
  mid-2020: a 0-17 total of 10,000 only (no age bands);
  mid-2023: 1,000 at every single year 0-17 (18,000; bands 5,000 / 5,000 / 6,000 / 2,000);
  mid-2024: 1,000 at 0-15, 0 at 16 and 17 (16,000; band 16-17 has a zero population).
Windows: a 12-month measure ending X covers (X - 1 year, X]; for X = 28/02/2025 that is
(28/02/2024, 28/02/2025], so 29/02/2024 is in it and 28/02/2024 is not. A 12-month measure is
given only where its source covers all 12 months: SSDA903 on 31/03/2021 and from 31/03/2024 (the
2021-22 and 2022-23 returns are missing), the CIN census and the case export from 31/03/2024, a
programme's rows from the 12th month end of its first enrolment (Family Support 31/03/2024,
Parenting 31/08/2024).
"""

import datetime as dt
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml
from conftest import CORE_MEASURES, FIXTURES, materialise_all, query

D = dt.date
EXPORTS = FIXTURES / "measures" / "exports"
MODELS = Path(__file__).resolve().parents[1] / "models"

MEASURE_ASSETS = {dg.AssetKey(["marts", "measures"]), dg.AssetKey(["marts", "measure_values"])}


def _month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out = []
    for y in range(first.year, last.year + 1):
        for m in range(1, 13):
            end = (pd.Timestamp(y, m, 1) + pd.offsets.MonthEnd(0)).date()
            if first <= end <= last:
                out.append(end)
    return out


SSDA903_PERIODS = _month_ends(D(2020, 4, 30), D(2021, 3, 31)) + _month_ends(D(2023, 4, 30), D(2025, 3, 31))
CIN_PERIODS = _month_ends(D(2023, 4, 30), D(2025, 3, 31))
CASE_PERIODS = _month_ends(D(2023, 4, 30), D(2025, 3, 31))
FULL_WINDOWS = _month_ends(D(2024, 3, 31), D(2025, 3, 31))


def materialised(result: dg.ExecuteInProcessResult) -> set[dg.AssetKey]:
    return {e.asset_key for e in result.get_asset_materialization_events()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("measures")
    result = materialise_all(EXPORTS, out)
    # Only the measure assets are under test here; later assets (status, site) belong to others.
    assert MEASURE_ASSETS <= materialised(result)
    return out


@pytest.fixture(scope="module")
def values(run) -> pd.DataFrame:
    frame = query(run, "select * from marts.measure_values")
    frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.date
    return frame


def series(values, measure_id, breakdown="all", breakdown_value="all") -> pd.DataFrame:
    rows = values[
        (values["measure_id"] == measure_id)
        & (values["breakdown"] == breakdown)
        & (values["breakdown_value"] == breakdown_value)
    ]
    return rows.set_index("period_end").sort_index()


def row(values, measure_id, period_end, breakdown="all", breakdown_value="all") -> dict:
    rows = series(values, measure_id, breakdown, breakdown_value)
    assert period_end in rows.index, (measure_id, period_end, breakdown, breakdown_value)
    found = rows.loc[period_end].to_dict()
    return {k: (None if pd.isna(v) else v) for k, v in found.items() if k in ("numerator", "denominator", "value")}


def absent(values, measure_id, period_end, breakdown="all", breakdown_value="all") -> None:
    assert period_end not in series(values, measure_id, breakdown, breakdown_value).index, (
        measure_id, period_end, breakdown, breakdown_value,
    )


def by_value(values, measure_id, period_end, breakdown) -> dict:
    rows = values[
        (values["measure_id"] == measure_id)
        & (values["period_end"] == period_end)
        & (values["breakdown"] == breakdown)
    ]
    return dict(zip(rows["breakdown_value"], rows["numerator"].astype(int), strict=True))


# --------------------------------------------------------------------------- children looked after
# Episodes open on X (DECOM <= X < DEC), short breaks (LS V3/V4) excluded:
#   A01 15/01/2023 - 30/06/2023        Apr-May 2023 (DEC = period end 30/06: not counted on it)
#   B02 V3 01/05-31/10/2023 (excluded), then C2 from 01/11/2023 (open)   Nov 2023 on
#   C03 01/04/2023 S, then L (01/06), P (01/09), L (01/12) changes, open  Apr 2023 on
#   D04 10/04/2023 S, P 10/07, T 10/10/2023, closed 15/08/2024 by the 2024-25 return  to Jul 2024
#   E05 01/06/2022 - 31/10/2023 (DEC on the 18th birthday, a period end)  Apr-Sep 2023
#   F06 from 01/11/2023 (open)                                            Nov 2023 on
#   G07 from 01/01/2025 (open)                                            Jan 2025 on
#   H08 29/02/2024 (a leap day) - 30/09/2024                              Feb-Aug 2024
#   I09 28/02/2024 - 31/03/2025 (DEC = the last period end)               Feb 2024 - Feb 2025
#   J10 01/02/2024, open in 2023-24 and absent from 2024-25: closed 01/04/2024 (E99)  Feb-Mar 2024
#   K11 15/03/2023 S, P 01/05/2023, P 01/02/2024, closed 14/02/2025 (18th birthday)  to Jan 2025
#   L12 only a V4 short break (2024-25): never counted
#   Z20 01/06/2020 - 15/08/2020 (the 2020-21 return)                      Jun-Jul 2020
EXPECTED_CLA = {
    **{p: 0 for p in SSDA903_PERIODS},
    D(2020, 6, 30): 1, D(2020, 7, 31): 1,
    D(2023, 4, 30): 5, D(2023, 5, 31): 5, D(2023, 6, 30): 4, D(2023, 7, 31): 4,
    D(2023, 8, 31): 4, D(2023, 9, 30): 4, D(2023, 10, 31): 3, D(2023, 11, 30): 5,
    D(2023, 12, 31): 5, D(2024, 1, 31): 5, D(2024, 2, 29): 8, D(2024, 3, 31): 8,
    D(2024, 4, 30): 7, D(2024, 5, 31): 7, D(2024, 6, 30): 7, D(2024, 7, 31): 7,
    D(2024, 8, 31): 6, D(2024, 9, 30): 5, D(2024, 10, 31): 5, D(2024, 11, 30): 5,
    D(2024, 12, 31): 5, D(2025, 1, 31): 6, D(2025, 2, 28): 5, D(2025, 3, 31): 4,
}


def test_cla_count_whole_series(values):
    s = series(values, "cla_count")
    assert list(s.index) == SSDA903_PERIODS  # the 2021-22 and 2022-23 gap has no rows
    assert dict(zip(s.index, s["numerator"].astype(int), strict=True)) == EXPECTED_CLA
    assert (s["value"] == s["numerator"]).all() and s["denominator"].isna().all()


def test_cla_count_breakdowns(values):
    # 29/02/2024: B02 (7), C03 (13), D04 (15), F06 (16 today: born 29/02/2008), H08 (8), I09 (10),
    # J10 (12), K11 (17).
    assert by_value(values, "cla_count", D(2024, 2, 29), "age_band") == {
        "0-4": 0, "5-9": 2, "10-15": 4, "16-17": 2,
    }
    # 31/01/2024: F06 is still 15.
    assert by_value(values, "cla_count", D(2024, 1, 31), "age_band")["16-17"] == 1
    # 28/02/2025: G07 (born 29/02/2020) is 4 until 1 March in a non-leap year; F06 16.
    assert by_value(values, "cla_count", D(2025, 2, 28), "age_band") == {
        "0-4": 1, "5-9": 1, "10-15": 2, "16-17": 1,
    }
    # 31/03/2025: G07 has turned 5.
    assert by_value(values, "cla_count", D(2025, 3, 31), "age_band") == {
        "0-4": 0, "5-9": 2, "10-15": 1, "16-17": 1,
    }
    # E05 on 30/09/2023 is 17; on 31/10/2023 (18th birthday, DEC) not counted at all.
    assert by_value(values, "cla_count", D(2023, 9, 30), "age_band")["16-17"] == 2  # E05, K11
    assert by_value(values, "cla_count", D(2023, 10, 31), "age_band")["16-17"] == 1  # K11
    # Sex and ethnicity from the newest header row: B02 is NOBT/2 in 2023-24 but MWBA/F in 2024-25.
    assert by_value(values, "cla_count", D(2024, 2, 29), "sex") == {"Female": 5, "Male": 3}
    assert by_value(values, "cla_count", D(2024, 2, 29), "ethnicity") == {
        "White": 1,  # K11 WBRI
        "Mixed": 1,  # B02 MWBA (newest header)
        "Asian or Asian British": 2,  # C03 AIND, F06 APKN
        "Black or Black British": 1,  # D04 BCRB
        "Other ethnic groups": 1,  # H08 CHNE
        "Refused": 1,  # I09 REFU
        "Information not yet obtained": 1,  # J10 NOBT
    }
    # Category of need of the episode open on the day: C03's open L episode says N2.
    assert by_value(values, "cla_count", D(2024, 2, 29), "category_of_need") == {
        "N1": 2, "N2": 3, "N3": 1, "N4": 1, "N5": 1,
    }
    # Locality = home postcode district; 'ab1 2cd' is AB1; J10 has no postcode.
    assert by_value(values, "cla_count", D(2024, 2, 29), "locality") == {
        "AB1": 4, "AB2": 2, "AB3": 1, "Unknown": 1,
    }


def test_cla_rate_per_10k(values):
    assert row(values, "cla_rate_per_10k", D(2024, 2, 29)) == {
        "numerator": 8, "denominator": 18000, "value": pytest.approx(8 / 18000 * 10000),
    }
    assert row(values, "cla_rate_per_10k", D(2025, 2, 28)) == {
        "numerator": 5, "denominator": 16000, "value": pytest.approx(3.125),
    }
    # Mid-2020 has a 0-17 total only.
    assert row(values, "cla_rate_per_10k", D(2020, 7, 31))["value"] == pytest.approx(1.0)
    # By age band, over the band's population.
    assert row(values, "cla_rate_per_10k", D(2024, 2, 29), "age_band", "10-15") == {
        "numerator": 4, "denominator": 6000, "value": pytest.approx(4 / 6000 * 10000),
    }
    assert row(values, "cla_rate_per_10k", D(2025, 2, 28), "age_band", "0-4")["value"] == pytest.approx(2.0)
    # Zero population (16-17 in mid-2024): the row is there, the rate is null, not an error.
    assert row(values, "cla_rate_per_10k", D(2025, 2, 28), "age_band", "16-17") == {
        "numerator": 1, "denominator": 0, "value": None,
    }
    # No band population in mid-2020: a null rate.
    assert row(values, "cla_rate_per_10k", D(2020, 7, 31), "age_band", "10-15")["value"] is None
    assert set(values.loc[values["measure_id"] == "cla_rate_per_10k", "breakdown"]) == {"all", "age_band"}


def test_cla_starts_12m(values):
    s = series(values, "cla_starts_12m")
    got = dict(zip(s.index, s["value"].astype(int), strict=True))
    # Windows reaching into the missing 2021-22 and 2022-23 returns have no value: 30/04/2023 up
    # to 29/02/2024, the month before the first full window.
    assert D(2023, 4, 30) not in got and D(2024, 2, 29) not in got
    # (31/03/2023, 31/03/2024]: C03, D04, B02 (C2 01/11/2023; its V3 short break of 01/05/2023 is
    # not a start), F06, J10, I09, H08. K11 (15/03/2023) is before it.
    assert got[D(2024, 3, 31)] == 7
    # (31/01/2024, 31/01/2025]: J10, I09, H08, G07.
    assert got[D(2025, 1, 31)] == 4
    # (28/02/2024, 28/02/2025]: H08 (29/02/2024) is in, I09 (28/02/2024) is out; G07.
    assert got[D(2025, 2, 28)] == 2
    # (31/03/2024, 31/03/2025]: G07 only. C03's RNE L/P episodes are never starts.
    assert got[D(2025, 3, 31)] == 1
    # The 2020-21 return alone: its 31 March only; Z20 started 01/06/2020.
    assert got[D(2021, 3, 31)] == 1 and D(2021, 2, 28) not in got and D(2020, 7, 31) not in got
    # Breakdowns: at 28/02/2025 H08 is 9 (5-9, N2) and G07 4 (0-4, N1).
    assert by_value(values, "cla_starts_12m", D(2025, 2, 28), "age_band") == {
        "0-4": 1, "5-9": 1, "10-15": 0, "16-17": 0,
    }
    cin = by_value(values, "cla_starts_12m", D(2025, 2, 28), "category_of_need")
    assert {k: v for k, v in cin.items() if v} == {"N1": 1, "N2": 1}


def test_placement_stability_3plus_pct(values):
    # X = 31/03/2024, window from 01/04/2023; cohort = the 8 children looked after.
    #   D04: S 10/04, P 10/07, T 10/10/2023 = 3 -> yes.
    #   K11: S 15/03/2023 open on 01/04/2023 and began before it (1), P 01/05/2023, P 01/02/2024 = 3.
    #   C03: S 01/04/2023 begins ON the first day (a start, not carried), P 01/09/2023 = 2; its two
    #        RNE L changes are not placements (counting them would give 4).
    #   B02: 1 (the V3 short break is not a placement); F06, H08, I09, J10: 1 each.
    assert row(values, "placement_stability_3plus_pct", D(2024, 3, 31)) == {
        "numerator": 2, "denominator": 8, "value": pytest.approx(25.0),
    }
    # X = 30/04/2024, window from 01/05/2023; cohort 7 (J10 closed 01/04/2024).
    #   D04: S open on 01/05/2023 began before it (1) + P + T = 3 -> yes.
    #   K11: S ended ON 01/05/2023 (not open that day); P began on 01/05/2023 (a start) + P = 2.
    #   C03: S open on 01/05/2023 (1) + P 01/09/2023 = 2.
    assert row(values, "placement_stability_3plus_pct", D(2024, 4, 30)) == {
        "numerator": 1, "denominator": 7, "value": pytest.approx(100 / 7),
    }
    # The placements of the 12 months need all 12 in the returns: none from 30/04/2023 to
    # 29/02/2024 (the 2022-23 return is missing), nor before 31/03/2021.
    for x in (D(2023, 10, 31), D(2024, 2, 29), D(2020, 7, 31), D(2021, 2, 28)):
        absent(values, "placement_stability_3plus_pct", x)
    # Nobody looked after on 31/03/2021: zero denominator, null value, row still emitted.
    assert row(values, "placement_stability_3plus_pct", D(2021, 3, 31)) == {
        "numerator": 0, "denominator": 0, "value": None,
    }
    # A breakdown value with nobody in it that month: null value too.
    assert row(values, "placement_stability_3plus_pct", D(2024, 3, 31), "age_band", "0-4") == {
        "numerator": 0, "denominator": 0, "value": None,
    }
    assert row(values, "placement_stability_3plus_pct", D(2024, 3, 31), "category_of_need", "N4") == {
        "numerator": 1, "denominator": 1, "value": 100.0,  # D04
    }


# --------------------------------------------------------------------------- child protection
# Plans (child + CPPstartDate; newest census wins), open on X when start <= X < end:
#   P1 A 10/05/2023 - 30/09/2023 (ends on a period end); B 15/01/2024 - 31/10/2024 (NPC 0 but an
#      earlier plan in the data -> repeat)
#   P2 01/11/2023 - 15/03/2025 (NPC 2 -> repeat); born 29/02/2020
#   P3 01/02/2024, open (pre-birth plan: unborn in the 2024 census, born 20/04/2024 per 2025)
#   P4 01/03/2023 - 31/03/2025 (18th birthday; the 2024 census said NPC 0 / N3, the 2025 census
#      NPC 1 / N4: newest wins -> repeat, N4)
#   P5 a 31/03/2024 (starts on a period end) - 15/06/2024; b 01/12/2024, open (NPC 1 -> repeat)
EXPECTED_CPP = {
    D(2023, 4, 30): 1, D(2023, 5, 31): 2, D(2023, 6, 30): 2, D(2023, 7, 31): 2,
    D(2023, 8, 31): 2, D(2023, 9, 30): 1, D(2023, 10, 31): 1, D(2023, 11, 30): 2,
    D(2023, 12, 31): 2, D(2024, 1, 31): 3, D(2024, 2, 29): 4, D(2024, 3, 31): 5,
    D(2024, 4, 30): 5, D(2024, 5, 31): 5, D(2024, 6, 30): 4, D(2024, 7, 31): 4,
    D(2024, 8, 31): 4, D(2024, 9, 30): 4, D(2024, 10, 31): 3, D(2024, 11, 30): 3,
    D(2024, 12, 31): 4, D(2025, 1, 31): 4, D(2025, 2, 28): 4, D(2025, 3, 31): 2,
}


def test_cpp_count(values):
    s = series(values, "cpp_count")
    assert list(s.index) == CIN_PERIODS
    assert dict(zip(s.index, s["value"].astype(int), strict=True)) == EXPECTED_CPP
    # 31/03/2024: P1 (8), P2 (4), P3 unborn, P4 (17 today), P5 (11).
    assert by_value(values, "cpp_count", D(2024, 3, 31), "age_band") == {
        "Unborn": 1, "0-4": 1, "5-9": 1, "10-15": 1, "16-17": 1,
    }
    # 28/02/2025: P2 (born 29/02/2020) is still 4; P3 now 0.
    assert by_value(values, "cpp_count", D(2025, 2, 28), "age_band")["0-4"] == 2
    assert by_value(values, "cpp_count", D(2024, 3, 31), "category_of_need") == {
        "N1": 3, "N2": 1, "N3": 0, "N4": 1,
    }
    # P3's ethnicity from the newest census (NOBT -> MWBC).
    assert by_value(values, "cpp_count", D(2024, 3, 31), "ethnicity") == {
        "White": 2, "Mixed": 1, "Asian or Asian British": 1, "Black or Black British": 1,
    }
    assert by_value(values, "cpp_count", D(2024, 3, 31), "sex") == {"Female": 3, "Male": 2}


def test_cpp_rate_per_10k(values):
    assert row(values, "cpp_rate_per_10k", D(2024, 3, 31)) == {
        "numerator": 5, "denominator": 18000, "value": pytest.approx(5 / 18000 * 10000),
    }
    assert row(values, "cpp_rate_per_10k", D(2024, 3, 31), "age_band", "16-17")["value"] == pytest.approx(5.0)
    assert row(values, "cpp_rate_per_10k", D(2025, 2, 28), "age_band", "16-17") == {
        "numerator": 1, "denominator": 0, "value": None,
    }


def test_cpp_repeat_pct_12m(values):
    # (28/02/2023, 29/02/2024] begins before the 2024 census year (from 01/04/2023): no value.
    absent(values, "cpp_repeat_pct_12m", D(2024, 2, 29))
    # (31/03/2023, 31/03/2024]: P1 A, P2 (repeat), P1 B (repeat), P3, P5 a (31/03/2024, not a
    # repeat); P4 (01/03/2023) is before it.
    assert row(values, "cpp_repeat_pct_12m", D(2024, 3, 31)) == {
        "numerator": 2, "denominator": 5, "value": pytest.approx(40.0),
    }
    # (28/02/2024, 28/02/2025]: P5 a, P5 b (repeat).
    assert row(values, "cpp_repeat_pct_12m", D(2025, 2, 28))["value"] == pytest.approx(50.0)
    # (31/03/2024, 31/03/2025]: P5 b only (P5 a began on the excluded first boundary).
    assert row(values, "cpp_repeat_pct_12m", D(2025, 3, 31)) == {
        "numerator": 1, "denominator": 1, "value": 100.0,
    }
    assert row(values, "cpp_repeat_pct_12m", D(2025, 3, 31), "category_of_need", "N2") == {
        "numerator": 0, "denominator": 0, "value": None,
    }


# --------------------------------------------------------------------------- care leavers
# Return 2023-24 (birthdays 01/04/2023 - 31/03/2024):
#   L1 01/04/2004 (19th on 01/04/2023) B1 F1 -> suitable, EET
#   L2 31/03/2003 (21st on 31/03/2024) C2 G4 -> neither
#   L3 31/03/2002 (22nd) and L4 01/04/2005 (18th): outside 19-21, excluded
#   L5 DIED and L7 RHOM: excluded
#   L6 29/02/2004 (20th on 29/02/2024) 0 / 0 (no information) -> in the denominator, neither
#   L8 05/05/2003 (20th) D1 G5 -> suitable
#   L9 12/12/2004 (19th) E1 P5 -> suitable, EET
# Return 2020-21: M1 F3 B1, M2 P3 B2, M3 G6 B1 (F3/P3 count as EET before 2022).
# Return 2024-25: only L5 (DIED) and L3 (23rd birthday): zero denominator.
def test_care_leavers_suitable_accommodation_pct(values):
    s = series(values, "care_leavers_suitable_accommodation_pct")
    assert list(s.index) == [D(2021, 3, 31), D(2024, 3, 31), D(2025, 3, 31)]
    assert row(values, "care_leavers_suitable_accommodation_pct", D(2024, 3, 31)) == {
        "numerator": 3, "denominator": 5, "value": pytest.approx(60.0),
    }
    assert row(values, "care_leavers_suitable_accommodation_pct", D(2021, 3, 31))["value"] == pytest.approx(200 / 3)
    assert row(values, "care_leavers_suitable_accommodation_pct", D(2025, 3, 31)) == {
        "numerator": 0, "denominator": 0, "value": None,
    }
    # Sex from the header where the care leaver has one (L1, L9 F; L2 M); else Unknown (L6, L8).
    assert by_value(values, "care_leavers_suitable_accommodation_pct", D(2024, 3, 31), "sex") == {
        "Female": 2, "Male": 0, "Unknown": 1,
    }


def test_care_leavers_eet_pct(values):
    assert row(values, "care_leavers_eet_pct", D(2024, 3, 31)) == {
        "numerator": 2, "denominator": 5, "value": pytest.approx(40.0),
    }
    assert row(values, "care_leavers_eet_pct", D(2021, 3, 31)) == {
        "numerator": 2, "denominator": 3, "value": pytest.approx(200 / 3),
    }
    assert row(values, "care_leavers_eet_pct", D(2025, 3, 31))["value"] is None
    annual = values[values["measure_id"] == "care_leavers_eet_pct"]
    assert {(p.month, p.day) for p in annual["period_end"]} == {(3, 31)}


# --------------------------------------------------------------------------- programmes
# Enrolments: E1 K1 Family Support 03/04/2023-31/10/2023, plan 03/05/2023 (start + 30: in time)
#             E2 K2 Family Support 15/06/2023-, plan 16/07/2023 (start + 31: late)
#             E3 K1 Parenting 01/09/2023-29/02/2024, plan the same day
#             E4 K3 Parenting 29/02/2024-30/06/2024, no plan
#             E5 K4 Family Support 15/11/2024-, plan 10/11/2024 (before the start: not counted)
# The export's dates run from 03/04/2023 to 20/03/2025: periods April 2023 - March 2025.
def test_program_clients_served_12m(values):
    def served(x):
        return {
            "all": int(row(values, "program_clients_served_12m", x)["value"]),
            **by_value(values, "program_clients_served_12m", x, "program"),
        }

    assert list(series(values, "program_clients_served_12m").index) == FULL_WINDOWS
    # Programmes from the 12th month end of their first enrolment: Family Support 03/04/2023,
    # Parenting 01/09/2023.
    assert served(D(2024, 3, 31)) == {"all": 3, "Family Support": 2}
    absent(values, "program_clients_served_12m", D(2024, 2, 29), "program", "Family Support")
    absent(values, "program_clients_served_12m", D(2024, 7, 31), "program", "Parenting")
    # (31/08/2023, 31/08/2024]: E1 (to 31/10/2023), E2; E3 (01/09/2023) and E4.
    assert served(D(2024, 8, 31)) == {"all": 3, "Family Support": 2, "Parenting": 2}
    # X - 1 year = 30/09/2023: E1 (ends 31/10/2023) still overlaps. K1 is in both programmes and
    # counted once in 'all'.
    assert served(D(2024, 9, 30)) == {"all": 3, "Family Support": 2, "Parenting": 2}
    # X - 1 year = 31/10/2023: E1 ended on that day -> no overlap (end_date > X - 1 year fails).
    assert served(D(2024, 10, 31)) == {"all": 3, "Family Support": 1, "Parenting": 2}
    # X - 1 year = 28/02/2024: E3 ended 29/02/2024 -> overlaps; E5 started.
    assert served(D(2025, 2, 28)) == {"all": 4, "Family Support": 2, "Parenting": 2}
    assert served(D(2025, 3, 31)) == {"all": 3, "Family Support": 2, "Parenting": 1}
    absent(values, "program_clients_served_12m", D(2024, 2, 29))


def test_program_plan_within_30d_pct(values):
    m = "program_plan_within_30d_pct"
    # X = 31/03/2024: starts in (31/03/2023, 01/03/2024]: E1 (yes), E2 (no), E3 (yes), E4 (no).
    assert row(values, m, D(2024, 3, 31)) == {"numerator": 2, "denominator": 4, "value": 50.0}
    assert row(values, m, D(2024, 3, 31), "program", "Family Support")["value"] == pytest.approx(50.0)
    absent(values, m, D(2024, 2, 29))
    absent(values, m, D(2024, 3, 31), "program", "Parenting")
    # X = 31/08/2024: starts in (31/08/2023, 01/08/2024]: E3 (yes), E4 (no).
    assert row(values, m, D(2024, 8, 31), "program", "Parenting") == {
        "numerator": 1, "denominator": 2, "value": 50.0,
    }
    # X = 31/03/2025: E5 only; its plan predates the start.
    assert row(values, m, D(2025, 3, 31)) == {"numerator": 0, "denominator": 1, "value": 0.0}


def test_program_improved_pct(values):
    m = "program_improved_pct"
    # Totals (sum over domains): K1 Family Support 7 -> 9 (better, higher is better);
    # K2 Family Support 6 (01/07/2023) -> 6 (10/01/2024, a tie) -> 8 (10/07/2024);
    # K1 Parenting 20 -> 17 (better: lower is better); K3 Parenting 15 -> 15 (tie);
    # K4 one assessment only (never counted).
    # Before the first full windows: no value.
    absent(values, m, D(2023, 10, 31), "program", "Family Support")
    absent(values, m, D(2024, 7, 31), "program", "Parenting")
    # 31/03/2024: K2's latest by the day is the tie of 10/01/2024 -> not better.
    assert row(values, m, D(2024, 3, 31), "program", "Family Support") == {
        "numerator": 1, "denominator": 2, "value": 50.0,
    }
    # 31/03/2024: K1 FS, K2 FS (tie), K1 Parenting (better); 'all' counts client x programme.
    assert row(values, m, D(2024, 3, 31)) == {
        "numerator": 2, "denominator": 3, "value": pytest.approx(200 / 3),
    }
    # 31/07/2024: K2's latest is now 8 > 6; K3 ties.
    assert row(values, m, D(2024, 7, 31), "program", "Family Support")["value"] == 100.0
    assert row(values, m, D(2024, 8, 31), "program", "Parenting")["value"] == 50.0
    assert row(values, m, D(2024, 7, 31))["value"] == pytest.approx(75.0)
    # 31/10/2024: K1 FS's latest (20/10/2023) has left the window.
    assert row(values, m, D(2024, 10, 31), "program", "Family Support") == {
        "numerator": 1, "denominator": 1, "value": 100.0,
    }


def test_program_reliable_improvement_pct(values, run):
    m = "program_reliable_improvement_pct"
    # oba.yaml: Family Star's criterion is 1.96 * 2.5 * sqrt(2 * 0.125) = 2.45. K1 FS 7 -> 9 and
    # K2 FS 6 -> 8 improve by 2: better off, not reliably. Parenting Stress Index has no SD or
    # reliability: K1 Parenting (20 -> 17, lower is better) counts on any improvement; K3 ties.
    assert row(values, m, D(2024, 7, 31), "program", "Family Support") == {
        "numerator": 0, "denominator": 2, "value": 0.0,
    }
    assert row(values, "program_improved_pct", D(2024, 7, 31), "program", "Family Support")["value"] == 100.0
    assert row(values, m, D(2024, 8, 31), "program", "Parenting") == {
        "numerator": 1, "denominator": 2, "value": 50.0,
    }
    assert row(values, m, D(2024, 7, 31)) == {"numerator": 1, "denominator": 4, "value": 25.0}
    absent(values, m, D(2024, 2, 29))
    tools = query(run, "select * from published.pub_assessment_tools")
    assert [{k: None if pd.isna(v) else v for k, v in r.items()} for r in tools.to_dict("records")] == [
        {"tool": "Family Star", "higher_is_better": True, "sd": 2.5, "reliability": 0.875,
         "reliable_change": 2.45, "falls_back": False},
        {"tool": "Parenting Stress Index", "higher_is_better": False, "sd": None, "reliability": None,
         "reliable_change": None, "falls_back": True},
    ]


# --------------------------------------------------------------------------- the catalogue itself
def test_catalogue_lists_every_core_measure(run):
    measures = query(run, "select * from marts.measures")
    assert set(CORE_MEASURES) <= set(measures["measure_id"])
    kinds = dict(zip(measures["measure_id"], measures["oba_kind"], strict=True))
    assert kinds["program_clients_served_12m"] == "how_much"
    assert kinds["program_plan_within_30d_pct"] == "how_well"
    assert kinds["program_improved_pct"] == "better_off"
    doc = yaml.safe_load((MODELS / "measures.yml").read_text())
    for entry in doc["measures"]:
        assert {"id", "name", "oba_kind", "unit", "direction_of_good", "description", "sources",
                "frequency", "breakdowns"} <= set(entry), entry["id"]
        assert entry["frequency"] in ("monthly", "annual")
        declared = {"counts", "rates", "care_leaver_outcomes"} & set(entry)
        assert declared or (MODELS / entry.get("sql", f"measures/{entry['id']}.sql")).is_file()


def test_breakdowns_match_catalogue_and_sum_to_all(values):
    doc = yaml.safe_load((MODELS / "measures.yml").read_text())
    for entry in doc["measures"]:
        mine = values[values["measure_id"] == entry["id"]]
        # A breakdown has a row for each value some member had: a measure nobody in this
        # fixture is counted by (its sources absent) has its 'all' rows only.
        counted = mine.loc[mine["breakdown"] == "all", ["numerator", "denominator"]].fillna(0).to_numpy().any()
        if counted:
            assert set(mine["breakdown"]) == set(entry["breakdowns"]), entry["id"]
        else:
            assert set(mine["breakdown"]) <= {"all"}, entry["id"]
        assert not mine.duplicated(["period_end", "breakdown", "breakdown_value"]).any()
        whole = mine[mine["breakdown"] == "all"].set_index("period_end")
        assert (mine.loc[mine["breakdown"] == "all", "breakdown_value"] == "all").all()
        for breakdown in set(mine["breakdown"]) - {"all"}:
            part = mine[mine["breakdown"] == breakdown]
            if breakdown == "program":
                # a programme's rows start later than the others' (its first enrolment): add up
                # the periods every programme has
                sizes = part.groupby("period_end").size()
                part = part[part["period_end"].map(sizes) == sizes.max()]
            total = whole.loc[sorted(set(part["period_end"]))]
            # every period has the same set of breakdown values (zeros included)
            assert part.groupby("period_end").size().nunique() == 1, (entry["id"], breakdown)
            if entry["unit"] == "rate_per_10k" or (breakdown == "program" and entry["unit"] == "count"):
                continue  # bands cover ages 0-17 only; a client can be in two programmes
            sums = part.groupby("period_end")[["numerator", "denominator"]].sum(min_count=1)
            pd.testing.assert_series_equal(
                sums["numerator"], total["numerator"], check_names=False, obj=f"{entry['id']} {breakdown}"
            )
            if entry["unit"] == "percent":
                pd.testing.assert_series_equal(
                    sums["denominator"], total["denominator"], check_names=False, obj=entry["id"]
                )


def test_values_follow_units(values, run):
    units = dict(query(run, "select measure_id, unit from marts.measures").values)
    for unit, scale in (("percent", 100.0), ("rate_per_10k", 10000.0)):
        part = values[values["measure_id"].map(units) == unit]
        has_den = part["denominator"] > 0
        expected = scale * part.loc[has_den, "numerator"] / part.loc[has_den, "denominator"]
        assert (part.loc[has_den, "value"] - expected).abs().max() < 1e-9
        assert part.loc[~has_den, "value"].isna().all()
    counts = values[values["measure_id"].map(units) == "count"]
    assert (counts["value"] == counts["numerator"]).all() and counts["denominator"].isna().all()
    assert values["numerator"].notna().all()


# --------------------------------------------------------------------------- adding a measure
NEW_ENTRY = """
  - id: cla_aged_16_17_count
    name: Children looked after aged 16 or 17
    oba_kind: population_indicator
    unit: count
    direction_of_good: down
    frequency: monthly
    journey: children_looked_after
    sources: [ssda903_episodes, ssda903_header]
    breakdowns: [all]
    description: Children looked after on the day aged 16 or 17.
"""
NEW_SQL = """-- cla_aged_16_17_count: one row per month end; children looked after aged 16-17 on the day.
with counts as (
    select * from int_measure_counts
    where population = 'looked_after' and breakdown = 'age_band' and breakdown_value = '16-17'
),

final as (
    select
        period_end,
        'all' as breakdown,
        'all' as breakdown_value,
        members as numerator,
        null as denominator,
        members as value,
    from counts
)

select * from final
"""


def _models_with(tmp_path: Path, entry: str) -> Path:
    """A copy of the models folder whose catalogue ends with ``entry``."""
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    with (models / "measures.yml").open("a", encoding="utf-8") as handle:
        handle.write(entry)
    return models


def _materialise_measures(models: Path, out: Path, monkeypatch) -> None:
    """Build the measures, and only what they need, from the models in ``models``."""
    from dagster_duckdb import DuckDBResource

    import pipelines.defs.ingest as ingest
    from pipelines.defs.models import build_model_assets
    from pipelines.defs.resources import ObaPaths

    monkeypatch.setenv("OBA_MODELS", str(models))
    # (the published models downstream read assets built elsewhere)
    result = dg.materialize(
        [*ingest.defs.assets, *build_model_assets()],
        selection=dg.AssetSelection.assets(*MEASURE_ASSETS).upstream() | dg.AssetSelection.groups("raw"),
        resources={
            "duckdb": DuckDBResource(database=str(out / "warehouse.duckdb")),
            "oba": ObaPaths(exports_dir=str(EXPORTS), out_dir=str(out)),
        },
    )
    assert result.success


def _built_measure(out, measure_id: str, where: str = ""):
    """A built measure's catalogue row, its values and its value by period end."""
    listed = query(out, "select * from marts.measures where measure_id = ?", [measure_id])
    new = query(
        out,
        f"select * from marts.measure_values where measure_id = ? {where} order by period_end",
        [measure_id],
    )
    return listed, new, dict(zip(pd.to_datetime(new["period_end"]).dt.date, new["value"], strict=True))


def test_adding_a_measure_needs_only_an_entry_and_a_sql_file(tmp_path, monkeypatch):
    models = _models_with(tmp_path, NEW_ENTRY)
    (models / "measures").mkdir(exist_ok=True)
    (models / "measures" / "cla_aged_16_17_count.sql").write_text(NEW_SQL, encoding="utf-8")
    out = tmp_path / "out"
    _materialise_measures(models, out, monkeypatch)

    listed, _, got = _built_measure(out, "cla_aged_16_17_count")
    assert listed["name"].tolist() == ["Children looked after aged 16 or 17"]
    assert len(got) == len(SSDA903_PERIODS)
    # As test_cla_count_breakdowns: 29/02/2024 F06 and K11; 28/02/2025 F06; 30/09/2023 E05, K11.
    assert got[D(2024, 2, 29)] == 2 and got[D(2025, 2, 28)] == 1 and got[D(2023, 9, 30)] == 2
    # The core measures are still all there.
    assert set(CORE_MEASURES) <= set(query(out, "select distinct measure_id from marts.measure_values")["measure_id"])


DECLARED_ENTRY = """
  - id: cp_plan_starts_12m
    name: Child protection plans starting in the last 12 months
    oba_kind: how_much
    unit: count
    direction_of_good: down
    frequency: monthly
    journey: child_protection
    sources: [cin_cp_plans, cin_children]
    breakdowns: [all, age_band, sex, ethnicity, category_of_need]
    counts: {population: cp_plan_starts}
    description: Child protection plans starting in the 12 months ending on the day.
"""


def test_adding_a_count_needs_only_a_catalogue_entry(tmp_path, monkeypatch):
    models = _models_with(tmp_path, DECLARED_ENTRY)
    out = tmp_path / "out"
    _materialise_measures(models, out, monkeypatch)

    listed, new, got = _built_measure(out, "cp_plan_starts_12m", "and breakdown = 'all'")
    assert listed["unit"].tolist() == ["count"]
    # a 12-month count of the CIN census: from its first full window
    assert list(got) == FULL_WINDOWS
    assert new["denominator"].isna().all() and (new["numerator"] == new["value"]).all()
    # Counted independently: plans whose start is in (X - 1 year, X].
    starts = pd.to_datetime(query(out, "select cpp_start_date from intermediate.int_cp_plans")["cpp_start_date"])
    expected = {
        end: int(((starts > pd.Timestamp(end) - pd.DateOffset(years=1)) & (starts <= pd.Timestamp(end))).sum())
        for end in FULL_WINDOWS
    }
    assert got == expected
    assert any(expected.values())
    breakdowns = query(
        out, "select distinct breakdown from marts.measure_values where measure_id = 'cp_plan_starts_12m'"
    )
    assert set(breakdowns["breakdown"]) == {"all", "age_band", "sex", "ethnicity", "category_of_need"}


# The models the measures are counted from, each holding one row per grain key.
GRAINS = {
    "int_child_attributes": ["source", "child_id"],
    "int_cp_plans": ["child_id", "cpp_start_date"],
    "int_care_leavers": ["collection_year", "child_id"],
    "int_program_enrolments": ["enrolment_id"],
    "int_program_assessment_occasions": ["program", "client_id", "assessment_id"],
    "int_case_served_spans": ["scope", "program", "client_id", "span_number"],
    "int_measure_counts": ["population", "period_end", "breakdown", "breakdown_value"],
}


def assert_grains(out: Path) -> None:
    for table, keys in GRAINS.items():
        cols = ", ".join(keys)
        dupes = query(
            out,
            f"select count(*) as n from (select {cols} from intermediate.{table} "
            f"group by {cols} having count(*) > 1)",
        )["n"][0]
        assert dupes == 0, f"intermediate.{table} repeats ({cols})"


def test_intermediate_grains(run):
    assert_grains(run)
