"""Synthetic Explore Education Statistics (EES) comparator tables for a synthetic England.

150 local authorities in the nine English regions with a plausible spread around England's
figures; the national rows carry England's real published totals where the release gives them
(children looked after at 31 March 2023: 83,840, 71 per 10,000; 2024: 83,630, 70; 2025: 81,770,
67; children in need 2024: 399,460, 332.9 per 10,000). Each table is written in EES's tidy
format with its ``.meta.csv`` under ``comparators/``; a handful of cells are DfE's symbols (c,
x) as in the real files. The synthetic authority itself is not in them: its own figures are
ranked among these.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

REGIONS = [
    ("E12000001", "North East"), ("E12000002", "North West"), ("E12000003", "Yorkshire and The Humber"),
    ("E12000004", "East Midlands"), ("E12000005", "West Midlands"), ("E12000006", "East of England"),
    ("E12000007", "London"), ("E12000008", "South East"), ("E12000009", "South West"),
]
YEARS = range(2019, 2026)
N_LAS = 150
NEIGHBOURS = 10
GEO = ["time_period", "time_identifier", "geographic_level", "country_code", "country_name",
       "region_code", "region_name", "new_la_code", "old_la_code", "la_name"]
# England's real figures (DfE) where the issue gives them, else plausible levels.
CLA = {2019: (78150, 65), 2020: (80000, 67), 2021: (80780, 67), 2022: (82080, 70),
       2023: (83840, 71), 2024: (83630, 70), 2025: (81770, 67)}
CIN_RATE = {2019: 334.2, 2020: 323.7, 2021: 321.2, 2022: 334.3, 2023: 342.7, 2024: 332.9, 2025: 330.0}
CIN_NUMBER_2024 = 399460
# measure level by year: (England value, spread between LAs as a share)
LEVELS = {
    "starts": (lambda y: 31000 + 300 * (y - 2019), 0.0),
    "cpp_rate": (lambda y: 43.7 - 0.4 * (y - 2019), 0.35),
    "cpp_repeat": (lambda y: 21.9 + 0.3 * (y - 2019), 0.25),
    "rereferral": (lambda y: 22.6 - 0.2 * (y - 2019), 0.25),
    "suitable": (lambda y: 85.0 + 0.5 * (y - 2019), 0.06),
    "eet": (lambda y: 52.0 + 0.6 * (y - 2019), 0.15),
    "stability": (lambda y: 10.5 - 0.2 * (y - 2019), 0.25),
}


def _las(rng):
    las = []
    for i in range(N_LAS):
        code, name = REGIONS[i % len(REGIONS)]
        prefix = "E09" if code == "E12000007" else ("E06" if i % 3 else "E08")
        las.append({
            "code": f"{prefix}{100 + i:06d}", "old": str(800 + i), "name": f"Synthetic LA {i + 1:03d}",
            "region_code": code, "region_name": name,
            "children": float(rng.lognormal(np.log(75_000), 0.5)),
            "effect": float(rng.normal(0, 1)),
        })
    return las


def _write(out: Path, name: str, filters: list[str], indicators: list[tuple[str, str, str]], rows):
    folder = out / "comparators"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(GEO + filters + [i[0] for i in indicators])
        writer.writerows(rows)
    with (folder / f"{name}.meta.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["col_name", "col_type", "label", "indicator_grouping", "indicator_unit",
                         "indicator_dp", "filter_hint", "filter_grouping_column"])
        for f in filters:
            writer.writerow([f, "Filter", f.replace("_", " ").capitalize(), "", "", "", "", ""])
        for column, label, unit in indicators:
            writer.writerow([column, "Indicator", label, "", unit, "1" if unit else "0", "", ""])
    return [f"comparators/{name}.csv", f"comparators/{name}.meta.csv"]


def _geo(year, level, la=None, region=None, financial=False):
    period, ident = (f"{year - 1}{year % 100:02d}", "Financial year") if financial else (str(year), "Reporting year")
    base = [period, ident, level, "E92000001", "England"]
    if level == "National":
        return base + ["", "", "", "", ""]
    if level == "Regional":
        return base + [region[0], region[1], "", "", ""]
    return base + [la["region_code"], la["region_name"], la["code"], la["old"], la["name"]]


def _series(rng, las, england, spread):
    """Each LA's value: England's level moved by its lasting effect and a yearly wobble."""
    return {la["code"]: max(0.0, england * (1 + spread * (0.8 * la["effect"] + 0.4 * rng.normal())))
            for la in las}


def _fmt(value, dp=1):
    return f"{value:.{dp}f}" if dp else str(int(round(value)))


def _rows(rng, las, year, england, spread, filters, *, percent=False, counts=None, financial=False,
          symbol_share=0.03):
    """National, regional and LA rows of one indicator (a rate or percentage, plus a count)."""
    values = _series(rng, las, england, spread)
    if percent:
        values = {k: min(v, 100.0) for k, v in values.items()}
    rows = []
    national_count = counts(None, england) if counts else None
    rows.append(_geo(year, "National", financial=financial) + filters
                + ([_fmt(national_count, 0)] if counts else []) + [_fmt(england)])
    for region in REGIONS:
        members = [la for la in las if la["region_code"] == region[0]]
        weight = sum(la["children"] for la in members)
        value = sum(values[la["code"]] * la["children"] for la in members) / weight
        rows.append(_geo(year, "Regional", region=region, financial=financial) + filters
                    + ([_fmt(counts(weight, value), 0)] if counts else []) + [_fmt(value)])
    for la in las:
        value = values[la["code"]]
        cells = [_fmt(counts(la["children"], value), 0)] if counts else []
        cells.append(_fmt(value))
        if rng.random() < symbol_share:
            cells = ["c"] * len(cells)
        rows.append(_geo(year, "Local authority", la=la, financial=financial) + filters + cells)
    return rows


def write_ees(cfg, out: Path) -> tuple[list[str], dict]:
    """Write the comparator tables; returns the files and the comparators for oba.yaml."""
    rng = np.random.default_rng([cfg.seed, 17])
    las = _las(rng)
    files = []

    def per_10k(children, rate):
        return (children or 11_950_000) * rate / 10_000

    rows = []
    for year in YEARS:
        number, rate = CLA[year]
        rows += _rows(rng, las, year, rate, 0.35, ["Children looked after at 31 March each year"],
                      counts=lambda c, r, n=number: n if c is None else per_10k(c, r))
        starts = LEVELS["starts"][0](year)
        start_rows = _rows(rng, las, year, starts / 11_950_000 * 10_000, 0.3,
                           ["Children starting to be looked after each year"],
                           counts=lambda c, r, n=starts: n if c is None else per_10k(c, r))
        rows += start_rows
    files += _write(out, "cla_number_and_rate_per_10k_children", ["population_count"],
                    [("number", "Number of children", ""), ("rate_per_10000", "Rate per 10,000 children", "")], rows)

    rows = []
    for year in YEARS:
        rows += _rows(rng, las, year, CIN_RATE[year], 0.3, [],
                      counts=lambda c, r, y=year: (CIN_NUMBER_2024 if y == 2024 else per_10k(None, r))
                      if c is None else per_10k(c, r))
    files += _write(out, "b1_children_in_need", [],
                    [("at31_episodes", "Children in need at 31 March", ""),
                     ("at31_episodes_rate", "Children in need at 31 March per 10,000", "")], rows)

    def simple(name, key, column, label, filter_columns, filter_values, *, percent=True, financial=False):
        rows = []
        for year in YEARS:
            level, spread = LEVELS[key]
            rows += _rows(rng, las, year, level(year), spread, filter_values, percent=percent,
                          financial=financial)
        return _write(out, name, filter_columns, [(column, label, "%" if percent else "")], rows)

    files += simple("d1_cpp_rate", "cpp_rate", "cpp_at31_rate", "Child protection plans at 31 March per 10,000",
                    [], [], percent=False)
    files += simple("d1_cpp_subsequent", "cpp_repeat", "cpp_subsequent_percent",
                    "Plans starting in the year that were second or subsequent (%)", [], [])
    files += simple("a1_referrals", "rereferral", "re_referrals_percent",
                    "Referrals within 12 months of a previous referral (%)", [], [])
    files += simple("la_care_leavers_accommodation_suitability", "suitable", "percentage",
                    "Percentage of care leavers", ["age", "accommodation_suitability"],
                    ["Aged 19 to 21", "Accommodation considered suitable"], financial=True)
    files += simple("la_care_leavers_activity", "eet", "percentage", "Percentage of care leavers",
                    ["age", "activity"], ["Aged 19 to 21", "Total in education employment or training"],
                    financial=True)
    files += simple("la_placement_stability", "stability", "percentage", "Percentage of children looked after",
                    ["placement_stability"], ["3 or more placements during the year"])
    # Statistical neighbours are the authorities most like the council, so their figures sit
    # near its own (England's level here): the 10 whose local effect is smallest.
    alike = sorted(las, key=lambda la: abs(la["effect"]))
    neighbours = [la["code"] for la in alike[:NEIGHBOURS]]
    return files, {"region": "E12000007", "neighbours": neighbours}
