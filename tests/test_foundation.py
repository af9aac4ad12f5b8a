"""The asset graph end to end on a hand-made council whose answers were worked out on paper."""

import datetime as dt
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import copy_of, materialised_by, query

D = dt.date

# Monthly children looked after, counted by hand from tests/fixtures/hand_council:
# 100002 S from 01/01/2023, open in 2022-23, closed 30/06/2023 (E11) by the newer return, so
#        not counted on 30/06/2023 itself (DEC > X rule).
# 100006 from 01/03/2023, an RNE L change on 01/08/2023 (same child, counted once).
# 100007 open at the end of 2022-23 and absent from 2023-24: closed on 01/04/2023 (E99 repair),
#        so counted on 31/03/2023 but not on 30/04/2023.
# 100001 from 15/05/2023 with a placement move on 31/07/2023 (X1 chain).
# 100003 only a V3 short break: never counted.
# 100004 from 29/02/2024 (a leap day): counted on 29/02/2024.
# 100005 31/10/2023 to 15/11/2023, then a new period from 01/12/2023: counted on 31/10 (a
#        start on the day counts), not on 30/11, again from 31/12.
EXPECTED_CLA = {
    **{D(2022, m, 30 if m in (4, 6, 9, 11) else 31): 0 for m in range(4, 13)},
    D(2023, 1, 31): 1,
    D(2023, 2, 28): 2,
    D(2023, 3, 31): 3,
    D(2023, 4, 30): 2,
    D(2023, 5, 31): 3,
    D(2023, 6, 30): 2,
    D(2023, 7, 31): 2,
    D(2023, 8, 31): 2,
    D(2023, 9, 30): 2,
    D(2023, 10, 31): 3,
    D(2023, 11, 30): 2,
    D(2023, 12, 31): 3,
    D(2024, 1, 31): 3,
    D(2024, 2, 29): 4,
    D(2024, 3, 31): 4,
}
# Population aged 0-17 of E09000999 (the configured authority; E09000998 is ignored):
# mid-2022 19,000 for April 2022 - March 2023, mid-2023 20,000 for April 2023 - March 2024.
POPULATION = {2022: 19000, 2023: 20000}


@pytest.fixture
def hand_result(hand_council_run):
    """The run's outputs (the session's shared `oba run`) and the asset keys its
    materialisation events name."""
    _, out = hand_council_run
    return out, materialised_by(out)


@pytest.fixture
def hand_run(hand_result):
    return hand_result[0]


def _series(out: Path, measure_id: str) -> pd.DataFrame:
    frame = query(
        out,
        "select * from marts.measure_values where measure_id = ? and breakdown = 'all' "
        "order by period_end",
        [measure_id],
    )
    frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.date
    return frame


def test_cla_count_matches_hand_count(hand_run):
    series = _series(hand_run, "cla_count")
    assert dict(zip(series["period_end"], series["value"].astype(int), strict=True)) == EXPECTED_CLA
    assert (series["breakdown_value"] == "all").all()


def test_cla_rate_uses_mid_year_population(hand_run):
    series = _series(hand_run, "cla_rate_per_10k")
    assert list(series["period_end"]) == sorted(EXPECTED_CLA)
    for row in series.itertuples():
        mid_year = row.period_end.year - (1 if row.period_end.month < 4 else 0)
        assert row.numerator == EXPECTED_CLA[row.period_end]
        assert row.denominator == POPULATION[mid_year]
        assert row.value == pytest.approx(10000 * EXPECTED_CLA[row.period_end] / POPULATION[mid_year])


def test_repaired_episode_is_flagged(hand_run):
    from pipelines.pseudonym import load_or_create_key, pseudonymise

    repaired = query(hand_run, "select child_id, dec, rec from intermediate.int_care_episodes where is_repaired")
    assert repaired.to_dict("records") == [
        {
            "child_id": pseudonymise("100007", load_or_create_key()),
            "dec": pd.Timestamp("2023-04-01"),
            "rec": "E99",
        }
    ]


def test_every_asset_materialised_and_site_written(hand_result):
    from pipelines.definitions import defs

    hand_run, materialised = hand_result
    # The run's own events, not the graph's declarations: every asset of the graph was
    # materialised by this run, the layers named here among them.
    declared = {k.to_user_string() for asset in defs.assets for k in asset.keys}
    assert declared - materialised == set()
    assert {
        "raw/ssda903_episodes",
        "staging/stg_ssda903_episodes",
        "intermediate/int_care_episodes",
        "marts/measures",
        "marts/measure_values",
        "published/site",
    } <= materialised
    measures = query(hand_run, "select * from marts.measures order by measure_id")
    assert {"cla_count", "cla_rate_per_10k"} <= set(measures["measure_id"])
    assert set(measures["oba_kind"]) <= {"population_indicator", "how_much", "how_well", "better_off"}
    index = hand_run / "site" / "index.html"
    page = hand_run / "site" / "measures" / "cla_rate_per_10k.html"
    assert index.is_file() and page.is_file()
    assert (hand_run / "site" / "assets" / "plotly.min.js").is_file()
    assert "Hand-made Borough" in index.read_text()


def test_story_text_is_escaped(hand_run):
    html = (hand_run / "site" / "measures" / "cla_count.html").read_text()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert" in html
    assert "Court delays" in html and "Extend FGC" in html


RUN_TIMESTAMPS = {"loaded_at", "checked_at", "generated_at", "created_at"}


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        names = con.execute(
            "select table_schema || '.' || table_name as t from information_schema.tables order by 1"
        ).df()["t"]
        tables = {}
        for name in names:
            frame = con.execute(f"select * from {name}").df()
            # Run timestamps differ by design; every other value must be identical.
            frame = frame.drop(columns=[c for c in frame.columns if c in RUN_TIMESTAMPS])
            tables[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        return tables
    finally:
        con.close()


@pytest.mark.slow
def test_rerun_on_same_exports_gives_identical_tables(hand_council_run, tmp_path):
    from pipelines.cli import main

    exports, first_out = hand_council_run  # the first run, on the same exports
    out = copy_of(first_out, tmp_path / "out")
    first = _tables(out)
    loads_before = query(out, "select * from raw._loads order by source_file")
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0
    second = _tables(out)
    assert first.keys() == second.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], check_dtype=True, obj=name)
    loads_after = query(out, "select * from raw._loads order by source_file")
    # Unchanged files are not reloaded: same load timestamps.
    pd.testing.assert_frame_equal(loads_before, loads_after)
    assert not list(out.glob(".run-*"))


@pytest.mark.slow
def test_changed_file_replaces_its_rows(council_run):
    from pipelines.cli import main

    exports, out = council_run
    before = query(out, "select count(*) as n from raw.ssda903_episodes")["n"][0]
    path = exports / "ssda903" / "2023-24" / "episodes.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # drop 100006's L episode
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0
    after = query(out, "select count(*) as n from raw.ssda903_episodes")["n"][0]
    assert after == before - 1


def test_cli_usage_errors(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["run", "--exports", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert main(["frobnicate"]) == 2


@pytest.mark.slow
def test_failed_run_leaves_previous_outputs(council_run):
    from pipelines.cli import main

    exports, out = council_run
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".oba.lock"}
    (exports / "stories" / "broken.yml").write_text("measure: cla_count\nstory: [{title: no date}]\n")
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 1
    after = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".oba.lock"}
    assert before == after


def test_dagster_definitions_validate():
    bin_dir = Path(sys.executable).parent
    completed = subprocess.run(
        [str(bin_dir / "dagster"), "definitions", "validate", "-m", "pipelines.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
