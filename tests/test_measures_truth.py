"""Every core measure equals the synthetic generator's truth, for every period it records.

The generator (pipelines/synth) simulates life histories, cuts them into the returns a council
would submit and keeps the true monthly values computed from the histories (truth.json). The
SQL sees only the returns, so agreement checks the whole chain: ingest, newest-return-wins,
the open-episode repair rule, and each measure definition of DOMAIN.md §3.
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from conftest import POPULATION_MEASURES, PROGRAM_MEASURES, materialise_all, query

SEED = 20260401


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory) -> tuple[Path, dict]:
    from pipelines import synth  # an import error fails the tests, never skips them
    exports = tmp_path_factory.mktemp("synth_tiny")
    synth.generate(exports, scale="tiny", seed=SEED)
    out = tmp_path_factory.mktemp("synth_tiny_out")
    result = materialise_all(exports, out)
    done = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["marts", "measure_values"]) in done
    truth = json.loads((exports / "truth.json").read_text(encoding="utf-8"))
    return out, truth


@pytest.fixture(scope="session")
def values(synthetic) -> pd.DataFrame:
    out, _ = synthetic
    frame = query(out, "select * from marts.measure_values")
    frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.strftime("%Y-%m-%d")
    return frame


def _compare(got: dict, want: dict, label: str) -> None:
    missing = sorted(set(want) - set(got))
    assert not missing, f"{label}: no SQL row for {missing[:5]}"
    wrong = []
    for period, expected in want.items():
        actual = got[period]
        actual = None if pd.isna(actual) else actual
        if expected is None or actual is None:
            if expected is not actual:
                wrong.append((period, expected, actual))
        elif actual != pytest.approx(expected, rel=1e-9, abs=1e-9):
            wrong.append((period, expected, actual))
    assert not wrong, f"{label}: {len(wrong)} of {len(want)} periods differ, e.g. {wrong[:5]}"


@pytest.mark.parametrize("measure_id", POPULATION_MEASURES)
def test_population_measure_matches_truth(values, synthetic, measure_id):
    _, truth = synthetic
    want = truth["measures"][measure_id]
    rows = values[(values["measure_id"] == measure_id) & (values["breakdown"] == "all")]
    got = dict(zip(rows["period_end"], rows["value"], strict=True))
    # The SQL covers exactly the periods of the returns, which are the periods truth records.
    assert set(got) == set(want)
    _compare(got, want, measure_id)


@pytest.mark.parametrize(
    ("measure_id", "breakdown"),
    [("cla_count", "legal_status"), ("cla_count", "placement_type"), ("cpp_count", "category_of_abuse")],
)
def test_breakdown_matches_truth(values, synthetic, measure_id, breakdown):
    _, truth = synthetic
    by_value = truth["breakdowns"][measure_id][breakdown]
    rows = values[(values["measure_id"] == measure_id) & (values["breakdown"] == breakdown)]
    for value, want in by_value.items():
        mine = rows[rows["breakdown_value"] == value]
        got = dict(zip(mine["period_end"], mine["value"], strict=True))
        if not got:  # a value no child ever had is not a row
            assert not any(want.values()), f"{measure_id} / {value}: no SQL rows"
            continue
        _compare(got, want, f"{measure_id} / {breakdown} / {value}")
    # Every child counted by the measure is in one of the values.
    totals = rows.groupby("period_end")["value"].sum()
    whole = values[(values["measure_id"] == measure_id) & (values["breakdown"] == "all")]
    assert totals.to_dict() == pytest.approx(dict(zip(whole["period_end"], whole["value"], strict=True)))


@pytest.mark.parametrize("measure_id", PROGRAM_MEASURES)
def test_program_measure_matches_truth(values, synthetic, measure_id):
    _, truth = synthetic
    by_program = truth["measures"][measure_id]
    rows = values[(values["measure_id"] == measure_id) & (values["breakdown"] == "program")]
    assert set(by_program) <= set(rows["breakdown_value"])
    for program, want in by_program.items():
        mine = rows[rows["breakdown_value"] == program]
        # The SQL series starts with the case export's first month, which may be earlier.
        _compare(dict(zip(mine["period_end"], mine["value"], strict=True)), want, f"{measure_id} / {program}")


def test_intermediate_grains_on_synthetic_data(synthetic):
    from test_measures import assert_grains

    assert_grains(synthetic[0])


def test_breakdowns_add_up_on_synthetic_data(values):
    """Age band, sex, ethnicity, category of need: each child in exactly one value."""
    for measure_id in ("cla_count", "cla_starts_12m", "cpp_count"):
        mine = values[values["measure_id"] == measure_id]
        whole = mine[mine["breakdown"] == "all"].set_index("period_end")["numerator"]
        for breakdown in set(mine["breakdown"]) - {"all"}:
            sums = mine[mine["breakdown"] == breakdown].groupby("period_end")["numerator"].sum()
            pd.testing.assert_series_equal(
                sums.sort_index(), whole.sort_index(), check_names=False, obj=f"{measure_id} {breakdown}"
            )
