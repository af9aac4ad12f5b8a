"""Comparators from DfE's published tables (EES CSVs): reading, the catalogue's mapping, the
marts comparator_values and comparator_rank on a hand-made fixture (3 LAs, England, a region,
symbols) with hand-computed ranks, quartiles and neighbour means, and each bad input."""

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.config import ConfigError, ObaConfig, load_config
from pipelines.defs.comparators import comparator_frames
from pipelines.ees import is_data_header, load_mapping, parse_value, period_end
from pipelines.ingest.files import scan_exports
from pipelines.settings import DEFAULT_MODELS_DIR
from pipelines.sqlmodels import build_model, discover_models

FIXTURE = Path(__file__).parent / "fixtures" / "ees"
MODELS = discover_models(DEFAULT_MODELS_DIR)
CONFIG = ObaConfig(
    authority_name="Alpha", authority_code="E06000001",
    comparators={"region": "E12000001", "neighbours": ["E06000002", "E06000003"]},
)
MARCH_2024, MARCH_2023 = pd.Timestamp("2024-03-31"), pd.Timestamp("2023-03-31")


def _exports(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    shutil.copytree(FIXTURE, exports / "comparators")
    return exports


def _marts(values, areas, own=None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema {schema}")
    con.register("_v", values)
    con.execute("create table raw.ees_values as select * from _v")
    con.execute("alter table raw.ees_values alter period_end type date")
    con.register("_a", areas)
    con.execute("create table raw.comparator_areas as select * from _a")
    mapping, directions = load_mapping(DEFAULT_MODELS_DIR)
    con.register("_m", pd.DataFrame({"measure_id": list(directions), "direction_of_good": list(directions.values())}))
    con.execute("create table marts.measures as select * from _m")
    own = own if own is not None else pd.DataFrame(
        columns=["measure_id", "period_end", "breakdown", "breakdown_value", "value"]
    ).astype({"value": "float64", "period_end": "datetime64[ns]"})
    con.register("_o", own)
    con.execute("create table marts.measure_values as select * from _o")
    con.execute("alter table marts.measure_values alter period_end type date")
    for name in ("comparator_values", "comparator_rank"):
        build_model(con, MODELS[name])
    return con


def _frame(con, sql):
    return con.execute(sql).df()


# --- pure parts -------------------------------------------------------------------------------


@pytest.mark.parametrize("period, identifier, expected", [
    ("2024", "Reporting year", dt.date(2024, 3, 31)),
    ("202324", "Financial year", dt.date(2024, 3, 31)),
    ("201920", "Financial year", dt.date(2020, 3, 31)),
    ("202325", "Financial year", None),
    ("2023/24", "Financial year", None),
    ("", "", None),
])
def test_time_period_becomes_that_years_31_march(period, identifier, expected):
    assert period_end(period, identifier) == expected


@pytest.mark.parametrize("cell, expected", [
    ("70", (70.0, None)), ("83,630", (83630.0, None)), ("c", (None, "c")), ("X", (None, "x")),
    ("z", (None, "z")), ("u", (None, "u")), ("k", (None, "k")), ("low", (None, "k")),
    ("0", (0.0, None)), ("n/a", (None, None)), ("nan", (None, None)),
])
def test_symbols_stay_symbols_never_zero(cell, expected):
    assert parse_value(cell) == expected


def test_recognised_by_columns_in_any_order_with_extra_filters():
    header = ("la_name", "new_la_code", "age_group", "time_identifier", "geographic_level",
              "time_period", "number", "some_new_filter")
    assert is_data_header(header)
    assert not is_data_header(("time_period", "number"))


def test_scan_lists_ees_files_as_comparators_not_ignored(tmp_path):
    exports = _exports(tmp_path)
    files = {f.relative: f for f in scan_exports(exports)}
    assert set(files) == {
        "comparators/cla_number_and_rate.csv", "comparators/care_leavers_activity.csv",
        "comparators/care_leavers_activity.meta.csv",
    }
    assert all(f.family == "ees" and not f.error for f in files.values())


# --- the hand-made fixture: hand-computed ranks, quartiles, neighbours' means -------------------


def test_hand_made_fixture_ranks_quartiles_and_neighbour_means(tmp_path):
    values, files, areas, warnings = comparator_frames(_exports(tmp_path), CONFIG)
    con = _marts(values, areas)
    rank = _frame(con, "select * from marts.comparator_rank").set_index(["measure_id", "period_end"])

    # CLA rate (down is good), 2024: Beta 60, Alpha 80, Gamma 100 -> Alpha 2nd of 3; quartile
    # floor(4 * 1 / 3) + 1 = 2; neighbours (Beta, Gamma) mean 80, range 60-100; England 70
    # (the Total row, not the Under 1 one); region 110.
    row = rank.loc[("cla_rate_per_10k", MARCH_2024)]
    assert (row["rank"], row["out_of"], row["quartile"]) == (2, 3, 2)
    assert (row["neighbours_mean"], row["england"], row["region"]) == (80.0, 70.0, 110.0)
    assert (row["neighbours_min"], row["neighbours_max"], row["value"]) == (60.0, 100.0, 80.0)
    assert row["value_source"] == "published"
    # 2023: Beta is c (suppressed), never counted as zero: Alpha 70 vs Gamma 90 -> 1st of 2,
    # quartile 1; the neighbours' mean is Gamma's 90 alone.
    row = rank.loc[("cla_rate_per_10k", MARCH_2023)]
    assert (row["rank"], row["out_of"], row["quartile"]) == (1, 2, 1)
    assert (row["neighbours_mean"], row["neighbours_counted"], row["england"]) == (90.0, 1, 71.0)
    # Care leavers in EET (up is good), 202324 -> 31 March 2024: Alpha 50, Beta 60, Gamma x ->
    # Alpha 2nd of 2; quartile floor(4 * 1 / 2) + 1 = 3; neighbours' mean 60; England 56.
    row = rank.loc[("care_leavers_eet_pct", MARCH_2024)]
    assert (row["rank"], row["out_of"], row["quartile"]) == (2, 2, 3)
    assert (row["neighbours_mean"], row["england"]) == (60.0, 56.0)

    comp = _frame(con, "select * from marts.comparator_values where measure_id = 'cla_rate_per_10k'")
    beta_2023 = comp[(comp["area_code"] == "E06000002") & (comp["period_end"] == MARCH_2023)].iloc[0]
    assert pd.isna(beta_2023["value"]) and beta_2023["symbol"] == "c"
    assert set(comp["area_type"]) == {"england", "region", "neighbour", "neighbours_mean"}
    gamma = comp[(comp["area_code"] == "E06000003") & (comp["measure_id"] == "cla_rate_per_10k")]
    assert list(gamma["value"]) == [90.0, 100.0]


def test_own_figure_is_ranked_when_the_authority_is_not_in_the_tables(tmp_path):
    values, _, _, warnings = comparator_frames(
        _exports(tmp_path), ObaConfig(authority_code="E09000999", comparators={})
    )
    assert any("E09000999" in w and "own 31 March" in w for w in warnings)
    areas = pd.DataFrame([{"role": "authority", "area_code": "E09000999", "position": 0}])
    own = pd.DataFrame([{"measure_id": "cla_rate_per_10k", "period_end": MARCH_2024, "breakdown": "all",
                         "breakdown_value": "all", "value": 65.0}])
    con = _marts(values, areas, own)
    row = _frame(con, "select * from marts.comparator_rank where measure_id = 'cla_rate_per_10k' "
                      "and period_end = '2024-03-31'").iloc[0]
    # 65 among 60, 80, 100 (and itself): 2nd of 4, quartile floor(4 * 1 / 4) + 1 = 2
    assert (row["rank"], row["out_of"], row["quartile"], row["value_source"]) == (2, 4, 2, "own figures")


# --- bad input, each a test ---------------------------------------------------------------------


def test_a_column_of_symbols_only_is_kept_as_symbols_with_a_warning(tmp_path):
    values, _, _, warnings = comparator_frames(_exports(tmp_path), CONFIG)
    starts = values[values["measure_id"] == "cla_starts_12m"]
    assert len(starts) == 1 and starts["value"].isna().all() and list(starts["symbol"]) == ["x"]
    assert any("cla_starts_12m: every value is a symbol" in w for w in warnings)


def test_financial_year_code_and_a_bad_time_period(tmp_path):
    exports = _exports(tmp_path)
    path = exports / "comparators" / "care_leavers_activity.csv"
    text = path.read_text().replace("202324,Financial year,Local authority,E92000001,England,E12000001,North East,E06000003",
                                    "2023-24,Financial year,Local authority,E92000001,England,E12000001,North East,E06000003")
    path.write_text(text)
    values, _, _, warnings = comparator_frames(exports, CONFIG)
    eet = values[values["measure_id"] == "care_leavers_eet_pct"]
    assert set(eet["period_end"]) == {MARCH_2024}
    assert "E06000003" not in set(eet["area_code"])
    assert any("time_period '2023-24' is not a year" in w for w in warnings)


def test_two_files_for_the_same_indicator_and_year_the_newest_release_wins(tmp_path):
    exports = _exports(tmp_path)
    old = exports / "comparators" / "cla_number_and_rate.csv"
    new = exports / "comparators" / "cla_revised.csv"
    new.write_text(old.read_text().replace("Alpha,Children looked after at 31 March each year,Total,160,80",
                                           "Alpha,Children looked after at 31 March each year,Total,170,85"))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_800_000_000, 1_800_000_000))
    values, files, _, warnings = comparator_frames(exports, CONFIG)
    alpha = values[(values["measure_id"] == "cla_rate_per_10k") & (values["area_code"] == "E06000001")
                   & (values["period_end"] == MARCH_2024)]
    assert list(alpha["value"]) == [85.0]
    listed = files.set_index("source_file")
    assert listed.loc["comparators/cla_number_and_rate.csv", "status"] == "superseded"
    assert listed.loc["comparators/cla_number_and_rate.csv", "superseded_by"] == "comparators/cla_revised.csv"
    assert listed.loc["comparators/cla_revised.csv", "status"] == "loaded"
    assert any("newer release (comparators/cla_revised.csv)" in w for w in warnings)


def test_a_neighbour_code_absent_from_the_files_is_named(tmp_path):
    config = ObaConfig(authority_code="E06000001",
                       comparators={"region": "E12000009", "neighbours": ["E06000002", "E08000099"]})
    values, _, areas, warnings = comparator_frames(_exports(tmp_path), config)
    assert any("E08000099 is in no EES table" in w for w in warnings)
    assert any("comparators.region E12000009" in w for w in warnings)
    con = _marts(values, areas)
    neighbours = _frame(con, "select distinct area_code from marts.comparator_values where area_type = 'neighbour'")
    assert list(neighbours["area_code"]) == ["E06000002"]


def test_a_meta_file_without_its_data_file(tmp_path):
    exports = _exports(tmp_path)
    (exports / "comparators" / "care_leavers_activity.csv").unlink()
    values, files, _, warnings = comparator_frames(exports, CONFIG)
    assert any("care_leavers_activity.meta.csv: an EES metadata file without its data file" in w for w in warnings)
    assert "care_leavers_eet_pct" not in set(values["measure_id"])


def test_an_ees_file_for_an_indicator_nothing_maps(tmp_path):
    exports = _exports(tmp_path)
    (exports / "comparators" / "absence.csv").write_text(
        "time_period,time_identifier,geographic_level,country_code,country_name,new_la_code,la_name,"
        "sess_overall_percent\n202324,Academic year,National,E92000001,England,,,6.8\n"
    )
    values, files, _, warnings = comparator_frames(exports, CONFIG)
    row = files.set_index("source_file").loc["comparators/absence.csv"]
    assert row["status"] == "ignored" and "sess_overall_percent" in row["reason"]
    assert any("absence.csv" in w and "no measure's ees: mapping" in w for w in warnings)


def test_hostile_bytes_are_data_only(tmp_path):
    exports = _exports(tmp_path)
    (exports / "comparators" / "evil.csv").write_text(
        "time_period,time_identifier,geographic_level,country_code,new_la_code,la_name,population_count,rate_per_10000\n"
        "2024,Reporting year,Local authority,E92000001,\"E0'); drop table x;--\",\"<script>\","
        "Children looked after at 31 March each year,55\n"
    )
    values, _, areas, _ = comparator_frames(exports, CONFIG)
    con = _marts(values, areas)
    assert con.execute("select count(*) from marts.comparator_rank").fetchone()[0] > 0


def test_config_region_and_neighbours_are_checked(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text("comparators: {region: E12000001, neighbours: [E06000002, E06000003]}\n")
    cfg = load_config(path)
    assert cfg.comparators == {"region": "E12000001", "neighbours": ["E06000002", "E06000003"]}
    path.write_text("comparators: {region: North East, neighbours: [E06000002, bogus], other: 1}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert "comparators.region" in text and "'North East'" in text
    assert "comparators.neighbours[2]" in text and "'bogus'" in text
    assert "comparators.other: unknown key" in text


def test_comparators_leave_the_authority_code_alone(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text("authority: {name: A, code: E09000999}\n"
                    "comparators: {region: E12000007, neighbours: [E09000106]}\n")
    assert load_config(path).authority_code == "E09000999"


def test_a_meta_file_is_listed_with_its_data_files_outcome(tmp_path):
    exports = _exports(tmp_path)
    _, files, _, _ = comparator_frames(exports, CONFIG)
    listed = files.set_index("source_file")
    meta = listed.loc["comparators/care_leavers_activity.meta.csv"]
    data = listed.loc["comparators/care_leavers_activity.csv"]
    assert meta["status"] == data["status"] == "loaded"
    assert meta["reason"].startswith("metadata of comparators/care_leavers_activity.csv, read with it")
    # near miss: without its data file the metadata file is ignored, not loaded
    (exports / "comparators" / "care_leavers_activity.csv").unlink()
    _, files, _, _ = comparator_frames(exports, CONFIG)
    assert files.set_index("source_file").loc["comparators/care_leavers_activity.meta.csv", "status"] == "ignored"
