"""Tests for the synthetic council generator (pipelines/synth).

The checks re-read the written files with plain pandas/lxml, independently of the
generator's own code, and compare them with truth.json.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from lxml import etree

from pipelines.contracts import load_contracts
from pipelines.synth import SCALES, generate
from pipelines.synth.__main__ import main as synth_main

YEARS = list(range(2017, 2027))
EPISODE_HEADER = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
)
HEADER_HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB"
OC3_HEADER = "CHILD,DOB,IN_TOUCH,ACTIV,ACCOM"
CASE_HEADERS = {
    "clients.csv": "client_id,date_of_birth,sex,ethnicity,postcode_district,intake_date",
    "enrolments.csv": "enrolment_id,client_id,program,start_date,end_date,exit_reason",
    "services.csv": "service_id,enrolment_id,service_date,service_type,minutes",
    "service_plans.csv": "plan_id,enrolment_id,plan_date",
    "assessments.csv": (
        "assessment_id,client_id,enrolment_id,assessment_date,tool,domain,score,higher_is_better"
    ),
}
def contract_codes(list_name: str, year: int) -> set[str]:
    """The SSDA903 episodes contract's codes of ``list_name`` in force for collection ``year``."""
    versions = load_contracts()["ssda903_episodes"].code_lists[list_name]
    return {
        code
        for v in versions
        if (v.first_year is None or v.first_year <= year) and (v.last_year is None or year <= v.last_year)
        for code in v.codes
    }


def label(y: int) -> str:
    return f"{y - 1}-{y % 100:02d}"


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def month_ends() -> list[pd.Timestamp]:
    return list(pd.date_range("2016-04-30", "2026-03-31", freq="ME"))


# The first month end whose 12 months the returns cover (1 April 2016 - 31 March 2017): a
# 12-month measure has no value before it.
FIRST_FULL_WINDOW = pd.Timestamp("2017-03-31")


def months_from(first: pd.Timestamp, x: pd.Timestamp) -> int:
    """How many month ends from first's month to x's (0: the same month)."""
    return (x.year * 12 + x.month) - (first.year * 12 + first.month)


def window_start(x: pd.Timestamp) -> pd.Timestamp:
    return x - pd.DateOffset(years=1) + pd.Timedelta(days=1)


def mid_year(x: pd.Timestamp) -> int:
    return x.year if x.month >= 4 else x.year - 1


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("tiny")
    return out, generate(out, scale="tiny", seed=2026)


@pytest.fixture(scope="module")
def council(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("council")
    return out, generate(out, scale="council", seed=7)


@pytest.fixture(scope="module")
def truth(tiny) -> dict:
    return json.loads((tiny[0] / "truth.json").read_text())


def all_episodes(out: Path) -> pd.DataFrame:
    """Union of every return's episodes, the newest return winning per CHILD+DECOM."""
    frames = []
    for y in YEARS:
        df = read(out / "ssda903" / label(y) / "episodes.csv")
        df["YEAR"] = y
        frames.append(df)
    eps = pd.concat(frames, ignore_index=True)
    eps = eps.sort_values("YEAR", kind="stable").drop_duplicates(["CHILD", "DECOM"], keep="last")
    eps["DECOM_D"] = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
    eps["DEC_D"] = pd.to_datetime(eps["DEC"].replace("", None), format="%d/%m/%Y")
    eps = eps.sort_values(["CHILD", "DECOM_D"]).reset_index(drop=True)
    # an episode open in a return and absent from every later one closes at the child's
    # next episode (X1), else on 1 April after that return's 31 March (E99)
    repair = eps["DEC_D"].isna() & (eps["YEAR"] < YEARS[-1])
    nxt = eps.groupby("CHILD")["DECOM_D"].shift(-1)
    april = pd.to_datetime(eps["YEAR"].astype(str) + "-04-01")
    eps.loc[repair, "DEC_D"] = nxt[repair].fillna(april[repair])
    eps.loc[repair, "REC"] = np.where(nxt[repair].isna(), "E99", "X1")
    return eps


def population(out: Path) -> dict[int, int]:
    pop = pd.read_csv(out / "population.csv")
    return pop.groupby("year")["population"].sum().to_dict()


# --------------------------------------------------------------------------- layout
def test_layout_and_summary(tiny):
    out, summary = tiny
    for y in YEARS:
        for f in ("header.csv", "episodes.csv", "oc3.csv"):
            assert (out / "ssda903" / label(y) / f).is_file()
        assert (out / "cin" / f"CIN_Census_{y}.xml").is_file()
    for f in CASE_HEADERS:
        assert (out / "case" / f).is_file()
    for f in ("population.csv", "oba.yaml", "truth.json", "stories/cla_rate_per_10k.yml"):
        assert (out / f).is_file()
    assert set(summary["files"]) == {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert summary["n_children"] == SCALES["tiny"]
    assert summary["episodes"] > 100 and summary["oc3_rows"] > 10
    assert summary["cin_child_rows"] > summary["children_in_ssda903"]


def test_reproducible_and_seed_sensitive(tiny, tmp_path):
    out, _ = tiny
    again = tmp_path / "again"
    generate(again, scale="tiny", seed=2026)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(out, again, files, shallow=False)
    assert not mismatch and not errors
    other = tmp_path / "other"
    generate(other, scale="tiny", seed=2027)
    for f in ("ssda903/2023-24/episodes.csv", "cin/CIN_Census_2024.xml", "truth.json"):
        assert (out / f).read_bytes() != (other / f).read_bytes()


def test_headers_exact(tiny):
    out, _ = tiny
    for y in YEARS:
        folder = out / "ssda903" / label(y)
        for f, head in (
            ("episodes.csv", EPISODE_HEADER),
            ("header.csv", HEADER_HEADER),
            ("oc3.csv", OC3_HEADER),
        ):
            raw = (folder / f).read_bytes()
            assert not raw.startswith(b"\xef\xbb\xbf")
            assert raw.decode("utf-8").split("\n", 1)[0] == head
    for f, head in CASE_HEADERS.items():
        assert (out / "case" / f).read_text().split("\n", 1)[0] == head
    assert (out / "population.csv").read_text().split("\n", 1)[0] == "area_code,year,age,population"


def test_dates_and_codes(tiny):
    out, _ = tiny
    for y in YEARS:
        ys, ye = pd.Timestamp(y - 1, 4, 1), pd.Timestamp(y, 3, 31)
        folder = out / "ssda903" / label(y)
        eps = read(folder / "episodes.csv")
        decom = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")  # raises if malformed
        dec = pd.to_datetime(eps["DEC"].replace("", None), format="%d/%m/%Y")
        assert (decom <= ye).all()
        assert ((dec >= ys) | dec.isna()).all()
        assert (dec.dropna() <= ye).all()
        assert ((dec > decom) | dec.isna()).all()
        # open episodes have no REC; closed ones do
        assert ((eps["DEC"] == "") == (eps["REC"] == "")).all()
        assert set(eps["REC"]) - {""} <= contract_codes("rec", y)
        assert set(eps["RNE"]) <= set("SLPTBU")
        assert set(eps["PLACE"]) <= contract_codes("place", y)
        assert eps["CHILD"].str.fullmatch(r"\d+").all()
        assert not eps.duplicated(["CHILD", "DECOM"]).any()
        places = set(eps["PLACE"])
        if y < 2025:
            assert "K3" not in places
        if y == 2026:
            assert not places & {"H5", "P2", "Z1"}
        else:
            assert not places & {"Z11", "Z12", "Z13", "Z14"}
        head = read(folder / "header.csv")
        pd.to_datetime(head["DOB"], format="%d/%m/%Y")
        pd.to_datetime(head["MC_DOB"].replace("", None), format="%d/%m/%Y")
        assert head["UPN"].str.len().eq(13).all()
        assert not head["CHILD"].duplicated().any()
        # every child with an episode or an OC3 row has a header row
        oc3 = read(folder / "oc3.csv")
        assert set(eps["CHILD"]) | set(oc3["CHILD"]) == set(head["CHILD"])
        pd.to_datetime(oc3["DOB"], format="%d/%m/%Y")
        assert oc3["ACCOM"].str.fullmatch(r"0|[A-Z][12]").all()


def test_sex_coding_switches_in_2024_25(tiny):
    out, _ = tiny
    for y in YEARS:
        sex = set(read(out / "ssda903" / label(y) / "header.csv")["SEX"])
        if y <= 2024:
            assert sex <= {"1", "2"}
        else:
            assert sex <= {"M", "F", "U"} and {"M", "F"} <= sex


def test_open_episodes_resubmitted(tiny, truth):
    """Each return re-submits the episodes still open in the one before, unchanged, except
    the council's errors truth.json lists: an open episode left out of every later return
    (repaired on reading) and an episode closed early and re-stated open in the next."""
    out, _ = tiny
    key = ["CHILD", "DECOM"]
    fixed = ["RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "HOME_POST", "PL_POST", "URN"]
    n_open = n_left_out = n_restated = 0
    later = {y: set() for y in YEARS}
    for y in reversed(YEARS[1:]):
        b = read(out / "ssda903" / label(y) / "episodes.csv")
        later[y - 1] = later[y] | set(zip(b["CHILD"], b["DECOM"], strict=True))
    for y in YEARS[:-1]:
        a = read(out / "ssda903" / label(y) / "episodes.csv")
        b = read(out / "ssda903" / label(y + 1) / "episodes.csv")
        still_open = a[a["DEC"] == ""]
        n_open += len(still_open)
        merged = still_open.merge(b, on=key, how="left", suffixes=("", "_next"), indicator=True)
        gone = merged[merged["_merge"] == "left_only"]
        # an episode left out of the next return is in no later return either
        assert not set(zip(gone["CHILD"], gone["DECOM"], strict=True)) & later[y]
        n_left_out += len(gone)
        merged = merged[merged["_merge"] == "both"]
        for col in fixed:
            assert (merged[col] == merged[col + "_next"]).all(), col
        # an episode closed in year y is not re-submitted in y + 1, unless re-stated open
        again = a[a["DEC"] != ""].merge(b, on=key, suffixes=("", "_next"))
        dec_next = pd.to_datetime(again["DEC_next"].replace("", None), format="%d/%m/%Y")
        assert (dec_next.isna() | (dec_next > pd.to_datetime(again["DEC"], format="%d/%m/%Y"))).all()
        n_restated += len(again)
    assert n_open > 0
    variants = truth["variants"]
    # a DECOM given late is a different episode, left out of every later return too
    assert n_left_out == (
        variants["repaired_episodes_e99"]
        + variants["repaired_episodes_x1"]
        + variants["overlapping_episodes"]
    )
    assert n_restated == variants["resubmitted_episodes"]


def test_every_variant_occurs(tiny, truth, council):
    """The returns hold each error DOMAIN §2 reads (repairs closed by E99 and by X1,
    re-stated years) and the case export each case of the improved rule (3 or more
    assessments where the latest decides, ties, a lower-is-better tool), at low rates."""
    for variants in (truth["variants"], json.loads((council[0] / "truth.json").read_text())["variants"]):
        assert all(v >= 1 for v in variants.values()), variants
    council_variants = json.loads((council[0] / "truth.json").read_text())["variants"]
    assert council_variants["repaired_episodes_e99"] < 0.01 * council[1]["care_episodes"]
    assert council_variants["resubmitted_episodes"] < 0.01 * council[1]["care_episodes"]


def test_no_overlapping_episodes(tiny, truth):
    """Episodes overlap only where a return gave a DECOM late (truth's overlapping
    episodes): repaired, that one lies inside the true episode."""
    eps = all_episodes(tiny[0])
    same = eps["CHILD"].eq(eps["CHILD"].shift())
    prev_dec = eps["DEC_D"].shift()
    assert not (same & eps["DEC_D"].shift().isna()).any(), "an open episode is followed by another"
    inside = same & (eps["DECOM_D"] < prev_dec)
    assert inside.sum() == truth["variants"]["overlapping_episodes"]
    assert (eps.loc[inside, "DEC_D"] <= prev_dec[inside]).all()
    same &= ~inside
    # X1 chains: next DECOM equals DEC; other RECs: the next period starts later
    x1 = eps["REC"].shift().eq("X1") & same
    assert (eps.loc[x1, "DECOM_D"] == prev_dec[x1]).all()
    assert (eps.loc[x1, "RNE"] != "S").all()
    gap = same & ~eps["REC"].shift().eq("X1")
    assert (eps.loc[gap, "DECOM_D"] > prev_dec[gap]).all()


TEMPORARY = {"T0", "T1", "T2", "T3", "T4"}
OTHER = {"Z1", "Z11", "Z12", "Z13", "Z14"}
FOSTER = {"U1", "U2", "U3", "U4", "U5", "U6"}
ADOPTION = {"A3", "A4", "A5", "A6"}
NO_URN = {"P1", "P2", "P3", "R1", "R2", "R5"} | TEMPORARY | OTHER
REFORM_2023 = pd.Timestamp(2023, 10, 28)  # supported accommodation registered with Ofsted


def dfe_rule_breaches(eps: pd.DataFrame, head: pd.DataFrame, oc3: pd.DataFrame, y: int) -> dict:
    """Rows of one return breaking DfE's SSDA903 validation rules (csc-validator-be-903,
    rule codes in the keys) that do not need real postcodes, URNs or Ofsted's lists.
    benchmarks/dfe_validator/check.py runs DfE's validator itself (in its own venv)."""
    eps = eps.copy()
    eps["DECOM_D"] = pd.to_datetime(eps["DECOM"], format="%d/%m/%Y")
    end = pd.to_datetime(eps["DEC"].replace("", None), format="%d/%m/%Y")
    end = end.fillna(pd.Timestamp(y, 3, 31))
    eps = eps.sort_values(["CHILD", "DECOM_D"])
    sb = eps["LS"].isin(["V3", "V4"])
    place, prov, urn = eps["PLACE"], eps["PLACE_PROVIDER"], eps["URN"]
    no_urn = place.isin(NO_URN) | ((place == "H5") & (eps["DECOM_D"] < REFORM_2023)) | sb
    prev = eps.groupby("CHILD").shift(1)
    has_prev = prev["DECOM"].notna()
    cols = ["PLACE", "PL_POST", "URN", "PLACE_PROVIDER"]
    moved = (eps[cols] != prev[cols]).any(axis=1)
    ls_changed = eps["LS"] != prev["LS"]
    rne = eps["RNE"]
    temp = place.isin(TEMPORARY)
    next_temp = temp.groupby(eps["CHILD"]).shift(-1, fill_value=False).astype(bool)
    first_a5 = (place == "A5") & (prev["PLACE"] != "A5")
    prev2 = eps.groupby("CHILD").shift(2)
    after_temp = has_prev & prev["PLACE"].isin(TEMPORARY) & prev2["DECOM"].notna()
    checks = {
        "214/398 placement details on a short break": sb
        & (eps[["HOME_POST", "PL_POST", "URN"]] != "").any(axis=1),
        "384 short break in long-term fostering": sb & place.isin(["U1", "U4"]),
        "392b postcode missing": ~sb & ((eps["HOME_POST"] == "") | (eps["PL_POST"] == "")),
        "392d home postcode as placement postcode": ~sb
        & (eps["HOME_POST"] == eps["PL_POST"])
        & (place != "P1"),
        "378 placed with parents under section 20": (place == "P1") & (eps["LS"] == "V2"),
        "217t P2 after 28 October 2023": (place == "P2") & (end > REFORM_2023),
        "222/230/214 URN given": no_urn & (urn != ""),
        "218 URN missing": ~no_urn & (urn == ""),
        "242 XXXXXXX outside adoption": (urn == "XXXXXXX") & ~place.isin(ADOPTION),
        "178/213 provider for a temporary or other placement": place.isin(TEMPORARY | OTHER)
        & (prov != ""),
        "550 PR0 not placed with parents": (prov == "PR0") & (place != "P1"),
        "529 PR3 for a family or home placement": (prov == "PR3")
        & place.isin(ADOPTION | FOSTER | {"P1", "K1", "K2"}),
        "226 reason for a temporary placement change": (temp | next_temp)
        & (eps["REASON_PLACE_CHANGE"] != ""),
        "233 reason on an open episode": (eps["DEC"] == "") & (eps["REASON_PLACE_CHANGE"] != ""),
        "225 reason for a placement change missing": (eps["REC"] == "X1")
        & ~temp
        & ~next_temp
        & eps.groupby("CHILD")["RNE"].shift(-1).isin(["P", "B", "T", "U"])
        & (eps["REASON_PLACE_CHANGE"] == ""),
        "434 RNE L": has_prev & (rne == "L") & (~ls_changed | moved),
        "435 RNE P/T": has_prev & rne.isin(["P", "T"]) & (ls_changed | ~moved),
        "436 RNE B/U": has_prev & rne.isin(["B", "U"]) & (~ls_changed | ~moved),
        "383 no return from a temporary placement": after_temp
        & ((rne != "P") | (place != prev2["PLACE"])),
        "A5 not after foster care": first_a5 & has_prev & ~prev["PLACE"].isin(FOSTER),
    }
    out = {k: eps.loc[v.fillna(False).astype(bool), "CHILD"].tolist() for k, v in checks.items()}
    girl = head["SEX"].isin(["2", "F"]) & head["CHILD"].isin(set(eps.loc[~sb, "CHILD"]))
    out["165/393/607/628 MOTHER"] = head.loc[
        (girl & ~head["MOTHER"].isin(["0", "1"])) | (~girl & (head["MOTHER"] != "")), "CHILD"
    ].tolist()
    out["611/612 MC_DOB"] = head.loc[
        (head["MC_DOB"] != "") != (head["MOTHER"] == "1"), "CHILD"
    ].tolist()
    care_end = end[~sb].groupby(eps.loc[~sb, "CHILD"]).max()
    mc_dob = pd.to_datetime(head["MC_DOB"].replace("", None), format="%d/%m/%Y")
    late = mc_dob > head["CHILD"].map(care_end)
    out["625 child born after the mother's care ended"] = head.loc[late, "CHILD"].tolist()
    yes = oc3["IN_TOUCH"] == "YES"
    gone = oc3["IN_TOUCH"].isin(["DIED", "RHOM"])
    known = (oc3[["ACTIV", "ACCOM"]] != "0").all(axis=1)
    blank = (oc3[["ACTIV", "ACCOM"]] == "0").all(axis=1)
    out["344/345 OC3"] = oc3.loc[(yes & ~known) | (gone & ~blank), "CHILD"].tolist()
    return {k: v for k, v in out.items() if v}


def test_returns_meet_dfe_validation_rules(tiny):
    out, _ = tiny
    seen = set()
    for y in YEARS:
        folder = out / "ssda903" / label(y)
        eps = read(folder / "episodes.csv")
        head, oc3 = read(folder / "header.csv"), read(folder / "oc3.csv")
        breaches = dfe_rule_breaches(eps, head, oc3, y)
        assert not breaches, f"{label(y)}: {breaches}"
        seen |= set(eps["PLACE"]) | {"short break" for ls in eps["LS"] if ls in ("V3", "V4")}
    # the cases the rules are about do occur
    assert {"P1", "A5", "A6", "H5", "short break"} <= seen
    assert seen & TEMPORARY


def test_dfe_rule_check_catches_breaches(tiny):
    out, _ = tiny
    for y in YEARS:  # a year with a short break
        folder = out / "ssda903" / label(y)
        eps, head, oc3 = (read(folder / f) for f in ("episodes.csv", "header.csv", "oc3.csv"))
        if eps["LS"].isin(["V3", "V4"]).any() and len(oc3):
            break
    sb = eps.index[eps["LS"].isin(["V3", "V4"])][0]
    eps.loc[sb, "PL_POST"] = "SB1 1AA"
    boy = head.index[head["SEX"].isin(["1", "M"])][0]
    head.loc[boy, "MOTHER"] = "0"
    yes = oc3.index[oc3["IN_TOUCH"] == "YES"][0]
    oc3.loc[yes, "ACCOM"] = "0"
    breaches = dfe_rule_breaches(eps, head, oc3, y)
    assert set(breaches) == {
        "214/398 placement details on a short break",
        "165/393/607/628 MOTHER",
        "344/345 OC3",
    }


def test_truth_cla_count_matches_returns(tiny, truth):
    out, _ = tiny
    eps = all_episodes(out)
    eps = eps[~eps["LS"].isin(["V3", "V4"])]
    pop = population(out)
    xs = month_ends()
    assert truth["first_period_end"] == "2016-04-30"
    assert truth["last_period_end"] == "2026-03-31"
    assert list(truth["measures"]["cla_count"]) == [x.date().isoformat() for x in xs]
    for x in xs:
        open_x = (eps["DECOM_D"] <= x) & (eps["DEC_D"].isna() | (eps["DEC_D"] > x))
        n = eps.loc[open_x, "CHILD"].nunique()
        key = x.date().isoformat()
        assert truth["measures"]["cla_count"][key] == n, key
        assert truth["measures"]["cla_rate_per_10k"][key] == pytest.approx(
            10000 * n / pop[mid_year(x)], rel=1e-12
        )


def test_truth_other_cla_measures_match_returns(tiny, truth):
    eps = all_episodes(tiny[0])
    eps = eps[~eps["LS"].isin(["V3", "V4"])]
    starts = eps[eps["RNE"] == "S"]
    placements = eps[eps["RNE"].isin(list("SPBTU"))]
    for x in month_ends()[::5]:
        key = x.date().isoformat()
        if x < FIRST_FULL_WINDOW:
            assert key not in truth["measures"]["cla_starts_12m"], key
            assert key not in truth["measures"]["placement_stability_3plus_pct"], key
            continue
        f = window_start(x)
        n = starts.loc[(starts["DECOM_D"] >= f) & (starts["DECOM_D"] <= x), "CHILD"].nunique()
        assert truth["measures"]["cla_starts_12m"][key] == n, key
        open_x = (eps["DECOM_D"] <= x) & (eps["DEC_D"].isna() | (eps["DEC_D"] > x))
        kids = set(eps.loc[open_x, "CHILD"])
        carried = set(
            eps.loc[(eps["DECOM_D"] < f) & (eps["DEC_D"].isna() | (eps["DEC_D"] > f)), "CHILD"]
        )
        cnt = placements.loc[
            (placements["DECOM_D"] >= f) & (placements["DECOM_D"] <= x), "CHILD"
        ].value_counts()
        n3 = sum(1 for k in kids if cnt.get(k, 0) + (k in carried) >= 3)
        expected = None if not kids else 100 * n3 / len(kids)
        assert truth["measures"]["placement_stability_3plus_pct"][key] == pytest.approx(expected)


def cin_plans(out: Path) -> pd.DataFrame:
    rows = []
    for y in YEARS:
        root = etree.parse(str(out / "cin" / f"CIN_Census_{y}.xml")).getroot()
        assert root.findtext("Header/CollectionDetails/ReferenceDate") == f"{y}-03-31"
        for child in root.iter("Child"):
            cid = child.findtext("ChildIdentifiers/LAchildID")
            for p in child.iter("ChildProtectionPlans"):
                rows.append(
                    (
                        y,
                        cid,
                        p.findtext("CPPstartDate"),
                        p.findtext("CPPendDate"),
                        int(p.findtext("NumberOfPreviousCPP")),
                    )
                )
    df = pd.DataFrame(rows, columns=["YEAR", "CHILD", "START", "END", "NPC"])
    df = df.sort_values("YEAR").drop_duplicates(["CHILD", "START"], keep="last")
    df["START"] = pd.to_datetime(df["START"])
    df["END"] = pd.to_datetime(df["END"])
    return df


def test_truth_cpp_matches_cin_census(tiny, truth):
    out, _ = tiny
    plans = cin_plans(out)
    pop = population(out)
    for x in month_ends()[::3]:
        key = x.date().isoformat()
        open_x = (plans["START"] <= x) & (plans["END"].isna() | (plans["END"] > x))
        n = plans.loc[open_x, "CHILD"].nunique()
        assert truth["measures"]["cpp_count"][key] == n, key
        assert truth["measures"]["cpp_rate_per_10k"][key] == pytest.approx(
            10000 * n / pop[mid_year(x)]
        )
        if x < FIRST_FULL_WINDOW:
            assert key not in truth["measures"]["cpp_repeat_pct_12m"], key
            continue
        w = plans[(plans["START"] >= window_start(x)) & (plans["START"] <= x)]
        earlier = [
            ((plans["CHILD"] == r.CHILD) & (plans["START"] < r.START)).any() for r in w.itertuples()
        ]
        rep = ((w["NPC"] > 0).to_numpy() | np.array(earlier, dtype=bool)).sum()
        expected = None if w.empty else 100 * rep / len(w)
        assert truth["measures"]["cpp_repeat_pct_12m"][key] == pytest.approx(expected)


def test_cin_census_shape(tiny):
    out, _ = tiny
    heads = {y: read(out / "ssda903" / label(y) / "header.csv") for y in YEARS}
    dob_903 = pd.concat(heads.values()).drop_duplicates("CHILD").set_index("CHILD")["DOB"]
    shared = 0
    for y in YEARS:
        root = etree.parse(str(out / "cin" / f"CIN_Census_{y}.xml")).getroot()
        ye = f"{y}-03-31"
        ids = root.findall("Children/Child/ChildIdentifiers")
        assert ids
        for ci in ids:
            tag = "GenderCurrent" if y <= 2023 else "Sex"
            assert ci.find(tag) is not None
            cid = ci.findtext("LAchildID")
            if cid in dob_903.index:
                shared += 1
                d = dt.date.fromisoformat(ci.findtext("PersonBirthDate"))
                assert d.strftime("%d/%m/%Y") == dob_903[cid]
        for det in root.iter("CINdetails"):
            assert det.findtext("CINreferralDate") <= ye
            closure = det.findtext("CINclosureDate")
            assert closure is None or ("" < closure <= ye)
            assert det.findtext("PrimaryNeedCode") in {f"N{i}" for i in range(1, 10)}
    assert shared > 0


def test_care_leaver_truth(tiny, truth):
    out, _ = tiny
    eet = {"F1", "P1", "F2", "P2", "F4", "P4", "F5", "P5"}
    for y in YEARS:
        oc3 = read(out / "ssda903" / label(y) / "oc3.csv")
        # everyone's 17th-21st birthday falls in the collection year
        dob = pd.to_datetime(oc3["DOB"], format="%d/%m/%Y")
        age = y - dob.dt.year - (dob.dt.month >= 4)
        assert age.between(17, 21).all()
        counted = ~oc3["IN_TOUCH"].isin(["DIED", "RHOM"])
        d = oc3[counted & age.between(19, 21)]
        codes = eet | ({"F3", "P3"} if y < 2022 else set())
        key = f"{y}-03-31"
        exp_suit = None if d.empty else 100 * d["ACCOM"].str.endswith("1").sum() / len(d)
        exp_eet = None if d.empty else 100 * d["ACTIV"].isin(codes).sum() / len(d)
        assert truth["measures"]["care_leavers_suitable_accommodation_pct"][key] == pytest.approx(
            exp_suit
        )
        assert truth["measures"]["care_leavers_eet_pct"][key] == pytest.approx(exp_eet)
        young = oc3[counted & age.between(17, 18)]
        exp_young = None if young.empty else 100 * young["ACCOM"].str.endswith("1").mean()
        got = truth["measures"]["care_leavers_17_18_suitable_accommodation_pct"][key]
        assert got == pytest.approx(exp_young)


def test_program_truth(tiny, truth):
    out, _ = tiny
    en = read(out / "case" / "enrolments.csv")
    en["start"] = pd.to_datetime(en["start_date"])
    en["end"] = pd.to_datetime(en["end_date"].replace("", None))
    plans = read(out / "case" / "service_plans.csv")
    plans["date"] = pd.to_datetime(plans["plan_date"])
    a = read(out / "case" / "assessments.csv")
    a["score"] = a["score"].astype(int)
    a["date"] = pd.to_datetime(a["assessment_date"])
    occ = (
        a.groupby(["assessment_id", "client_id", "enrolment_id", "date", "higher_is_better"])[
            "score"
        ]
        .sum()
        .reset_index()
    ).merge(en[["enrolment_id", "program"]], on="enrolment_id")
    progs = sorted(en["program"].unique())
    assert progs == sorted(["Family Support", "Edge of Care", "Youth Mentoring", "Parenting"])
    # each tool's reliable change criterion from the oba.yaml written beside the exports
    tools = yaml.safe_load((out / "oba.yaml").read_text())["assessment_tools"]
    criterion = {
        tool: round(1.96 * v["sd"] * np.sqrt(2 * (1 - v["reliability"])), 6) for tool, v in tools.items()
    }
    tool_of = a.groupby(a["enrolment_id"].map(en.set_index("enrolment_id")["program"]))["tool"].agg(set)
    assert all(len(t) == 1 and next(iter(t)) in criterion for t in tool_of)
    m = truth["measures"]
    for x in month_ends()[::7] + [pd.Timestamp("2026-03-31")]:
        key = x.date().isoformat()
        lo = x - pd.DateOffset(years=1)
        for p in progs:
            e = en[en["program"] == p]
            if months_from(e["start"].min(), x) < 11:  # the programme has not run 12 months
                for measure in ("program_clients_served_12m", "program_plan_within_30d_pct",
                                "program_improved_pct", "program_reliable_improvement_pct"):
                    assert key not in m[measure][p], (measure, p, key)
                continue
            served = e.loc[
                (e["start"] <= x) & (e["end"].isna() | (e["end"] > lo)), "client_id"
            ].nunique()
            assert m["program_clients_served_12m"][p][key] == served
            w = e[(e["start"] > lo) & (e["start"] <= x) & (e["start"] <= x - pd.Timedelta(days=30))]
            pm = w.merge(plans, on="enrolment_id", how="left")
            ok = (pm["date"] >= pm["start"]) & (pm["date"] <= pm["start"] + pd.Timedelta(days=30))
            timely = pm.loc[ok, "enrolment_id"].nunique()
            exp = None if w.empty else 100 * timely / len(w)
            assert m["program_plan_within_30d_pct"][p][key] == pytest.approx(exp)
            # the latest assessment as at x: only those dated by x
            o = occ[(occ["program"] == p) & (occ["date"] <= x)].sort_values("date")
            g = o.groupby("client_id")
            first, last, n = g.first(), g.last(), g.size()
            sel = (n >= 2) & (last["date"] > lo) & (last["date"] <= x)
            hib = last["higher_is_better"] == "true"
            better = np.where(hib, last["score"] > first["score"], last["score"] < first["score"])
            exp = None if sel.sum() == 0 else 100 * better[sel.to_numpy()].sum() / sel.sum()
            assert m["program_improved_pct"][p][key] == pytest.approx(exp)
            change = np.where(hib, 1, -1) * (last["score"] - first["score"])
            reliable = change > criterion[next(iter(tool_of[p]))]
            exp = None if sel.sum() == 0 else 100 * reliable[sel.to_numpy()].sum() / sel.sum()
            assert m["program_reliable_improvement_pct"][p][key] == pytest.approx(exp)


def test_population_and_config(tiny):
    out, _ = tiny
    pop = pd.read_csv(out / "population.csv")
    assert set(pop["age"]) == set(range(18))
    assert pop["year"].max() == 2025 and pop["year"].min() <= 2016
    assert (pop["area_code"] == "E09000999").all()
    totals = pop.groupby("year")["population"].sum()
    assert totals.is_monotonic_increasing
    cfg = yaml.safe_load((out / "oba.yaml").read_text())
    assert cfg["authority"] == {"name": "Synthetic Borough", "code": "E09000999"}
    assert "cla_rate_per_10k" in cfg["headline_measures"]
    assert cfg["assessment_tools"]["SDQ"] == {"sd": 5.0, "reliability": 0.8}
    stories = list((out / "stories").glob("*.yml"))
    assert len(stories) >= 2
    s = yaml.safe_load((out / "stories" / "cla_rate_per_10k.yml").read_text())
    assert s["measure"] == "cla_rate_per_10k"
    assert s["baseline_end"] == dt.date(2024, 9, 30)
    assert 3 <= len(s["story"]) <= 5
    assert {i["force"] for i in s["story"]} == {"positive", "negative"}
    assert any(i["date"] == dt.date(2024, 10, 1) for i in s["story"])
    assert all({"action", "owner", "due", "status"} <= set(a) for a in s["actions"])
    assert s["partners"] and s["what_works"]


def test_tiny_levels_loosely(truth):
    rates = [v for k, v in truth["measures"]["cla_rate_per_10k"].items() if k.endswith("03-31")]
    assert all(20 < r < 150 for r in rates)


def test_council_levels_and_intervention(council):
    out, summary = council
    t = json.loads((out / "truth.json").read_text())["measures"]
    cla = pd.Series(t["cla_rate_per_10k"])
    assert cla.between(45, 100).all()
    assert cla["2024-03-31"] == pytest.approx(72.0, abs=1.0)  # population anchor
    assert cla["2024-09-30"] > cla["2017-03-31"]  # rising before the intervention
    assert cla["2026-03-31"] < cla["2024-09-30"]  # and turning down after it
    cpp = pd.Series(t["cpp_rate_per_10k"])
    assert cpp.between(25, 60).all()
    stab = pd.Series(t["placement_stability_3plus_pct"])["2017-03-31":]
    assert stab.between(2, 25).all()
    suit = pd.Series(t["care_leavers_suitable_accommodation_pct"])
    assert suit.between(70, 97).all() and suit.iloc[-3:].mean() > suit.iloc[:3].mean()
    # monthly starts: the 12 months after the intervention are below the 12 before
    eps = all_episodes(out)
    eps = eps[~eps["LS"].isin(["V3", "V4"]) & (eps["RNE"] == "S")]
    iv = pd.Timestamp("2024-10-01")
    before = eps[(eps["DECOM_D"] >= iv - pd.DateOffset(years=1)) & (eps["DECOM_D"] < iv)]
    after = eps[(eps["DECOM_D"] >= iv) & (eps["DECOM_D"] < iv + pd.DateOffset(years=1))]
    assert len(after) / 12 < 0.85 * len(before) / 12
    improved = pd.Series(t["program_improved_pct"]["Family Support"]).dropna()
    assert improved.between(35, 85).all()
    assert summary["n_children"] == SCALES["council"]


def test_cli(tmp_path, capsys):
    assert synth_main([str(tmp_path / "o"), "--scale", "300", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["n_children"] == 300
    assert (tmp_path / "o" / "truth.json").is_file()
    assert synth_main([str(tmp_path / "p"), "--scale", "huge"]) == 2
