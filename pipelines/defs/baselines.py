"""marts.measure_status: baseline, forecast, turned curve and SPC for every measure series."""

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.baselines import assess_series, describe_series, load_locked, lock_baseline
from pipelines.defs.partitions import authority_partitions
from pipelines.defs.resources import ObaPaths, warehouse_connection

STATUS_COLUMNS = [
    "measure_id",
    "breakdown",
    "breakdown_value",
    "period_end",
    "value",
    "forecast",
    "forecast_lower",
    "forecast_upper",
    "baseline_end",
    "status",
    "spc_signal",
    "spc_mean",
    "spc_lower",
    "spc_upper",
    "target",
    "assurance",
    "model",
    "locked",
    "is_latest",
    "is_future",
    "baseline_source",
    "descriptive",
]


def series_key(measure_id: str, breakdown_value: str) -> str:
    """File-safe name of one series: the measure, plus the programme for programme measures."""
    if breakdown_value == "all":
        return measure_id
    slug = "".join(ch if ch.isalnum() else "-" for ch in breakdown_value.lower()).strip("-")
    return f"{measure_id}__{slug}"


def headline_series(values: pd.DataFrame) -> dict[tuple[str, str, str], pd.Series]:
    """The series assessed: whole-population rows, or per programme where a measure has no 'all'."""
    series = {}
    for (measure_id, breakdown, breakdown_value), frame in values.groupby(
        ["measure_id", "breakdown", "breakdown_value"], sort=True
    ):
        has_all = (values["measure_id"] == measure_id).any() and (
            (values["measure_id"] == measure_id) & (values["breakdown"] == "all")
        ).any()
        if breakdown == "all" or (breakdown == "program" and not has_all):
            s = frame.set_index(pd.to_datetime(frame["period_end"]))["value"].astype("float64")
            series[(measure_id, breakdown, breakdown_value)] = s.sort_index()
    return series


def baseline_lock_dir(out: Path, legacy: Path | None = None) -> Path:
    """Where baseline locks live: ``<out>/baselines`` (state of the output folder, swapped in
    with the run's other outputs; never written into the exports folder). Locks an earlier
    version kept in ``<stories>/baselines`` are copied from there the first time."""
    lock_dir = Path(out) / "baselines"
    if legacy is not None and not lock_dir.exists() and Path(legacy).is_dir():
        found = sorted(p for p in Path(legacy).glob("*.json") if p.is_file() and not p.is_symlink())
        if found:
            lock_dir.mkdir(parents=True, exist_ok=True)
            for path in found:
                shutil.copyfile(path, lock_dir / path.name)
    return lock_dir


def assess_all(
    measures: pd.DataFrame,
    values: pd.DataFrame,
    *,
    baselines: dict[str, dt.date],
    targets: dict[str, float],
    lock_dir,
    data_vintage: str,
    log=None,
) -> pd.DataFrame:
    """Assess every series; lock the forecast the first time an explicit baseline end is seen."""
    direction = dict(zip(measures["measure_id"], measures["direction_of_good"], strict=True))
    frames = []
    for (measure_id, breakdown, breakdown_value), s in headline_series(values).items():
        if measure_id not in direction:
            continue
        key = series_key(measure_id, breakdown_value)
        explicit_end = baselines.get(measure_id)
        locked = load_locked(key, lock_dir) if lock_dir is not None else None
        if locked is not None and explicit_end is not None:
            locked_end = pd.Timestamp(locked.get("baseline_end"))
            if locked_end.to_period("M") != pd.Timestamp(explicit_end).to_period("M") and log:
                log.warning(
                    f"{key}: configured baseline end {explicit_end} differs from the locked "
                    f"{locked_end.date()}; the locked baseline stands until "
                    f"'oba rebaseline {measure_id} --end {explicit_end}'"
                )
        target = targets.get(measure_id)
        assessed = assess_series(
            s, direction[measure_id], baseline_end=explicit_end, target=target, locked=locked
        )
        if locked is None and explicit_end is not None and lock_dir is not None:
            if (assessed["status"] != "insufficient_data").any():
                lock_baseline(key, assessed, lock_dir, data_vintage=data_vintage)
                locked = load_locked(key, lock_dir)
                assessed = assess_series(
                    s, direction[measure_id], baseline_end=explicit_end, target=target, locked=locked
                )
        summary = describe_series(
            s, baseline_end=explicit_end, target=target, direction_of_good=direction[measure_id]
        )
        frame = assessed.reset_index().rename(columns={"index": "period_end"})
        frame["measure_id"] = measure_id
        frame["breakdown"] = breakdown
        frame["breakdown_value"] = breakdown_value
        frame["baseline_source"] = (
            "locked" if locked is not None else ("configured" if explicit_end else "default")
        )
        frame["descriptive"] = json.dumps(summary, default=str)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=STATUS_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out["period_end"] = pd.to_datetime(out["period_end"]).dt.date
    out["baseline_end"] = pd.to_datetime(out["baseline_end"]).dt.date
    for column in STATUS_COLUMNS:
        if column not in out.columns:
            out[column] = None
    return out[STATUS_COLUMNS]


@dg.asset(
    key=["marts", "measure_status"],
    group_name="marts",
    kinds={"duckdb", "python"},
    deps=[
        dg.AssetKey(["marts", "measures"]),
        dg.AssetKey(["marts", "measure_values"]),
        dg.AssetKey(["raw", "stories"]),
    ],
    partitions_def=authority_partitions(),
)
def measure_status(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, oba: ObaPaths
) -> dg.MaterializeResult:
    """Baseline forecast, turn-the-curve status and SPC signal of every measure series."""
    cfg = oba.config()
    with warehouse_connection(duckdb) as con:
        measures = con.execute("select * from marts.measures").df()
        values = con.execute(
            "select measure_id, breakdown, breakdown_value, period_end, value "
            "from marts.measure_values where breakdown in ('all', 'program')"
        ).df()
        stories = con.execute("select measure_id, baseline_end, target from raw.stories").df()
        loads = con.execute("select sha256 from raw._loads order by sha256").fetchall()
    baselines = {
        r.measure_id: r.baseline_end
        for r in stories.itertuples()
        if r.baseline_end is not None and not pd.isna(r.baseline_end)
    }
    baselines.update(cfg.baselines)
    targets = {r.measure_id: r.target for r in stories.itertuples() if not pd.isna(r.target)}
    targets.update(cfg.targets)
    latest = pd.to_datetime(values["period_end"]).max() if len(values) else None
    vintage = (
        f"data to {latest.date() if latest is not None else 'none'}; exports "
        + hashlib.sha256("".join(s for (s,) in loads).encode()).hexdigest()[:12]
    )
    lock_dir = baseline_lock_dir(oba.out, legacy=(cfg.stories_dir or oba.exports / "stories") / "baselines")
    status = assess_all(
        measures,
        values,
        baselines=baselines,
        targets=targets,
        lock_dir=lock_dir,
        data_vintage=vintage,
        log=context.log,
    )
    with warehouse_connection(duckdb) as con:
        con.register("status_frame", status)
        try:
            con.execute(
                "create or replace table marts.measure_status as select * from status_frame "
                "order by measure_id, breakdown, breakdown_value, period_end"
            )
        finally:
            con.unregister("status_frame")
    latest_rows = status[status["is_latest"] == True]  # noqa: E712
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(status),
            "statuses": dg.MetadataValue.json(
                {
                    series_key(r.measure_id, r.breakdown_value): f"{r.status} / {r.spc_signal}"
                    for r in latest_rows.itertuples()
                }
            ),
        }
    )


defs = dg.Definitions(assets=[measure_status])
