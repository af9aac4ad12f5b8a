"""Honest verdicts (DESIGN.md §4): gaps, statuses only where the data bears them, p-charts for
small denominators, rebase suggestions, the disagreement line, the variation icon and the
headline counts. Every rule has a crafted case and its near miss; expected numbers are worked
out here by hand, never by the code under test."""

from __future__ import annotations

import json
import math

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from pipelines.baselines import (
    LOCK_FORMAT,
    SpcLimits,
    assess_series,
    load_locked,
    lock_baseline,
    suppressed_periods,
)
from pipelines.sqlmodels import replace_table

# A history that alternates 9, 11, 9, 11, ...: mean 10, every moving range 2, so the XmR
# limits are 10 ± 2.66 × 2 = [4.68, 15.32] and the two-of-three lines 10 ± 2/3 × 5.32 =
# [6.4533, 13.5467]. Values 7 and 13 are on one side of the mean without being near a limit.
HISTORY = [9.0, 11.0] * 12
MEAN, LOWER, UPPER = 10.0, 10.0 - 2.66 * 2, 10.0 + 2.66 * 2
BASELINE_END = "2020-12-31"  # the 24th month from January 2019


def monthly(values, start="2019-01-31") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="ME"))


def latest(df: pd.DataFrame) -> pd.Series:
    rows = df[df["is_latest"]]
    assert len(rows) == 1
    return rows.iloc[0]


def assess(values, direction="up", **kwargs) -> pd.DataFrame:
    kwargs.setdefault("baseline_end", BASELINE_END)
    return assess_series(monthly(values), direction, **kwargs)


# ------------------------------------------------------------------------------ gaps


# Five points on the mean's far side... then seven below it: 7, 7, 5, 7, 7, 7, 7. The 5 is
# below the two-of-three line (6.4533) but alone in any window of three, and above the lower
# limit (4.68): only the run of seven below the mean can signal.
RUN_OF_SEVEN = HISTORY + [9, 11, 9, 11, 9] + [7, 7, 5, 7, 7, 7, 7]


def test_seven_unbroken_points_below_the_mean_signal():
    row = latest(assess(RUN_OF_SEVEN, "up", suppression_upper=4))  # 5 is not suppressed
    assert row["spc_signal"] == "concern"
    assert row["variation"] == "concern_low"


@pytest.mark.parametrize("how", ["missing", "suppressed"])
def test_a_gap_breaks_the_run(how):
    values = list(RUN_OF_SEVEN)
    if how == "missing":
        values[24 + 5 + 2] = np.nan
    # a count from 1 to the suppression bound is a gap, as a missing value: runs of 2 and 4
    row = latest(assess(values, "up", suppression_upper=5))
    assert row["spc_signal"] == "common_cause"
    assert row["variation"] == "common_cause"


def test_a_suppressed_value_is_a_gap_in_the_fit_never_its_value():
    history = list(HISTORY)
    history[10] = 3.0  # a count of 3: suppressed when the bound is 5
    values = history + [9, 11, 9, 11]
    suppressed = assess(values, suppression_upper=5)
    missing = assess(history[:10] + [np.nan] + history[11:] + [9, 11, 9, 11])
    kept = assess(values, suppression_upper=2)  # 3 is above this bound: a real value
    future = suppressed["is_future"]
    np.testing.assert_allclose(
        suppressed.loc[future, "forecast"], missing.loc[future, "forecast"], rtol=1e-9
    )
    assert not np.allclose(suppressed.loc[future, "forecast"], kept.loc[future, "forecast"])
    # the gap has no moving range: the limits are those of the other 23 points
    assert suppressed["spc_upper"].iloc[0] == pytest.approx(missing["spc_upper"].iloc[0])
    assert suppressed["spc_upper"].iloc[0] != pytest.approx(kept["spc_upper"].iloc[0])


@pytest.mark.parametrize(
    ("unit", "numerators", "denominators", "expected"),
    [
        # a count: 0 is a true zero, 1 to 5 suppressed, 6 shown
        ("count", [0, 1, 5, 6], None, [False, True, True, False]),
        # a percent: its numerator or its denominator from 1 to 5
        ("percent", [0, 3, 6, 6], [10, 10, 4, 60], [False, True, True, False]),
        ("rate_per_10k", [3, 60], [20000, 20000], [True, False]),
        # a mean number of days: 3 days added up is not 3 children; 3 children counted is
        ("days", [3, 400], [10, 3], [False, True]),
    ],
)
def test_suppressed_periods_follow_the_public_release(unit, numerators, denominators, expected):
    idx = monthly([0] * len(numerators)).index
    num = pd.Series(numerators, index=idx, dtype=float)
    den = None if denominators is None else pd.Series(denominators, index=idx, dtype=float)
    values = num if den is None else num / den
    got = suppressed_periods(values, unit, 5, num, den)
    assert got.tolist() == expected
    assert not suppressed_periods(values, unit, None, num, den).any()  # no bound, no gaps


def test_zero_is_a_true_zero_not_a_gap():
    # percent measure: a numerator of 0 is not suppressed, one of 1 is
    idx = monthly([0] * 28).index
    den = pd.Series(1000.0, index=idx)
    for numerator, gap in ((0.0, False), (1.0, True)):
        num = pd.Series(np.resize([480.0, 520.0], 28), index=idx)
        num.iloc[-2] = numerator  # not the latest row, which shows the last signal
        df = assess_series(
            100 * num / den, "up", baseline_end=BASELINE_END, unit="percent",
            numerators=num, denominators=den, suppression_upper=5,
        )
        assert (df.loc[idx[-2], "spc_signal"] is None) == gap


def test_a_suppressed_latest_value_shows_the_last_signal_and_status():
    # 13 seven times above the mean (a shift), then a suppressed count: the headline row is the
    # suppressed period; its signal and status are those of the last value that can be shown
    df = assess(HISTORY + [13] * 7 + [3], suppression_upper=5)
    row = latest(df)
    assert row.name == pd.Timestamp("2021-08-31") and row["value"] == 3
    before = df.loc[pd.Timestamp("2021-07-31")]
    assert before["spc_signal"] == "improvement"
    assert row["spc_signal"] == "improvement" and row["variation"] == "improvement_high"
    assert row["status"] == before["status"]


# ----------------------------------------------------------- statuses where the data bears them


def test_three_unsuppressed_values_after_the_baseline_end_give_a_status():
    row = latest(assess(HISTORY + [9, 11, 10]))
    assert row["status"] == "no_change"
    assert row["spc_signal"] == "common_cause"
    assert row["status_note"] is None


def test_two_values_after_the_baseline_end_are_insufficient():
    df = assess(HISTORY + [9, 11])
    row = latest(df)
    assert row["status"] == "insufficient_data"
    assert row["spc_signal"] == "insufficient_data"
    assert row["variation"] == "insufficient_data"
    assert row["status_note"] == "Only 2 values since the baseline end; 3 are needed."
    # the forecast is still drawn: there is a model, only too little to judge it by
    assert df.loc[df["is_future"], "forecast"].notna().all()


def test_a_suppressed_value_after_the_baseline_end_does_not_count():
    row = latest(assess(HISTORY + [9, 11, 4], suppression_upper=5))
    assert row["status"] == "insufficient_data"
    assert row["status_note"] == (
        "Only 2 values since the baseline end (1 more suppressed); 3 are needed."
    )


def _gappy(periods: int, gaps: int) -> list[float]:
    """A history window of ``periods`` months whose ``gaps`` are missing (every third month
    from the second), then four values after the baseline end."""
    values = [9.0 if i % 2 else 11.0 for i in range(periods)]
    for k in range(gaps):
        values[1 + 3 * k] = np.nan
    return values + [9, 11, 9, 11]


def test_a_history_with_a_quarter_missing_bears_a_status():
    # 16 periods, 4 missing: 4 / 16 = 25%, at the limit; 12 values remain
    values = _gappy(16, 4)
    df = assess_series(monthly(values), "up", baseline_end="2020-04-30")
    row = latest(df)
    assert row["status"] != "insufficient_data"
    assert row["spc_signal"] != "insufficient_data"
    assert row["status_note"] is None


def test_a_history_with_more_than_a_quarter_missing_is_insufficient():
    # 19 periods, 5 missing: 5 / 19 = 26.3%, over the limit though 14 values remain
    values = _gappy(19, 5)
    df = assess_series(monthly(values), "up", baseline_end="2020-07-31", target=10)
    row = latest(df)
    assert row["status"] == "insufficient_data"
    assert row["spc_signal"] == "insufficient_data"
    assert row["variation"] == "insufficient_data"
    assert row["assurance"] == "insufficient_data"
    assert row["status_note"] == (
        "26% of the baseline history is missing or suppressed; at most 25% is allowed."
    )


def test_fewer_than_twelve_history_values_say_so():
    row = latest(assess_series(monthly([9.0, 11.0] * 5 + [9, 11, 9]), "up",
                               baseline_end="2019-10-31"))
    assert row["status"] == "insufficient_data"
    assert row["status_note"] == "Fewer than 12 values before the baseline end."


# ------------------------------------------------------------------------ small denominators


def _percent(dens, nums, post_dens, post_nums, direction="up"):
    num = monthly(list(nums) + list(post_nums))
    den = monthly(list(dens) + list(post_dens))
    return assess_series(
        100 * num / den, direction, baseline_end="2019-12-31", unit="percent",
        numerators=num, denominators=den, suppression_upper=5,
    )


def test_mean_denominator_49_uses_p_chart_limits_per_point():
    # history: denominators 48, 50 (mean 49), numerators 24, 25 (every value 50%):
    # p̄ = (6·24 + 6·25) / (6·48 + 6·50) = 294 / 588 = 0.5
    dens, nums = [48, 50] * 6, [24, 25] * 6
    df = _percent(dens, nums, [20, 100, 100], [10, 50, 80])
    assert (df["spc_method"] == "p_chart").all()
    assert df["spc_mean"].iloc[0] == pytest.approx(50.0)

    def limits(n):
        half = 3 * math.sqrt(0.5 * 0.5 / n)
        return max(0.0, 100 * (0.5 - half)), min(100.0, 100 * (0.5 + half))

    for i, n in [(0, 48), (1, 50), (12, 20), (13, 100)]:
        assert df["spc_lower"].iloc[i] == pytest.approx(limits(n)[0])
        assert df["spc_upper"].iloc[i] == pytest.approx(limits(n)[1])
    assert limits(48) == pytest.approx((28.349364905, 71.650635095))
    # the latest, 80 of 100 = 80%, is above its own upper limit 50 + 15 = 65
    row = latest(df)
    assert row["spc_upper"] == pytest.approx(65.0)
    assert row["spc_signal"] == "improvement" and row["variation"] == "improvement_high"
    assert bool(df["spc_outside_limits"].iloc[14])
    # no denominator in the future: no limits there
    assert df.loc[df["is_future"], "spc_upper"].isna().all()


def test_p_chart_limits_are_clipped_to_0_and_100():
    dens, nums = [48, 50] * 6, [24, 25] * 6
    # a denominator of 2 (suppressed, so a gap): 3·√(0.25/2) = 1.06 > 0.5 either side
    df = _percent(dens, nums, [2, 50, 50, 50], [1, 25, 25, 25])
    assert df["spc_lower"].iloc[12] == 0.0 and df["spc_upper"].iloc[12] == 100.0
    assert df["spc_signal"].iloc[12] is None  # the suppressed point is a gap


def test_a_point_inside_its_own_wider_limits_is_common_cause():
    # the same 80% on 20: its limits are 50 ± 100·3·√(0.25/20) = 50 ± 33.54 → 83.54
    dens, nums = [48, 50] * 6, [24, 25] * 6
    row = latest(_percent(dens, nums, [20, 100, 20], [10, 50, 16]))
    assert row["spc_upper"] == pytest.approx(50 + 100 * 3 * math.sqrt(0.25 / 20))
    assert row["spc_signal"] == "common_cause"


def test_mean_denominator_50_stays_xmr():
    dens, nums = [49, 51] * 6, [24, 26] * 6
    df = _percent(dens, nums, [50, 50, 50], [25, 25, 25])
    assert (df["spc_method"] == "xmr").all()
    assert df["spc_lower"].nunique() == 1 and df["spc_upper"].nunique() == 1


def test_a_locked_p_chart_keeps_its_centre_and_old_locks_are_xmr(tmp_path):
    dens, nums = [48, 50] * 6, [24, 25] * 6
    df = _percent(dens, nums, [20, 100, 100], [10, 50, 80])
    lock_baseline("m", df, tmp_path, data_vintage="test")
    lock = load_locked("m", tmp_path)
    assert lock["format"] == LOCK_FORMAT and lock["spc"]["method"] == "p_chart"
    assert lock["spc"]["p_bar"] == pytest.approx(0.5)
    # revised history (every numerator one higher) does not move the locked centre line;
    # the latest point's limits still follow its own denominator
    num = monthly([n + 1 for n in nums] + [10, 50, 80])
    den = monthly(dens + [20, 100, 100])
    relocked = assess_series(100 * num / den, "up", unit="percent", numerators=num,
                             denominators=den, suppression_upper=5, locked=lock)
    assert (relocked["spc_method"] == "p_chart").all()
    assert relocked["spc_mean"].iloc[0] == pytest.approx(50.0)
    assert latest(relocked)["spc_upper"] == pytest.approx(65.0)
    # a lock written before p-charts has no method: XmR
    old = {k: v for k, v in lock["spc"].items() if k not in ("method", "p_bar", "mean_denominator")}
    assert SpcLimits.from_dict(old).method == "xmr"


# ------------------------------------------------------------------------------------ rebase


def test_a_shift_of_12_after_the_baseline_end_suggests_a_rebase():
    df = assess(HISTORY + [13] * 12, measure_id="cla_count")
    assert df["rebase_suggested"].all()
    assert set(df["rebase_note"]) == {
        "Every point since 2021-01 is above the baseline mean: the process has shifted. If the "
        "change is real and lasting, rebase with 'oba rebaseline cla_count --end 2021-12-31'."
    }
    # nothing rebases: the baseline end and the limits stand
    assert set(df["baseline_end"]) == {pd.Timestamp(BASELINE_END)}
    assert df["spc_upper"].iloc[0] == pytest.approx(UPPER)


@pytest.mark.parametrize(
    "post",
    [
        [9] + [13] * 11,
        # the history's last value (11) is above the mean too: a run of 12, but 11 of them after
        # the baseline end
        [13] * 11,
    ],
)
def test_a_shift_of_11_does_not(post):
    df = assess(HISTORY + post, measure_id="cla_count")
    assert not df["rebase_suggested"].any()
    assert df["rebase_note"].isna().all()
    assert latest(df)["spc_signal"] == "improvement"  # a shift all the same


def test_a_programme_rebase_names_the_programme():
    df = assess(HISTORY + [7] * 12, "down", measure_id="program_improved_pct",
                program="Youth Mentoring")
    note = latest(df)["rebase_note"]
    assert note.startswith("Every point since 2021-01 is below the baseline mean")
    assert note.endswith(
        """'oba rebaseline program_improved_pct --end 2021-12-31 --program "Youth Mentoring"'."""
    )


# ----------------------------------------------------------------------- disagreement line


# A rising history (50, 51, ..., 73 with a little noise): mean 61.5; its forecast carries on
# rising (about 74 and up after the baseline end).
RISING = [50 + t + 0.3 * e for t, e in enumerate(np.resize([0, 1, -1, 0.5, -0.5, 0.8], 24))]


def test_turned_below_the_forecast_but_above_the_old_average_says_why():
    # down is good: 70 is far below the forecast (turned) yet above the history's mean 61.5
    # and its upper limit, so SPC sees a concern
    df = assess(RISING + [70, 70, 70], "down")
    row = latest(df)
    assert row["status"] == "turned" and row["spc_signal"] == "concern"
    assert row["value"] < row["forecast_lower"] and row["value"] > row["spc_upper"]
    assert row["status_note"] == (
        "Below the forecast and beyond its 80% interval (so the curve has turned) but still "
        "above the baseline average, which is a rising history's mean: SPC flags it as high "
        "(a point above the upper limit)."
    )
    assert row["variation"] == "concern_high"


def test_no_change_on_a_rising_forecast_with_an_spc_signal_says_why():
    # up is good: 74, 75, 76 carry the rising history on (no change) while every one of them
    # is above the history's mean 61.5 and its upper limit: SPC sees an improvement
    row = latest(assess(RISING + [74, 75, 76], "up"))
    assert row["forecast_lower"] <= row["value"] <= row["forecast_upper"]
    assert row["status"] == "no_change" and row["spc_signal"] == "improvement"
    assert row["status_note"] == (
        "Within the forecast's 80% interval, as the history's trend predicted (no change) but "
        "still above the baseline average, which is a rising history's mean: SPC flags it as "
        "high (a point above the upper limit)."
    )
    # beyond the interval but not three in a row on that side: still no change, said so
    row = latest(assess(RISING + [74, 70, 80], "up"))
    assert row["value"] > row["forecast_upper"] and row["status"] == "no_change"
    assert row["status_note"].startswith(
        "Above the forecast's 80% interval, though not three values in a row above the "
        "forecast (no change) but still above the baseline average"
    )


def test_status_and_spc_agreeing_need_no_line():
    # 90 is above the forecast (worsening, down is good) and above the limit (concern)
    row = latest(assess(RISING + [90, 90, 90], "down"))
    assert row["status"] == "worsening" and row["spc_signal"] == "concern"
    assert row["status_note"] is None


def test_turned_with_common_cause_says_why():
    # a flat history with a trend-free forecast; up is good. 12, 12, 14 are above the
    # forecast and 14 beyond its interval (about 10 ± 1.4), but inside the limits (15.32),
    # only 14 beyond the two-of-three line (13.5467), a tie breaks the trend: common cause
    row = latest(assess(HISTORY + [12, 12, 14], "up"))
    assert row["status"] == "turned" and row["spc_signal"] == "common_cause"
    assert row["status_note"] == (
        "Above the forecast and beyond its 80% interval (so the curve has turned) but inside "
        "the process limits with no run or trend: SPC sees only common-cause variation."
    )


# ---------------------------------------------------------------------------- variation


@pytest.mark.parametrize(
    ("post", "direction", "icon"),
    [
        ([13] * 7, "up", "improvement_high"),
        ([13] * 7, "down", "concern_high"),
        ([7] * 7, "down", "improvement_low"),
        ([7] * 7, "up", "concern_low"),
        ([9, 11, 9, 11, 9, 11, 9], "up", "common_cause"),
    ],
)
def test_variation_icon_is_the_side_of_the_flag(post, direction, icon):
    df = assess(HISTORY + post, direction)
    assert latest(df)["variation"] == icon
    # per row where a signal exists, none on the future rows
    signalled = df[df["spc_signal"].notna()]
    assert signalled["variation"].notna().all()
    assert df.loc[df["is_future"], "variation"].isna().all()


# ------------------------------------------------------------- the warehouse and headline


MONTHS = pd.date_range("2022-01-31", periods=36, freq="ME")
BASE = [100.0, 104.0] * 12  # mean 102, moving range 4


def _measure(measure_id, unit="count", direction="down", journey="children_looked_after"):
    return {
        "measure_id": measure_id, "name": measure_id.replace("_", " "),
        "oba_kind": "population_indicator", "unit": unit, "direction_of_good": direction,
        "description": "", "journey": journey, "frequency": "monthly", "sources": "",
        "breakdowns": "all",
    }


def _rows(measure_id, values, breakdown="all", breakdown_value="all", dens=None):
    rows = []
    for i, v in enumerate(values):
        den = None if dens is None else float(dens[i])
        rows.append({
            "measure_id": measure_id, "period_end": MONTHS[i].date(), "breakdown": breakdown,
            "breakdown_value": breakdown_value,
            "numerator": float(v) if den is None else float(v) * den / 100,
            "denominator": den, "value": float(v),
        })
    return rows


def _warehouse(tmp_path, measures, rows, headline, stories=()):
    """A warehouse holding ``measures`` and their ``rows`` (suppression bound 5, the headline
    measures ``headline``, baseline ends ``stories`` as {measure_id: end}); returns its path."""
    warehouse = tmp_path / "out" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    try:
        for schema in ("raw", "marts", "published"):
            con.execute(f"create schema {schema}")
        replace_table(con, "marts.measures", pd.DataFrame(measures).astype("string"))
        replace_table(con, "marts.measure_values", pd.DataFrame(rows).astype(
            {"numerator": "float64", "denominator": "float64", "value": "float64"}))
        replace_table(con, "raw.oba_config", pd.DataFrame([{
            "authority_name": "Test", "authority_code": "E09000999", "suppression_upper": 5,
            "headline_measures": json.dumps(headline), "config_file": None,
        }]))
        story_columns = ["measure_id", "baseline_end", "target", "story", "partners",
                         "what_works", "actions", "data_development", "source_file"]
        replace_table(con, "raw.stories", pd.DataFrame([
            [measure_id, end, None, "[]", "[]", "[]", "[]", "[]", f"stories/{measure_id}.yml"]
            for measure_id, end in dict(stories).items()
        ], columns=story_columns).astype({"target": "float64"}))
        replace_table(con, "raw._loads", pd.DataFrame([{
            "source": "x", "source_file": "x.csv", "sha256": "0" * 64, "rows": 1,
            "loaded_at": pd.Timestamp("2025-01-01"),
        }]))
    finally:
        con.close()
    return warehouse


def _materialise_verdicts(tmp_path, warehouse):
    """Materialise marts.measure_status and the published models that carry its verdicts."""
    from pipelines.definitions import defs
    from pipelines.defs.resources import ObaPaths

    keys = [
        dg.AssetKey(["marts", "measure_status"]),
        *(dg.AssetKey(["published", name]) for name in (
            "pub_measures", "pub_measure_values", "pub_measure_status", "pub_report_card",
            "pub_headline")),
    ]
    result = dg.materialize(
        list(defs.assets),
        resources={
            "duckdb": DuckDBResource(database=str(warehouse)),
            "oba": ObaPaths(exports_dir=str(tmp_path / "exports"), out_dir=str(tmp_path / "out"),
                            config_path=""),
        },
        selection=keys,
        raise_on_error=False,
    )
    assert result.success


def test_measure_status_and_headline_in_the_warehouse(tmp_path):
    measures = [_measure(m) for m in ("m_turned", "m_flat", "m_short", "m_worse", "m_other")]
    measures += [_measure("m_pct", unit="percent", direction="up")]
    measures += [_measure("p_served", direction="up", journey="programmes")]
    rows = (
        _rows("m_turned", BASE + [80.0] * 12)  # far below: turned (down is good)
        + _rows("m_flat", BASE + [100.0, 104.0] * 6)  # as before: no change
        + _rows("m_short", BASE + [100.0, 104.0])  # baseline end configured at month 24
        + _rows("m_worse", BASE + [130.0] * 12)  # far above: worsening
        + _rows("m_other", BASE + [80.0] * 12)  # turned, but not a headline measure
        + _rows("m_pct", [50.0] * 36, dens=[20.0] * 36)  # 10 of 20: a p-chart
        + _rows("p_served", BASE + [130.0] * 12, "program", "Alpha")  # up is good: turned
        + _rows("p_served", BASE + [100.0, 104.0] + [4.0, 3.0] * 5, "program", "Beta")
    )
    warehouse = _warehouse(
        tmp_path, measures, rows, ["m_turned", "m_flat", "m_short", "m_worse"],
        {"m_short": MONTHS[23].date()},
    )
    _materialise_verdicts(tmp_path, warehouse)

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        mart = con.execute(
            "select measure_id, breakdown_value, status, spc_signal, spc_method, variation, "
            "status_note, rebase_suggested, rebase_note from marts.measure_status where is_latest"
        ).df().set_index(["measure_id", "breakdown_value"])
        published = con.execute(
            "select measure_id, breakdown_value, spc_method, variation, status_note, "
            "rebase_suggested, rebase_note from published.pub_measure_status where is_latest"
        ).df().set_index(["measure_id", "breakdown_value"])
        headline = con.execute("select * from published.pub_headline").df()
        card = con.execute(
            "select status, variation, status_note, rebase_suggested from published.pub_report_card "
            "where measure_id = 'm_short'"
        ).df()
    finally:
        con.close()

    assert mart.loc[("m_turned", "all"), "status"] == "turned"
    assert mart.loc[("m_flat", "all"), "status"] == "no_change"
    assert mart.loc[("m_short", "all"), "status"] == "insufficient_data"
    assert mart.loc[("m_short", "all"), "status_note"] == (
        "Only 2 values since the baseline end; 3 are needed."
    )
    assert mart.loc[("m_worse", "all"), "status"] == "worsening"
    assert mart.loc[("p_served", "Alpha"), "status"] == "turned"
    # Beta's last two counts (4 and 3) are suppressed under the configured bound of 5
    assert mart.loc[("p_served", "Beta"), "status"] == "insufficient_data"
    assert mart.loc[("p_served", "Beta"), "status_note"] == (
        "Only 2 values since the baseline end (10 more suppressed); 3 are needed."
    )
    assert mart.loc[("m_pct", "all"), "spc_method"] == "p_chart"
    assert mart.loc[("m_flat", "all"), "spc_method"] == "xmr"
    # twelve months at 80 after the baseline end, all below the mean 102: a rebase is suggested
    assert bool(mart.loc[("m_turned", "all"), "rebase_suggested"])
    assert "oba rebaseline m_turned --end 2024-12-31" in mart.loc[("m_turned", "all"), "rebase_note"]
    assert bool(mart.loc[("p_served", "Alpha"), "rebase_suggested"])
    assert "--program Alpha" in mart.loc[("p_served", "Alpha"), "rebase_note"]
    # the published status carries the words through unchanged
    for column in ("spc_method", "variation", "status_note", "rebase_suggested", "rebase_note"):
        pd.testing.assert_series_equal(
            published[column].sort_index(), mart[column].sort_index(), check_dtype=False
        )

    assert card.to_dict("records") == [{
        "status": "insufficient_data", "variation": "insufficient_data",
        "status_note": "Only 2 values since the baseline end; 3 are needed.",
        "rebase_suggested": False,
    }]

    # hand count: headline measures m_turned (turned), m_flat (no change), m_short
    # (insufficient), m_worse (worsening); m_other and m_pct are not headline measures
    rows = {r.group_name: r for r in headline.itertuples()}
    assert list(headline["group_kind"]) == ["population", "programme", "programme"]
    top = rows["Headline indicators"]
    assert (top.curves, top.turned, top.improving, top.worsening, top.no_change,
            top.insufficient_data) == (4, 1, 0, 1, 1, 1)
    assert top.headline == "1 of 4 headline curves turned; 0 improving; 1 worsening"
    alpha, beta = rows["Alpha"], rows["Beta"]
    assert (alpha.curves, alpha.turned, alpha.insufficient_data) == (1, 1, 0)
    assert alpha.headline == "1 of 1 curves turned; 0 improving; 0 worsening"
    assert (beta.curves, beta.turned, beta.insufficient_data) == (1, 0, 1)
    assert beta.headline == "0 of 1 curves turned; 0 improving; 0 worsening"


# ------------------------------------------------------- programmes of a population measure


def test_each_programme_of_a_measure_with_whole_population_rows_has_its_verdict(tmp_path):
    # p_both has whole-population rows and rows per programme; so has p_other. Gamma's first
    # enrolment is at month 25, after the baseline end (month 24): no history to judge it on.
    measures = [_measure("m_turned")]
    measures += [_measure(m, direction="up", journey="programmes") for m in ("p_both", "p_other")]
    rows = (
        _rows("m_turned", BASE + [80.0] * 12)  # turned (down is good)
        + _rows("p_both", BASE + [130.0] * 12)  # whole population: turned (up is good)
        + _rows("p_both", BASE + [130.0] * 12, "program", "Alpha")  # turned
        + _rows("p_both", BASE + [100.0, 104.0] * 6, "program", "Beta")  # no change
        + [{**r, "period_end": MONTHS[24 + i].date()}
           for i, r in enumerate(_rows("p_both", [130.0] * 12, "program", "Gamma"))]
        + _rows("p_other", BASE + [80.0] * 12)  # worsening, not a headline measure
        + _rows("p_other", BASE + [100.0, 104.0] * 6, "program", "Alpha")  # no change
    )
    warehouse = _warehouse(tmp_path, measures, rows, ["m_turned", "p_both"],
                           {"p_both": MONTHS[23].date(), "p_other": MONTHS[23].date()})
    _materialise_verdicts(tmp_path, warehouse)

    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        mart = con.execute(
            "select measure_id, breakdown, breakdown_value, status, status_note, spc_signal "
            "from marts.measure_status where is_latest"
        ).df().set_index(["measure_id", "breakdown_value"])
        published = con.execute(
            "select measure_id, breakdown_value, status from published.pub_measure_status "
            "where is_latest"
        ).df().set_index(["measure_id", "breakdown_value"])["status"]
        card = con.execute(
            "select measure_id, program, is_headline, status from published.pub_report_card"
        ).df()
        headline = con.execute("select * from published.pub_headline").df()
    finally:
        con.close()

    # every series, the whole population's and each programme's, has its own verdict
    assert sorted(mart.index) == [
        ("m_turned", "all"), ("p_both", "Alpha"), ("p_both", "Beta"), ("p_both", "Gamma"),
        ("p_both", "all"), ("p_other", "Alpha"), ("p_other", "all"),
    ]
    assert mart.loc[("p_both", "all"), "status"] == "turned"
    assert mart.loc[("p_both", "Alpha"), "status"] == "turned"
    assert mart.loc[("p_both", "Alpha"), "breakdown"] == "program"
    assert mart.loc[("p_both", "Beta"), "status"] == "no_change"
    assert mart.loc[("p_both", "Beta"), "spc_signal"] == "common_cause"
    assert mart.loc[("p_other", "all"), "status"] == "worsening"
    assert mart.loc[("p_other", "Alpha"), "status"] == "no_change"
    # near miss: a programme with too little data says so
    assert mart.loc[("p_both", "Gamma"), "status"] == "insufficient_data"
    assert mart.loc[("p_both", "Gamma"), "status_note"] == (
        "Fewer than 12 values before the baseline end."
    )
    assert published.sort_index().to_dict() == mart["status"].sort_index().to_dict()
    # each programme series is locked under its own key; Gamma has no forecast to lock
    locks = sorted(p.name for p in (tmp_path / "out" / "baselines").glob("*.json"))
    assert locks == ["p_both.json", "p_both__alpha.json", "p_both__beta.json",
                     "p_other.json", "p_other__alpha.json"]
    assert load_locked("p_both__alpha", tmp_path / "out" / "baselines")["forecast"]

    # the report card: one row per series; only whole-population rows are headline rows
    rows = {(r.measure_id, r.program if isinstance(r.program, str) else None): r
            for r in card.itertuples()}
    assert len(rows) == len(card) == 7
    assert rows[("p_both", None)].is_headline and not rows[("p_both", "Alpha")].is_headline
    assert rows[("p_both", "Gamma")].status == "insufficient_data"

    # hand count: headline curves m_turned and p_both's whole population, both turned;
    # Alpha: p_both (turned) and p_other (no change); Beta: no change; Gamma: insufficient
    groups = {r.group_name: r for r in headline.itertuples()}
    assert list(headline["group_kind"]) == ["population"] + ["programme"] * 3
    counts = {name: (g.curves, g.turned, g.improving, g.worsening, g.no_change,
                     g.insufficient_data) for name, g in groups.items()}
    assert counts == {
        "Headline indicators": (2, 2, 0, 0, 0, 0),
        "Alpha": (2, 1, 0, 0, 1, 0),
        "Beta": (1, 0, 0, 0, 1, 0),
        "Gamma": (1, 0, 0, 0, 0, 1),
    }
    assert groups["Alpha"].headline == "1 of 2 curves turned; 0 improving; 0 worsening"


# ------------------------------------------------------------------------------ rebaseline


@pytest.mark.parametrize(("measure_id", "method"), [("m_small", "p_chart"), ("m_wide", "xmr")])
def test_rebaseline_judges_the_series_as_the_run_does(tmp_path, measure_id, method):
    # percentages of 10 of 20 (mean denominator 20: a p-chart) and 30 of 60 (60: XmR)
    from pipelines.cli import main

    measures = [_measure(m, unit="percent", direction="up") for m in ("m_small", "m_wide")]
    rows = (_rows("m_small", [50.0] * 36, dens=[20.0] * 36)
            + _rows("m_wide", [50.0, 55.0] * 18, dens=[60.0] * 36))
    _warehouse(tmp_path, measures, rows, ["m_small"])
    (tmp_path / "exports").mkdir()
    assert main(["rebaseline", measure_id, "--end", str(MONTHS[23].date()),
                 "--exports", str(tmp_path / "exports"), "--out", str(tmp_path / "out")]) == 0
    lock = load_locked(measure_id, tmp_path / "out" / "baselines")
    assert lock["baseline_end"][:10] == str(MONTHS[23].date())
    assert lock["spc"]["method"] == method


def test_rebaseline_leaves_suppressed_values_out_of_the_fit(tmp_path):
    # a count whose history holds 3 (suppressed under the bound of 5) in place of 100: the
    # locked forecast is the one fitted with that month a gap, as the run fits it
    from pipelines.cli import main

    history = list(BASE)
    history[10] = 3.0
    _warehouse(tmp_path, [_measure("m_gap")], _rows("m_gap", history + [100.0, 104.0] * 6),
               ["m_gap"])
    (tmp_path / "exports").mkdir()
    assert main(["rebaseline", "m_gap", "--end", str(MONTHS[23].date()),
                 "--exports", str(tmp_path / "exports"), "--out", str(tmp_path / "out")]) == 0
    lock = load_locked("m_gap", tmp_path / "out" / "baselines")
    gap = list(BASE)
    gap[10] = np.nan
    expected = assess_series(monthly(gap + [100.0, 104.0] * 6, "2022-01-31"), "down",
                             baseline_end=MONTHS[23])
    kept = assess_series(monthly(history + [100.0, 104.0] * 6, "2022-01-31"), "down",
                         baseline_end=MONTHS[23])
    locked = [row["forecast"] for row in lock["forecast"]][:12]
    future = expected.index > MONTHS[23]
    np.testing.assert_allclose(locked, expected.loc[future, "forecast"].iloc[:12], rtol=1e-6)
    assert not np.allclose(locked, kept.loc[future, "forecast"].iloc[:12], rtol=1e-6)
