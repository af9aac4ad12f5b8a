"""The published layer: suppression and rounding (SQL models), CSV downloads, the data-quality
summary, the Dagster assets, atomic writes, and no child-level data in anything published."""

import csv
import io
import json
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "publish"))

import publish_fixture as pf  # noqa: E402

from dashboards.downloads import safe_cell, write_csv, write_downloads  # noqa: E402
from pipelines.settings import DEFAULT_MODELS_DIR  # noqa: E402
from pipelines.sqlmodels import build_model, discover_models  # noqa: E402

MODELS = discover_models(DEFAULT_MODELS_DIR)
PUBLISHED_MODELS = [m for m in MODELS.values() if m.layer == "published"]


# --- suppression and rounding on a tiny warehouse --------------------------------------------


def _warehouse(values: list[tuple], units: dict[str, str], upper: int = 5):
    """An in-memory warehouse with marts.measures, marts.measure_values and raw.oba_config."""
    con = duckdb.connect()
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema {schema}")
    measures = pd.DataFrame(
        [
            {"measure_id": m, "name": m, "oba_kind": "population_indicator", "unit": u,
             "direction_of_good": "down", "description": m, "frequency": "monthly",
             "journey": "children_looked_after", "sources": "", "breakdowns": ""}
            for m, u in units.items()
        ]
    )
    frame = pd.DataFrame(
        values,
        columns=["measure_id", "breakdown", "breakdown_value", "numerator", "denominator", "value"],
    ).astype({"numerator": "float64", "denominator": "float64", "value": "float64"})
    frame.insert(1, "period_end", pd.Timestamp("2025-03-31").date())
    con.register("m", measures)
    con.register("v", frame)
    con.execute("create table marts.measures as select * from m")
    con.execute("create table marts.measure_values as select * from v")
    con.execute(
        "create table raw.oba_config as select 'Test' as authority_name, 'E0' as authority_code, "
        f"{upper} as suppression_upper, '[]' as headline_measures"
    )
    build_model(con, MODELS["pub_measure_values"])
    return con


def _published(con) -> dict[tuple[str, str, str], dict]:
    rows = con.execute("select * from published.pub_measure_values").df().to_dict("records")
    return {(r["measure_id"], r["breakdown"], r["breakdown_value"]): r for r in rows}


def _counts(measure: str, total: int, cells: dict[str, int], breakdown: str = "age_band"):
    rows = [(measure, "all", "all", total, None, total)]
    rows += [(measure, breakdown, k, n, None, n) for k, n in cells.items()]
    return rows


def test_primary_suppression_true_zero_and_total():
    con = _warehouse(_counts("m", 123, {"0-4": 3, "5-9": 40, "10-15": 52, "16-17": 28}),
                     {"m": "count"})
    out = _published(con)
    assert out[("m", "all", "all")]["value"] == "123"
    assert out[("m", "all", "all")]["value_num"] == 123
    assert out[("m", "age_band", "0-4")]["value"] == "c"
    assert pd.isna(out[("m", "age_band", "0-4")]["value_num"])
    # Secondary: the smallest other cell, else 0-4 = 123 - 40 - 52 - 28.
    assert out[("m", "age_band", "16-17")]["value"] == "c"
    assert out[("m", "age_band", "5-9")]["value"] == "40"
    assert out[("m", "age_band", "10-15")]["value"] == "52"


def test_zero_is_a_true_zero_and_never_picked_for_secondary():
    con = _warehouse(_counts("m", 60, {"F": 0, "M": 57, "U": 3}, "sex"), {"m": "count"})
    out = _published(con)
    assert out[("m", "sex", "F")]["value"] == "0"
    assert out[("m", "sex", "U")]["value"] == "c"
    assert out[("m", "sex", "M")]["value"] == "c"  # the only other non-zero cell
    assert out[("m", "all", "all")]["value"] == "60"


@pytest.mark.parametrize(
    "cells, secondary",
    [
        ({"a": 1, "b": 1, "c": 30, "d": 40}, "c"),  # two 1s: their sum 2 pins both
        ({"a": 5, "b": 5, "c": 30, "d": 40}, "c"),  # two at the bound: sum 10 pins both
        ({"a": 3, "b": 4, "c": 30, "d": 40}, None),  # 3 + 4 = 7 could be 2 + 5, 5 + 2...
    ],
)
def test_secondary_when_suppressed_cells_are_pinned(cells, secondary):
    total = sum(cells.values())
    con = _warehouse(_counts("m", total, cells, "b"), {"m": "count"})
    out = _published(con)
    shown = {k for k in cells if out[("m", "b", k)]["value"] != "c"}
    expected_hidden = {k for k, n in cells.items() if 1 <= n <= 5} | ({secondary} if secondary else set())
    assert set(cells) - shown == expected_hidden


def test_total_suppressed_when_no_other_cell_can_hide_the_pinned_ones():
    con = _warehouse(_counts("m", 10, {"F": 5, "M": 5, "U": 0}, "sex"), {"m": "count"})
    out = _published(con)
    assert out[("m", "sex", "F")]["value"] == "c" and out[("m", "sex", "M")]["value"] == "c"
    assert out[("m", "all", "all")]["value"] == "c"
    assert out[("m", "sex", "U")]["value"] == "0"


def test_no_secondary_when_the_total_is_suppressed_or_absent():
    con = _warehouse(
        [
            *_counts("small", 4, {"F": 4, "M": 0}, "sex"),
            ("prog", "program", "A", 3, None, 3),
            ("prog", "program", "B", 90, None, 90),
        ],
        {"small": "count", "prog": "count"},
    )
    out = _published(con)
    assert out[("small", "all", "all")]["value"] == "c"
    assert out[("small", "sex", "F")]["value"] == "c"
    assert out[("small", "sex", "M")]["value"] == "0"
    assert out[("prog", "program", "A")]["value"] == "c"
    assert out[("prog", "program", "B")]["value"] == "90"  # no total: nothing to recover from


def test_percentages_and_rates_rounded_and_suppressed_with_their_parts():
    con = _warehouse(
        [
            ("pct", "all", "all", 20, 30, 100 * 20 / 30),
            ("pct", "sex", "F", 2, 10, 20.0),  # numerator 2: c
            ("pct", "sex", "M", 18, 20, 90.0),  # secondary (numerator group)
            ("pct2", "all", "all", 9, 40, 22.5),
            ("pct2", "sex", "F", 0, 4, 0.0),  # denominator 4: c
            ("pct2", "sex", "M", 9, 36, 25.0),  # secondary (denominator group)
            ("pct3", "all", "all", 0, 0, None),  # 0/0: z
            ("pct4", "all", "all", None, None, None),  # nothing: x
            ("rate", "all", "all", 312, 45750, 10000 * 312 / 45750),
            ("rate", "age", "0-4", 3, 12352, 10000 * 3 / 12352),
            ("rate", "age", "5-9", 87, 13267, 10000 * 87 / 13267),
            ("rate", "age", "10-15", 222, 20131, 10000 * 222 / 20131),
        ],
        {"pct": "percent", "pct2": "percent", "pct3": "percent", "pct4": "percent",
         "rate": "rate_per_10k"},
    )
    out = _published(con)
    assert out[("pct", "all", "all")]["value"] == "66.7"
    assert out[("pct", "all", "all")]["value_num"] == pytest.approx(66.7)
    assert out[("pct", "sex", "F")]["value"] == "c"
    assert out[("pct", "sex", "F")]["numerator"] == "c"
    assert out[("pct", "sex", "F")]["denominator"] == "10"
    assert out[("pct", "sex", "M")]["value"] == "c"
    assert out[("pct2", "sex", "F")]["value"] == "c"
    assert out[("pct2", "sex", "F")]["numerator"] == "0"
    assert out[("pct2", "sex", "M")]["denominator"] == "c"
    assert out[("pct2", "sex", "M")]["value"] == "c"
    assert out[("pct3", "all", "all")]["value"] == "z"
    assert out[("pct4", "all", "all")]["value"] == "x"
    assert out[("rate", "all", "all")]["value"] == "68.2"
    assert out[("rate", "age", "0-4")]["value"] == "c"
    assert out[("rate", "age", "5-9")]["value"] == "c"  # secondary: smallest other numerator
    assert out[("rate", "age", "10-15")]["value"] == "110.3"


def test_days_suppressed_on_the_children_counted_never_on_the_days_added_up():
    """A mean number of days: 3 days over 12 children is no small count; 3 children are."""
    con = _warehouse(
        [
            ("d", "all", "all", 1290, 30, 43.0),
            ("d", "sex", "F", 3, 12, 0.25),  # 3 days in all: shown
            ("d", "sex", "M", 1287, 18, 1287 / 18),
            ("d2", "all", "all", 2000, 20, 100.0),
            ("d2", "sex", "F", 450, 3, 150.0),  # 3 children: c, days too
            ("d2", "sex", "M", 1550, 17, 1550 / 17),  # secondary, on the children
            ("d3", "all", "all", 0, 0, None),  # nobody counted: z
        ],
        {"d": "days", "d2": "days", "d3": "days"},
    )
    out = _published(con)
    assert out[("d", "all", "all")]["value"] == "43" and out[("d", "all", "all")]["value_num"] == 43
    assert out[("d", "sex", "F")]["numerator"] == "3" and out[("d", "sex", "F")]["value"] == "0"
    assert not out[("d", "sex", "F")]["suppressed"]
    assert out[("d", "sex", "M")]["value"] == "72" and out[("d", "sex", "M")]["value_num"] == 72
    for value in ("F", "M"):
        row = out[("d2", "sex", value)]
        assert (row["numerator"], row["denominator"], row["value"]) == ("c", "c", "c"), value
        assert pd.isna(row["value_num"])
    assert out[("d2", "all", "all")]["value"] == "100"
    assert out[("d3", "all", "all")]["value"] == "z"


def test_breakdown_codes_load_from_the_catalogue_and_refuse_what_is_not_text(tmp_path):
    from pipelines.sqlmodels import ModelError, load_breakdown_codes

    codes = load_breakdown_codes(DEFAULT_MODELS_DIR)
    assert codes["category_of_need"]["N1"] == "Abuse or neglect"
    assert list(codes["category_of_need"]) == [f"N{i}" for i in range(1, 10)]
    assert codes["category_of_abuse"]["MUL"] == "Multiple categories"
    assert set(codes["legal_status"]) == {
        "care order", "placement order", "accommodated under s20", "youth justice",
        "police protection/emergency", "other",
    }
    assert "C1, C2" in codes["legal_status"]["care order"]
    assert len(codes["placement_type"]) == 7 and "U1, U2, U3" in codes["placement_type"][
        "foster with relatives/friends"]
    for bad in ("breakdown_codes: [N1]\n", "breakdown_codes: {sex: {F: [Female]}}\n",
                "breakdown_codes: {sex: {NO: None given}}\n", "breakdown_codes: {sex: F}\n"):
        (tmp_path / "measures.yml").write_text("measures: []\n" + bad)
        with pytest.raises(ModelError, match="measures.yml: breakdown_codes"):
            load_breakdown_codes(tmp_path)


def test_suppression_threshold_comes_from_config():
    con = _warehouse(_counts("m", 100, {"a": 7, "b": 11, "c": 82}), {"m": "count"}, upper=10)
    out = _published(con)
    assert out[("m", "age_band", "a")]["value"] == "c"
    assert out[("m", "age_band", "b")]["value"] == "c"  # secondary


@settings(max_examples=examples(80), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=2, max_size=6))
def test_no_suppressed_cell_can_be_worked_out(cells):
    """Property: with the total shown, the hidden cells are never exactly recoverable."""
    named = {f"v{i}": n for i, n in enumerate(cells)}
    total = sum(cells)
    con = _warehouse(_counts("m", total, named, "b"), {"m": "count"})
    out = _published(con)
    for key, n in named.items():
        if 1 <= n <= 5:
            assert out[("m", "b", key)]["value"] == "c"
        elif out[("m", "b", key)]["value"] != "c":
            assert out[("m", "b", key)]["value"] == str(n)
    if out[("m", "all", "all")]["value"] == "c":
        return
    hidden = [k for k in named if out[("m", "b", k)]["value"] == "c"]
    assert len(hidden) != 1
    if hidden and all(1 <= named[k] <= 5 for k in hidden):
        recovered = total - sum(n for k, n in named.items() if k not in hidden)
        assert recovered not in (len(hidden), 5 * len(hidden))


# --- CSV downloads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\tleading tab", "'\tleading tab"),
        ("-17", "-17"),
        ("-1.5", "-1.5"),
        ("+2", "+2"),
        ("c", "c"),
        ("Court delays", "Court delays"),
        (-4.0, -4.0),
        (12, 12),
        (None, ""),
        (float("nan"), ""),
        (True, "true"),
    ],
)
def test_csv_cells_cannot_run_as_formulas(value, expected):
    assert safe_cell(value) == expected


def test_write_csv_round_trip(tmp_path):
    frame = pd.DataFrame(
        {"name": ["=1+1", "ok", "@x"], "change": [-4.0, 1.5, None], "text": ["-3", "c", "-a"]}
    )
    path = tmp_path / "x.csv"
    write_csv(path, frame)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["name", "change", "text"]
    assert rows[1] == ["'=1+1", "-4.0", "-3"]
    assert rows[2] == ["ok", "1.5", "c"]
    assert rows[3] == ["'@x", "", "'-a"]


def test_downloads_replace_the_folder_atomically(tmp_path):
    target = tmp_path / "published"
    write_downloads(target, {}, 5)
    (target / "stale.csv").write_text("old")
    write_downloads(target, {}, 5)
    assert not (target / "stale.csv").exists()
    assert (target / "README.txt").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["published"]


# --- the published layer on the fixture warehouse, through Dagster -----------------------------


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    return pf.published_output(tmp_path_factory)


def _query(out: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_published_asset_keys_and_groups():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected = {
        "published/site", "published/board_pack", "published/downloads",
        "published/pub_measure_values", "published/pub_measure_status",
        "published/pub_report_card", "published/pub_measures", "published/pub_stories",
        "published/pub_about", "published/pub_contract_results",
        "published/pub_quarantine_summary", "published/pub_export_files",
    }
    assert expected <= keys
    for key in expected:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.group_name == "published"
    site_parents = {p.to_user_string() for p in graph.get(dg.AssetKey(["published", "site"])).parent_keys}
    assert site_parents and all(p.startswith(("published/", "internal/")) for p in site_parents)
    # the internal audience's tables: every published SQL model's copy, in its own group
    for name in ("pub_measure_values", "pub_measure_status", "pub_report_card"):
        node = graph.get(dg.AssetKey(["internal", name]))
        assert node.group_name == "internal"
        assert f"internal/{name}" in site_parents
    internal_parents = {
        p.to_user_string()
        for p in graph.get(dg.AssetKey(["internal", "pub_measure_status"])).parent_keys
    }
    assert "internal/pub_measure_values" in internal_parents
    assert "published/pub_measure_values" not in internal_parents
    status_parents = {
        p.to_user_string()
        for p in graph.get(dg.AssetKey(["published", "pub_measure_status"])).parent_keys
    }
    assert "marts/measure_status" in status_parents


def test_published_tables_hold_the_suppressed_breakdown(published):
    rows = _query(
        published,
        "select breakdown, breakdown_value, value from published.pub_measure_values "
        "where measure_id = 'cla_count' and period_end = date '2025-03-31' order by all",
    )
    got = {(r.breakdown, r.breakdown_value): r.value for r in rows.itertuples()}
    total = _query(
        published,
        "select value from marts.measure_values where measure_id = 'cla_count' "
        "and breakdown = 'all' and period_end = date '2025-03-31'",
    )["value"][0]
    assert got[("age_band", "0-4")] == "c"
    assert got[("age_band", "16-17")] == "c"
    assert got[("all", "all")] == str(int(total))


def test_forecast_withheld_for_series_with_suppressed_values(published):
    status = _query(
        published,
        "select measure_id, breakdown_value, bool_or(forecast_withheld) as withheld, "
        "count(forecast) as forecasts from published.pub_measure_status group by all",
    )
    by = {(r.measure_id, r.breakdown_value): r for r in status.itertuples()}
    parenting = by[("program_clients_served_12m", "Parenting Group")]
    assert parenting.withheld and parenting.forecasts == 0
    assert not by[("cla_count", "all")].withheld and by[("cla_count", "all")].forecasts > 0


def test_report_card_change_and_status(published):
    card = _query(published, "select * from published.pub_report_card")
    cla = card[(card["measure_id"] == "cla_count") & card["program"].isna()].iloc[0]
    raw = _query(
        published,
        "select period_end, value from marts.measure_values where measure_id = 'cla_count' "
        "and breakdown = 'all' and period_end in (date '2025-03-31', date '2024-03-31')",
    )
    raw = dict(zip(pd.to_datetime(raw["period_end"]).dt.year, raw["value"], strict=True))
    assert cla["change_value"] == round(raw[2025] - raw[2024])
    assert cla["change_text"] == str(int(round(raw[2025] - raw[2024])))
    assert cla["status"] in ("turned", "improving", "no_change", "worsening")
    assert bool(cla["is_headline"])
    parenting = card[card["program"] == "Parenting Group"]
    assert set(parenting["latest_text"]) == {"c"} and set(parenting["change_text"]) == {"c"}


def test_report_card_carries_the_journey_and_days_in_whole_days(published):
    card = _query(published, "select * from published.pub_report_card where program is null")
    journeys = dict(zip(card["measure_id"], card["journey"], strict=True))
    assert journeys["cla_count"] == "children_looked_after"
    assert journeys["care_leavers_suitable_accommodation_pct"] == "care_leavers"
    days = card[card["measure_id"] == "adoption_days"].iloc[0]
    assert days["latest_text"] == pf.ADOPTION_DAYS_LATEST and days["change_text"] == "-37"
    status = _query(published, "select value_text from published.pub_measure_status "
                    "where measure_id = 'adoption_days' and value_text is not null order by period_end")
    assert list(status["value_text"]) == ["505", "c", "488", "452"]
    folder = published / "published"
    measures = pd.read_csv(folder / "measures.csv", dtype=str, keep_default_na=False)
    assert list(measures.columns)[-1] == "journey" and "children_looked_after" in set(measures["journey"])
    report = pd.read_csv(folder / "report_card.csv", dtype=str, keep_default_na=False)
    assert list(report.columns)[:3] == ["measure_id", "name", "program"]
    assert list(report.columns)[-1] == "journey"
    codes = pd.read_csv(folder / "breakdown_codes.csv", dtype=str, keep_default_na=False)
    assert ("category_of_need", "N1", "Abuse or neglect") in set(codes.itertuples(index=False, name=None))


def test_csv_downloads_suppressed_and_safe(published):
    folder = published / "published"
    assert {p.name for p in folder.iterdir()} >= {
        "measure_values.csv", "report_card.csv", "baselines.csv", "measures.csv", "README.txt"
    }
    values = pd.read_csv(folder / "measure_values.csv", dtype=str, keep_default_na=False)
    latest = values[(values["measure_id"] == "cla_count") & (values["period_end"] == "2025-03-31")]
    cells = dict(zip(latest["breakdown_value"], latest["value"], strict=True))
    assert cells["0-4"] == "c" and cells["16-17"] == "c"
    assert cells["all"].isdigit() and int(cells["all"]) > 100
    card = pd.read_csv(folder / "report_card.csv", dtype=str, keep_default_na=False)
    negative = card[card["change_text"].str.startswith("-")]
    assert len(negative) and all(v.lstrip("-").replace(".", "").isdigit() for v in negative["change_text"])
    for path in folder.glob("*.csv"):
        for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            for cell in row:
                if cell[:1] in ("=", "+", "@") or (cell[:1] == "-" and not _is_number(cell)):
                    pytest.fail(f"{path.name}: unsafe cell {cell!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_quality_summary_counts_without_values(published):
    checks = _query(published, "select * from published.pub_contract_results")
    quarantine = _query(published, "select * from published.pub_quarantine_summary")
    assert len(checks) == 3
    assert quarantine.to_dict("records") == [
        {"source": "ssda903_episodes", "source_file": "ssda903/2024-25/episodes.csv",
         "column_name": "DECOM", "rule": "date_format", "action": "quarantine", "rows": 2,
         "rule_message": None}
    ]
    assert "value" not in quarantine.columns


FAILING_VALUES = ("14/03/2008", "29/02/2012", "31/02/2016")


def _quality_quoting_values(con) -> None:
    """quality.* whose messages, values and examples quote dates of birth (FAILING_VALUES)."""
    con.execute("create schema if not exists quality")
    con.execute(
        "create table quality.contract_results as select * from (values "
        "('ssda903_header', 'dob_format', false, 2::bigint, 'warning', "
        "'2 value(s) fail; e.g. 14/03/2008, 29/02/2012'), "
        "('ssda903_header', 'dob_real', false, 1::bigint, 'blocking', "
        "'DOB ''31/02/2016'' is not a date in dd/mm/YYYY')) "
        "as t(source, check_name, success, unexpected_count, severity, message)"
    )
    con.execute(
        "create table quality.quarantine as select 'ssda903_header' as source, 'h.csv' as "
        "source_file, 3::bigint as row_number, 'DOB' as column_name, '31/02/2016' as value, "
        "'date_format' as rule, 'DOB ''31/02/2016'' is not a date' as message"
    )


def test_quality_messages_lose_quoted_values_and_examples():
    from pipelines.published import build_quality_summary

    con = duckdb.connect()
    con.execute("create schema published")
    _quality_quoting_values(con)
    counts = build_quality_summary(con)
    assert counts == {"pub_contract_results": 2, "pub_quarantine_summary": 1, "pub_export_files": 0,
                      "pub_source_files": 0}
    text = con.execute("select * from published.pub_contract_results").df().to_string()
    text += con.execute("select * from published.pub_quarantine_summary").df().to_string()
    for value in FAILING_VALUES:
        assert value not in text
    assert "2 value(s) fail" in text


def test_export_check_page_shows_the_summary_without_failing_values(tmp_path):
    """oba validate's page is the run's data-quality page: counts by file and rule, messages
    without their quoted values, no example rows or values; nothing written to the warehouse."""
    from pipelines.validation import write_report_page

    warehouse = tmp_path / "checked.duckdb"
    con = duckdb.connect(str(warehouse))
    _quality_quoting_values(con)
    con.close()
    page = write_report_page(warehouse, tmp_path / "site").read_text(encoding="utf-8")
    for value in FAILING_VALUES:
        assert value not in page
    assert "date_format" in page and "excluded from the figures" in page
    assert "2 check(s) on the sources supplied: 0 passed, 2 did not pass (1 blocking)" in page
    assert "Measures not computed" not in page
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        schemas = {s for (s,) in con.execute("select distinct table_schema from information_schema.tables").fetchall()}
    finally:
        con.close()
    assert schemas == {"quality"}


def test_quality_summary_empty_when_quality_tables_absent():
    from pipelines.published import build_quality_summary

    con = duckdb.connect()
    con.execute("create schema published")
    assert build_quality_summary(con) == {
        "pub_contract_results": 0, "pub_quarantine_summary": 0, "pub_export_files": 0,
        "pub_source_files": 0,
    }


def test_data_quality_page_says_when_there_are_no_results(published, tmp_path):
    from dashboards.site import write_site
    from pipelines.published import read_published

    con = duckdb.connect(str(published / "warehouse.duckdb"), read_only=True)
    try:
        tables = read_published(con)
    finally:
        con.close()
    tables.contract_results = None
    tables.quarantine = None
    tables.export_files = None
    tables.source_files = None
    write_site(tmp_path / "site", tables)
    page = (tmp_path / "site" / "data-quality.html").read_text()
    assert "No data-quality results for this run." in page
    with_results = (published / "site" / "data-quality.html").read_text()
    assert "decom_is_a_date" in with_results and "No data-quality results" not in with_results


def test_site_pages_and_escaping(published):
    site = published / "site"
    pages = {p.relative_to(site).as_posix() for p in site.rglob("*.html")}
    assert {"index.html", "data-quality.html", "measures/cla_count.html",
            "programs/family-support-service.html", "programs/parenting-group.html"} <= pages
    assert {f"measures/{m['measure_id']}.html" for m in pf.MEASURES} <= pages
    html = (site / "measures" / "cla_count.html").read_text()
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt; Court delays" in html
    assert "onerror" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
    assert "Extend FGC to all s47 cases" in html
    # No inline script: every script element is a local file or JSON data.
    import re

    for page in site.rglob("*.html"):
        for tag in re.findall(r"<script\b[^>]*>", page.read_text()):
            assert 'src="' in tag or 'type="application/json"' in tag, (page, tag)


def test_nothing_child_level_is_published(published):
    texts = pf.output_texts(published)
    tables = _query(
        published,
        "select table_name from information_schema.tables where table_schema = 'published'",
    )["table_name"]
    for name in tables:
        texts[f"published.{name}"] = _query(published, f"select * from published.{name}").to_csv()
    for where, text in texts.items():
        for value in pf.CHILD_LEVEL_VALUES:
            assert value not in text, f"{value!r} in {where}"


# --- the whole graph on the hand-made council --------------------------------------------------


@pytest.fixture(scope="module")
def hand(tmp_path_factory, hand_council) -> Path:
    return pf.hand_output(tmp_path_factory, hand_council)


def test_hand_council_outputs_exist(hand):
    assert (hand / "site" / "index.html").is_file()
    assert (hand / "site" / "data-quality.html").is_file()
    assert (hand / "board_pack.pdf").is_file()
    assert (hand / "published" / "measure_values.csv").is_file()
    assert "Hand-made Borough" in (hand / "site" / "index.html").read_text()


def test_hand_council_publishes_no_child_level_value(hand, hand_council):
    import subprocess

    secrets = pf.child_level_values(hand_council)
    assert "100001" in secrets and "14/03/2008" in secrets and "2008-03-14" in secrets
    assert "AB1 2CD" in secrets
    texts = pf.output_texts(hand)
    texts["board_pack.pdf"] = subprocess.run(
        ["pdftotext", str(hand / "board_pack.pdf"), "-"], capture_output=True, text=True,
        check=True,
    ).stdout
    for where, text in texts.items():
        for value in secrets:
            assert value not in text, f"{value!r} in {where}"


def test_hand_council_small_counts_are_suppressed(hand):
    values = pd.read_csv(hand / "published" / "measure_values.csv", dtype=str, keep_default_na=False)
    cla = values[(values["measure_id"] == "cla_count") & (values["breakdown"] == "all")]
    assert set(cla["value"]) <= {"0", "c"} and "c" in set(cla["value"])


# --- atomic writes -----------------------------------------------------------------------------


def test_failed_site_write_leaves_the_previous_site(published, tmp_path, monkeypatch):
    from dashboards import site as site_module
    from pipelines.published import read_published

    con = duckdb.connect(str(published / "warehouse.duckdb"), read_only=True)
    try:
        tables = read_published(con)
    finally:
        con.close()
    target = tmp_path / "site"
    site_module.write_site(target, tables)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}

    def broken(self):
        raise RuntimeError("template failed")

    monkeypatch.setattr(site_module.SiteBuilder, "index", broken)
    with pytest.raises(RuntimeError):
        site_module.write_site(target, tables)
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["site"]


def test_stories_json_round_trip_through_published(published):
    stories = _query(published, "select * from published.pub_stories order by measure_id")
    story = json.loads(stories.iloc[0]["story"])
    assert stories.iloc[0]["measure_id"] == "cla_count" and len(story) == 3
    assert set(stories.columns) >= {"partners", "what_works", "actions", "data_development"}


def test_published_models_read_one_layer_down():
    for model in PUBLISHED_MODELS:
        tables = model.refs
        assert tables, model.path
        assert tables <= {
            "measures", "measure_values", "measure_status", "breakdown_codes", "oba_config",
            "stories", "comparator_values", "comparator_rank", "reliable_change_tools", *(m.name for m in PUBLISHED_MODELS),
        }, model.path


# --- honest verdicts on the pages: status note, rebase suggestion, p-chart limits, icons -------


def _with_verdicts(published, notes: dict[str, dict]):
    """The fixture's published tables with the latest whole-population status row and report
    card row of each measure in ``notes`` given those verdict columns."""
    from pipelines.published import read_published

    con = duckdb.connect(str(published / "warehouse.duckdb"), read_only=True)
    try:
        tables = read_published(con)
    finally:
        con.close()
    status = tables.status
    for measure_id, columns in notes.items():
        latest = (
            (status["measure_id"] == measure_id) & (status["breakdown"] == "all")
            & status["is_latest"].fillna(False).astype(bool)
        )
        assert latest.sum() == 1, measure_id
        card = tables.report_card
        row = (card["measure_id"] == measure_id) & card["program"].isna()
        assert row.sum() == 1, measure_id
        for column, value in columns.items():
            for frame, where in ((status, latest), (card, row)):
                if column in frame:
                    frame[column] = frame[column].astype(object)
                    frame.loc[where, column] = value
    return tables


def test_status_note_rebase_and_p_chart_are_shown_where_they_apply(published, tmp_path):
    from dashboards.site import write_site

    note = "Below the forecast, yet above the old average: the forecast expected a rise."
    tables = _with_verdicts(published, {
        "cla_count": {"status_note": note, "rebase_suggested": True,
                      "rebase_note": "A shift of 14 points since the baseline end.",
                      "spc_method": "p_chart"},
        # the near miss: no note, no rebase (its note kept but not asked for), XmR limits
        "cla_rate_per_10k": {"status_note": None, "rebase_suggested": False,
                             "rebase_note": "Not suggested.", "spc_method": "xmr"},
    })
    write_site(tmp_path / "site", tables)
    site = tmp_path / "site"
    count = (site / "measures" / "cla_count.html").read_text(encoding="utf-8")
    rate = (site / "measures" / "cla_rate_per_10k.html").read_text(encoding="utf-8")
    assert f'<span class="status-note">{note}</span>' in count
    assert "Rebase suggested:</strong> A shift of 14 points since the baseline end." in count
    assert "p-chart limits (small numbers)" in count
    assert "status-note" not in rate.split('class="summary-strip"')[1].split("</div>\n</div>")[0]
    assert "Rebase suggested" not in rate and "Not suggested." not in rate
    assert "p-chart" not in rate and "(XmR, fixed at the baseline end)" in rate
    index = (site / "index.html").read_text(encoding="utf-8")
    rows = {
        name: index.split(f'>{name}</a>', 1)[1].split("</tr>", 1)[0]
        for name in ("Children looked after", "Children looked after per 10,000 children")
    }
    assert note in rows["Children looked after"]
    assert "status-note" not in rows["Children looked after per 10,000 children"]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"spc_signal": "improvement", "direction_of_good": "up"}, "improvement_high"),
        ({"spc_signal": "improvement", "direction_of_good": "down"}, "improvement_low"),
        ({"spc_signal": "concern", "direction_of_good": "up"}, "concern_low"),
        ({"spc_signal": "concern", "direction_of_good": "down"}, "concern_high"),
        ({"spc_signal": "common_cause", "direction_of_good": "down"}, "common_cause"),
        ({"spc_signal": None, "direction_of_good": "up"}, None),
        # the variation column, when present, wins over the signal
        ({"variation": "concern_high", "spc_signal": "improvement", "direction_of_good": "up"},
         "concern_high"),
    ],
)
def test_variation_icon_key_from_the_signal_and_direction(row, expected):
    from dashboards.icons import variation_key

    assert variation_key(row) == expected


def test_icons_carry_words_and_a_text_alternative():
    from dashboards.icons import ASSURANCE, VARIATION, assurance_icon, variation_icon

    drawn = {}
    for key, (label, _, letter) in VARIATION.items():
        html = str(variation_icon(key))
        assert f'role="img" aria-label="{label}"' in html and f"<title>{label}</title>" in html
        assert (f">{letter}</text>" in html) == bool(letter)
        drawn[key] = html
    # high and low, improvement and concern: four different pictures
    assert len({drawn[k] for k in VARIATION}) == len(VARIATION)
    for key, (label, _, letter) in ASSURANCE.items():
        html = str(assurance_icon(key))
        assert f'aria-label="{label}"' in html and f">{letter}</text>" in html
    assert "P</text>" in str(assurance_icon("consistently_met"))
    assert "F</text>" in str(assurance_icon("consistently_missed"))
    # no key: no target, never an empty icon
    assert "No target set" in str(assurance_icon(None))
