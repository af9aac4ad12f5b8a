"""marts.measure_status on the synthetic council: the intervention turns the curve; baselines lock."""

import json
import shutil

import pandas as pd
import pytest
from conftest import materialise_all, query

WAREHOUSE = ("raw", "staging", "intermediate", "marts")


@pytest.fixture(scope="module")
def council(tmp_path_factory):
    from pipelines.synth import generate

    root = tmp_path_factory.mktemp("council")
    generate(root / "exports", scale="council", seed=2026)
    # what the exports folder held before the run (the run must write nothing into it)
    (root / "exports_before.txt").write_text(
        "\n".join(sorted(str(p.relative_to(root / "exports")) for p in (root / "exports").rglob("*"))),
        encoding="utf-8",
    )
    result = materialise_all(root / "exports", root / "out", groups=WAREHOUSE)
    assert result.success
    return root


def _latest(out, measure_id):
    frame = query(
        out,
        "select * from marts.measure_status where measure_id = ? and breakdown = 'all' and is_latest",
        [measure_id],
    )
    assert len(frame) == 1
    return frame.iloc[0]


def test_intervention_turns_the_curve(council):
    truth = json.loads((council / "exports" / "truth.json").read_text())
    assert truth["intervention_date"] <= "2024-10-01"
    latest = _latest(council / "out", "cla_rate_per_10k")
    assert latest["status"] == "turned"
    assert latest["value"] < latest["forecast_lower"]  # direction of good is down
    assert str(latest["baseline_end"])[:10] == "2024-09-30"  # from the story's baseline_end
    starts = _latest(council / "out", "cla_starts_12m")
    assert starts["status"] == "turned"


def test_every_series_has_status_and_future_forecasts(council):
    status = query(council / "out", "select * from marts.measure_status")
    measures = query(council / "out", "select measure_id from marts.measures")
    assert set(measures["measure_id"]) <= set(status["measure_id"])
    latest = status[status["is_latest"] == True]  # noqa: E712
    assert latest["status"].isin(["turned", "improving", "no_change", "worsening", "insufficient_data"]).all()
    assert latest["spc_signal"].isin(["improvement", "concern", "common_cause", "insufficient_data"]).all()
    monthly = status[(status["measure_id"] == "cla_count")]
    future = monthly[monthly["is_future"] == True]  # noqa: E712
    assert len(future) == 12 and future["value"].isna().all() and future["forecast"].notna().all()
    annual = status[(status["measure_id"] == "care_leavers_suitable_accommodation_pct") & status["is_latest"]]
    # Ten annual points and no configured baseline: never a fabricated forecast.
    assert annual["status"].tolist() == ["insufficient_data"] and annual["forecast"].isna().all()


def test_baseline_is_locked_and_survives_revised_history(council, tmp_path):
    # the first run is the module's, on the synthetic council's exports (no baselines of their
    # own): the lock is state of the output folder, nothing was written into the exports folder
    assert not list((council / "exports").rglob("baselines"))
    assert (council / "out" / "baselines" / "cla_rate_per_10k.json").is_file()
    listing = sorted(str(p.relative_to(council / "exports")) for p in (council / "exports").rglob("*"))
    assert listing == (council / "exports_before.txt").read_text(encoding="utf-8").split("\n")
    exports = tmp_path / "exports"
    shutil.copytree(council / "exports", exports)
    out = tmp_path / "out"
    shutil.copytree(council / "out", out)
    lock = out / "baselines" / "cla_rate_per_10k.json"
    locked = json.loads(lock.read_text())
    assert locked["baseline_end"][:10] == "2024-09-30" and locked["version"] == 1
    first = query(out, "select period_end, forecast from marts.measure_status "
                       "where measure_id = 'cla_rate_per_10k' and breakdown = 'all' order by period_end")

    # Revise history: a higher population estimate for every year changes every past rate.
    population = pd.read_csv(exports / "population.csv")
    population["population"] = (population["population"] * 1.1).round().astype(int)
    population.to_csv(exports / "population.csv", index=False)
    assert materialise_all(exports, out, groups=WAREHOUSE).success
    second = query(out, "select period_end, forecast, baseline_source, locked from marts.measure_status "
                        "where measure_id = 'cla_rate_per_10k' and breakdown = 'all' order by period_end")
    pd.testing.assert_series_equal(first["forecast"], second["forecast"])
    assert (second["baseline_source"] == "locked").all() and second["locked"].all()
    assert json.loads(lock.read_text())["version"] == 1


def test_rebaseline_is_an_explicit_command(council, tmp_path):
    from pipelines.cli import main

    exports = tmp_path / "exports"
    shutil.copytree(council / "exports", exports)
    out = tmp_path / "out"
    shutil.copytree(council / "out", out)
    lock_dir = out / "baselines"
    lock = lock_dir / "cla_rate_per_10k.json"
    previous = json.loads(lock.read_text())["version"]
    assert main(["rebaseline", "cla_rate_per_10k", "--end", "2025-03-31",
                 "--exports", str(exports), "--out", str(out)]) == 0
    current = json.loads((lock_dir / "cla_rate_per_10k.json").read_text())
    assert current["baseline_end"][:10] == "2025-03-31"
    assert current["version"] == previous + 1
    # the version it replaced is kept beside it, unchanged
    assert json.loads((lock_dir / f"cla_rate_per_10k.v{previous}.json").read_text())["version"] == previous
    assert main(["rebaseline", "no_such_measure", "--end", "2025-03-31",
                 "--exports", str(exports), "--out", str(out)]) == 2
