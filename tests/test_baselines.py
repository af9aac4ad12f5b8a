"""Baselines, forecasts, turned curves and SPC (pipelines/baselines.py, DESIGN.md §4)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines import baselines as bl
from pipelines.baselines import (
    COLUMNS,
    MODELS,
    SPC_SIGNALS,
    STATUSES,
    assess_series,
    assurance,
    curve_status,
    describe_series,
    detect_frequency,
    fit_baseline,
    load_locked,
    lock_baseline,
    spc_limits,
    spc_rules,
    spc_signals,
)

# A deterministic zero-mean "noise" pattern: alternating signs, so on its own it shows
# no shift, no trend and no point near a limit.
NOISE = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 0.8, -0.8, 0.3, -0.3, 0.6, -0.6, 0.2])


def monthly(values, start="2019-01-31") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="ME"))


def annual(values, start="2016-03-31") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="YE-MAR"))


def flat_noisy(n: int = 36, level: float = 100.0) -> np.ndarray:
    return level + np.resize(NOISE, n)


def latest(df: pd.DataFrame) -> pd.Series:
    rows = df[df["is_latest"]]
    assert len(rows) == 1
    return rows.iloc[0]


# ------------------------------------------------------------------ assess_series


def test_flat_noisy_series_is_no_change_and_common_cause():
    df = assess_series(monthly(flat_noisy()), "up")
    row = latest(df)
    assert row["status"] == "no_change"
    assert row["spc_signal"] == "common_cause"
    observed = df[df["value"].notna()]
    assert set(observed["spc_signal"]) == {"common_cause"}
    assert row["model"] in MODELS
    assert not df["locked"].any()


@pytest.mark.parametrize(
    ("direction", "step", "status", "signal"),
    [
        ("up", +10.0, "turned", "improvement"),
        ("up", -10.0, "worsening", "concern"),
        ("down", -10.0, "turned", "improvement"),
        ("down", +10.0, "worsening", "concern"),
    ],
)
def test_step_change_after_baseline(direction, step, status, signal):
    values = flat_noisy()
    values[-12:] += step  # the 12 periods after the default baseline end
    df = assess_series(monthly(values), direction)
    row = latest(df)
    assert row["status"] == status
    assert row["spc_signal"] == signal
    # the forecast is made from the history only: the step does not move it
    assert abs(row["forecast"] - 100.0) < 2.0
    assert row["forecast_lower"] < row["forecast"] < row["forecast_upper"]


def test_output_shape_columns_and_row_semantics():
    s = monthly(flat_noisy(30))
    df = assess_series(s, "up", target=95)
    assert tuple(df.columns) == COLUMNS
    assert df.index.name == "period_end"
    # input periods then 12 future month ends
    assert len(df) == 30 + 12
    assert df.index[-1] == pd.Timestamp("2022-06-30")
    assert df["is_future"].sum() == 12
    assert df.loc[df["is_future"], "value"].isna().all()
    # default baseline end: 12 periods before the latest
    be = pd.Timestamp("2020-06-30")
    assert (df["baseline_end"] == be).all()
    hist = df[df.index <= be]
    post = df[(df.index > be) & ~df["is_future"]]
    assert hist["forecast"].isna().all()
    assert hist["status"].isna().all()
    assert df.loc[df["is_future"], "status"].isna().all()
    assert df.loc[df["is_future"], "spc_signal"].isna().all()
    assert df.loc[df.index > be, "forecast"].notna().all()
    assert post["status"].isin(STATUSES).all()
    assert df.loc[~df["is_future"], "spc_signal"].isin(SPC_SIGNALS).all()
    # SPC limits from the history only, the same on every row
    lim = spc_limits(s[s.index <= be])
    assert np.allclose(df["spc_mean"], lim.mean)
    assert np.allclose(df["spc_upper"], lim.upper)
    assert (df["target"] == 95).all()
    assert df["assurance"].nunique() == 1
    assert df.attrs["baseline"]["status"] == latest(df)["status"]


def test_forecast_uses_history_only():
    values = flat_noisy(36)
    a = assess_series(monthly(values), "up")
    changed = values.copy()
    changed[-12:] += 50
    b = assess_series(monthly(changed), "up")
    cols = ["forecast", "forecast_lower", "forecast_upper", "spc_mean", "spc_lower", "spc_upper"]
    pd.testing.assert_frame_equal(a[cols], b[cols])


def test_trending_history_is_projected():
    values = 50 + 2.0 * np.arange(48) + np.resize(NOISE, 48) * 0.5
    df = assess_series(monthly(values), "up")
    row = latest(df)
    # the baseline continues the rising line, so following it is not "turned"
    assert row["forecast"] > 130
    assert row["status"] in {"no_change", "improving", "worsening"}
    assert df["model"].iloc[0] in MODELS


@pytest.mark.parametrize("n_history", [0, 1, 5, 11])
def test_fewer_than_12_history_points_is_insufficient(n_history):
    s = monthly(flat_noisy(n_history + 12)) if n_history + 12 else monthly([])
    df = assess_series(s, "up", target=50)
    if len(s) == 0:
        assert df.empty and tuple(df.columns) == COLUMNS
        return
    assert (df["status"] == "insufficient_data").all()
    assert (df["spc_signal"] == "insufficient_data").all()
    assert df[["forecast", "forecast_lower", "forecast_upper"]].isna().all().all()
    assert df[["spc_mean", "spc_lower", "spc_upper"]].isna().all().all()
    assert (df["assurance"] == "insufficient_data").all()
    assert df["model"].isna().all()


def test_exactly_12_history_points_is_enough():
    df = assess_series(monthly(flat_noisy(24)), "up")
    assert latest(df)["status"] in STATUSES[:4]
    assert df["forecast"].notna().sum() == 24
    assert df["model"].iloc[0] == "linear_trend"  # ETS needs >= 24 history points


def test_nans_in_history_are_handled():
    values = flat_noisy(40)
    values[[3, 4, 10, 20]] = np.nan
    s = monthly(values)
    df = assess_series(s, "up")
    row = latest(df)
    assert row["status"] == "no_change"
    assert row["spc_signal"] == "common_cause"
    assert df.loc[df.index > row["baseline_end"], "forecast"].notna().all()
    # mean over observed history; moving ranges only between adjacent observed points
    hist = values[:28]
    assert df["spc_mean"].iloc[0] == pytest.approx(np.nanmean(hist))
    mr = np.abs(np.diff(hist))
    assert df["spc_upper"].iloc[0] == pytest.approx(np.nanmean(hist) + 2.66 * np.nanmean(mr))
    # missing rows carry no status or signal
    assert df.iloc[[3, 4, 10, 20]]["spc_signal"].isna().all()


def test_nans_count_against_minimum_history():
    values = flat_noisy(26)  # 14 history points
    values[[0, 5, 9]] = np.nan  # 11 observed
    df = assess_series(monthly(values), "down")
    assert (df["status"] == "insufficient_data").all()


def test_all_nan_series():
    df = assess_series(monthly([np.nan] * 30), "up")
    assert (df["status"] == "insufficient_data").all()
    assert not df["is_latest"].any()
    assert len(df) == 42


def test_missing_month_becomes_a_nan_row():
    s = monthly(flat_noisy(36)).drop(pd.Timestamp("2019-06-30"))
    df = assess_series(s, "up")
    assert pd.Timestamp("2019-06-30") in df.index
    assert math.isnan(df.loc[pd.Timestamp("2019-06-30"), "value"])


def test_trailing_nan_latest_is_last_observed():
    values = np.r_[flat_noisy(36), [np.nan, np.nan]]
    df = assess_series(monthly(values), "up")
    row = latest(df)
    assert row.name == pd.Timestamp("2021-12-31")
    assert row["baseline_end"] == pd.Timestamp("2020-12-31")
    assert len(df) == 38 + 12


def test_configured_baseline_end_is_snapped_to_month_end():
    values = flat_noisy(48)
    values[-6:] += 10
    df = assess_series(monthly(values), "up", baseline_end="2022-06-15")
    assert (df["baseline_end"] == pd.Timestamp("2022-06-30")).all()
    assert latest(df)["status"] == "turned"


def test_baseline_end_at_latest_has_nothing_to_judge():
    df = assess_series(monthly(flat_noisy(30)), "up", baseline_end="2021-06-30")
    assert latest(df)["status"] == "insufficient_data"
    assert df.loc[df["is_future"], "forecast"].notna().all()


def test_invalid_direction_raises():
    with pytest.raises(ValueError, match="direction_of_good"):
        assess_series(monthly(flat_noisy()), "sideways")


# --------------------------------------------------------------------- status rule


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        # forecast 10, interval [8, 12] throughout
        ([11, 11, 13], "up", "turned"),
        ([9, 11, 13], "up", "no_change"),  # latest beyond, but not 3 on the good side
        ([10.5, 11, 11.5], "up", "improving"),
        ([11, 11, 7], "up", "worsening"),
        ([10, 10, 10], "up", "no_change"),  # on the forecast is not the good side
        ([9, 9, 7], "down", "turned"),
        ([9.5, 9, 9.9], "down", "improving"),
        ([9, 9, 13], "down", "worsening"),
        ([13], "up", "turned"),  # fewer than 3 after the baseline: all of them
        ([14, 13], "down", "worsening"),
        ([5, 11, 11, 13], "up", "turned"),  # only the last 3 count
        ([11, np.nan, 11, 13], "up", "turned"),  # missing values are skipped
        ([11, 11, 12], "up", "improving"),  # on the limit is inside
        ([np.nan, np.nan], "up", "insufficient_data"),
    ],
)
def test_curve_status(values, direction, expected):
    n = len(values)
    assert curve_status(values, [10] * n, [8] * n, [12] * n, direction) == expected


# ------------------------------------------------------------------------- SPC


def test_spc_limits_basic_and_nan_policy():
    lim = spc_limits([1, 3, 1, 3])
    assert (lim.mean, lim.mean_moving_range) == (2, 2)
    assert lim.lower == pytest.approx(2 - 5.32) and lim.upper == pytest.approx(2 + 5.32)
    lim = spc_limits([1, 2, np.nan, 4, 5])
    assert lim.mean == 3 and lim.mean_moving_range == 1 and lim.n_moving_ranges == 2
    lim = spc_limits([1, np.nan, 2, np.nan, 3])
    assert lim.n_points == 3 and not lim.ok  # no moving range
    assert not spc_limits([]).ok


def test_spc_limits_screen_outliers_option():
    plain = spc_limits([0, 1, 0, 1, 0, 1, 0, 20, 0, 1])
    screened = spc_limits([0, 1, 0, 1, 0, 1, 0, 20, 0, 1], screen_outliers=True)
    assert screened.mean_moving_range < plain.mean_moving_range


ALT = [0.5, -0.5, 0.5, -0.5]  # around mean 0 with limits ±3 (2/3 of the way: ±2)
RULES = ["outside", "shift", "trend", "two_of_three"]


def rule_hits(values, *, shift_length=7, trend_length=7):
    flags = spc_rules(values, 0.0, -3.0, 3.0, shift_length=shift_length, trend_length=trend_length)
    return {
        "outside": flags["outside_upper"] | flags["outside_lower"],
        "shift": flags["shift_above"] | flags["shift_below"],
        "trend": flags["trend_up"] | flags["trend_down"],
        "two_of_three": flags["two_of_three_above"] | flags["two_of_three_below"],
    }, flags


RULE_CASES = {
    # name: (values, rule expected to fire alone, indexes flagged)
    "point beyond a limit": (ALT + [3.5] + ALT, "outside", [4]),
    "point below the lower limit": (ALT + [-3.2] + ALT, "outside", [4]),
    "shift of 7": (ALT + [0.5] * 7 + ALT[1:], "shift", list(range(4, 11))),
    "shift of 7 below": (ALT[:-1] + [-0.7] * 7 + ALT, "shift", list(range(3, 10))),
    "trend of 7 (6 rises)": (
        ALT + [-1.5, -1.0, -0.5, 0.1, 0.5, 1.0, 1.5] + [-0.5, 0.5, -0.5],
        "trend",
        list(range(4, 11)),
    ),
    "trend of 7 falling": (
        ALT[:-1] + [1.5, 1.0, 0.5, -0.1, -0.5, -1.0, -1.5] + [0.5, -0.5],
        "trend",
        list(range(3, 10)),
    ),
    "two of three beyond 2/3": (ALT + [2.5, 0.3, 2.4] + ALT[1:], "two_of_three", [4, 6]),
    "two adjacent beyond 2/3 below": (ALT + [-2.5, -2.1] + ALT, "two_of_three", [4, 5]),
}


@pytest.mark.parametrize("case", list(RULE_CASES), ids=list(RULE_CASES))
def test_each_rule_triggers_alone(case):
    values, rule, flagged = RULE_CASES[case]
    hits, _ = rule_hits(values)
    assert list(np.flatnonzero(hits[rule])) == flagged
    for other in RULES:
        if other != rule:
            assert not hits[other].any(), other


NEAR_MISSES = {
    "point just inside the limit": ALT + [2.99] + ALT,
    "point just inside the lower limit": ALT + [-2.99] + ALT,
    "shift of 6": ALT + [0.5] * 6 + ALT[1:],
    "point on the mean breaks a shift": ALT + [0.5] * 4 + [0.0] + [0.5] * 4 + ALT[1:],
    "missing value breaks a shift": ALT + [0.5] * 4 + [np.nan] + [0.5] * 4 + ALT[1:],
    "trend of 6 points (5 rises)": ALT + [-1.0, -0.5, 0.1, 0.5, 1.0, 1.5] + [-0.5, 0.5],
    "tie breaks a trend": ALT + [-1.5, -1.0, -0.5, 0.1, 0.1, 0.5, 1.0, 1.5] + [-0.5, 0.5],
    "only one of three beyond 2/3": ALT + [2.5, 0.3, -0.3, 2.4] + ALT,
    "two beyond 2/3 on opposite sides": ALT + [2.5, -2.5, 0.3] + ALT,
}


@pytest.mark.parametrize("case", list(NEAR_MISSES), ids=list(NEAR_MISSES))
def test_no_rule_triggers_on_near_misses(case):
    hits, flags = rule_hits(NEAR_MISSES[case])
    for rule in RULES:
        assert not hits[rule].any(), rule
    assert not (flags["special_cause_high"] | flags["special_cause_low"]).any()


def test_beyond_the_limit_counts_towards_two_of_three():
    hits, _ = rule_hits(ALT + [3.5, 0.3, 2.4] + ALT)
    assert list(np.flatnonzero(hits["outside"])) == [4]
    assert list(np.flatnonzero(hits["two_of_three"])) == [4, 6]


@pytest.mark.parametrize(("length", "fires"), [(5, True), (6, True), (7, False)])
def test_shift_and_trend_lengths_are_settings(length, fires):
    shift = ALT + [0.5] * 6 + ALT[1:]
    trend = ALT + [-1.0, -0.5, 0.1, 0.5, 1.0, 1.5] + [-0.5, 0.5]
    assert bool(rule_hits(shift, shift_length=length)[0]["shift"].any()) is fires
    assert bool(rule_hits(trend, trend_length=length)[0]["trend"].any()) is fires


def test_rules_all_false_without_limits():
    flags = spc_rules([1.0, 2.0, 3.0], float("nan"), float("nan"), float("nan"))
    assert not flags.to_numpy().any()


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        (ALT + [3.5], "up", "improvement"),
        (ALT + [3.5], "down", "concern"),
        (ALT + [-3.5], "up", "concern"),
        (ALT + [-3.5], "down", "improvement"),
        (ALT + [0.4], "up", "common_cause"),
        # above the upper limit (high) and the end of a 6-fall trend (low): both ways
        ([9, 8, 7, 6, 5, 4, 3.5], "up", "improvement"),
        ([9, 8, 7, 6, 5, 4, 3.5], "down", "improvement"),
    ],
)
def test_signal_direction_and_both_means_improvement(values, direction, expected):
    flags = spc_rules(values, 0.0, -3.0, 3.0)
    assert spc_signals(values, flags, direction)[-1] == expected


def test_runs_flag_every_point_in_assess_series():
    values = flat_noisy(36)
    values[-8:] = 100.4  # 8 points just above the mean, inside the limits
    df = assess_series(monthly(values), "down")
    tail = df[~df["is_future"]].iloc[-8:]
    assert tail["spc_shift"].all()
    assert (tail["spc_signal"] == "concern").all()


# ------------------------------------------------------------------- assurance


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        (80, "up", "consistently_met"),
        (120, "up", "consistently_missed"),
        (100, "up", "hit_and_miss"),
        (90, "up", "hit_and_miss"),  # on a limit: not consistently either way
        (80, "down", "consistently_missed"),
        (120, "down", "consistently_met"),
        (105, "down", "hit_and_miss"),
        (None, "up", "no_target"),
        (float("nan"), "down", "no_target"),
    ],
)
def test_assurance(target, direction, expected):
    assert assurance(target, 90.0, 110.0, direction) == expected


def test_assurance_without_limits():
    assert assurance(5, float("nan"), float("nan"), "up") == "insufficient_data"


@pytest.mark.parametrize(
    ("target", "direction", "expected"),
    [
        (90, "up", "consistently_met"),
        (90, "down", "consistently_missed"),
        (100, "up", "hit_and_miss"),
        (None, "up", "no_target"),
    ],
)
def test_assurance_in_assess_series(target, direction, expected):
    df = assess_series(monthly(flat_noisy()), direction, target=target)
    assert (df["assurance"] == expected).all()


# ---------------------------------------------------------------------- annual


def test_annual_series_is_detected_and_short_one_is_insufficient():
    s = annual([80, 82, 81, 84, 85, 83, 86, 88])
    assert detect_frequency(s.index) == "A"
    df = assess_series(s, "up", target=85)
    future = df.index[df["is_future"]]
    assert list(future) == [pd.Timestamp(f"{y}-03-31") for y in (2024, 2025, 2026)]
    assert (df["status"] == "insufficient_data").all()
    assert df["forecast"].isna().all()
    assert detect_frequency(monthly(flat_noisy(3)).index) == "M"


def test_annual_series_with_enough_history():
    values = 70 + 0.5 * np.arange(20) + np.resize(NOISE, 20)
    values[-3:] += 10
    s = annual(values, start="2006-03-31")
    df = assess_series(s, "up", baseline_end="2022-03-31")
    assert len(df) == 20 + 3
    assert df["forecast"].notna().sum() == 3 + 3
    assert latest(df)["status"] == "turned"
    assert df["model"].iloc[0] == "linear_trend"


def test_annual_baseline_end_snaps_to_financial_year_end():
    values = 70 + np.resize(NOISE, 20)
    df = assess_series(annual(values, start="2006-03-31"), "up", baseline_end="2021-06-01")
    assert (df["baseline_end"] == pd.Timestamp("2022-03-31")).all()


# ---------------------------------------------------------------------- locking


def test_locked_baseline_survives_history_revision(tmp_path):
    values = flat_noisy(36)
    values[-12:] += 10
    first = assess_series(monthly(values), "up", target=95)
    path = lock_baseline("cla_rate_per_10k", first, tmp_path, data_vintage="2021-12-31")
    assert path == tmp_path / "cla_rate_per_10k.json"
    lock = load_locked("cla_rate_per_10k", tmp_path)
    assert lock["version"] == 1
    assert lock["baseline_end"] == "2020-12-31"
    assert lock["data_vintage"] == "2021-12-31"
    assert lock["model"]["name"] == first["model"].iloc[0]
    assert lock["model"]["params"]
    assert len(lock["forecast"]) == 24
    assert {"mean", "lower", "upper"} <= set(lock["spc"])
    assert "created_at" in lock
    assert not list(tmp_path.glob("*.tmp"))

    # history is revised upwards and a new month arrives
    revised = np.r_[values, values[-1]]
    revised[:24] += 3
    s = monthly(revised)
    relocked = assess_series(s, "up", target=95, locked=lock)
    refitted = assess_series(s, "up", target=95)
    assert relocked["locked"].all()
    cols = ["forecast", "forecast_lower", "forecast_upper"]
    common = first.index[first["forecast"].notna()]
    pd.testing.assert_frame_equal(relocked.loc[common, cols], first.loc[common, cols])
    for c in ("spc_mean", "spc_lower", "spc_upper"):
        assert relocked[c].iloc[0] == pytest.approx(first[c].iloc[0])
        assert refitted[c].iloc[0] != pytest.approx(first[c].iloc[0])
    # the baseline end stays where it was locked, not 12 months before the new latest
    assert (relocked["baseline_end"] == pd.Timestamp("2020-12-31")).all()
    assert (refitted["baseline_end"] == pd.Timestamp("2021-01-31")).all()
    # beyond the stored horizon the locked model is extended, not refitted
    beyond = relocked.index[-1]
    assert beyond > pd.Timestamp(lock["forecast"][-1]["period_end"])
    assert np.isfinite(relocked.loc[beyond, cols]).all()
    fit = bl.BaselineFit.from_dict(lock["fit"])
    assert relocked.loc[beyond, "forecast"] == pytest.approx(
        fit.forecast([beyond])["forecast"].iloc[0]
    )
    assert latest(relocked)["status"] == "turned"


def test_rebaselining_keeps_history(tmp_path):
    s = monthly(flat_noisy(36))
    lock_baseline("m", assess_series(s, "up"), tmp_path, data_vintage="v1")
    lock_baseline(
        "m",
        assess_series(s, "up", baseline_end="2021-06-30"),
        tmp_path,
        data_vintage="v2",
        model="linear_trend",
    )
    lock_baseline("m", assess_series(s, "up"), tmp_path, data_vintage="v3")
    current = load_locked("m", tmp_path)
    assert current["version"] == 3 and current["data_vintage"] == "v3"
    v1 = json.loads((tmp_path / "m.v1.json").read_text())
    v2 = json.loads((tmp_path / "m.v2.json").read_text())
    assert (v1["version"], v1["data_vintage"]) == (1, "v1")
    assert (v2["version"], v2["baseline_end"]) == (2, "2021-06-30")
    assert v2["model"]["name"] == "linear_trend"


def test_lock_from_fit_and_errors(tmp_path):
    fit = fit_baseline(monthly(flat_noisy(36)))
    assert fit is not None and fit.model in MODELS
    lock_baseline("x", fit, tmp_path / "locks", data_vintage=None)
    lock = load_locked("x", tmp_path / "locks")
    assert lock["freq"] == "M" and len(lock["forecast"]) == 24
    df = assess_series(monthly(flat_noisy(36)), "up", locked=lock)
    assert latest(df)["status"] == "no_change"
    assert load_locked("nothing", tmp_path) is None
    short = assess_series(monthly(flat_noisy(10)), "up")
    with pytest.raises(ValueError, match="insufficient"):
        lock_baseline("short", short, tmp_path, data_vintage="v")
    with pytest.raises(ValueError):
        lock_baseline("../escape", fit, tmp_path, data_vintage="v")
    assert fit_baseline(monthly(flat_noisy(20))) is None


# ------------------------------------------------------------------- describe


def test_describe_series():
    values = [10, 12, 11, 12, 13, 14, 15, 15.5, 16, 17, 18, 19, 20, 21]
    d = describe_series(monthly(values), target=20, direction_of_good="down")
    assert d["kind"] == "descriptive"
    assert d["latest_value"] == 21
    assert (d["trend_direction"], d["trend_run_length"]) == ("up", 11)
    assert d["trend_is_good"] is False
    assert d["baseline_end"] == pd.Timestamp("2019-02-28")
    assert d["baseline_value"] == 12
    assert d["pct_change_from_baseline"] == pytest.approx(75.0)
    assert d["variance_from_target"] == 1
    assert d["variance_from_target_pct"] == pytest.approx(5.0)
    assert d["target_met"] is False


def test_describe_series_edge_cases():
    d = describe_series(monthly([5, np.nan, 4, 3]), baseline_end="2019-01-31")
    assert (d["trend_direction"], d["trend_run_length"]) == ("down", 2)
    assert d["pct_change_from_baseline"] == pytest.approx(-40.0)
    assert d["target_met"] is None and d["variance_from_target"] is None
    d = describe_series(monthly([0, 1, 1]), baseline_end="2019-01-31")
    assert d["trend_direction"] == "flat" and d["pct_change_from_baseline"] is None
    assert describe_series(monthly([]))["latest_value"] is None


# ------------------------------------------------------------------- property


series_values = st.lists(
    st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.just(float("nan")),
        st.floats(min_value=-1e4, max_value=1e4),
    ),
    min_size=0,
    max_size=60,
)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=series_values,
    direction=st.sampled_from(["up", "down"]),
    target=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False)),
    start_month=st.integers(1, 12),
    yearly=st.booleans(),
)
def test_assess_series_never_raises(values, direction, target, start_month, yearly):
    start = pd.Timestamp(2010, start_month, 1) + pd.offsets.MonthEnd(0)
    if yearly:
        index = pd.date_range("1990-03-31", periods=len(values), freq="YE-MAR")
    else:
        index = pd.date_range(start, periods=len(values), freq="ME")
    s = pd.Series(values, index=index, dtype=float)
    df = assess_series(s, direction, target=target)
    assert tuple(df.columns) == COLUMNS
    assert df["status"].dropna().isin(STATUSES).all()
    assert df["spc_signal"].dropna().isin(SPC_SIGNALS).all()
    assert df["assurance"].isin(bl.ASSURANCES).all()
    assert df["is_latest"].sum() == (1 if s.notna().any() else 0)
    if len(s):
        assert len(df) == len(s) + bl.HORIZON[detect_frequency(s.index)]
    if (df["status"] == "insufficient_data").all():
        assert df["forecast"].isna().all()
    describe_series(s, target=target, direction_of_good=direction)
