"""The synthetic council's journey (pipelines/synth/journey.py): the SSDA903 tables it writes
besides episodes, header and OC3, the levels of the DOMAIN.md §3b measures at council scale,
working days, and truth.json on hand-checkable histories.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipelines.contracts import load_contracts
from pipelines.synth import codes as C
from pipelines.synth import generate, make_config
from pipelines.synth import truth as T
from pipelines.synth._dates import day, working_days

YEARS = list(range(2017, 2027))
HEADERS = {  # DOMAIN.md §3b: the real SSDA903 headers
    "uasc.csv": "CHILD,SEX,DOB,DUC",
    "missing.csv": "CHILD,DOB,MISSING,MIS_START,MIS_END",
    "oc2.csv": (
        "CHILD,DOB,SDQ_SCORE,SDQ_REASON,CONVICTED,HEALTH_CHECK,IMMUNISATIONS,TEETH_CHECK,"
        "HEALTH_ASSESSMENT,SUBSTANCE_MISUSE,INTERVENTION_RECEIVED,INTERVENTION_OFFERED"
    ),
    "ad1.csv": "CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR",
    "placed_adoption.csv": "CHILD,DOB,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED",
}
SOURCES = {
    "uasc.csv": "ssda903_uasc",
    "missing.csv": "ssda903_missing",
    "oc2.csv": "ssda903_oc2",
    "ad1.csv": "ssda903_ad1",
    "placed_adoption.csv": "ssda903_placed_adoption",
}


def label(y: int) -> str:
    return f"{y - 1}-{y % 100:02d}"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def uk(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s.replace("", None), format="%d/%m/%Y")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny_journey")
    generate(out, scale="tiny", seed=2026)
    return out


@pytest.fixture(scope="module")
def council_truth(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("council_journey")
    generate(out, scale="council", seed=11)
    return json.loads((out / "truth.json").read_text())


# --------------------------------------------------------------------------- files
def test_new_tables_have_the_real_headers_and_are_recognised(tiny):
    contracts = load_contracts()
    written = {name: 0 for name in HEADERS}
    for y in YEARS:
        folder = tiny / "ssda903" / label(y)
        for name, head in HEADERS.items():
            assert set(contracts[SOURCES[name]].recognise_by) == set(head.split(","))
            if not (folder / name).is_file():
                continue  # a return leaves out a table it has no rows for
            lines = (folder / name).read_text().split("\n")
            assert lines[0] == head
            assert len(lines) > 2, f"{name} of {y} has a header but no rows"
            written[name] += 1
    assert all(written.values()), written


def table(folder: Path, name: str) -> pd.DataFrame:
    """A return's table, empty with its columns if the return leaves it out."""
    path = folder / name
    return read(path) if path.is_file() else pd.DataFrame(columns=HEADERS[name].split(","))


def test_new_tables_agree_with_header_and_episodes(tiny):
    for y in YEARS:
        folder = tiny / "ssda903" / label(y)
        head = read(folder / "header.csv").set_index("CHILD")
        eps = read(folder / "episodes.csv")
        eps["a"], eps["b"] = uk(eps["DECOM"]), uk(eps["DEC"]).fillna(pd.Timestamp(y, 3, 31))
        for name in HEADERS:
            rows = table(folder, name)
            assert rows["CHILD"].isin(head.index).all(), name
            assert (rows["DOB"].values == head.loc[rows["CHILD"], "DOB"].values).all(), name
        uasc = table(folder, "uasc.csv")
        assert (uasc["SEX"].values == head.loc[uasc["CHILD"], "SEX"].values).all()
        assert not uasc["CHILD"].duplicated().any()
        # each missing incident lies inside one of the child's episodes, in the year
        ms = table(folder, "missing.csv")
        assert ms["MISSING"].isin(["M", "A"]).all()
        ms["s"], ms["e"] = uk(ms["MIS_START"]), uk(ms["MIS_END"])
        assert ms["s"].between(pd.Timestamp(y - 1, 4, 1), pd.Timestamp(y, 3, 31)).all()
        inside = ms.merge(eps, on="CHILD")
        inside = inside[(inside["s"] >= inside["a"]) & (inside["e"] < inside["b"])]
        assert len(inside.drop_duplicates(["CHILD", "MIS_START"])) == len(ms)
        # OC2: looked after on 31 March, scores in range, a reason only without a score
        oc2 = table(folder, "oc2.csv")
        open_on_31_march = eps[eps["DEC"] == ""]["CHILD"]
        assert oc2["CHILD"].isin(open_on_31_march).all()
        assert not oc2["CHILD"].duplicated().any()
        score = pd.to_numeric(oc2["SDQ_SCORE"].replace("", None))
        assert score.dropna().between(0, 40).all()
        assert ((oc2["SDQ_SCORE"] == "") | (oc2["SDQ_REASON"] == "")).all()
        # AD1: the decision before the match, both before the adoption
        ad1 = table(folder, "ad1.csv")
        assert (uk(ad1["DATE_INT"]) <= uk(ad1["DATE_MATCH"])).all()
        adopted = eps[eps["REC"].isin(["E11", "E12"])]
        assert set(ad1["CHILD"]) == set(adopted["CHILD"])
        placed = table(folder, "placed_adoption.csv")
        assert set(ad1["CHILD"]) <= set(placed["CHILD"])


def test_journey_reproducible_and_seed_sensitive(tiny, tmp_path):
    generate(tmp_path / "other", scale="tiny", seed=2027)
    generate(tmp_path / "again", scale="tiny", seed=2026)
    for name in ("missing.csv", "oc2.csv", "episodes.csv"):
        mine = (tiny / "ssda903" / "2023-24" / name).read_bytes()
        assert (tmp_path / "again" / "ssda903" / "2023-24" / name).read_bytes() == mine
        assert (tmp_path / "other" / "ssda903" / "2023-24" / name).read_bytes() != mine


# --------------------------------------------------------------------------- levels
def _mean(series: dict, first: str = "2019-03-31") -> float:
    values = [v for k, v in series.items() if k >= first and v is not None]
    return sum(values) / len(values)


@pytest.mark.parametrize(
    "measure, low, high",
    [
        ("cin_rate_per_10k", 280, 380),  # England 2024: 332.9
        ("referral_rate_per_10k", 430, 650),  # England: about 540
        ("rereferrals_12m_pct", 15, 26),  # England: about 22%
        ("assessments_45wd_pct", 72, 90),  # England: about 82%
        ("s47_rate_per_10k_12m", 130, 260),  # England: about 190
        ("icpc_15wd_pct", 70, 90),  # England: about 78%
        ("cpp_2yrs_pct_12m", 1.5, 6),  # England: 3-4% of plans ending
        ("placement_stability_long_term_pct", 55, 80),  # England 2024: 68%
        ("cla_missing_12m_pct", 6, 15),  # England: about 12%
        ("cla_health_assessment_pct", 84, 96),
        ("cla_teeth_check_pct", 76, 93),
        ("cla_sdq_recorded_pct", 65, 88),
        ("care_leavers_17_18_suitable_accommodation_pct", 70, 98),
    ],
)
def test_council_levels_like_england(council_truth, measure, low, high):
    assert low <= _mean(council_truth["measures"][measure]) <= high


def test_council_uasc_and_breakdowns(council_truth):
    m, b = council_truth["measures"], council_truth["breakdowns"]
    x = "2024-03-31"
    assert 0.01 <= m["uasc_count"][x] / m["cla_count"][x] <= 0.08
    for measure, breakdown in (
        ("cla_count", "legal_status"),
        ("cla_count", "placement_type"),
        ("cpp_count", "category_of_abuse"),
    ):
        parts = b[measure][breakdown]
        assert sum(s[x] for s in parts.values()) == m[measure][x], (measure, breakdown)
    assert set(b["cpp_count"]["category_of_abuse"]) == set(C.ABUSE)
    assert b["cla_count"]["placement_type"]["other foster"][x] > 0
    days = [v for v in m["adoption_entry_to_placed_days_3y"].values() if v is not None]
    assert days and max(days) > 100


# --------------------------------------------------------------------------- working days
def test_working_days_skip_weekends_and_bank_holidays():
    d = lambda s: np.array([day(s)])  # noqa: E731
    # Christmas Day, Boxing Day and New Year's Day 2025 fall inside
    assert working_days(d("2024-12-19"), d("2025-01-03"))[0] == 8
    # from Friday 1 March 2024: Good Friday and Easter Monday inside, the early May bank
    # holiday on Monday 6 May; 45 weekdays would end on Friday 3 May
    assert working_days(d("2024-03-01"), d("2024-05-03"))[0] == 43
    assert working_days(d("2024-03-01"), d("2024-05-08"))[0] == 45
    assert working_days(d("2024-03-01"), d("2024-05-09"))[0] == 46
    # counted from the day after the start: the same day is 0
    assert working_days(d("2024-03-01"), d("2024-03-01"))[0] == 0


# --------------------------------------------------------------------------- hand cases
X = dt.date(2024, 6, 30)  # window 1 July 2023 - 30 June 2024
NEVER = day("2099-01-01")


def _cin(rows: list[dict]) -> dict:
    keys = (
        "child", "ref", "close", "nfa", "has_assessment", "a_start", "a_auth",
        "has_s47", "s47", "has_icpc", "icpc", "icpc_not_required",
    )  # fmt: skip
    out = {k: [] for k in keys}
    for r in rows:
        for k in keys:
            v = r.get(k, False if k.startswith(("has", "nfa", "icpc_not")) else NEVER)
            out[k].append(day(v) if isinstance(v, str) else v)
    return {k: np.array(v) for k, v in out.items()}


def test_front_door_truth_by_hand():
    cin = _cin(
        [
            # child 0: no further action, then a referral 8 months later (a re-referral)
            # with an assessment authorised on its 45th working day and a conference
            # on the enquiry's 15th working day
            dict(child=0, ref="2023-06-20", close="2023-06-21", nfa=True),
            dict(
                child=0,
                ref="2024-03-01",
                has_assessment=True,
                a_start="2024-03-01",
                a_auth="2024-05-08",
                has_s47=True,
                s47="2024-03-04",
                has_icpc=True,
                icpc="2024-03-25",
            ),
            # child 1: an assessment authorised on its 57th working day (late)
            dict(
                child=1,
                ref="2023-08-01",
                close="2023-10-31",
                has_assessment=True,
                a_start="2023-08-01",
                a_auth="2023-10-20",
            ),
            # child 2: re-referred exactly 12 months later; an enquiry whose conference
            # was not required
            dict(child=2, ref="2023-06-15", close="2023-06-20", nfa=True),
            dict(
                child=2,
                ref="2024-06-15",
                has_assessment=True,
                a_start="2024-06-15",
                a_auth="2024-06-28",
                has_s47=True,
                s47="2024-06-17",
                icpc_not_required=True,
            ),
        ]
    )
    h = SimpleNamespace(cfg=make_config(10), cin=cin)
    got = {k: int(v[0]) for k, v in T.front_door_parts(h, [X]).items()}
    assert got == {
        "cin_count": 2,  # child 0 and child 2 open on 30 June 2024
        "referrals": 3,  # 1 March 2024, 1 August 2023, 15 June 2024
        "rereferrals": 2,
        "assess_den": 3,
        "assess_num": 2,
        "s47": 2,
        "icpc_den": 1,
        "icpc_num": 1,
    }


def test_plans_of_two_years_by_hand():
    cp = {
        "start": np.array([day("2022-03-15"), day("2022-03-16"), day("2023-01-10")]),
        "end": np.array([day("2024-03-15"), day("2024-03-15"), NEVER]),
        "npc": np.zeros(3, np.int64),
        "latest_cat": np.array([0, 1, 1]),
    }
    h = SimpleNamespace(cfg=make_config(10), cp=cp)
    got = T.cpp_parts(h, [X])
    # both plans end in the window; only the first reached its second anniversary
    assert (got["ended"][0], got["ended_2y"][0]) == (2, 1)
    assert got["cpp_count"][0] == 1 and got["cat:EMO"][0] == 1 and got["cat:NEG"][0] == 0


def test_long_term_stability_by_hand():
    rows = [  # child, period, DECOM, DEC, RNE, PLACE
        (0, 0, "2021-12-01", "2022-06-30", "S", "U6"),
        (0, 0, "2022-06-30", None, "P", "U4"),  # exactly X - 2 years: stable
        (1, 1, "2021-01-01", "2022-07-01", "S", "U6"),
        (1, 1, "2022-07-01", None, "P", "U4"),  # a day too late
        (2, 2, "2020-01-01", "2022-01-01", "S", "U6"),
        (2, 2, "2022-01-01", "2023-09-01", "P", "U4"),
        (2, 2, "2023-09-01", None, "P", "A6"),  # adopters, previous placement long ago
        (3, 3, "2022-01-01", None, "S", "U4"),  # looked after under 30 months
    ]
    e = {
        "child": np.array([r[0] for r in rows]),
        "period": np.array([r[1] for r in rows]),
        "decom": np.array([day(r[2]) for r in rows]),
        "dec": np.array([day(r[3]) if r[3] else NEVER for r in rows]),
        "rne": np.array([C.RNE[r[4]] for r in rows]),
        "place": np.array([C.PL[r[5]] for r in rows]),
    }
    h = SimpleNamespace(children={"b16": np.full(4, day("2030-01-01"))})
    got = T.long_term_stability_parts(h, e, [X])
    assert (got["lts_den"][0], got["lts_num"][0]) == (3, 2)
    h = SimpleNamespace(children={"b16": np.array([day("2024-06-30")] + [NEVER] * 3)})
    got = T.long_term_stability_parts(h, e, [X])  # child 0 is 16 on 30 June 2024
    assert (got["lts_den"][0], got["lts_num"][0]) == (2, 1)


def test_a_handful_of_children(tmp_path):
    """Scales too small to have any looked-after child or unaccompanied arrival write the
    returns with no UASC, Missing, OC2, AD1 or PlacedAdoption table."""
    summary = generate(tmp_path, scale=5, seed=3)
    assert (tmp_path / "ssda903" / "2025-26" / "episodes.csv").is_file()
    assert not any((tmp_path / "ssda903" / "2025-26" / name).exists() for name in HEADERS)
    assert set(summary["files"]) == {
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()
    }
