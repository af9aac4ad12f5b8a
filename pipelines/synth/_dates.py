"""Day-number date helpers for the synthetic generator.

Dates are held as ``int64`` day numbers since 1970-01-01 (numpy ``datetime64[D]``
semantics), so whole life histories can be shifted, compared and sorted with numpy.
"""

from __future__ import annotations

import datetime as _dt
import functools

import numpy as np

_EPOCH = _dt.date(1970, 1, 1)

# Range covered by the formatting lookup tables (all dates ever written fall inside).
_FMT_FIRST = _dt.date(1975, 1, 1)
_FMT_LAST = _dt.date(2045, 12, 31)


def day(value: str | _dt.date) -> int:
    """ISO date string or ``date`` -> day number."""
    if isinstance(value, str):
        value = _dt.date.fromisoformat(value)
    return (value - _EPOCH).days


def to_date(d: int) -> _dt.date:
    return _EPOCH + _dt.timedelta(days=int(d))


def iso(d: int) -> str:
    return to_date(d).isoformat()


def ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised day number -> (year, month, day)."""
    dt = np.asarray(days, dtype="int64").astype("datetime64[D]")
    y = dt.astype("datetime64[Y]").astype("int64") + 1970
    m_start = dt.astype("datetime64[M]")
    m = (m_start.astype("int64") % 12) + 1
    d = (dt - m_start.astype("datetime64[D]")).astype("int64") + 1
    return y, m, d


def from_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(year, month, day) -> day number; day overflow rolls into the next month
    (so 29 Feb of a non-leap year becomes 1 March)."""
    months = (np.asarray(y, dtype="int64") - 1970) * 12 + (np.asarray(m, dtype="int64") - 1)
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype("int64")
    return first + np.asarray(d, dtype="int64") - 1


def add_years(days: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Anniversary ``n`` years after ``days`` (29 Feb -> 1 Mar in non-leap years,
    the UK legal convention for birthdays)."""
    y, m, d = ymd(days)
    return from_ymd(y + n, m, d)


def collection_year(days: np.ndarray) -> np.ndarray:
    """Collection (financial) year labelled by the year its 31 March falls in."""
    y, m, _ = ymd(days)
    return np.where(m >= 4, y + 1, y)


def minus_one_year(x: _dt.date) -> _dt.date:
    """X − 1 year with the day clamped to the month length (29 Feb -> 28 Feb),
    matching SQL ``DATE - INTERVAL 1 YEAR`` and pandas ``DateOffset(years=1)``."""
    y = x.year - 1
    for dd in (x.day, x.day - 1, x.day - 2, x.day - 3):
        try:
            return _dt.date(y, x.month, dd)
        except ValueError:
            continue
    raise ValueError(x)


def month_ends(first: _dt.date, last: _dt.date) -> list[_dt.date]:
    out = []
    y, m = first.year, first.month
    while True:
        nxt = _dt.date(y + (m == 12), (m % 12) + 1, 1)
        me = nxt - _dt.timedelta(days=1)
        if me > last:
            break
        if me >= first:
            out.append(me)
        y, m = nxt.year, nxt.month
    return out


class DateFormatter:
    """Fast vectorised formatting through a lookup table of every day in range."""

    def __init__(self) -> None:
        lo, hi = day(_FMT_FIRST), day(_FMT_LAST)
        self._lo = lo
        self._n = hi - lo + 1
        dates = np.arange(lo, hi + 1, dtype="int64").astype("datetime64[D]")
        iso_s = np.datetime_as_string(dates, unit="D")
        self._iso = np.array(iso_s, dtype=object)
        uk = np.array([f"{s[8:10]}/{s[5:7]}/{s[0:4]}" for s in iso_s], dtype=object)
        self._uk = uk

    def _idx(self, days: np.ndarray) -> np.ndarray:
        idx = np.asarray(days, dtype="int64") - self._lo
        if idx.size and (idx.min() < 0 or idx.max() >= self._n):
            raise ValueError("date outside the formatting range")
        return idx

    def uk(self, days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
        """dd/mm/YYYY strings (object array); '' where ``missing``."""
        return self._fmt(self._uk, days, missing)

    def iso(self, days: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
        return self._fmt(self._iso, days, missing)

    def _fmt(self, table, days, missing):
        days = np.asarray(days, dtype="int64")
        if missing is None:
            return table[self._idx(days)]
        missing = np.asarray(missing, dtype=bool)
        safe = np.where(missing, self._lo, days)
        out = table[self._idx(safe)].copy()
        out[missing] = ""
        return out


def shift_years(days: np.ndarray, n: int) -> np.ndarray:
    """The same day ``n`` years before or after, the day clamped to the month length
    (29 Feb -> 28 Feb), as SQL ``DATE + INTERVAL n YEAR`` does."""
    y, m, d = ymd(days)
    leap = (y + n) % 4 == 0
    leap &= ((y + n) % 100 != 0) | ((y + n) % 400 == 0)
    d = np.where((m == 2) & (d == 29) & ~leap, 28, d)
    return from_ymd(y + n, m, d)


@functools.cache
def _bank_holidays(first_year: int, last_year: int) -> np.ndarray:
    import holidays

    found = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    return np.array(sorted(found), dtype="datetime64[D]")


def working_days(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Working days (Monday to Friday except England and Wales bank holidays) from the
    day after ``start`` to ``end`` inclusive, for day-number arrays."""
    start = np.asarray(start, dtype="int64")
    end = np.asarray(end, dtype="int64")
    if not start.size:
        return np.zeros(start.shape, dtype=np.int64)
    lo = int(min(start.min(), end.min()))
    hi = int(max(start.max(), end.max()))
    hol = _bank_holidays(to_date(lo).year, to_date(hi).year + 1)
    a = (start + 1).astype("datetime64[D]")
    b = (end + 1).astype("datetime64[D]")
    return np.busday_count(a, b, holidays=hol).astype(np.int64)
