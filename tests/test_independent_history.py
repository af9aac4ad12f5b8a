"""An independent check of the multi-year SSDA903 history (issue 19, Acceptance, first bullet).

A small seeded generator written here from scratch (it does not use ``pipelines.synth``) cuts
ten annual returns (2015/16 .. 2024/25) from simulated care histories, with the messiness of
real returns: start dates re-keyed by a day or two in a later return, open episodes missing
from the next return, and REC E43/E44 endings while those codes were valid (up to 2017/18).
A plain-Python reference of the revised history (DOMAIN.md §2: newest return wins for an
episode keyed CHILD + DECOM; an open episode absent from later returns is closed at the
child's next DECOM, else on 1 April after its return's 31 March) gives ``cla_count`` (§3) for
every month end; the pipeline's mart must agree on all 120 of them.
"""

import calendar
import csv
import random
import shutil
from datetime import date, timedelta
from pathlib import Path

from conftest import materialise_all, query

SEED = 903
N_CHILDREN = 40
YEARS = range(2016, 2026)  # collection years (the year of each return's 31 March)
EPISODES_HEADER = (
    "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
).split(",")
HEADER_HEADER = "CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB".split(",")


def _d(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _year_start(year: int) -> date:
    return date(year - 1, 4, 1)


def _year_end(year: int) -> date:
    return date(year, 3, 31)


def _simulate(rng: random.Random) -> tuple[dict, list[dict]]:
    """True care histories: children and their episodes (DEC None = still open)."""
    children: dict[str, dict] = {}
    episodes: list[dict] = []
    horizon = date(2026, 3, 1)
    for i in range(N_CHILDREN):
        child = f"9{i:05d}"
        dob = date(2000, 1, 1) + timedelta(days=rng.randrange(0, 365 * 20))
        children[child] = {"sex": rng.choice([1, 2]), "dob": dob}
        start = date(2014, 1, 1) + timedelta(days=rng.randrange(0, 365 * 11))
        start = max(start, dob + timedelta(days=30))
        periods = 0
        while start < horizon and periods < 2:  # one or two periods of care
            periods += 1
            ls = rng.choice(["C2", "V2"])
            place = rng.choice(["U1", "U4", "K2"])
            decom, rne = start, "S"
            length = rng.randrange(60, 365 * 5)
            period_end = start + timedelta(days=length)
            eighteen = date(dob.year + 18, dob.month, min(dob.day, 28))
            if start > eighteen - timedelta(days=90):
                break  # no care starting at 18 or later
            period_end = min(period_end, eighteen)
            while True:
                step = rng.randrange(40, 500)
                dec = decom + timedelta(days=step)
                last = dec >= period_end - timedelta(days=10)  # no episode under 10 days
                if last:
                    dec = period_end
                ep = {
                    "CHILD": child,
                    "DECOM": decom,
                    "RNE": rne,
                    "LS": ls,
                    "PLACE": place,
                    "DEC": dec,
                    "REC": None,
                    "REASON_PLACE_CHANGE": "CARPL" if rne == "P" else "",
                }
                episodes.append(ep)
                if last:
                    if dec > horizon:
                        ep["DEC"] = None  # still looked after after the last return
                    elif dec <= date(2018, 3, 31) and rng.random() < 0.6:
                        ep["REC"] = rng.choice(["E43", "E44"])  # valid up to 2017/18
                    else:
                        ep["REC"] = rng.choice(["E11", "E13"])
                    break
                ep["REC"] = "X1"
                decom = dec
                if rng.random() < 0.7:
                    rne, place = "P", rng.choice([p for p in ("U1", "U4", "K2") if p != place])
                else:
                    rne, ls = "L", ("V2" if ls == "C2" else "C2")
            if ep["DEC"] is None:
                break
            start = ep["DEC"] + timedelta(days=rng.randrange(30, 900))
    return children, episodes


def _cut_returns(rng: random.Random, episodes: list[dict]) -> tuple[dict, dict, set]:
    """Cut the histories into annual returns as a council would submit them, with messiness."""
    returns: dict[int, list[dict]] = {}
    rekeyed: dict[int, date] = {}  # id(episode) -> DECOM as re-keyed in a later return
    dropped: set[int] = set()  # episodes left out of every return from some year on
    for year in YEARS:
        rows = []
        for ep in episodes:
            if ep["DECOM"] > _year_end(year):
                continue
            if ep["DEC"] is not None and ep["DEC"] < _year_start(year):
                continue
            key = id(ep)
            if key in dropped:
                continue
            in_previous = (
                year - 1 in YEARS
                and ep["DECOM"] <= _year_end(year - 1)
                and (ep["DEC"] is None or ep["DEC"] > _year_end(year - 1))
            )
            if in_previous and key not in rekeyed and rng.random() < 0.15:
                # (b) open in the previous return, missing from this one and every later one
                dropped.add(key)
                continue
            if in_previous and key not in rekeyed and rng.random() < 0.2:
                # (a) the start date re-keyed by a day or two in this (and later) returns
                rekeyed[key] = ep["DECOM"] + timedelta(days=rng.choice([-2, -1, 1, 2]))
            open_at_end = ep["DEC"] is None or ep["DEC"] > _year_end(year)
            rows.append(
                {
                    **ep,
                    "DECOM": rekeyed.get(key, ep["DECOM"]),
                    "DEC": None if open_at_end else ep["DEC"],
                    "REC": None if open_at_end else ep["REC"],
                }
            )
        returns[year] = rows
    return returns, rekeyed, dropped


def _write(exports: Path, children: dict, returns: dict[int, list[dict]]) -> None:
    for year, rows in returns.items():
        folder = exports / "ssda903" / f"{year - 1}-{year % 100:02d}"
        folder.mkdir(parents=True)
        with open(folder / "episodes.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(EPISODES_HEADER)
            for r in sorted(rows, key=lambda r: (r["CHILD"], r["DECOM"])):
                k2 = r["PLACE"] == "K2"
                writer.writerow(
                    [
                        r["CHILD"],
                        _d(r["DECOM"]),
                        r["RNE"],
                        r["LS"],
                        "N1",
                        r["PLACE"],
                        "PR1",
                        _d(r["DEC"]),
                        r["REC"] or "",
                        r["REASON_PLACE_CHANGE"],
                        "AB1 2CD",
                        "AB3 4EF",
                        "SC000001" if k2 else "XXXXXXX",
                    ]
                )
        with open(folder / "header.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(HEADER_HEADER)
            for child in sorted({r["CHILD"] for r in rows}):
                c = children[child]
                sex = str(c["sex"]) if year <= 2024 else {1: "M", 2: "F"}[c["sex"]]
                writer.writerow(
                    [
                        child,
                        sex,
                        _d(c["dob"]),
                        "WBRI",
                        f"A{int(child):012d}",
                        "0" if c["sex"] == 2 else "",
                        "",
                    ]
                )


def _reference(returns: dict[int, list[dict]]) -> dict[date, int]:
    """cla_count per month end from the revised history (DOMAIN.md §2 and §3), independently."""
    latest_return = max(y for y, rows in returns.items() if rows)
    revised: dict[tuple[str, date], tuple[int, dict]] = {}
    for year in sorted(returns):  # newest return wins for an episode (CHILD + DECOM)
        for r in returns[year]:
            if r["LS"] in ("V3", "V4"):
                continue
            revised[(r["CHILD"], r["DECOM"])] = (year, r)
    by_child: dict[str, list[tuple[date, int, date | None]]] = {}
    for (child, decom), (year, r) in revised.items():
        by_child.setdefault(child, []).append((decom, year, r["DEC"]))
    spans: list[tuple[str, date, date | None]] = []
    for child, eps in by_child.items():
        eps.sort()
        for i, (decom, year, dec) in enumerate(eps):
            if dec is None and year < latest_return:  # the repair rule
                dec = eps[i + 1][0] if i + 1 < len(eps) else date(year, 4, 1)
            spans.append((child, decom, dec))
    counts = {}
    for year in YEARS:
        for month in range(4, 16):
            y, m = (year - 1, month) if month <= 12 else (year, month - 12)
            x = date(y, m, calendar.monthrange(y, m)[1])
            counts[x] = len({c for c, s, e in spans if s <= x and (e is None or e > x)})
    return counts


def test_monthly_cla_count_matches_an_independent_reference(tmp_path, hand_council):
    rng = random.Random(SEED)
    children, episodes = _simulate(rng)
    returns, rekeyed, dropped = _cut_returns(rng, episodes)
    # The history really has the messiness the acceptance names.
    assert any(r["REC"] in ("E43", "E44") for y in (2016, 2017, 2018) for r in returns[y])
    assert len(rekeyed) >= 3 and len(dropped) >= 3
    # ... and is otherwise valid: no episode ends before it starts, E43/E44 only until 2017/18.
    assert all(r["DEC"] is None or r["DEC"] > r["DECOM"] for y in YEARS for r in returns[y])
    assert not any(r["REC"] in ("E43", "E44") for y in YEARS if y > 2018 for r in returns[y])
    exports = tmp_path / "exports"
    exports.mkdir()
    _write(exports, children, returns)
    shutil.copy(hand_council / "population.csv", exports / "population.csv")
    shutil.copy(hand_council / "oba.yaml", exports / "oba.yaml")
    expected = _reference(returns)
    assert len(expected) == 120

    out = tmp_path / "out"
    result = materialise_all(exports, out, groups=("raw", "staging", "intermediate", "marts"))
    assert result.success

    excluded = query(out, "select * from quality.quarantine where action = 'excluded'")
    assert excluded.empty, excluded.to_string()
    mart = query(
        out,
        "select period_end, value from marts.measure_values "
        "where measure_id = 'cla_count' and breakdown = 'all'",
    )
    actual = {
        (p.date() if hasattr(p, "date") else p): v
        for p, v in zip(mart["period_end"], mart["value"], strict=True)
    }
    diffs = {x: (actual.get(x, 0), n) for x, n in sorted(expected.items()) if actual.get(x, 0) != n}
    assert not diffs, f"{len(diffs)} of 120 month ends differ (pipeline, reference): {diffs}"
