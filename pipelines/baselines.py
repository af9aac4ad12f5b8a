"""Baselines, forecasts, turned curves and statistical process control (DESIGN.md §4).

Pure Python (pandas, numpy, statsmodels); no Dagster. :func:`build_measure_status` writes
``marts.measure_status`` (the Dagster asset of that name calls it): :func:`assess_all` calls
:func:`assess_series` once per measure series and adds the series' key.

Series
------
:func:`assess_series` takes a float ``pd.Series`` of one measure indexed by ``period_end``.

* **Frequency** is detected from the index: if every period is 31 March the series is
  *annual* (``"A"``, one point per financial year), otherwise *monthly* (``"M"``). Pass
  ``freq="M"``/``"A"`` to override. Dates are snapped to their period end (month end; for
  annual, the 31 March on or after the date) and the index is made regular: a missing
  period becomes a NaN row. Duplicate periods after snapping raise ``ValueError``.
* **Future periods**: 12 month ends after the last input period (monthly), 3 financial
  year ends (annual).
* **Latest period** = the last period with a non-missing value. ``±inf`` counts as missing.
* **Gaps** (DESIGN §4): a missing *or suppressed* period is a gap, never a zero. A period is
  suppressed when the public release would suppress it (:func:`suppressed_periods`): a
  count, or the numerator or denominator of a percent or rate (the denominator of a mean
  number of days), from 1 to the suppression upper bound
  (``raw.oba_config.suppression_upper``, default 5; 0 is a true zero). :func:`assess_series` works on the series with its suppressed values set to NaN:
  they are exactly like missing values everywhere below (forecast fit, SPC limits, rules,
  status). The ``value`` column keeps the actual value (``published.*`` suppresses it).

Baseline (DESIGN §4)
--------------------
* Baseline end: the ``baseline_end`` argument (snapped to the period containing it:
  month end, or the 31 March ending the financial year), else 12 periods before the
  latest — for every frequency, so an annual series needs 24 years before it gets a
  default baseline; give annual measures a configured ``baseline_end``.
* History = periods <= baseline end. It needs at least :data:`MIN_HISTORY` (12)
  *non-missing* points; otherwise ``status`` and ``spc_signal`` are
  ``insufficient_data`` on every row and there is no forecast and no SPC limits
  (nothing is ever fabricated). A typical annual series of 6–10 points is therefore
  ``insufficient_data``.

Forecast and model-selection rule
---------------------------------
The forecast is fitted on the history only (never on data after the baseline end) and
projected to the last output period (latest + 12 months, or + 3 years), with an 80%
prediction interval. Candidates, all from statsmodels:

* ``linear_trend`` – OLS of value on time; 80% interval = OLS prediction interval
  (``obs_ci``; t distribution, includes parameter uncertainty). Always a candidate.
* ``ets_ANN`` (simple exponential smoothing), ``ets_AAdN`` (Holt, additive damped trend)
  and ``ets_AAN`` (Holt, additive trend) – ``statsmodels.tsa.exponential_smoothing.ets
  .ETSModel`` with additive errors, no seasonality; 80% interval = ETS analytical
  prediction interval. Candidates only when the history has at least
  :data:`MIN_HISTORY_ETS` (24) non-missing points.

The model with the lowest AICc wins. AICc is computed the same way for every candidate,
from its Gaussian log-likelihood on the same observations, with k = estimated
coefficients (including ETS initial states) + 1 for the error variance. (OLS linear trend
is ETS(A,A,N) with both smoothing parameters 0, so the likelihoods are comparable.) Ties
go to the earlier candidate in the order above. A candidate that fails to fit or gives a
non-finite forecast is skipped; if all fail, the series is ``insufficient_data``.
Seasonal models are not offered: the measures are snapshots or rolling 12-month flows.

NaN policy
----------
* Forecast: leading and trailing missing history values are dropped (the forecast origin
  is the last observed history period; horizons count from it) and inner gaps are
  linearly interpolated before fitting. The 12-point minimum counts observed points only.
* SPC limits: the mean uses the observed history points; a moving range is formed only
  between two *adjacent* periods that are both observed (as in NHSRplotthedots, where
  ``diff`` of a missing value is missing). No moving range at all → SPC
  ``insufficient_data``.
* SPC rules: a missing value breaks a shift and a trend (runs need consecutive periods);
  in a two-of-three window a missing point counts as not beyond 2/3.
* Rows with a missing value get ``status`` and ``spc_signal`` = null (None/NaN). A
  suppressed value is a gap as a missing one: NaN in the fit (interpolated when inner, so the
  forecast never sees a zero), no moving range to or from it, a break in a shift or trend,
  and a null ``spc_signal`` — except on the latest row, which carries the signal of the last
  unsuppressed value (the headline is about the last value that can be shown). A suppressed
  row's ``status`` is the one "as at" it, judged on the unsuppressed values up to it.

Status (turn the curve; DESIGN §4)
----------------------------------
Good side from ``direction_of_good`` (``"up"``: above the forecast is good; ``"down"``:
below). For a period t after the baseline end, let *last3* be the last 3 observed values
after the baseline end up to t (all of them if fewer):

* ``turned`` – all of last3 strictly on the good side of the forecast and the value at t
  strictly beyond the 80% interval (on the good side);
* ``worsening`` – the value at t strictly beyond the interval on the bad side;
* ``improving`` – all of last3 on the good side but t inside the interval;
* ``no_change`` – otherwise.

**Statuses only where the data bears them.** A status needs at least
:data:`MIN_ACTUALS_AFTER_BASELINE` (3) unsuppressed values after the baseline end and a
history with at most :data:`MAX_HISTORY_GAP_SHARE` (25%) gaps (gaps / periods from the first
period with a value to the baseline end); otherwise it is ``insufficient_data``. Such a series
makes no SPC claim either: ``spc_signal`` and ``variation`` are ``insufficient_data`` on every
row (the forecast and limits are still drawn when there is a model). ``status_note`` says why
("Only 2 values since the baseline end; 3 are needed.", "41% of the baseline history is missing
or suppressed; at most 25% is allowed.", "Fewer than 12 values before the baseline end.").

The ``status`` column is **per row, "as at" that period**: for observed rows after the
baseline end it is the status that would have been reported with that period as the
latest; history rows, missing-value rows and future rows hold null. The row with
``is_latest`` True holds the headline status. When the history is insufficient (or no
model could be fitted) every row holds ``insufficient_data``. If there is no observed
value after the baseline end (e.g. a configured baseline end at the latest period) the
latest status is ``insufficient_data`` (nothing to judge yet).

SPC (NHS "Making Data Count" XmR, as NHSRplotthedots)
-----------------------------------------------------
Centre = mean of the history; limits = mean ± 2.66 × mean moving range of the history,
fixed at the baseline end and applied to every observed period (not rolled forward).

**Small denominators** (``spc_method``): a percent measure whose history's mean denominator
(over its unsuppressed points) is under :data:`P_CHART_MAX_MEAN_DENOMINATOR` (50) uses a
p-chart instead: p̄ = Σnumerators / Σdenominators over the same points, centre 100·p̄ and,
per point, limits 100·(p̄ ± 3·√(p̄(1−p̄)/nᵢ)) clipped to [0, 100] (:func:`p_chart_limits`;
NaN where the point has no denominator, e.g. the forecast periods). The rules below then use
each point's own limits; shift and trend use the centre line 100·p̄. Assurance uses the
limits of the latest unsuppressed point.
Rules (see :func:`spc_rules`), each evaluated separately above and below the mean:

1. a point strictly outside a limit (comparisons here and below are strict, with a 1e-9
   relative tolerance so that floating-point noise is neither a signal nor a break);
2. shift: ``shift_length`` (7) or more consecutive points strictly on one side of the
   mean; a point on the mean (within 1e-9 relative) breaks it;
3. trend: ``trend_length`` (7) or more consecutive points each strictly higher (or
   lower) than the one before, i.e. 6 rises in a row; a tie breaks it;
4. two of three: in any 3 consecutive periods, at least 2 points beyond 2/3 of the way
   from the mean to the same limit (beyond the limit counts too). The third point may
   be anywhere, as in the Western Electric rule and DESIGN's wording
   (NHSRplotthedots additionally requires the third point on the same side of the mean,
   and does not count points beyond the limit).

Every point of a qualifying run is flagged (NHSRplotthedots' "part of a run"); for
two-of-three only the points beyond 2/3 are flagged. A flag above the mean (or an
increasing trend) is *high*, below the mean (or a decreasing trend) is *low*. Per point,
``spc_signal`` = ``improvement`` if it has a flag in the good direction, else ``concern``
if it has a flag in the bad direction, else ``common_cause`` — so a point flagged both
ways is ``improvement``, as DESIGN §4 requires. The latest row's signal is the headline.

**Variation icon** (``variation``, Making Data Count as NHSRplotthedots draws it), on every
row with a signal: ``common_cause``, ``improvement_high``/``improvement_low``,
``concern_high``/``concern_low`` (the side of the centre line of the flag that gave the
signal: an improvement is high when up is good, low when down is good; a concern the
opposite) or ``insufficient_data``.

**Rebase suggested, never automatic.** When the run of consecutive points on one side of the
centre line that ends at the latest value (a gap or a point on the line breaks it) counts
:data:`REBASE_RUN` (12) or more points after the baseline end, ``rebase_suggested`` is True on
every row and ``rebase_note`` says so, naming the ``oba rebaseline`` command. Nothing is
rebased.

**Disagreement line** (``status_note``, same on every row): when the latest status and SPC
signal point different ways (turned or improving with a concern; worsening with an
improvement; turned or worsening with common-cause variation; no change with a signal), one
plain-English line says why from the numbers' positions (forecast, its interval, the baseline
average) without quoting any figure, e.g. "Below the forecast and beyond its 80% interval (so
the curve has turned) but still above the baseline average, which is a rising history's mean:
SPC flags it as high (a run of points above the average)." Null when they agree.

Assurance (Making Data Count)
-----------------------------
From the target and the (locked) process limits, see :func:`assurance`:
``consistently_met`` (the whole process is on the good side of the target: for "up" the
target is strictly below the lower limit), ``consistently_missed`` (target strictly
beyond the far limit), ``hit_and_miss`` (target between the limits, inclusive),
``no_target`` (no target), ``insufficient_data`` (no limits). Same value on every row.

Output of :func:`assess_series`
-------------------------------
A DataFrame indexed by ``period_end`` (input periods, regularised, then the future
periods) with the columns in :data:`COLUMNS`:

===================== =====================================================================
value                 the measure (NaN for missing and future periods)
forecast              baseline forecast; NaN up to and including the baseline end
forecast_lower/upper  80% prediction interval
baseline_end          the baseline end period (same on every row; NaT if no data)
status                per-row "as at" status, see above
spc_signal            per-point SPC signal (null on missing/future rows)
spc_mean/lower/upper  centre line and process limits (XmR: same on every row; p-chart:
                      limits per point)
target                the target (NaN if none)
assurance             target assurance (same on every row)
spc_method            ``xmr`` or ``p_chart`` (null when there is no model)
variation             Making Data Count variation icon key (null on missing/future rows)
status_note           why there is no status, or why status and SPC disagree; else null
rebase_suggested      True on every row when a 12-point shift after the baseline end
                      suggests a rebase
rebase_note           the suggestion, with the ``oba rebaseline`` command; else null
model                 name of the forecast model (``linear_trend``, ``ets_*``) or None
locked                True when forecast and limits come from a locked baseline
is_latest             True only on the latest observed period
is_future             True on the projected periods after the last input period
spc_outside_limits,
spc_shift, spc_trend,
spc_two_of_three      per-point rule flags (either direction)
===================== =====================================================================

``df.attrs["baseline"]`` holds a JSON-able summary (frequency, fitted model parameters
and the history it was fitted on, SPC limits, headline status/signal/assurance) that
:func:`lock_baseline` uses.

Locked baselines
----------------
OBA judges success against the forecast made before the work began.
:func:`lock_baseline` writes ``<dir>/<measure_id>.json`` whole or not at all
(:func:`dashboards.outputs.write_text`); :func:`load_locked` reads it; ``assess_series(..., locked=lock)`` then
uses the locked baseline end, forecast, interval and SPC limits instead of refitting, so
revisions to history cannot move the baseline. The lock's ``spc`` keeps the method
(``p_chart`` with its p̄ and mean denominator; a lock without a method is XmR, as every lock
written before p-charts), and a locked p-chart recomputes each point's limits from the locked
p̄ and the point's current denominator. Beyond the periods stored in the lock the
forecast is extended from the locked model: the lock keeps the fitted history values and
parameters, and statsmodels re-creates the same model from them (OLS on the stored
values; ``ETSModel.smooth`` with the stored parameters — no re-estimation). Locking again
is re-baselining: the previous file is kept as ``<measure_id>.v<N>.json`` and the new one
gets version N+1.

Descriptive summaries
---------------------
:func:`describe_series` gives Clear Impact Scorecard style figures (current trend run,
% change from the baseline, variance from target). They are labelled descriptive and are
not signals.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import re
import shutil
import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines import settings
from pipelines.forked import split_map

# The fits are tiny (tens of points, a handful of parameters): OpenBLAS's worker threads only
# add hand-offs, and on a busy machine they spin for milliseconds per optimiser step (scipy's
# L-BFGS-B took several times longer). One thread, unless the environment says otherwise; set
# before scipy (imported with statsmodels, on the first fit) loads its OpenBLAS.
settings.library_defaults(OPENBLAS_NUM_THREADS="1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dashboards.outputs import write_text  # noqa: E402

__all__ = [
    "ASSURANCES",
    "COLUMNS",
    "SPC_RULE_FLAGS",
    "SPC_METHODS",
    "SPC_SIGNALS",
    "STATUSES",
    "VARIATIONS",
    "STATUS_COLUMNS",
    "BaselineFit",
    "SpcLimits",
    "assess_all",
    "assess_series",
    "assurance",
    "baseline_lock_dir",
    "build_measure_status",
    "curve_status",
    "describe_series",
    "detect_frequency",
    "fit_baseline",
    "headline_series",
    "load_series_inputs",
    "series_inputs",
    "SeriesInputs",
    "warehouse_series",
    "suppressed_periods",
    "suppression_bound",
    "load_locked",
    "lock_baseline",
    "prewarm",
    "series_key",
    "p_chart_limits",
    "spc_limits",
    "spc_rules",
    "spc_signals",
]

STATUSES = ("turned", "improving", "no_change", "worsening", "insufficient_data")
SPC_SIGNALS = ("improvement", "concern", "common_cause", "insufficient_data")
SPC_METHODS = ("xmr", "p_chart")
VARIATIONS = (
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "insufficient_data",
)
ASSURANCES = (
    "consistently_met",
    "consistently_missed",
    "hit_and_miss",
    "no_target",
    "insufficient_data",
)

MIN_HISTORY = 12
"""Minimum number of observed history points for a forecast and SPC limits."""
MIN_HISTORY_ETS = 24
"""Minimum number of observed history points before ETS models are candidates."""
BASELINE_OFFSET_PERIODS = 12
"""Default baseline end: this many periods before the latest."""
INTERVAL_LEVEL = 0.80
HORIZON = {"M": 12, "A": 3}
"""Future periods after the last input period, by frequency."""
SPC_LIMIT_FACTOR = 2.66
P_CHART_SIGMAS = 3.0
P_CHART_MAX_MEAN_DENOMINATOR = 50
"""A percent measure whose history's mean denominator is under this uses p-chart limits."""
MIN_ACTUALS_AFTER_BASELINE = 3
"""Unsuppressed values after the baseline end a status needs."""
MAX_HISTORY_GAP_SHARE = 0.25
"""Largest share of the history window (first observed period to the baseline end) that may be
missing or suppressed."""
DEFAULT_SUPPRESSION_UPPER = 5
"""Counts from 1 to this are suppressed when raw.oba_config does not say (DESIGN §5)."""
REBASE_RUN = 12
"""A shift this long after the baseline end (ending at the latest point) suggests a rebase."""
LOCK_FORMAT = 1
MODELS = ("linear_trend", "ets_ANN", "ets_AAdN", "ets_AAN")

SPC_RULE_FLAGS = ("spc_outside_limits", "spc_shift", "spc_trend", "spc_two_of_three")
"""Which SPC rules each period breaks (in :func:`assess_series`' frame, not in the mart)."""

COLUMNS = (
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
    "spc_method",
    "variation",
    "status_note",
    "rebase_suggested",
    "rebase_note",
    "model",
    "locked",
    "is_latest",
    "is_future",
    *SPC_RULE_FLAGS,
)

# marts.measure_status: each series' key, then the assessment without the SPC rule flags, then
# where the baseline end came from and the series' descriptive summary (JSON).
STATUS_COLUMNS = (
    "measure_id",
    "breakdown",
    "breakdown_value",
    "period_end",
    *(c for c in COLUMNS if c not in SPC_RULE_FLAGS),
    "baseline_source",
    "descriptive",
)

_RULE_COLUMNS = (
    "outside_upper",
    "outside_lower",
    "shift_above",
    "shift_below",
    "trend_up",
    "trend_down",
    "two_of_three_above",
    "two_of_three_below",
    "special_cause_high",
    "special_cause_low",
)
_ETS_SPECS = {
    "ets_ANN": {"trend": None, "damped_trend": False},
    "ets_AAN": {"trend": "add", "damped_trend": False},
    "ets_AAdN": {"trend": "add", "damped_trend": True},
}
_UNIT = "us"
_REL_TOL = 1e-9


# --------------------------------------------------------------------------- periods


def _direction(direction_of_good: str) -> str:
    d = str(direction_of_good).strip().lower()
    if d not in ("up", "down"):
        raise ValueError(f"direction_of_good must be 'up' or 'down', not {direction_of_good!r}")
    return d


def _freq_arg(freq: str | None) -> str | None:
    if freq is None:
        return None
    f = str(freq).strip().upper()
    if f in ("M", "ME", "MONTHLY", "MONTH"):
        return "M"
    if f in ("A", "Y", "YE", "YE-MAR", "ANNUAL", "YEARLY", "YEAR"):
        return "A"
    raise ValueError(f"freq must be 'M' (monthly) or 'A' (annual, 31 March), not {freq!r}")


def _to_datetime_index(index: pd.Index) -> pd.DatetimeIndex:
    if isinstance(index, pd.PeriodIndex):
        idx = index.to_timestamp(how="end")
    else:
        idx = pd.DatetimeIndex(pd.to_datetime(index))
    if idx.tz is not None:
        idx = idx.tz_convert(None)
    return idx.normalize().as_unit(_UNIT)


def detect_frequency(index: pd.Index) -> str:
    """``"A"`` if every period is 31 March (annual financial-year figures), else ``"M"``."""
    idx = _to_datetime_index(pd.Index(index))
    if len(idx) > 0 and bool(np.all((idx.month == 3) & (idx.day == 31))):
        return "A"
    return "M"


def _snap(ts: pd.Timestamp, freq: str) -> pd.Timestamp:
    """The end of the period containing ``ts``."""
    ts = pd.Timestamp(ts)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(None)
    ts = ts.normalize()
    if freq == "A":
        year = ts.year if (ts.month, ts.day) <= (3, 31) else ts.year + 1
        return pd.Timestamp(year=year, month=3, day=31).as_unit(_UNIT)
    return (ts + pd.offsets.MonthEnd(0)).as_unit(_UNIT)


def _snap_all(idx: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """:func:`_snap` of every period of a normalised, tz-naive index, at once."""
    if idx.hasnans:  # _snap says what is wrong with a missing period
        return pd.DatetimeIndex([_snap(t, freq) for t in idx]).as_unit(_UNIT)
    if freq == "A":
        years = np.asarray(idx.year, dtype="int64") + (np.asarray(idx.month) > 3)
        march = ((years - 1970) * 12 + 2).astype("datetime64[M]").astype("datetime64[D]")
        return pd.DatetimeIndex(march + np.timedelta64(30, "D")).as_unit(_UNIT)
    return pd.DatetimeIndex(np.asarray((idx + pd.offsets.MonthEnd(0)).as_unit(_UNIT)))


def _shift(ts: pd.Timestamp, n: int, freq: str) -> pd.Timestamp:
    if freq == "A":
        return pd.Timestamp(year=ts.year + n, month=3, day=31).as_unit(_UNIT)
    return (ts + pd.offsets.MonthEnd(n)).as_unit(_UNIT)


def _steps(origin: pd.Timestamp, period: pd.Timestamp, freq: str) -> int:
    if freq == "A":
        return period.year - origin.year
    return (period.year - origin.year) * 12 + period.month - origin.month


def _period_range(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    rule = "YE-MAR" if freq == "A" else "ME"
    return pd.date_range(start, end, freq=rule).as_unit(_UNIT)


def _prepare(values: pd.Series, freq: str | None) -> tuple[pd.Series, str]:
    """A regular float series indexed by period end (missing periods → NaN)."""
    if not isinstance(values, pd.Series):
        values = pd.Series(values)
    idx = _to_datetime_index(values.index)
    f = _freq_arg(freq) or detect_frequency(idx)
    snapped = _snap_all(idx, f)
    if snapped.has_duplicates:
        raise ValueError("values has more than one value for the same period")
    vals = pd.to_numeric(pd.Series(np.asarray(values, dtype=object)), errors="coerce")
    arr = np.array(vals, dtype=float, copy=True)
    arr[~np.isfinite(arr)] = np.nan
    s = pd.Series(arr, index=snapped, dtype=float).sort_index()
    if len(s):
        s = s.reindex(_period_range(s.index[0], s.index[-1], f))
    s.index.name = "period_end"
    return s, f


def _clean_target(target: Any) -> float | None:
    if target is None:
        return None
    try:
        t = float(target)
    except (TypeError, ValueError):
        return None
    return t if math.isfinite(t) else None


def _iso(ts: Any) -> str | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).date().isoformat()


def _num(x: Any) -> float | None:
    """JSON-safe float (NaN/inf → None)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _nan(x: Any) -> float:
    return float("nan") if x is None else float(x)


# ------------------------------------------------------------------------------ SPC


@dataclass(frozen=True)
class SpcLimits:
    """Centre line and process limits computed from a history.

    ``method`` ``"xmr"``: fixed limits ``lower``/``upper``. ``"p_chart"``: the centre is
    ``100·p_bar`` and the limits depend on each point's denominator (:meth:`per_point`);
    ``lower``/``upper`` are those at the history's mean denominator.
    """

    mean: float
    lower: float
    upper: float
    mean_moving_range: float
    n_points: int
    n_moving_ranges: int
    method: str = "xmr"
    p_bar: float = float("nan")
    mean_denominator: float = float("nan")

    @property
    def ok(self) -> bool:
        if self.method == "p_chart":
            return math.isfinite(self.mean) and math.isfinite(self.p_bar)
        return all(math.isfinite(v) for v in (self.mean, self.lower, self.upper))

    def per_point(self, denominators: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper limit of each of ``n`` points (``denominators``: each point's
        denominator, NaN where unknown; used by the p-chart only)."""
        if self.method == "p_chart":
            return p_chart_limits(self.p_bar, denominators)
        return np.full(n, self.lower, dtype=float), np.full(n, self.upper, dtype=float)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "mean": _num(self.mean),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "mean_moving_range": _num(self.mean_moving_range),
            "n_points": int(self.n_points),
            "n_moving_ranges": int(self.n_moving_ranges),
            "method": self.method,
        }
        if self.method == "p_chart":
            out["p_bar"] = _num(self.p_bar)
            out["mean_denominator"] = _num(self.mean_denominator)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SpcLimits:
        """Limits from :meth:`as_dict` (a lock written before p-charts has no method: XmR)."""
        d = d or {}
        method = d.get("method") or "xmr"
        if method not in SPC_METHODS:
            raise ValueError(f"unknown SPC method {method!r} in a locked baseline")
        return cls(
            mean=_nan(d.get("mean")),
            lower=_nan(d.get("lower")),
            upper=_nan(d.get("upper")),
            mean_moving_range=_nan(d.get("mean_moving_range")),
            n_points=int(d.get("n_points") or 0),
            n_moving_ranges=int(d.get("n_moving_ranges") or 0),
            method=method,
            p_bar=_nan(d.get("p_bar")),
            mean_denominator=_nan(d.get("mean_denominator")),
        )


def p_chart_limits(p_bar: float, denominators: Any) -> tuple[np.ndarray, np.ndarray]:
    """p-chart limits in percent, per point: 100·(p̄ ± 3·√(p̄(1−p̄)/nᵢ)), clipped to [0, 100].

    ``p_bar`` is a proportion (0–1); NaN limits where a denominator is missing or not
    positive."""
    with np.errstate(all="ignore"):
        n = np.asarray(denominators, dtype=float).copy()
        n[~(np.isfinite(n) & (n > 0))] = np.nan
        half = P_CHART_SIGMAS * np.sqrt(p_bar * (1.0 - p_bar) / n)
        lower = np.clip(100.0 * (p_bar - half), 0.0, 100.0)
        upper = np.clip(100.0 * (p_bar + half), 0.0, 100.0)
    return lower, upper


def _p_chart(
    history_numerators: np.ndarray, history_denominators: np.ndarray, n_points: int
) -> SpcLimits | None:
    """p-chart limits when the history's mean denominator is under
    :data:`P_CHART_MAX_MEAN_DENOMINATOR` (points with a positive denominator and a
    numerator), else None (XmR stands)."""
    num = np.asarray(history_numerators, dtype=float)
    den = np.asarray(history_denominators, dtype=float)
    keep = np.isfinite(num) & np.isfinite(den) & (den > 0)
    if not keep.any():
        return None
    mean_den = float(den[keep].mean())
    if mean_den >= P_CHART_MAX_MEAN_DENOMINATOR:
        return None
    p_bar = float(num[keep].sum() / den[keep].sum())
    lower, upper = p_chart_limits(p_bar, [mean_den])
    return SpcLimits(
        mean=100.0 * p_bar,
        lower=float(lower[0]),
        upper=float(upper[0]),
        mean_moving_range=float("nan"),
        n_points=n_points,
        n_moving_ranges=0,
        method="p_chart",
        p_bar=p_bar,
        mean_denominator=mean_den,
    )


def spc_limits(history: Any, *, screen_outliers: bool = False) -> SpcLimits:
    """XmR limits of ``history`` (values in period order, one per consecutive period).

    Mean of the observed values; moving ranges |x_t − x_{t−1}| only where both adjacent
    values are observed; limits = mean ± 2.66 × mean moving range. ``screen_outliers``
    (off by default, as DESIGN §4) drops moving ranges ≥ 3.267 × the mean moving range
    and recomputes, as NHSRplotthedots' ``screen_outliers`` option. NaN limits when
    there is no observed point or no moving range.
    """
    with np.errstate(all="ignore"):
        y = np.asarray(history, dtype=float).copy()
        y[~np.isfinite(y)] = np.nan
        obs = ~np.isnan(y)
        n = int(obs.sum())
        mean = float(np.mean(y[obs])) if n else float("nan")
        mr = np.abs(np.diff(y))
        mr = mr[~np.isnan(mr)]
        amr = float(np.mean(mr)) if len(mr) else float("nan")
        if screen_outliers and len(mr):
            kept = mr[mr < 3.267 * amr]
            mr = kept if len(kept) else mr
            amr = float(np.mean(mr))
        lower = mean - SPC_LIMIT_FACTOR * amr
        upper = mean + SPC_LIMIT_FACTOR * amr
    return SpcLimits(mean, lower, upper, amr, n, len(mr))


def _runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """Flag every element of each run of True of length >= min_len."""
    out = np.zeros(len(mask), dtype=bool)
    start = None
    for i, m in enumerate([*mask.tolist(), False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            if i - start >= min_len:
                out[start:i] = True
            start = None
    return out


def _two_of_three(near: np.ndarray) -> np.ndarray:
    out = np.zeros(len(near), dtype=bool)
    for i in range(len(near) - 2):
        window = near[i : i + 3]
        if window.sum() >= 2:
            out[i : i + 3] |= window
    return out


def spc_rules(
    values: Any,
    mean: float,
    lower: float,
    upper: float,
    *,
    shift_length: int = 7,
    trend_length: int = 7,
) -> pd.DataFrame:
    """Special-cause flags per point (one point per consecutive period, NaN = missing).

    ``lower``/``upper`` are scalars (XmR) or one limit per point (p-chart; a point with a
    NaN limit is never outside it nor near it). Returns a boolean DataFrame (index of
    ``values`` if it is a Series) with columns
    ``outside_upper``, ``outside_lower``, ``shift_above``, ``shift_below``, ``trend_up``,
    ``trend_down``, ``two_of_three_above``, ``two_of_three_below`` and the summaries
    ``special_cause_high`` / ``special_cause_low`` (any rule above the mean or
    increasing / below or decreasing). All False when the mean or every limit is not
    finite.
    """
    if int(shift_length) < 2 or int(trend_length) < 2:
        raise ValueError("shift_length and trend_length must be at least 2")
    index = values.index if isinstance(values, pd.Series) else None
    with np.errstate(all="ignore"):
        y = np.asarray(values, dtype=float).copy()
        y[~np.isfinite(y)] = np.nan
        n = len(y)
        flags = {c: np.zeros(n, dtype=bool) for c in _RULE_COLUMNS}
        mean = float(mean)
        lower = np.broadcast_to(np.asarray(lower, dtype=float), (n,))
        upper = np.broadcast_to(np.asarray(upper, dtype=float), (n,))
        if n and math.isfinite(mean) and np.isfinite(lower).any() and np.isfinite(upper).any():
            obs = ~np.isnan(y)
            scale = max(1.0, abs(mean), float(np.nanmax(np.abs(y))) if obs.any() else 0.0)
            tol = _REL_TOL * scale if math.isfinite(scale) else 0.0
            yy = np.where(obs, y, mean)  # placeholder, masked out below
            flags["outside_upper"] = obs & (yy - upper > tol)
            flags["outside_lower"] = obs & (lower - yy > tol)
            above = obs & (yy - mean > tol)
            below = obs & (mean - yy > tol)
            flags["shift_above"] = _runs(above, int(shift_length))
            flags["shift_below"] = _runs(below, int(shift_length))
            if n >= 2:
                d = np.diff(y)  # NaN where either neighbour is missing
                for name, step in (("trend_up", d > tol), ("trend_down", -d > tol)):
                    step = step & ~np.isnan(d)
                    run = _runs(step, int(trend_length) - 1)
                    f = np.zeros(n, dtype=bool)
                    f[1:] |= run
                    f[:-1] |= run
                    flags[name] = f
            near_high = obs & (yy - (mean + (upper - mean) * 2.0 / 3.0) > tol)
            near_low = obs & ((mean - (mean - lower) * 2.0 / 3.0) - yy > tol)
            flags["two_of_three_above"] = _two_of_three(near_high)
            flags["two_of_three_below"] = _two_of_three(near_low)
            flags["special_cause_high"] = (
                flags["outside_upper"]
                | flags["shift_above"]
                | flags["trend_up"]
                | flags["two_of_three_above"]
            )
            flags["special_cause_low"] = (
                flags["outside_lower"]
                | flags["shift_below"]
                | flags["trend_down"]
                | flags["two_of_three_below"]
            )
    return pd.DataFrame(flags, index=index)


def spc_signals(values: Any, flags: pd.DataFrame, direction_of_good: str) -> list[str | None]:
    """Per-point ``improvement`` / ``concern`` / ``common_cause`` (None where missing).

    A point flagged in the good direction is ``improvement`` even if it is also flagged in
    the bad direction (DESIGN §4, as the NHS tool does).
    """
    d = _direction(direction_of_good)
    y = np.asarray(values, dtype=float)
    high = flags["special_cause_high"].to_numpy(dtype=bool)
    low = flags["special_cause_low"].to_numpy(dtype=bool)
    good, bad = (high, low) if d == "up" else (low, high)
    out: list[str | None] = []
    for i in range(len(y)):
        if not math.isfinite(y[i]):
            out.append(None)
        elif good[i]:
            out.append("improvement")
        elif bad[i]:
            out.append("concern")
        else:
            out.append("common_cause")
    return out


def assurance(target: float | None, lower: float, upper: float, direction_of_good: str) -> str:
    """Making Data Count target assurance from the process limits.

    ``consistently_met`` when the whole process is on the good side of the target (for
    "up": target < lower limit; "down": target > upper limit), ``consistently_missed``
    when it is wholly on the bad side, ``hit_and_miss`` when the target lies between the
    limits (inclusive), ``no_target`` without a target, ``insufficient_data`` without
    finite limits.
    """
    d = _direction(direction_of_good)
    t = _clean_target(target)
    if t is None:
        return "no_target"
    lower, upper = float(lower), float(upper)
    if not (math.isfinite(lower) and math.isfinite(upper)):
        return "insufficient_data"
    if t < lower:
        return "consistently_met" if d == "up" else "consistently_missed"
    if t > upper:
        return "consistently_missed" if d == "up" else "consistently_met"
    return "hit_and_miss"


# ------------------------------------------------------------------------- forecast


@contextlib.contextmanager
def _quiet() -> Any:
    """Silence statsmodels/numpy warnings (ConvergenceWarning, overflow, ...) locally."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


@dataclass
class BaselineFit:
    """A forecast model fitted on the history up to ``baseline_end``.

    ``history`` is the series the model was fitted on (first to last observed history
    point, inner gaps interpolated); its last period is the forecast origin.
    """

    freq: str
    baseline_end: pd.Timestamp
    model: str
    params: dict[str, float]
    history: pd.Series
    n_observed: int
    aicc: dict[str, float | None]
    spc: SpcLimits
    _result: Any = field(default=None, repr=False, compare=False)

    @property
    def origin(self) -> pd.Timestamp:
        return self.history.index[-1]

    def _statsmodels_result(self) -> Any:
        if self._result is None:
            self._result = _fit_model(self.model, self.history.to_numpy(), self.params)
        return self._result

    def forecast(self, periods: Any) -> pd.DataFrame:
        """Forecast, forecast_lower, forecast_upper for ``periods`` (NaN at or before the
        forecast origin)."""
        periods = pd.DatetimeIndex(periods).as_unit(_UNIT)
        out = pd.DataFrame(
            np.nan,
            index=periods,
            columns=["forecast", "forecast_lower", "forecast_upper"],
        )
        steps = np.array([_steps(self.origin, p, self.freq) for p in periods], dtype=int)
        if not (steps > 0).any():
            return out
        frame = _predict(self.model, self._statsmodels_result(), len(self.history), steps.max())
        ok = steps > 0
        out.loc[ok, :] = frame[steps[ok] - 1]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "freq": self.freq,
            "baseline_end": _iso(self.baseline_end),
            "model": self.model,
            "params": {k: _num(v) for k, v in self.params.items()},
            "history_start": _iso(self.history.index[0]),
            "history_values": [_num(v) for v in self.history.to_numpy()],
            "n_observed": int(self.n_observed),
            "aicc": {k: (None if v is None else _aicc_json(v)) for k, v in self.aicc.items()},
            "spc": self.spc.as_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BaselineFit:
        freq = _freq_arg(d["freq"]) or "M"
        start = _snap(pd.Timestamp(d["history_start"]), freq)
        values = [_nan(v) for v in d["history_values"]]
        index = pd.DatetimeIndex([_shift(start, i, freq) for i in range(len(values))])
        return cls(
            freq=freq,
            baseline_end=pd.Timestamp(d["baseline_end"]).as_unit(_UNIT),
            model=d["model"],
            params={k: _nan(v) for k, v in (d.get("params") or {}).items()},
            history=pd.Series(values, index=index, dtype=float),
            n_observed=int(d.get("n_observed") or len(values)),
            aicc=dict(d.get("aicc") or {}),
            spc=SpcLimits.from_dict(d.get("spc")),
        )


def _aicc_json(v: float) -> float | str:
    if math.isfinite(v):
        return float(v)
    return "-inf" if v < 0 else "inf"


_PREWARM: list[threading.Thread] = []


def prewarm() -> None:
    """Import the statsmodels modules the fits use (a second or more) in a background thread:
    called while the run waits on something else, so the first fit does not pay for it."""
    if _PREWARM:
        return
    thread = threading.Thread(target=_import_models, name="statsmodels-import", daemon=True)
    _PREWARM.append(thread)
    thread.start()


def _import_models() -> None:
    try:
        import statsmodels.regression.linear_model  # noqa: F401
        import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401
    except Exception:  # the fit imports them again and reports any problem
        pass


def _fit_model(name: str, y: np.ndarray, params: dict[str, float] | None = None) -> Any:
    """Fit (or, with ``params``, re-create without estimation) a statsmodels model."""
    with _quiet():
        if name == "linear_trend":
            from statsmodels.regression.linear_model import OLS

            t = np.arange(len(y), dtype=float)
            x = np.column_stack([np.ones_like(t), t])  # what sm.add_constant(t) makes
            return OLS(y, x).fit()
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        spec = _ETS_SPECS[name]
        model = ETSModel(
            pd.Series(y, dtype=float),
            error="add",
            trend=spec["trend"],
            damped_trend=spec["damped_trend"],
            seasonal=None,
        )
        if params is not None:
            return model.smooth(np.array([params[p] for p in model.param_names], dtype=float))
        return model.fit(disp=False)


def _predict(name: str, result: Any, n: int, horizon: int) -> np.ndarray:
    """Array (horizon, 3): mean, lower, upper of the 80% interval for h = 1..horizon."""
    alpha = 1.0 - INTERVAL_LEVEL
    with _quiet():
        if name == "linear_trend":
            t = np.arange(n, n + horizon, dtype=float)
            x = np.column_stack([np.ones_like(t), t])
            sf = result.get_prediction(x).summary_frame(alpha=alpha)
            return sf[["mean", "obs_ci_lower", "obs_ci_upper"]].to_numpy(dtype=float)
        sf = result.get_prediction(start=n, end=n + horizon - 1).summary_frame(alpha=alpha)
        return sf[["mean", "pi_lower", "pi_upper"]].to_numpy(dtype=float)


def _model_params(name: str, result: Any) -> dict[str, float]:
    if name == "linear_trend":
        p = np.asarray(result.params, dtype=float)
        return {"intercept": float(p[0]), "slope": float(p[1]), "sigma2": float(result.scale)}
    names = result.model.param_names
    return {k: float(v) for k, v in zip(names, np.asarray(result.params, dtype=float), strict=True)}


def _aicc(llf: float, k: int, n: int) -> float:
    if n - k - 1 <= 0 or not (math.isfinite(llf) or llf == math.inf):
        return math.nan
    return -2.0 * llf + 2.0 * k + 2.0 * k * (k + 1) / (n - k - 1)


def _history_for_fit(hist: pd.Series) -> pd.Series | None:
    obs = hist.dropna()
    if len(obs) < MIN_HISTORY:
        return None
    trimmed = hist.loc[obs.index[0] : obs.index[-1]]
    return trimmed.interpolate(method="linear", limit_area="inside")


def _default_baseline_end(s: pd.Series, freq: str) -> pd.Timestamp | None:
    obs = s.dropna()
    if obs.empty:
        return None
    return _shift(obs.index[-1], -BASELINE_OFFSET_PERIODS, freq)


def _fit_prepared(s: pd.Series, freq: str, baseline_end: pd.Timestamp) -> BaselineFit | None:
    hist = s[s.index <= baseline_end]
    y_series = _history_for_fit(hist)
    if y_series is None:
        return None
    limits = spc_limits(hist.to_numpy())
    y = y_series.to_numpy(dtype=float)
    n = len(y)
    n_obs = int(hist.notna().sum())
    names = ["linear_trend"] + (
        ["ets_ANN", "ets_AAdN", "ets_AAN"] if n_obs >= MIN_HISTORY_ETS else []
    )
    scored: list[tuple[float, int, str, Any]] = []
    aiccs: dict[str, float | None] = {}
    for order, name in enumerate(names):
        try:
            res = _fit_model(name, y)
            with _quiet():
                k = (2 if name == "linear_trend" else len(res.params)) + 1
                score = _aicc(float(res.llf), k, n)
            pred = _predict(name, res, n, 1)
        except Exception:  # noqa: BLE001 - a candidate that cannot be fitted is skipped
            aiccs[name] = None
            continue
        aiccs[name] = score
        if math.isnan(score) or not np.all(np.isfinite(pred)):
            continue
        scored.append((score, order, name, res))
    if not scored:
        return None
    scored.sort(key=lambda t: (t[0], t[1]))
    _, _, name, res = scored[0]
    with _quiet():
        params = _model_params(name, res)
    return BaselineFit(
        freq=freq,
        baseline_end=baseline_end,
        model=name,
        params=params,
        history=y_series,
        n_observed=n_obs,
        aicc=aiccs,
        spc=limits,
        _result=res,
    )


def fit_baseline(
    values: pd.Series, baseline_end: Any = None, *, freq: str | None = None
) -> BaselineFit | None:
    """Fit the baseline forecast and SPC limits on the history up to ``baseline_end``.

    Returns None when the history has fewer than :data:`MIN_HISTORY` observed points or
    no candidate model could be fitted. See the module docstring for the selection rule.
    """
    s, f = _prepare(values, freq)
    be = _snap(baseline_end, f) if baseline_end is not None else _default_baseline_end(s, f)
    if be is None:
        return None
    return _fit_prepared(s, f, be)


# --------------------------------------------------------------------------- status


def curve_status(
    values: Any,
    forecast: Any,
    lower: Any,
    upper: Any,
    direction_of_good: str,
) -> str:
    """Turn-the-curve status at the last observed point of post-baseline arrays.

    ``values``/``forecast``/``lower``/``upper`` are aligned, in period order, covering the
    periods after the baseline end up to the period assessed (missing values allowed).
    Returns ``insufficient_data`` when no value is observed or the forecast is missing
    at the assessed point.
    """
    d = _direction(direction_of_good)
    with np.errstate(all="ignore"):
        y = np.asarray(values, dtype=float)
        fc = np.asarray(forecast, dtype=float)
        lo = np.asarray(lower, dtype=float)
        hi = np.asarray(upper, dtype=float)
        obs = np.flatnonzero(np.isfinite(y))
        if len(obs) == 0:
            return "insufficient_data"
        last = obs[-1]
        if not (math.isfinite(fc[last]) and math.isfinite(lo[last]) and math.isfinite(hi[last])):
            return "insufficient_data"
        last3 = obs[-3:]
        # comparisons are strict, with a 1e-9 relative tolerance so that floating-point
        # noise (e.g. a zero-width interval around a constant history) is not a signal
        scale = np.maximum(1.0, np.abs(fc))
        tol = _REL_TOL * np.where(np.isfinite(scale), scale, 0.0)
        if d == "up":
            good_side = bool(np.all(y[last3] - fc[last3] > tol[last3]))
            beyond_good = y[last] - hi[last] > tol[last]
            beyond_bad = lo[last] - y[last] > tol[last]
        else:
            good_side = bool(np.all(fc[last3] - y[last3] > tol[last3]))
            beyond_good = lo[last] - y[last] > tol[last]
            beyond_bad = y[last] - hi[last] > tol[last]
    if good_side and beyond_good:
        return "turned"
    if beyond_bad:
        return "worsening"
    if good_side:
        return "improving"
    return "no_change"


# --------------------------------------------------------------------------- assess


def _empty_frame() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series([], dtype=object) for c in COLUMNS})
    for c in (
        "value",
        "forecast",
        "forecast_lower",
        "forecast_upper",
        "spc_mean",
        "spc_lower",
        "spc_upper",
        "target",
    ):
        df[c] = df[c].astype(float)
    for c in ("locked", "is_latest", "is_future", "rebase_suggested", *SPC_RULE_FLAGS):
        df[c] = df[c].astype(bool)
    df["baseline_end"] = df["baseline_end"].astype(f"datetime64[{_UNIT}]")
    df.index = pd.DatetimeIndex([], name="period_end").as_unit(_UNIT)
    return df


def _locked_forecast(
    locked: dict[str, Any], periods: pd.DatetimeIndex, freq: str
) -> tuple[pd.DataFrame, str | None]:
    out = pd.DataFrame(
        np.nan, index=periods, columns=["forecast", "forecast_lower", "forecast_upper"]
    )
    for row in locked.get("forecast") or []:
        p = _snap(pd.Timestamp(row["period_end"]), freq)
        if p in out.index:
            out.loc[p] = [_nan(row.get("forecast")), _nan(row.get("lower")), _nan(row.get("upper"))]
    model = (locked.get("model") or {}).get("name")
    missing = out["forecast"].isna()
    fit = locked.get("fit")
    if missing.any() and fit:
        try:
            extra = BaselineFit.from_dict(fit).forecast(periods[missing.to_numpy()])
            out.loc[missing] = out.loc[missing].fillna(extra)
        except Exception:  # noqa: BLE001 - keep what the lock stores
            pass
    return out, model


def suppressed_periods(
    values: pd.Series,
    unit: str | None,
    upper: int | None,
    numerators: pd.Series | None = None,
    denominators: pd.Series | None = None,
) -> np.ndarray:
    """Which periods of ``values`` the public release would suppress (boolean array): its
    primary suppression, as ``models/published/pub_measure_values.sql`` applies it.

    A count (``unit`` ``"count"`` or None: the numerator, else the value), or the numerator
    or denominator of a percent or rate, that rounds to 1 to ``upper``; a mean number of
    days on its denominator alone (its numerator counts days, not children). 0 is a true
    zero. Nothing is suppressed when ``upper`` is None. All three series share one index."""
    n = len(values)
    if upper is None:
        return np.zeros(n, dtype=bool)

    def small(series: pd.Series | None) -> np.ndarray:
        if series is None:
            return np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            x = np.floor(np.abs(series.to_numpy(dtype=float)) + 0.5)  # SQL's round()
            return np.isfinite(x) & (x > 0) & (x <= float(upper))

    observed = values.notna().to_numpy()
    if unit in (None, "count"):
        counts = values if numerators is None else numerators.fillna(values)
        return small(counts) & observed
    if unit == "days":
        return small(denominators) & observed
    return (small(numerators) | small(denominators)) & observed


def _aligned(other: Any, index: pd.DatetimeIndex, freq: str) -> pd.Series | None:
    """``other`` (a Series by period end, or None) on ``index``."""
    if other is None:
        return None
    s, _ = _prepare(other, freq) if len(other) else (pd.Series(dtype=float), freq)
    return s.reindex(index)


def _share_text(share: float, limit: float) -> str:
    text = f"{share:.0%}"
    if share > limit and text == f"{limit:.0%}":
        text = f"{share:.1%}"
    return text


def _sufficiency(
    s: pd.Series, w: pd.Series, be: pd.Timestamp | None, fitted: bool
) -> tuple[str | None, str | None]:
    """Why the series bears no status (the ``status_note``), or None; and the history's reason
    alone (None when the history bears SPC). ``s``: the values, ``w``: with gaps as NaN."""
    if be is None:
        return "No values yet.", "No values yet."
    after = int(w[w.index > be].notna().sum())
    if not fitted:
        if int(w[w.index <= be].notna().sum()) < MIN_HISTORY:
            reason = f"Fewer than {MIN_HISTORY} values before the baseline end."
        else:
            reason = "No forecast model could be fitted to the baseline history."
        return reason, reason
    observed = s[s.index <= be].dropna()
    window = w[(w.index >= observed.index[0]) & (w.index <= be)] if len(observed) else w[:0]
    share = float(window.isna().mean()) if len(window) else 1.0
    if share > MAX_HISTORY_GAP_SHARE + 1e-12:
        reason = (
            f"{_share_text(share, MAX_HISTORY_GAP_SHARE)} of the baseline history is missing or "
            f"suppressed; at most {MAX_HISTORY_GAP_SHARE:.0%} is allowed."
        )
        return reason, reason
    if after < MIN_ACTUALS_AFTER_BASELINE:
        suppressed = int((s[s.index > be].notna() & w[w.index > be].isna()).sum())
        count = "No values" if after == 0 else f"Only {after} value{'s' if after != 1 else ''}"
        more = f" ({suppressed} more suppressed)" if suppressed else ""
        return (
            f"{count} since the baseline end{more}; {MIN_ACTUALS_AFTER_BASELINE} are needed.",
            None,
        )
    return None, None


def _variation(signal: Any, direction: str) -> str | None:
    """The Making Data Count variation icon of an SPC signal: the side (high/low) of the flag
    that gave it follows from the direction of good."""
    if signal is None or (isinstance(signal, float) and math.isnan(signal)):
        return None
    if signal in ("common_cause", "insufficient_data"):
        return signal
    good, bad = ("high", "low") if direction == "up" else ("low", "high")
    return f"improvement_{good}" if signal == "improvement" else f"concern_{bad}"


_RULE_PHRASES = {
    "high": (
        ("outside_upper", "a point above the upper limit"),
        ("shift_above", "a run of points above the average"),
        ("trend_up", "a run of rising points"),
        ("two_of_three_above", "two of three points near the upper limit"),
    ),
    "low": (
        ("outside_lower", "a point below the lower limit"),
        ("shift_below", "a run of points below the average"),
        ("trend_down", "a run of falling points"),
        ("two_of_three_below", "two of three points near the lower limit"),
    ),
}
_STATUS_SENSE = {"turned": 1, "improving": 1, "no_change": 0, "worsening": -1}
_SIGNAL_SENSE = {"improvement": 1, "common_cause": 0, "concern": -1}


def _disagreement(
    status: Any,
    signal: Any,
    direction: str,
    value: float,
    forecast: tuple[float, float, float],
    mean: float,
    flags: pd.Series | None,
) -> str | None:
    """One line saying why status and SPC disagree at the latest point, or None when they
    agree (or either is missing). ``forecast``: the forecast and its 80% interval at that
    point; ``flags``: its :func:`spc_rules` row."""
    if status not in _STATUS_SENSE or signal not in _SIGNAL_SENSE:
        return None
    if _STATUS_SENSE[status] == _SIGNAL_SENSE[signal] or (
        status == "improving" and signal == "common_cause"
    ):
        return None
    forecast, lower, upper = forecast
    if not all(math.isfinite(x) for x in (value, forecast, lower, upper, mean)):
        return None
    side = "Above" if value > forecast else ("Below" if value < forecast else "On")
    inside = lower <= value <= upper
    first = {
        "turned": f"{side} the forecast and beyond its 80% interval (so the curve has turned)",
        "improving": f"{side} the forecast, within its 80% interval (improving)",
        "worsening": f"{side} the forecast and beyond its 80% interval (worsening)",
        "no_change": "Within the forecast's 80% interval, as the history's trend predicted "
        "(no change)"
        if inside
        else f"{side} the forecast's 80% interval, though not three values in a row "
        f"{side.lower()} the forecast (no change)",
    }[status]
    if signal == "common_cause":
        return (
            f"{first} but inside the process limits with no run or trend: SPC sees only "
            "common-cause variation."
        )
    good = "high" if direction == "up" else "low"
    flag_side = good if signal == "improvement" else ("low" if good == "high" else "high")
    rules = [text for col, text in _RULE_PHRASES[flag_side] if flags is not None and flags[col]]
    why = f" ({rules[0]})" if rules else ""
    position = "above" if value > mean else ("below" if value < mean else "")
    if position and (position == "above") == (flag_side == "high"):
        history = ""
        if (forecast - mean) * (value - mean) > 0:
            history = f", which is a {'rising' if forecast > mean else 'falling'} history's mean"
        return (
            f"{first} but still {position} the baseline average{history}: SPC flags it as "
            f"{flag_side}{why}."
        )
    return f"{first} but SPC flags it as {flag_side}{why}."


def _rebase(
    w: pd.Series,
    s: pd.Series,
    be: pd.Timestamp,
    mean: float,
    freq: str,
    measure_id: str | None,
    program: str | None,
) -> str | None:
    """The rebase suggestion when the run of points on one side of the centre line that ends
    at the latest value is at least :data:`REBASE_RUN` long after the baseline end (a gap or
    a point on the centre line breaks it), else None."""
    observed = s.dropna()
    if observed.empty or not math.isfinite(mean):
        return None
    latest = observed.index[-1]
    post = w[(w.index > be) & (w.index <= latest)].to_numpy(dtype=float)
    tol = _REL_TOL * max(1.0, abs(mean))
    sides = np.where(post - mean > tol, 1, np.where(mean - post > tol, -1, 0))
    if len(sides) == 0 or sides[-1] == 0:
        return None
    run = 0
    for side in sides[::-1]:
        if side != sides[-1]:
            break
        run += 1
    if run < REBASE_RUN:
        return None
    start = _shift(latest, -(run - 1), freq)
    command = f"oba rebaseline {measure_id or '<measure>'} --end {latest.date().isoformat()}"
    if program:
        quoted = program if re.fullmatch(r"[\w.-]+", program) else json.dumps(program)
        command += f" --program {quoted}"
    return (
        f"Every point since {start:%Y-%m} is {'above' if sides[-1] > 0 else 'below'} the "
        f"baseline mean: the process has shifted. If the change is real and lasting, rebase "
        f"with '{command}'."
    )


def assess_series(
    values: pd.Series,
    direction_of_good: str,
    baseline_end: Any = None,
    target: float | None = None,
    *,
    shift_length: int = 7,
    trend_length: int = 7,
    locked: dict[str, Any] | None = None,
    freq: str | None = None,
    unit: str | None = None,
    numerators: pd.Series | None = None,
    denominators: pd.Series | None = None,
    suppression_upper: int | None = None,
    measure_id: str | None = None,
    program: str | None = None,
) -> pd.DataFrame:
    """Baseline, forecast, turn-the-curve status, SPC and assurance for one series.

    ``values``: float Series indexed by period end (monthly month ends, or annual
    31 March). ``direction_of_good``: ``"up"`` or ``"down"``. ``baseline_end``: last
    period of the baseline (default 12 periods before the latest). ``target``: optional
    scalar. ``locked``: a dict from :func:`load_locked`; its baseline end, forecast and
    SPC limits are used instead of refitting (``baseline_end`` is then ignored).
    ``freq``: ``"M"``/``"A"`` to override detection. ``unit`` (``count``, ``percent``,
    ...), ``numerators``/``denominators`` (Series by period end) and ``suppression_upper``
    say which values are suppressed (gaps) and whether a percent uses a p-chart; without
    ``suppression_upper`` nothing is suppressed. ``measure_id``/``program`` name the series
    in the rebase suggestion's command.

    Returns the frame described in the module docstring (columns :data:`COLUMNS`,
    index ``period_end``). Raises ``ValueError`` only for invalid arguments (direction,
    duplicate periods, lengths < 2, a lock of the other frequency).
    """
    d = _direction(direction_of_good)
    if int(shift_length) < 2 or int(trend_length) < 2:
        raise ValueError("shift_length and trend_length must be at least 2")
    s, f = _prepare(values, freq)
    t = _clean_target(target)
    if s.empty:
        df = _empty_frame()
        df.attrs["baseline"] = {"freq": f, "locked": locked is not None, "fit": None}
        return df
    num = _aligned(numerators, s.index, f)
    den = _aligned(denominators, s.index, f)
    gap = suppressed_periods(s, unit, suppression_upper, num, den)
    w = s.where(~gap)  # the working series: a suppressed value is a gap, as a missing one

    observed = s.dropna()
    latest = observed.index[-1] if len(observed) else None
    future = pd.DatetimeIndex(
        [_shift(s.index[-1], k, f) for k in range(1, HORIZON[f] + 1)]
    ).as_unit(_UNIT)
    index = s.index.append(future)
    index.name = "period_end"

    fit: BaselineFit | None = None
    model: str | None = None
    fc = pd.DataFrame(np.nan, index=index, columns=["forecast", "forecast_lower", "forecast_upper"])
    if locked is not None:
        lf = _freq_arg(locked.get("freq")) or f
        if lf != f:
            raise ValueError(f"locked baseline is {lf!r} but the series is {f!r}")
        be: pd.Timestamp | None = _snap(pd.Timestamp(locked["baseline_end"]), f)
        limits = SpcLimits.from_dict(locked.get("spc"))
        after = index[index > be]
        lfc, model = _locked_forecast(locked, after, f)
        fc.loc[after] = lfc.to_numpy()
        sufficient = True
    else:
        if baseline_end is not None and not pd.isna(baseline_end):
            be = _snap(baseline_end, f)
        else:
            be = _default_baseline_end(s, f)
        fit = _fit_prepared(w, f, be) if be is not None else None
        sufficient = fit is not None
        if fit is not None:
            model = fit.model
            limits = fit.spc
            after = index[index > be]
            fc.loc[after] = fit.forecast(after).to_numpy()
            if unit == "percent" and num is not None and den is not None:
                hist = (w.index <= be) & w.notna().to_numpy()
                limits = (
                    _p_chart(num[hist].to_numpy(), den[hist].to_numpy(), int(hist.sum()))
                    or limits
                )
        else:
            limits = SpcLimits(*(float("nan"),) * 4, 0, 0)

    reason, history_reason = _sufficiency(s, w, be, sufficient)
    spc_ok = sufficient and limits.ok and history_reason is None

    df = pd.DataFrame(index=index)
    df["value"] = s.reindex(index)
    df[["forecast", "forecast_lower", "forecast_upper"]] = fc
    df["baseline_end"] = pd.Series(be if be is not None else pd.NaT, index=index).astype(
        f"datetime64[{_UNIT}]"
    )
    n = len(index)
    is_future = np.zeros(n, dtype=bool)
    is_future[len(s) :] = True
    is_latest = np.asarray(index == latest) if latest is not None else np.zeros(n, dtype=bool)
    wvals = w.reindex(index).to_numpy(dtype=float)

    # status, per row "as at" that period
    if not sufficient:
        status: list[str | None] = ["insufficient_data"] * n
    else:
        status = [None] * n
        vals = df["value"].to_numpy(dtype=float)
        post = np.flatnonzero((index > be) & ~is_future)
        cols = [
            df[c].to_numpy(dtype=float) for c in ("forecast", "forecast_lower", "forecast_upper")
        ]
        for j, i in enumerate(post):
            if math.isfinite(vals[i]):
                sel = post[: j + 1]
                enough = int(np.isfinite(wvals[sel]).sum()) >= MIN_ACTUALS_AFTER_BASELINE
                if history_reason is None and enough:
                    status[i] = curve_status(wvals[sel], *(c[sel] for c in cols), d)
                else:
                    status[i] = "insufficient_data"
        if latest is not None and latest <= be:
            status[int(np.flatnonzero(is_latest)[0])] = "insufficient_data"

    # SPC: XmR limits are the same on every row; p-chart limits follow each point's denominator
    den_all = den.reindex(index).to_numpy(dtype=float) if den is not None else np.full(n, np.nan)
    lower_all, upper_all = limits.per_point(den_all, n)
    flags = spc_rules(
        w.to_numpy(),
        limits.mean,
        lower_all[: len(s)],
        upper_all[: len(s)],
        shift_length=shift_length,
        trend_length=trend_length,
    )
    li = np.flatnonzero(is_latest)
    headline = status[li[0]] if len(li) else ("insufficient_data" if not sufficient else None)
    # a series without a status at its latest period makes no SPC claim either
    if spc_ok and headline != "insufficient_data":
        signal = spc_signals(w.to_numpy(), flags, d) + [None] * len(future)
    else:
        signal = ["insufficient_data"] * n
    judged = None  # the point the latest verdict is about: the last unsuppressed value
    if len(li):
        finite = np.flatnonzero(np.isfinite(wvals[: li[0] + 1]))
        judged = int(finite[-1]) if len(finite) else None
        if signal[li[0]] is None and judged is not None:
            signal[li[0]] = signal[judged]  # a suppressed latest value: the last one shown
    pad = np.zeros(len(future), dtype=bool)
    df["status"] = pd.Series(status, index=index, dtype=object)
    df["spc_signal"] = pd.Series(signal, index=index, dtype=object)
    df["spc_mean"] = limits.mean
    df["spc_lower"] = lower_all
    df["spc_upper"] = upper_all
    df["target"] = float("nan") if t is None else t
    if spc_ok:
        at = judged if judged is not None else 0
        assured = assurance(
            t,
            lower_all[at] if math.isfinite(lower_all[at]) else limits.lower,
            upper_all[at] if math.isfinite(upper_all[at]) else limits.upper,
            d,
        )
    else:
        assured = "no_target" if t is None else "insufficient_data"
    df["assurance"] = assured
    df["spc_method"] = limits.method if sufficient else None
    df["variation"] = pd.Series([_variation(sg, d) for sg in signal], index=index, dtype=object)

    note = reason
    if note is None and len(li) and judged is not None:
        note = _disagreement(
            headline,
            signal[li[0]],
            d,
            float(wvals[judged]),
            tuple(
                float(df[c].iloc[judged])
                for c in ("forecast", "forecast_lower", "forecast_upper")
            ),
            float(limits.mean),
            flags.iloc[judged] if judged < len(s) else None,
        )
    df["status_note"] = note
    rebase = (
        _rebase(w, s, be, limits.mean, f, measure_id, program)
        if spc_ok and be is not None and headline != "insufficient_data"
        else None
    )
    df["rebase_suggested"] = rebase is not None
    df["rebase_note"] = rebase
    df["model"] = pd.Series([model] * n, index=index, dtype=object)
    df["locked"] = locked is not None
    df["is_latest"] = is_latest
    df["is_future"] = is_future
    df["spc_outside_limits"] = np.concatenate(
        [(flags["outside_upper"] | flags["outside_lower"]).to_numpy(), pad]
    )
    df["spc_shift"] = np.concatenate(
        [(flags["shift_above"] | flags["shift_below"]).to_numpy(), pad]
    )
    df["spc_trend"] = np.concatenate([(flags["trend_up"] | flags["trend_down"]).to_numpy(), pad])
    df["spc_two_of_three"] = np.concatenate(
        [(flags["two_of_three_above"] | flags["two_of_three_below"]).to_numpy(), pad]
    )
    df = df[list(COLUMNS)]
    df.attrs["baseline"] = {
        "freq": f,
        "direction_of_good": d,
        "baseline_end": _iso(be),
        "latest_period": _iso(latest),
        "locked": locked is not None,
        "lock_version": (locked or {}).get("version"),
        "model": model,
        "status": headline,
        "spc_signal": signal[li[0]] if len(li) else signal[0],
        "assurance": assured,
        "status_note": note,
        "rebase_note": rebase,
        "spc": limits.as_dict(),
        "fit": fit.to_dict() if fit is not None else (locked or {}).get("fit"),
    }
    return df


# ------------------------------------------------------------------------- locking


def _lock_path(measure_id: str, path_dir: Path, version: int | None = None) -> Path:
    mid = str(measure_id)
    if (
        not mid
        or mid.startswith(".")
        or any(c in mid for c in ("/", "\\", "\x00"))
        or mid != mid.strip()
    ):
        raise ValueError(f"measure_id {measure_id!r} cannot be used as a file name")
    name = f"{mid}.json" if version is None else f"{mid}.v{version}.json"
    return Path(path_dir) / name


def _lock_from_fit(fit: BaselineFit) -> dict[str, Any]:
    end = _shift(fit.baseline_end, BASELINE_OFFSET_PERIODS + HORIZON[fit.freq], fit.freq)
    periods = _period_range(_shift(fit.baseline_end, 1, fit.freq), end, fit.freq)
    fc = fit.forecast(periods)
    return {
        "freq": fit.freq,
        "baseline_end": _iso(fit.baseline_end),
        "model": {"name": fit.model, "params": {k: _num(v) for k, v in fit.params.items()}},
        "spc": fit.spc.as_dict(),
        "forecast": _forecast_rows(fc),
        "fit": fit.to_dict(),
    }


def _forecast_rows(fc: pd.DataFrame) -> list[dict[str, Any]]:
    rows = []
    for p, r in fc.iterrows():
        if pd.isna(r["forecast"]):
            continue
        rows.append(
            {
                "period_end": _iso(p),
                "forecast": _num(r["forecast"]),
                "lower": _num(r["forecast_lower"]),
                "upper": _num(r["forecast_upper"]),
            }
        )
    return rows


def _lock_from_frame(df: pd.DataFrame) -> dict[str, Any]:
    meta = dict(df.attrs.get("baseline") or {})
    fit = meta.get("fit")
    if "baseline_end" not in df.columns or df["baseline_end"].isna().all():
        raise ValueError("the frame has no baseline_end; is it from assess_series?")
    be = pd.Timestamp(df["baseline_end"].dropna().iloc[0])
    freq = meta.get("freq") or detect_frequency(df.index[df.index <= be])
    name = meta.get("model")
    if name is None and "model" in df.columns:
        names = df["model"].dropna()
        name = None if names.empty else str(names.iloc[0])
    spc = meta.get("spc") or {
        "mean": _num(df["spc_mean"].iloc[0]),
        "lower": _num(df["spc_lower"].iloc[0]),
        "upper": _num(df["spc_upper"].iloc[0]),
    }
    return {
        "freq": freq,
        "baseline_end": _iso(be),
        "model": {"name": name, "params": (fit or {}).get("params") or {}},
        "spc": spc,
        "forecast": _forecast_rows(df[df.index > be]),
        "fit": fit,
    }


def lock_baseline(
    measure_id: str,
    assessed_df_or_fit: pd.DataFrame | BaselineFit,
    path_dir: str | os.PathLike[str],
    *,
    data_vintage: Any,
    model: str | dict[str, Any] | None = None,
) -> Path:
    """Write the baseline of ``measure_id`` to ``<path_dir>/<measure_id>.json``.

    ``assessed_df_or_fit``: a frame from :func:`assess_series` (its forecast rows, SPC
    limits and, via ``df.attrs``, the fitted model are stored) or a :class:`BaselineFit`
    (forecast stored for 12 + horizon periods after the baseline end). ``data_vintage``:
    what data the baseline was made from (e.g. the export date or latest period).
    ``model``: the model name (or ``{"name", "params"}``) to record; by default the
    fitted model's. An existing lock is kept as ``<measure_id>.v<N>.json`` and the new
    one gets version N+1. Raises ``ValueError`` when there is no forecast to lock
    (``insufficient_data``). Returns the path written.
    """
    path_dir = Path(path_dir)
    path = _lock_path(measure_id, path_dir)
    if isinstance(assessed_df_or_fit, BaselineFit):
        body = _lock_from_fit(assessed_df_or_fit)
    elif isinstance(assessed_df_or_fit, pd.DataFrame):
        body = _lock_from_frame(assessed_df_or_fit)
    else:
        raise TypeError("lock_baseline needs a frame from assess_series or a BaselineFit")
    if not body["forecast"]:
        raise ValueError(f"{measure_id}: no forecast to lock (insufficient data)")
    if isinstance(model, dict):
        body["model"] = {"name": model.get("name"), "params": model.get("params") or {}}
    elif model is not None:
        body["model"] = {**body["model"], "name": str(model)}

    version = 1
    previous = load_locked(measure_id, path_dir)
    if previous is not None:
        old_version = int(previous.get("version") or 1)
        write_text(
            _lock_path(measure_id, path_dir, old_version), path.read_text(encoding="utf-8")
        )
        version = old_version + 1
    record = {
        "format": LOCK_FORMAT,
        "measure_id": str(measure_id),
        "version": version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_vintage": None if data_vintage is None else str(data_vintage),
        "interval_level": INTERVAL_LEVEL,
        **body,
    }
    write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path


def load_locked(measure_id: str, path_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The current lock of ``measure_id`` (a dict for ``assess_series(locked=...)``), or
    None if there is none."""
    path = _lock_path(measure_id, Path(path_dir))
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- descriptive


def describe_series(
    values: pd.Series,
    baseline_end: Any = None,
    target: float | None = None,
    direction_of_good: str | None = None,
    *,
    freq: str | None = None,
) -> dict[str, Any]:
    """Descriptive (Clear Impact Scorecard style) figures — not signals.

    Keys: ``kind`` ("descriptive"), ``latest_period``, ``latest_value``;
    ``trend_direction`` ("up"/"down"/"flat", None with < 2 observed values) and
    ``trend_run_length`` = the number of consecutive period-on-period moves in that
    direction ending at the latest value (over observed values; gaps are skipped),
    ``trend_is_good``; ``baseline_end`` (default 12 periods before the latest),
    ``baseline_value`` (last observed value at or before it), ``change_from_baseline``,
    ``pct_change_from_baseline`` (% of |baseline value|; None if it is 0); ``target``,
    ``variance_from_target`` (latest − target), ``variance_from_target_pct`` (% of
    |target|; None if it is 0) and ``target_met`` (by ``direction_of_good``; None
    without a direction or target).
    """
    d = _direction(direction_of_good) if direction_of_good is not None else None
    s, f = _prepare(values, freq)
    t = _clean_target(target)
    obs = s.dropna()
    out: dict[str, Any] = {
        "kind": "descriptive",
        "latest_period": None,
        "latest_value": None,
        "trend_direction": None,
        "trend_run_length": 0,
        "trend_is_good": None,
        "baseline_end": None,
        "baseline_value": None,
        "change_from_baseline": None,
        "pct_change_from_baseline": None,
        "target": t,
        "variance_from_target": None,
        "variance_from_target_pct": None,
        "target_met": None,
    }
    if obs.empty:
        return out
    latest = float(obs.iloc[-1])
    out["latest_period"] = obs.index[-1]
    out["latest_value"] = latest
    with np.errstate(all="ignore"):
        if len(obs) >= 2:
            moves = np.sign(np.diff(obs.to_numpy()))
            last = moves[-1]
            run = 0
            for m in moves[::-1]:
                if m != last:
                    break
                run += 1
            direction = {1.0: "up", -1.0: "down"}.get(float(last), "flat")
            out["trend_direction"] = direction
            out["trend_run_length"] = run
            if d is not None and direction != "flat":
                out["trend_is_good"] = direction == d
        if baseline_end is not None and not pd.isna(baseline_end):
            be = _snap(baseline_end, f)
        else:
            be = _default_baseline_end(s, f)
        out["baseline_end"] = be
        base = obs[obs.index <= be]
        if not base.empty:
            b = float(base.iloc[-1])
            out["baseline_value"] = b
            out["change_from_baseline"] = _num(latest - b)
            out["pct_change_from_baseline"] = _num((latest - b) / abs(b) * 100) if b else None
        if t is not None:
            out["variance_from_target"] = _num(latest - t)
            out["variance_from_target_pct"] = _num((latest - t) / abs(t) * 100) if t else None
            if d is not None:
                out["target_met"] = latest >= t if d == "up" else latest <= t
    return out


# --------------------------------------------------------------------------- every series of a run


def series_key(measure_id: str, breakdown_value: str) -> str:
    """File-safe name of one series: the measure, plus the programme for programme measures."""
    if breakdown_value == "all":
        return measure_id
    slug = "".join(ch if ch.isalnum() else "-" for ch in breakdown_value.lower()).strip("-")
    return f"{measure_id}__{slug}"


def headline_series(
    values: pd.DataFrame, column: str = "value"
) -> dict[tuple[str, str, str], pd.Series]:
    """The series assessed: every measure's whole-population rows (breakdown 'all') and, for a
    programme measure, each programme's rows (breakdown 'program') as a series of its own
    (``column`` of ``values``: the value, or its numerator or denominator)."""
    series = {}
    for (measure_id, breakdown, breakdown_value), frame in values.groupby(
        ["measure_id", "breakdown", "breakdown_value"], sort=True
    ):
        if breakdown in ("all", "program"):
            s = frame.set_index(pd.to_datetime(frame["period_end"]))[column].astype("float64")
            series[(measure_id, breakdown, breakdown_value)] = s.sort_index()
    return series


@dataclass(frozen=True)
class SeriesInputs:
    """What the verdict on one series is judged on: its values, the measure's direction of good
    and the keyword arguments :func:`assess_series` takes from the data (unit, numerators,
    denominators, suppression bound, and the measure and programme a rebase note names)."""

    measure_id: str
    breakdown: str
    breakdown_value: str
    values: pd.Series
    direction_of_good: str
    options: dict[str, Any]

    @property
    def key(self) -> str:
        return series_key(self.measure_id, self.breakdown_value)


def series_inputs(
    measures: pd.DataFrame, values: pd.DataFrame, *, suppression_upper: int | None = None
) -> list[SeriesInputs]:
    """The inputs of every series of ``values`` (:func:`headline_series`) whose measure is in
    ``measures``. With ``suppression_upper`` (and ``numerator``/``denominator`` columns in
    ``values``, a ``unit`` column in ``measures``) the values the public release would suppress
    are gaps and small-denominator percentages get p-charts."""
    direction = dict(zip(measures["measure_id"], measures["direction_of_good"], strict=True))
    units = (
        dict(zip(measures["measure_id"], measures["unit"], strict=True))
        if "unit" in measures.columns
        else {}
    )
    parts = {
        column: headline_series(values, column) if column in values.columns else {}
        for column in ("numerator", "denominator")
    }
    found = []
    for ident, s in headline_series(values).items():
        measure_id, breakdown, breakdown_value = ident
        if measure_id not in direction:
            continue
        options = {
            "unit": units.get(measure_id),
            "numerators": parts["numerator"].get(ident),
            "denominators": parts["denominator"].get(ident),
            "suppression_upper": suppression_upper,
            "measure_id": measure_id,
            "program": breakdown_value if breakdown == "program" else None,
        }
        found.append(
            SeriesInputs(measure_id, breakdown, breakdown_value, s, direction[measure_id], options)
        )
    return found


def warehouse_series(con, measure_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``marts.measures`` and the rows of ``marts.measure_values`` the verdicts are judged on
    (whole population and programmes), of every measure or of ``measure_id`` only."""
    where = "" if measure_id is None else "measure_id = ? and "
    params = [] if measure_id is None else [measure_id]
    measures = con.execute(f"select * from marts.measures where {where}true", params).df()
    values = con.execute(
        "select measure_id, breakdown, breakdown_value, period_end, numerator, denominator, value "
        f"from marts.measure_values where {where}breakdown in ('all', 'program')",
        params,
    ).df()
    return measures, values


def load_series_inputs(con, measure_id: str, program: str | None = None) -> SeriesInputs | None:
    """The inputs of one series in the warehouse, exactly as a run assesses it (the suppression
    bound from :func:`suppression_bound`): the whole population, or ``program``'s series of a
    programme measure. None when the warehouse has no such series."""
    wanted = ("program", program) if program else ("all", "all")
    measures, values = warehouse_series(con, measure_id)
    for inputs in series_inputs(measures, values, suppression_upper=suppression_bound(con)):
        if (inputs.breakdown, inputs.breakdown_value) == wanted:
            return inputs
    return None


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
    suppression_upper: int | None = None,
) -> pd.DataFrame:
    """Assess every series (:func:`series_inputs`: the whole population and each programme of a
    programme measure); lock the forecast the first time an explicit baseline end is seen.

    With ``suppression_upper`` (and ``numerator``/``denominator`` columns in ``values``, a
    ``unit`` column in ``measures``) the values the public release would suppress are gaps
    and small-denominator percentages get p-charts (:func:`assess_series`)."""

    def assess(inputs: SeriesInputs) -> tuple[pd.DataFrame, list[str]]:
        return _assess_inputs(
            inputs, baselines=baselines, targets=targets, lock_dir=lock_dir, data_vintage=data_vintage
        )

    # each series on its own: shared with forked copies of this process, one per other core
    # (pipelines.forked)
    frames = []
    every = series_inputs(measures, values, suppression_upper=suppression_upper)
    for frame, messages in split_map(assess, every):
        for message in messages:
            if log:
                log.warning(message)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(STATUS_COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    out["period_end"] = pd.to_datetime(out["period_end"]).dt.date
    out["baseline_end"] = pd.to_datetime(out["baseline_end"]).dt.date
    for column in STATUS_COLUMNS:
        if column not in out.columns:
            out[column] = None
    return out[list(STATUS_COLUMNS)]


def _assess_inputs(
    inputs: SeriesInputs,
    *,
    baselines: dict[str, dt.date],
    targets: dict[str, float],
    lock_dir,
    data_vintage: str,
) -> tuple[pd.DataFrame, list[str]]:
    """One series of :func:`assess_all`: its rows, and the warnings to log."""
    messages = []
    measure_id, s, direction = inputs.measure_id, inputs.values, inputs.direction_of_good
    key = inputs.key
    explicit_end = baselines.get(measure_id)
    locked = load_locked(key, lock_dir) if lock_dir is not None else None
    if locked is not None and explicit_end is not None:
        locked_end = pd.Timestamp(locked.get("baseline_end"))
        if locked_end.to_period("M") != pd.Timestamp(explicit_end).to_period("M"):
            messages.append(
                f"{key}: configured baseline end {explicit_end} differs from the locked "
                f"{locked_end.date()}; the locked baseline stands until "
                f"'oba rebaseline {measure_id} --end {explicit_end}'"
            )
    target = targets.get(measure_id)
    assessed = assess_series(
        s, direction, baseline_end=explicit_end, target=target, locked=locked,
        **inputs.options,
    )
    if locked is None and explicit_end is not None and lock_dir is not None:
        # the forecast is locked as soon as there is one, before there is a status to judge
        if assessed["forecast"].notna().any():
            lock_baseline(key, assessed, lock_dir, data_vintage=data_vintage)
            locked = load_locked(key, lock_dir)
            assessed = assess_series(
                s, direction, baseline_end=explicit_end, target=target,
                locked=locked, **inputs.options,
            )
    summary = describe_series(
        s, baseline_end=explicit_end, target=target, direction_of_good=direction
    )
    frame = assessed.reset_index().rename(columns={"index": "period_end"})
    frame["measure_id"] = measure_id
    frame["breakdown"] = inputs.breakdown
    frame["breakdown_value"] = inputs.breakdown_value
    frame["baseline_source"] = (
        "locked" if locked is not None else ("configured" if explicit_end else "default")
    )
    frame["descriptive"] = json.dumps(summary, default=str)
    return frame, messages


def suppression_bound(con) -> int:
    """The public release's suppression upper bound: ``raw.oba_config.suppression_upper``, else
    :data:`DEFAULT_SUPPRESSION_UPPER`. Values from 1 to it are gaps in every verdict (anything
    that assesses a series from the warehouse, e.g. a rebaseline, takes it with the unit,
    numerators and denominators from :func:`load_series_inputs`)."""
    has_column = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'oba_config' and column_name = 'suppression_upper'"
    ).fetchall()[0][0]
    upper = (
        con.execute("select max(suppression_upper) from raw.oba_config").fetchall()[0][0]
        if has_column
        else None
    )
    return DEFAULT_SUPPRESSION_UPPER if upper is None else int(upper)


def build_measure_status(
    con,
    *,
    baselines: dict[str, dt.date],
    targets: dict[str, float],
    lock_dir: Path | None,
    log=None,
) -> pd.DataFrame:
    """Write ``marts.measure_status`` from the warehouse's marts and stories; returns its rows.

    Baseline ends and targets come from the stories, overridden by ``baselines`` and
    ``targets`` (the run's configuration). Each series' numerators and denominators and the
    suppression bound (:func:`suppression_bound`) make the values the public release would
    suppress gaps, and choose p-charts for small denominators. The data vintage recorded with a
    new lock names the latest period and a digest of the exports loaded.
    """
    measures, values = warehouse_series(con)

    stories = con.execute("select measure_id, baseline_end, target from raw.stories").df()
    loads = con.execute("select sha256 from raw._loads order by sha256").fetchall()
    ends = {
        r.measure_id: r.baseline_end
        for r in stories.itertuples()
        if r.baseline_end is not None and not pd.isna(r.baseline_end)
    }
    ends.update(baselines)
    goals = {r.measure_id: r.target for r in stories.itertuples() if not pd.isna(r.target)}
    goals.update(targets)
    latest = pd.to_datetime(values["period_end"]).max() if len(values) else None
    vintage = (
        f"data to {latest.date() if latest is not None else 'none'}; exports "
        + hashlib.sha256("".join(s for (s,) in loads).encode()).hexdigest()[:12]
    )
    status = assess_all(
        measures, values, baselines=ends, targets=goals, lock_dir=lock_dir,
        data_vintage=vintage, log=log,
        suppression_upper=suppression_bound(con),
    )
    con.register("status_frame", status)
    try:
        con.execute(
            "create or replace table marts.measure_status as select * from status_frame "
            "order by measure_id, breakdown, breakdown_value, period_end"
        )
    finally:
        con.unregister("status_frame")
    return status
