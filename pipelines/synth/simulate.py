"""Life-history simulation: children, referrals, CIN episodes, child-protection plans,
periods of care cut into SSDA903 episodes, short breaks and care-leaver follow-ups.

Everything is vectorised over children (one numpy pass per CIN episode number, at most
four), so the council preset runs in a few seconds and the national preset in minutes.
All dates are int64 day numbers (see ``_dates``). Nothing here writes files.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import codes as C
from ._dates import add_years, collection_year, day, ymd
from .config import SynthConfig

YEAR = 365.25

# Probability (per CIN episode that is not closed at once) of a child-protection plan,
# of entering care (at the peak propensity, before the intervention) and of short
# breaks, by age band at referral: <1, 1-4, 5-9, 10-15, 16-17.
P_CP = np.array([0.42, 0.32, 0.25, 0.195, 0.10])
P_CARE = np.array([0.34, 0.13, 0.11, 0.15, 0.14])
P_SHORT_BREAKS = 0.10  # of CIN episodes with primary need N2 (disability), no plan
P_QUICK = 0.28  # CIN episodes closed within weeks (no further action / early help)
P_MORE_CIN = (0.30, 0.30, 0.28)  # another referral after CIN episode k
SETTLE_POWER = 1.5  # placement moves are spread over a period of care as u ** SETTLE_POWER
SETTLED_RATE = 0.4  # moves a year after the first year in care, relative to the first


@dataclasses.dataclass
class History:
    """All simulated records, as dicts of equal-length numpy arrays."""

    cfg: SynthConfig
    children: dict
    cin: dict
    cp: dict
    episodes: dict
    oc3: dict
    diverted: dict  # care entries prevented by the intervention (edge of care)
    missing: dict  # missing / away from placement incidents of children looked after
    oc2: dict  # health and outcomes of children looked after 12 months at 31 March
    adoptions: dict  # decisions to place for adoption, matches and adoptions


def age_band(age_days: np.ndarray) -> np.ndarray:
    """0: under 1, 1: 1-4, 2: 5-9, 3: 10-15, 4: 16-17 (approximate whole years)."""
    a = np.asarray(age_days) / YEAR
    return np.searchsorted(np.array([1.0, 5.0, 10.0, 16.0]), a, side="right")


def _lognormal(rng, median, sigma, n):
    return np.exp(np.log(median) + sigma * rng.standard_normal(n))


def _unif_int(rng, lo, hi):
    """Vectorised integer in [lo, hi] (inclusive); lo/hi arrays, hi >= lo."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    span = np.maximum(hi - lo, 0) + 1
    return lo + np.floor(rng.random(np.broadcast(lo, hi).shape) * span).astype(np.int64)


def _ffill_index(valid: np.ndarray) -> np.ndarray:
    """Index of the last valid row at or before each row (rows before any valid -> 0)."""
    idx = np.where(valid, np.arange(len(valid)), 0)
    return np.maximum.accumulate(idx) if len(idx) else idx


def _prev(values: np.ndarray, fill) -> np.ndarray:
    """Each row's predecessor, ``fill`` for the first (an empty array stays empty: a small
    population may have no rows of a kind)."""
    return np.concatenate([np.full(min(len(values), 1), fill, dtype=values.dtype), values[:-1]])


def _next(values: np.ndarray, fill) -> np.ndarray:
    """Each row's successor, ``fill`` for the last (an empty array stays empty)."""
    return np.concatenate([values[1:], np.full(min(len(values), 1), fill, dtype=values.dtype)])


def _same_as_prev(values: np.ndarray) -> np.ndarray:
    """Whether each row equals the row before (False for the first)."""
    same = np.zeros(len(values), dtype=bool)
    same[1:] = values[1:] == values[:-1]
    return same


def _same_as_next(values: np.ndarray) -> np.ndarray:
    """Whether each row equals the row after (False for the last)."""
    same = np.zeros(len(values), dtype=bool)
    same[:-1] = values[1:] == values[:-1]
    return same


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting for each consecutive group of sizes ``counts``."""
    cs = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    offset = np.repeat(np.concatenate([[0], cs])[starts], counts)
    return cs - offset


# ============================================================================ children
def simulate_children(
    cfg: SynthConfig, rng: np.random.Generator, n: int, id_base: int = 100_000
) -> dict:
    N = n
    T0, T1 = day(cfg.sim_start), day(cfg.data_end)
    # first referral: density rising slowly (1.5%/year) over the simulated span
    g = 0.015 / YEAR
    u = rng.random(N)
    t_first = T0 + np.floor(np.log1p(u * np.expm1(g * (T1 - T0))) / g).astype(np.int64)
    # age at first referral (whole years 0-17), shaped like CIN referrals in England
    age_w = np.array([11, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5.3, 5.5, 5.7, 6, 6.2, 6.3, 5.5, 4.5])
    age_y = C.draw(rng, age_w / age_w.sum(), N)
    age_d = np.floor(age_y * YEAR + rng.random(N) * 364).astype(np.int64)
    dob = t_first - age_d

    # a few 29 February birthdays (edge case: 18th birthday on 1 March)
    k = max(6, N // 300)
    pick = rng.choice(N, size=min(k, N), replace=False)
    y, _, _ = ymd(dob[pick])
    ly = y - (y % 4)
    leap = (np.asarray(ly, dtype="int64") - 1970) * 12 + 1
    cand = leap.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + 28
    ok = (cand <= t_first[pick]) & (t_first[pick] - cand < 17 * YEAR)
    dob[pick[ok]] = cand[ok]

    sex = np.where(rng.random(N) < 0.52, 1, 2).astype(np.int8)  # 1 male, 2 female
    # a few children recorded as indeterminate/unknown sex, only among children first
    # known after the M/F/U coding began (1 April 2024)
    late = t_first >= day("2024-04-01")
    sex[late & (rng.random(N) < 0.02)] = 9
    ethnic = C.draw(rng, C.ETHNIC_P, N).astype(np.int16)

    gaps = rng.integers(1, ID_MAX_GAP, N)
    ids = (id_base + np.cumsum(gaps))[rng.permutation(N)]

    upn_letter = rng.integers(0, len(_UPN_LETTERS), N).astype(np.int8)
    upn_num = rng.integers(0, 10**12, N)
    dw = np.array([9, 8, 8, 7, 7, 7, 7, 7, 6, 6, 6, 6, 8, 8], dtype=float)
    home_district = C.draw(rng, dw / dw.sum(), N).astype(np.int16)
    inward = rng.integers(0, 10 * 20 * 20, N).astype(np.int16)
    # strings (UPN, postcodes) are built lazily, only for children written out
    return {
        "idx": np.arange(N),
        "child_id": ids.astype(np.int64),
        "dob": dob,
        "sex": sex,
        "ethnic": ethnic,
        "t_first": t_first,
        "upn_l": upn_letter,
        "upn_n": upn_num,
        "home_d": home_district,
        "inward": inward,
        "b14": add_years(dob, 14),
        "b16": add_years(dob, 16),
        "b18": add_years(dob, 18),
    }


_UPN_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"), dtype=object)
HOME_DISTRICTS = np.array([f"SB{i}" for i in range(1, 15)], dtype=object)


def upn(ch: dict, idx: np.ndarray) -> np.ndarray:
    """13-character UPN strings for children ``idx``."""
    letters = _UPN_LETTERS[ch["upn_l"][idx]]
    nums = ch["upn_n"][idx]
    return np.array(
        [f"{a}{b:012d}" for a, b in zip(letters.tolist(), nums.tolist(), strict=True)], dtype=object
    )


def home_district(ch: dict, idx: np.ndarray) -> np.ndarray:
    return HOME_DISTRICTS[ch["home_d"][idx]]


def home_post(ch: dict, idx: np.ndarray) -> np.ndarray:
    code = ch["inward"][idx].astype(np.int64)
    inw = _DIGITS[code // 400] + _INWARD_LETTERS[(code // 20) % 20] + _INWARD_LETTERS[code % 20]
    return home_district(ch, idx) + " " + inw


_DIGITS = np.array(list("0123456789"), dtype=object)
_INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)


def _inward(rng, n):
    d = rng.integers(0, 10, n).astype(str).astype(object)
    a = _INWARD_LETTERS[rng.integers(0, 20, n)]
    b = _INWARD_LETTERS[rng.integers(0, 20, n)]
    return d + a + b


# ============================================================================ trends
def care_propensity(cfg: SynthConfig, t: np.ndarray) -> np.ndarray:
    """Relative propensity to enter care at day t before the intervention (1 at the
    intervention date, rising ``cla_trend_per_year`` a year before and after)."""
    ti = day(cfg.intervention_date)
    return np.exp(cfg.cla_trend_per_year * (np.asarray(t) - ti) / YEAR)


def intervention_factor(cfg: SynthConfig, t: np.ndarray) -> np.ndarray:
    """Share of would-be entries into care that still happen (1 before the
    intervention, 1 - effect once it is fully running, a short ramp between)."""
    ti = day(cfg.intervention_date)
    ramp = np.clip((np.asarray(t) - ti) / max(cfg.intervention_ramp_days, 1), 0.0, 1.0)
    ramp = np.where(np.asarray(t) >= ti, np.maximum(ramp, 0.25), 0.0)
    return 1.0 - cfg.intervention_effect * ramp


# ============================================================================ periods
def _draw_periods(rng, te, dob, b16, b18):
    """Exit route, end date and REC of periods of care starting at ``te``."""
    n = len(te)
    band = age_band(te - dob)
    route = C.draw_grouped(rng, C.ROUTE_W, band)
    dur = np.zeros(n, dtype=np.int64)
    home = np.isin(route, [C.R_HOME_A, C.R_HOME_B, C.R_E13, C.R_E8])
    dur[home] = np.ceil(np.clip(_lognormal(rng, 150, 1.15, home.sum()), 1, 4000))
    m = route == C.R_ADOPT
    dur[m] = 420 + np.ceil(_lognormal(rng, 240, 0.5, m.sum()))
    m = route == C.R_SGO
    dur[m] = np.ceil(np.clip(_lognormal(rng, 560, 0.5, m.sum()), 150, 5000))
    m = route == C.R_CAO
    dur[m] = np.ceil(np.clip(_lognormal(rng, 450, 0.6, m.sum()), 90, 5000))
    m = np.isin(route, [C.R_E9, C.R_E3, C.R_E16, C.R_E15, C.R_E2])
    dur[m] = np.ceil(np.clip(_lognormal(rng, 300, 0.9, m.sum()), 3, 5000))
    end = te + dur
    m = route == C.R_LONG
    end[m] = b18[m]
    m = route == C.R_INDEP
    end[m] = np.maximum(
        b16[m] + rng.integers(180, 700, m.sum()), te[m] + rng.integers(30, 200, m.sum())
    )

    at18 = end >= b18
    end = np.minimum(end, b18)
    rec = np.full(n, -1, dtype=np.int64)  # -1: special guardianship, resolved later
    simple = {
        C.R_CAO: "E41",
        C.R_HOME_A: "E4A",
        C.R_HOME_B: "E4B",
        C.R_E13: "E13",
        C.R_E8: "E8",
        C.R_E9: "E9",
        C.R_E3: "E3",
        C.R_E16: "E16",
        C.R_E15: "E15",
        C.R_E2: "E2",
    }
    for r, code in simple.items():
        rec[route == r] = C.REC[code]
    m = route == C.R_ADOPT
    rec[m] = np.where(rng.random(m.sum()) < 0.6, C.REC["E11"], C.REC["E12"])
    m = route == C.R_INDEP
    rec[m] = np.where(rng.random(m.sum()) < 0.75, C.REC["E5"], C.REC["E6"])
    r18 = C.REC_AT_18[C.draw(rng, C.REC_AT_18_P, n)]
    rec = np.where(at18, r18, rec)
    route = np.where(at18 & (route != C.R_LONG), C.R_LONG, route)
    return route, end, rec, at18


# ============================================================================ CIN loop
def simulate_histories(cfg: SynthConfig, rng: np.random.Generator, ch: dict):
    N = len(ch["dob"])
    T1 = day(cfg.data_end)
    TI = day(cfg.intervention_date)
    dob, b18, b16 = ch["dob"], ch["b18"], ch["b16"]

    next_ref = ch["t_first"].copy()
    active = np.ones(N, dtype=bool)
    # plans the child had in another authority before moving here
    npc = np.where(rng.random(N) < 0.03, rng.integers(1, 3, N), 0).astype(np.int64)

    cin_parts, cp_parts, per_parts, sb_parts, div_parts = [], [], [], [], []
    cin_counter = 0
    for k in range(4):
        if k > 0:
            active &= rng.random(N) < P_MORE_CIN[k - 1]
        idx = np.flatnonzero(active)
        ref = next_ref[idx]
        ok = (ref < b18[idx] - 7) & (ref <= T1)
        active[idx[~ok]] = False
        idx, ref = idx[ok], ref[ok]
        n = len(idx)
        if n == 0:
            break
        cin_id = cin_counter + np.arange(n)
        cin_counter += n
        cb18, cb16, cdob = b18[idx], b16[idx], dob[idx]
        band = age_band(ref - cdob)

        need = C.draw(rng, C.NEED_P, n)
        need = np.where((need == 7) & (band < 3), 0, need)  # N8 absent parenting: teens
        source = C.draw(rng, C.SOURCE_P, n)
        quick = rng.random(n) < P_QUICK
        nfa = quick & (rng.random(n) < 0.3)
        close = np.where(
            quick,
            ref + np.where(nfa, rng.integers(0, 3, n), rng.integers(5, 46, n)),
            ref + np.ceil(np.clip(_lognormal(rng, 200, 0.7, n), 20, 2500)).astype(np.int64),
        )
        rc = np.where(quick, np.where(rng.random(n) < 0.6, 7, 8), 6)  # RC8 / RC9 / RC7

        # ---- child-protection plan
        pcp = P_CP[band] * np.where(npc[idx] > 0, 2.2, 1.0)
        has_cp = ~quick & (rng.random(n) < np.minimum(pcp, 0.9))
        cp_start = ref + 10 + np.floor(rng.exponential(25, n)).astype(np.int64)
        cp_dur = np.ceil(np.clip(_lognormal(rng, 235, 0.55, n), 25, 1800)).astype(np.int64)
        cp_end = cp_start + cp_dur
        has_cp &= (cp_start < cb18 - 14) & (cp_start <= T1)

        # ---- short breaks (disabled children), never in the same episode as care
        sb = ~quick & ~has_cp & (need == C.NEED_N2) & (rng.random(n) < P_SHORT_BREAKS)
        sb_start = ref + rng.integers(20, 121, n)
        sb_end = np.minimum(sb_start + rng.integers(365, 1461, n), cb18 - 1)
        sb &= (sb_start < sb_end - 30) & (sb_start <= T1)
        sb_type = np.where(rng.random(n) < 0.3, C.LS["V3"], C.LS["V4"])

        # ---- entry into care
        cand = ~quick & ~sb & (need != C.NEED_N9)
        via_cp = has_cp & (rng.random(n) < 0.5)
        te_cp = (
            cp_start + np.floor(rng.random(n) * np.maximum(cp_dur - 14, 1)).astype(np.int64) + 14
        )
        te_ref = ref + np.where(
            rng.random(n) < 0.25,
            rng.integers(0, 8, n),
            7 + np.floor(rng.exponential(90, n)).astype(np.int64),
        )
        te = np.where(via_cp, te_cp, te_ref)
        u = rng.random(n)
        p_would = P_CARE[band] * care_propensity(cfg, te)
        p_does = p_would * intervention_factor(cfg, te)
        feasible = cand & (te < cb18 - 30) & (te <= T1)
        accept = feasible & (u < p_does)
        diverted = feasible & ~accept & (u < p_would) & (te >= TI)
        # a plan ends when the child becomes looked after; no plan if care came first
        drop_cp = accept & has_cp & (te <= cp_start)
        has_cp &= ~drop_cp
        cp_end = np.where(accept & has_cp, np.minimum(cp_end, te), cp_end)
        cp_end = np.minimum(cp_end, cb18)

        # ---- periods of care (at most two per CIN episode)
        a = np.flatnonzero(accept)
        r1, e1, rec1, at18_1 = _draw_periods(rng, te[a], cdob[a], cb16[a], cb18[a])
        per_parts.append((idx[a], cin_id[a], te[a], e1, rec1, r1, need[a]))
        returned = np.isin(rec1, [C.REC["E4A"], C.REC["E4B"], C.REC["E13"], C.REC["E8"]])
        t2 = e1 + 14 + np.floor(rng.exponential(300, len(a))).astype(np.int64)
        re = returned & ~at18_1 & (rng.random(len(a)) < 0.2)
        re &= (t2 < cb18[a] - 30) & (t2 <= T1)
        re &= rng.random(len(a)) < intervention_factor(cfg, t2)
        a2 = a[re]
        r2, e2, rec2, _ = _draw_periods(rng, t2[re], cdob[a2], cb16[a2], cb18[a2])
        per_parts.append((idx[a2], cin_id[a2], t2[re], e2, rec2, r2, need[a2]))
        last_end = np.full(n, -(10**9), dtype=np.int64)
        last_rec = np.full(n, -2, dtype=np.int64)
        last_end[a], last_rec[a] = e1, rec1
        last_end[a2], last_rec[a2] = e2, rec2

        # ---- a second plan in the same CIN episode (repeat plan), only without care
        cp2 = has_cp & ~accept & (rng.random(n) < 0.08)
        cp2_start = cp_end + rng.integers(60, 401, n)
        cp2_end = np.minimum(
            cp2_start + np.ceil(np.clip(_lognormal(rng, 220, 0.55, n), 25, 1500)).astype(np.int64),
            cb18,
        )
        cp2 &= (cp2_start < cb18 - 14) & (cp2_start <= T1)

        # ---- CIN closure covers plans, care and short breaks
        close = np.where(has_cp, np.maximum(close, cp_end + rng.integers(0, 151, n)), close)
        close = np.where(cp2, np.maximum(close, cp2_end + rng.integers(0, 121, n)), close)
        close = np.where(sb, np.maximum(close, sb_end + rng.integers(0, 31, n)), close)
        in_care = last_end > -(10**9)
        close = np.where(in_care, np.maximum(close, last_end + rng.integers(0, 46, n)), close)
        ends_now = np.isin(last_rec, [C.REC["E2"], C.REC["E11"], C.REC["E12"]])
        close = np.where(ends_now, last_end, close)
        close = np.minimum(close, cb18)
        rc = np.where(last_rec == C.REC["E2"], 1, rc)
        rc = np.where(np.isin(last_rec, [C.REC["E11"], C.REC["E12"]]), 0, rc)
        rc = np.where(last_rec == C.REC["E41"], 2, rc)
        rc = np.where(last_rec == -1, 3, rc)  # special guardianship
        rc = np.where(np.isin(last_rec, [C.REC["E3"], C.REC["E16"]]), 4, rc)
        rc = np.where(
            ~quick & (close >= cb18) & (rng.random(n) < 0.3) & (last_rec != C.REC["E2"]), 5, rc
        )

        cin_parts.append(
            dict(
                child=idx,
                cin_id=cin_id,
                ref=ref,
                close=close,
                need=need,
                source=source,
                rc=rc,
                nfa=nfa,
                quick=quick,
                has_cp=has_cp,
                in_care=in_care,
                age_band=band,
            )
        )
        # plans, numbered per child
        c1 = np.flatnonzero(has_cp)
        cp_parts.append((idx[c1], cin_id[c1], cp_start[c1], cp_end[c1], npc[idx[c1]]))
        npc[idx[c1]] += 1
        c2 = np.flatnonzero(cp2)
        cp_parts.append((idx[c2], cin_id[c2], cp2_start[c2], cp2_end[c2], npc[idx[c2]]))
        npc[idx[c2]] += 1
        s = np.flatnonzero(sb)
        sb_parts.append((idx[s], cin_id[s], sb_start[s], sb_end[s], sb_type[s]))
        d = np.flatnonzero(diverted)
        div_parts.append((idx[d], cin_id[d], te[d]))

        stop = np.isin(last_rec, [C.REC[c] for c in ("E2", "E11", "E12", "E3", "E16", "E15")])
        active[idx[stop]] = False
        next_ref[idx] = close + 30 + np.floor(rng.exponential(550, n)).astype(np.int64)

    cin = {k: np.concatenate([p[k] for p in cin_parts]) for k in cin_parts[0]}
    cp = _stack(cp_parts, ["child", "cin_id", "start", "end", "npc"])
    periods = _stack(per_parts, ["child", "cin_id", "start", "end", "rec", "route", "need"])
    sbs = _stack(sb_parts, ["child", "cin_id", "start", "end", "ls"])
    div = _stack(div_parts, ["child", "cin_id", "date"])

    # plan categories of abuse
    n = len(cp["child"])
    init = C.draw(rng, C.ABUSE_P, n)
    latest = np.where(rng.random(n) < 0.12, C.draw(rng, C.ABUSE_P, n), init)
    cp["init_cat"], cp["latest_cat"] = init, latest
    order = np.lexsort((cp["start"], cp["child"]))
    cp = {k: v[order] for k, v in cp.items()}
    return cin, cp, periods, sbs, div


def _stack(parts, names):
    return {
        name: np.concatenate([np.asarray(p[i]) for p in parts]).astype(np.int64)
        for i, name in enumerate(names)
    }


# ============================================================================ episodes
_EV_LEGAL, _EV_PLACE, _EV_SAME, _EV_TEMP, _EV_RETURN, _EV_LOCK, _EV_MOVE = 1, 2, 4, 8, 16, 32, 64
_TMAP, _RET = -2, -3


# supported accommodation for 16-17 year olds is registered with Ofsted from this day:
# P2 ends (DfE validation rule 217t) and H5 placements carry a URN (rule 230)
REFORM_2023 = "2023-10-28"


def _place_valid(rng, place, days):
    """Apply the year-by-year PLACE code list: no new P2 from 28 October 2023; K3 from
    2024-25; H5, P2, Z1 not in episodes starting after Jan 2025; Z11-Z14 from 2025-26."""
    place = place.copy()
    d24, d25f, d25 = day("2024-04-01"), day("2025-02-01"), day("2025-04-01")
    m = (place == C.PL["K3"]) & (days < d24)
    place[m] = C.PL["H5"]
    m = (place == C.PL["P2"]) & (days >= day(REFORM_2023))
    place[m] = C.PL["H5"]
    m = (place == C.PL["H5"]) & (days >= d24) & ((days >= d25f) | (rng.random(len(place)) < 0.5))
    place[m] = C.PL["K3"]
    m = (place == C.PL["P2"]) & (days >= d25f)
    place[m] = C.PL["K3"]
    m = (place == C.PL["Z1"]) & (days >= d25)
    place[m] = C.PL["Z11"] + rng.integers(0, 4, m.sum())
    m = (place == C.PL["Z1"]) & (days >= d25f)
    place[m] = C.PL["U6"]
    return place


def _draw_place(rng, table, band, days):
    bands = sorted(table)
    codes = sorted({c for b in bands for c, _ in table[b]})
    P = np.zeros((len(bands), len(codes)))
    for b in bands:
        for c, w in table[b]:
            P[b, codes.index(c)] = w
    P /= P.sum(axis=1, keepdims=True)
    code_idx = np.array([C.PL[c] for c in codes])
    return _place_valid(rng, code_idx[C.draw_grouped(rng, P, band)], days)


def build_episodes(cfg: SynthConfig, rng: np.random.Generator, ch: dict, per: dict, sbs: dict):
    """Cut periods of care into SSDA903 episodes; add short-break episodes."""
    T1 = day(cfg.data_end)
    npd = len(per["child"])
    child = per["child"]
    s, e, route = per["start"], per["end"], per["route"]
    dob, b16, b18 = ch["dob"][child], ch["b16"][child], ch["b18"][child]
    dur = e - s
    band_s = age_band(s - dob)

    # ---- initial legal status
    long_route = np.isin(route, [C.R_ADOPT, C.R_SGO, C.R_LONG, C.R_CAO])
    P_long = np.array([0.55, 0.30, 0.07, 0.05, 0.03])  # C1 V2 L2 L1 C2
    P_short = np.array([0.22, 0.62, 0.05, 0.07, 0.015, 0.01, 0.015])  # C1 V2 L2 L1 C2 L3 J2
    ls_long = np.array([C.LS[c] for c in ("C1", "V2", "L2", "L1", "C2")])[C.draw(rng, P_long, npd)]
    ls_short = np.array([C.LS[c] for c in ("C1", "V2", "L2", "L1", "C2", "L3", "J2")])[
        C.draw(rng, P_short, npd)
    ]
    ls0 = np.where(long_route, ls_long, ls_short)
    ls0 = np.where((ls0 == C.LS["J2"]) & (band_s < 3), C.LS["V2"], ls0)
    ls0 = np.where(route == C.R_E9, np.where(rng.random(npd) < 0.6, C.LS["J1"], C.LS["V2"]), ls0)
    # a legal status fixed for the whole period (unaccompanied children: section 20)
    fixed_ls = per.get("ls", np.full(npd, -1))
    ls0 = np.where(fixed_ls >= 0, fixed_ls, ls0)

    place0 = _draw_place(rng, C.FIRST_PLACE, band_s, s)
    place0 = np.where((ls0 == C.LS["J1"]) & (rng.random(npd) < 0.3), C.PL["R5"], place0)

    ev = {k: [] for k in ("pid", "day", "prio", "ls", "place", "kind")}

    def add(pid, d, prio, ls, place, kind):
        n = len(pid)
        ev["pid"].append(np.asarray(pid, dtype=np.int64))
        ev["day"].append(np.asarray(d, dtype=np.int64))
        ev["prio"].append(np.full(n, prio, dtype=np.int64))
        ev["ls"].append(np.broadcast_to(np.asarray(ls, dtype=np.int64), (n,)).copy())
        ev["place"].append(np.broadcast_to(np.asarray(place, dtype=np.int64), (n,)).copy())
        ev["kind"].append(np.broadcast_to(np.asarray(kind, dtype=np.int64), (n,)).copy())

    pids = np.arange(npd)
    # period starts (RNE S)
    add(pids, s, 0, ls0, place0, 0)

    # 1. emergency legal statuses resolve within days (with a move for some: RNE B)
    emerg = np.isin(ls0, [C.LS[c] for c in ("L1", "L2", "L3", "J2")])
    lag = np.select(
        [ls0 == C.LS["L1"], ls0 == C.LS["L2"], ls0 == C.LS["L3"]],
        [rng.integers(1, 4, npd), rng.integers(3, 9, npd), rng.integers(2, 8, npd)],
        rng.integers(1, 3, npd),
    )
    to_c1 = (rng.random(npd) < 0.7) & (ls0 != C.LS["J2"])
    ls_after = np.where(emerg, np.where(to_c1, C.LS["C1"], C.LS["V2"]), ls0)
    with_move = rng.random(npd) < 0.4
    m = np.flatnonzero(emerg)
    mv_place = _draw_place(rng, C.MOVE_PLACE, age_band(s + lag - dob), s + lag)
    add(
        m,
        (s + lag)[m],
        1,
        ls_after[m],
        np.where(with_move, mv_place, -1)[m],
        np.where(with_move[m], _EV_LEGAL | _EV_PLACE, _EV_LEGAL),
    )

    # 2. interim care order -> full care order; section 20 -> care order for some
    # (adoption always goes through care proceedings, early in the period)
    adopt = route == C.R_ADOPT
    v2c1 = long_route & (ls_after == C.LS["V2"]) & ((rng.random(npd) < 0.35) | adopt)
    v2c1 &= fixed_ls < 0
    t_v2c1 = s + np.where(adopt, rng.integers(14, 61, npd), rng.integers(30, 501, npd))
    m = np.flatnonzero(v2c1)
    add(m, t_v2c1[m], 3, C.LS["C1"], -1, _EV_LEGAL)
    c1 = (ls_after == C.LS["C1"]) | v2c1
    t_c2 = np.where(v2c1, t_v2c1, s) + rng.integers(200, 421, npd)
    same = rng.random(npd) < 0.25
    m = np.flatnonzero(c1)
    add(
        m,
        t_c2[m],
        3,
        C.LS["C2"],
        np.where(same[m], _TMAP, -1),
        np.where(same[m], _EV_LEGAL | _EV_PLACE | _EV_SAME, _EV_LEGAL),
    )

    # 3. adoption: placement order (E1) then placement with adopters (A5/A6)
    lock = np.full(npd, np.iinfo(np.int64).max)
    t_po = np.maximum(e - rng.integers(300, 541, npd), s + 45)
    t_ap = np.maximum(e - rng.integers(100, 291, npd), t_po + 14)
    ok = adopt & (t_ap < e - 30)
    m = np.flatnonzero(adopt)
    add(m, t_po[m], 2, C.LS["E1"], -1, _EV_LEGAL)
    a5 = rng.random(npd) < 0.3
    m = np.flatnonzero(ok)
    add(
        m,
        t_ap[m],
        2,
        -1,
        np.where(a5[m], C.PL["A5"], C.PL["A6"]),
        np.where(a5[m], _EV_PLACE | _EV_SAME | _EV_LOCK, _EV_PLACE | _EV_LOCK),
    )
    lock = np.where(ok, t_ap, lock)
    adopt_po = np.where(adopt, t_po, np.iinfo(np.int64).max)

    # 4. special guardianship: many move to connected carers first
    sgo = (route == C.R_SGO) & (rng.random(npd) < 0.5) & (dur > 200)
    t_sg = e - np.minimum(rng.integers(90, 366, npd), dur // 2)
    m = np.flatnonzero(sgo)
    add(
        m,
        t_sg[m],
        2,
        -1,
        np.where(rng.random(len(m)) < 0.6, C.PL["U3"], C.PL["U1"]),
        _EV_PLACE | _EV_LOCK,
    )
    lock = np.where(sgo, np.minimum(lock, t_sg), lock)

    # 5. return home: a last placement with parents (P1) before leaving care
    home = np.isin(route, [C.R_HOME_A, C.R_HOME_B]) & (dur > 90) & (rng.random(npd) < 0.3)
    t_p1 = e - rng.integers(28, 121, npd)
    home &= t_p1 > s
    m = np.flatnonzero(home)
    add(m, t_p1[m], 2, -1, C.PL["P1"], _EV_PLACE | _EV_LOCK)
    lock = np.where(home, np.minimum(lock, t_p1), lock)

    # 6. moving on at 16+: semi-independent / supported accommodation
    lo = np.maximum(s + 1, b16)
    hi = np.minimum(e - 1, b18 - 1)
    sixteen = (hi - lo > 60) & (route != C.R_ADOPT) & (rng.random(npd) < 0.45)
    t16 = _unif_int(rng, lo, np.maximum(hi, lo))
    p16 = np.where(rng.random(npd) < 0.88, C.PL["H5"], C.PL["P2"])
    p16 = np.where(t16 >= day("2024-04-01"), np.where(rng.random(npd) < 0.55, C.PL["K3"], p16), p16)
    p16 = _place_valid(rng, p16, t16)
    m = np.flatnonzero(sixteen)
    add(m, t16[m], 4, -1, p16[m], _EV_PLACE | _EV_MOVE)

    # 7. long-term fostering with the same carer (RNE T)
    ltf = np.isin(route, [C.R_LONG, C.R_SGO]) & (dur > 400) & (rng.random(npd) < 0.3)
    t_lt = s + _unif_int(rng, 200, np.minimum(dur - 1, 900))
    m = np.flatnonzero(ltf)
    add(m, t_lt[m], 4, -1, _TMAP, _EV_PLACE | _EV_SAME)

    # 8. placement moves (Poisson), with more moves early and for teenagers; after the
    # first year a child moves less and less often (settled years count SETTLED_RATE)
    rate = np.array([0.30, 0.30, 0.33, 0.55, 0.60])[band_s]
    years = np.minimum(dur, YEAR) / YEAR + SETTLED_RATE * np.maximum(dur - YEAR, 0) / YEAR
    n_mv = rng.poisson(rate * years) + (rng.random(npd) < 0.3).astype(np.int64)
    n_mv = np.minimum(n_mv, 30)
    n_mv[dur < 3] = 0
    mp = np.repeat(pids, n_mv)
    early = np.zeros(len(mp), dtype=bool)
    first_of = np.cumsum(n_mv) - n_mv
    has = n_mv > 0
    early[first_of[has]] = rng.random(has.sum()) < 0.5
    span = np.where(early, np.minimum(dur[mp] - 1, 60), dur[mp] - 1)
    # moves come mostly early in a period: a child settles with time (long stays are
    # more stable than their first year)
    settle = rng.random(len(mp)) ** SETTLE_POWER
    t_mv = s[mp] + 1 + np.floor(settle * np.maximum(span, 1)).astype(np.int64)
    pl_mv = _draw_place(rng, C.MOVE_PLACE, age_band(t_mv - dob[mp]), t_mv)
    add(mp, t_mv, 5, -1, pl_mv, _EV_PLACE | _EV_MOVE)

    # 9. temporary placements (T0-T4) of a few days, then back to the same carer
    tmp = (dur > 60) & (rng.random(npd) < 0.06)
    m = np.flatnonzero(tmp)
    t_tmp = s[m] + 10 + np.floor(rng.random(len(m)) * (dur[m] - 20)).astype(np.int64)
    tcodes, tp = C.table(C.TEMP_PLACE)
    tpl = np.array([C.PL[c] for c in tcodes])[C.draw(rng, tp, len(m))]
    add(m, t_tmp, 5, -1, tpl, _EV_PLACE | _EV_TEMP | _EV_MOVE)
    add(m, t_tmp + rng.integers(2, 8, len(m)), 5, -1, _RET, _EV_PLACE | _EV_RETURN | _EV_MOVE)

    E = {k: np.concatenate(v) for k, v in ev.items()}
    pid = E["pid"]
    keep = (E["prio"] == 0) | ((E["day"] > s[pid]) & (E["day"] < e[pid]))
    # no ordinary moves after the final placement (adopters, connected carers, home)
    keep &= ~(((E["kind"] & _EV_MOVE) > 0) & (E["day"] > lock[pid]))
    # nothing but the adoption steps changes the legal status after a placement order
    keep &= ~(((E["kind"] & _EV_LEGAL) > 0) & (E["ls"] != C.LS["E1"]) & (E["day"] >= adopt_po[pid]))
    E = {k: v[keep] for k, v in E.items()}
    order = np.lexsort((E["prio"], E["day"], E["pid"]))
    E = {k: v[order] for k, v in E.items()}
    dup = np.zeros(len(E["pid"]), dtype=bool)
    dup[1:] = (E["pid"][1:] == E["pid"][:-1]) & (E["day"][1:] == E["day"][:-1])
    E = {k: v[~dup] for k, v in E.items()}
    # the child returns from a temporary placement to the placement before it (DfE rule
    # 383): a temporary placement stays only if the next event is its return
    temp_ev, ret_ev = (E["kind"] & _EV_TEMP) > 0, (E["kind"] & _EV_RETURN) > 0
    ok_temp = temp_ev & _next(ret_ev, False) & _same_as_next(E["pid"])
    drop = (temp_ev & ~ok_temp) | (ret_ev & ~_prev(ok_temp, False))
    E = {k: v[~drop] for k, v in E.items()}

    # ---- legal status: forward fill
    pid, kind = E["pid"], E["kind"]
    ls = E["ls"][_ffill_index(E["ls"] >= 0)]
    is_start = E["prio"] == 0
    prev_ls = _prev(ls, -1)
    legal_only = ((kind & _EV_LEGAL) > 0) & ((kind & _EV_PLACE) == 0)
    noop = legal_only & ~is_start & (ls == prev_ls)
    # ---- placements: regular carers, same-carer changes, temporary placements
    place = E["place"]
    base_valid = (place >= 0) & ((kind & _EV_TEMP) == 0)
    base_ff = place[_ffill_index(base_valid)]
    tmap = place == _TMAP
    lt = np.full(len(C.PLACE_CODES), -1)
    for a, b in C.LONG_TERM.items():
        lt[a] = b
    mapped = lt[base_ff]
    bad_tmap = tmap & (mapped < 0)
    place = np.where(tmap, mapped, place)
    # an unmappable same-carer change is dropped, or kept as a legal change only
    kind = np.where(bad_tmap & ((kind & _EV_LEGAL) > 0), _EV_LEGAL, kind)
    drop = noop | (bad_tmap & ((kind & _EV_LEGAL) == 0))
    keep = ~drop
    E = {k: v[keep] for k, v in E.items()}
    pid, kind, ls, place = E["pid"], kind[keep], ls[keep], place[keep]
    is_start = E["prio"] == 0
    base_valid = (place >= 0) & ((kind & _EV_TEMP) == 0)
    base_idx = _ffill_index(base_valid)
    ret = place == _RET
    place = np.where(ret, place[base_idx], place)
    # rows of one placement: the event that set it and the legal changes carrying it
    seg = _ffill_index(place >= 0)
    place = place[seg]
    place, kind = _placement_rules(place, kind, ls, seg, ret, base_idx)
    # DfE's code changes (P2 ends and H5 is registered from 28 October 2023; H5, P2 and
    # Z1 leave the list in 2025) recode a placement but not a return to it from a
    # temporary placement, which must go back to the same placement (rule 383): no
    # temporary placements from those placements after the first change
    temp_row = (kind & _EV_TEMP) > 0
    drop = temp_row & np.isin(_prev(place, -1), [C.PL["H5"], C.PL["P2"], C.PL["Z1"]])
    drop &= _next(E["day"], 0) >= day(REFORM_2023)  # the day of the return
    keep = ~(drop | (ret & _prev(drop, False)))
    E = {k: v[keep] for k, v in E.items()}
    pid, kind, ls, place, ret, is_start = (x[keep] for x in (pid, kind, ls, place, ret, is_start))

    # ---- RNE
    has_l = (kind & _EV_LEGAL) > 0
    has_p = (kind & _EV_PLACE) > 0
    same_c = (kind & _EV_SAME) > 0
    # a same-carer change must change the placement type: T without a change is
    # dropped, U without a change is only a legal change (L)
    unchanged = ~is_start & (place == _prev(place, -1))
    kind = np.where(unchanged & same_c & has_l, _EV_LEGAL, kind)
    keep = ~(unchanged & same_c & ~has_l)
    E = {k: v[keep] for k, v in E.items()}
    pid, kind, ls, place, ret, is_start = (x[keep] for x in (pid, kind, ls, place, ret, is_start))
    has_l = (kind & _EV_LEGAL) > 0
    has_p = (kind & _EV_PLACE) > 0
    same_c = (kind & _EV_SAME) > 0
    rne = np.select(
        [is_start, has_l & has_p & same_c, has_l & has_p, has_p & same_c, has_p],
        [C.RNE["S"], C.RNE["U"], C.RNE["B"], C.RNE["T"], C.RNE["P"]],
        C.RNE["L"],
    )

    # ---- carer-level attributes: new for a new carer, carried for L / T / U
    nrow = len(pid)
    temp = (kind & _EV_TEMP) > 0
    provider, pl_post, urn = _carer_attrs(rng, place, home_post(ch, per["child"][pid]), cfg)
    # a new regular carer (S, P, B) or a temporary one has its own attributes; a return
    # from a temporary placement and a same-carer change (T, U) are with the last regular
    # carer; L rows keep the carer of the row before
    regular = is_start | (has_p & ~same_c & ~temp & ~ret)
    src_regular = _ffill_index(regular)
    anchor = regular | temp | ret | (has_p & same_c)
    carer_of_anchor = np.where(regular | temp, np.arange(nrow), src_regular)
    carer_idx = carer_of_anchor[_ffill_index(anchor)]
    provider, pl_post, urn = provider[carer_idx], pl_post[carer_idx], urn[carer_idx]
    # a "move" that changes nothing (parents to parents, back from a temporary placement
    # to the carer the child had already returned to) is no new episode, and a legal
    # change with such a move is a legal change only (DfE rules 435, 436)
    same = ~is_start & (place == _prev(place, -1)) & (provider == _prev(provider, -2))
    same &= (pl_post == _prev(pl_post, "")) & (urn == _prev(urn, ""))
    rne = np.where(same & np.isin(rne, [C.RNE["B"], C.RNE["U"]]), C.RNE["L"], rne)
    keep = ~(same & np.isin(rne, [C.RNE["P"], C.RNE["T"]]))
    E = {k: v[keep] for k, v in E.items()}
    pid, ls, place, rne = pid[keep], ls[keep], place[keep], rne[keep]
    provider, pl_post, urn = provider[keep], pl_post[keep], urn[keep]
    nrow = len(pid)

    # ---- DEC, REC, reason for placement change
    nxt_same = _same_as_next(pid)
    dec = np.where(nxt_same, _next(E["day"], 0), e[pid])
    rec = np.where(nxt_same, C.REC["X1"], per["rec"][pid])
    # staying put (E17) is with foster carers; otherwise supported accommodation (E5)
    foster = np.isin(place, [C.PL[c] for c in ("U1", "U2", "U3", "U4", "U5", "U6")])
    rec = np.where((rec == C.REC["E17"]) & ~foster, C.REC["E5"], rec)
    # special guardianship: who the guardian is follows the last placement
    sg = rec == -1
    fp = place
    relative = np.isin(fp, [C.PL["U1"], C.PL["U2"], C.PL["U3"]])
    other_fc = np.isin(fp, [C.PL["U4"], C.PL["U5"], C.PL["U6"]])
    rec = np.where(sg & relative, C.REC["E45"], rec)
    rec = np.where(sg & other_fc, C.REC["E46"], rec)
    rec = np.where(
        sg & ~relative & ~other_fc,
        np.where(rng.random(nrow) < 0.7, C.REC["E47"], C.REC["E48"]),
        rec,
    )
    # before 2018-19 the return had two special guardianship codes, E43 and E44
    before = sg & (dec < day("2018-04-01"))
    for new_code, old_code in C.SG_BEFORE_2018.items():
        rec = np.where(before & (rec == new_code), old_code, rec)
    nxt_rne = _next(rne, -1)
    rpc = np.full(nrow, -1)
    mv = nxt_same & np.isin(nxt_rne, [C.RNE["P"], C.RNE["B"]])
    rpc[mv] = C.draw(rng, C.RPC_P, mv.sum())
    rpc[nxt_same & np.isin(nxt_rne, [C.RNE["T"], C.RNE["U"]])] = list(C.RPC_CODES).index("PLACE")

    eps = {
        "child": per["child"][pid],
        "period": pid,
        "decom": E["day"],
        "dec": dec,
        "rne": rne,
        "ls": ls,
        "need": per["need"][pid],
        "place": place,
        "provider": provider,
        "rec": rec,
        "rpc": rpc,
        "pl_post": pl_post,
        "urn": urn,
    }
    eps = _reform_2023(rng, cfg, eps)
    eps = _regulation_split(rng, cfg, ch, eps)
    # no reason for a change into or out of a temporary placement (rule 226)
    temp = np.isin(eps["place"], [C.PL[c] for c in ("T0", "T1", "T2", "T3", "T4")])
    eps["rpc"] = np.where(
        temp | (_same_as_next(eps["period"]) & _next(temp, False)), -1, eps["rpc"]
    )
    sb_eps = _short_break_episodes(rng, cfg, ch, sbs)
    eps = {k: np.concatenate([eps[k], sb_eps[k]]) for k in eps}
    # only what has happened by the end of the last collection year
    keep = eps["decom"] <= T1
    eps = {k: v[keep] for k, v in eps.items()}
    order = np.lexsort((eps["decom"], eps["child"]))
    eps = {k: v[order] for k, v in eps.items()}
    _check_episodes(eps)
    return eps


def _placement_rules(place, kind, ls, seg, ret, base_idx):
    """DfE validation rules on placements that the simulated events can break, applied
    to whole placements (every row of segment ``seg``) so that legal-status-only rows keep
    their placement:

    - placed with parents (P1) is never under a single period of accommodation (V2;
      rule 378): a child accommodated under section 20 goes to family or friends (U3);
      a return from a temporary placement (``ret``) goes back to that placement;
    - placed for adoption with the current foster carer (A5, a same-carer change) only
      follows a foster placement; after any other placement the adopters are new (A6).
    """
    n = len(place)
    first = seg == np.arange(n)  # the row whose event set the placement
    for _ in range(2):
        bad = np.zeros(n, dtype=bool)
        bad[seg[(place == C.PL["P1"]) & (ls == C.LS["V2"])]] = True
        place = np.where(bad[seg], C.PL["U3"], place)
        place = np.where(ret[seg], place[base_idx][seg], place)
    after_foster = np.isin(_prev(place, -1), [C.PL[c] for c in C.FOSTER])
    bad = first & (place == C.PL["A5"]) & ~after_foster
    place = np.where(bad[seg], C.PL["A6"], place)
    kind = np.where(bad, kind & ~_EV_SAME, kind)
    return place, kind


def _pool_urn(rng, cfg, n):
    """Ofsted URNs of ``n`` providers drawn from the council's pool of providers."""
    pool = max(40, cfg.n_children // 150)
    k = rng.integers(0, pool, n)
    return np.array([f"SC{100000 + 7919 * j % 900000:06d}" for j in k.tolist()], dtype=object)


def _carer_attrs(rng, place, home_post, cfg):
    """Placement provider (index into PROVIDER_CODES, -1 none), placement postcode and
    Ofsted URN of a new carer in placement ``place``, as DfE's validation rules expect."""
    n = len(place)
    pc = C.PLACE_CODES[place]
    first = np.array([c[0] for c in C.PLACE_CODES], dtype=object)[place]
    # provider by placement type
    prov = np.full(n, 1)
    u = rng.random(n)
    foster_other = np.isin(pc, ["U4", "U5", "U6"])
    prov[foster_other] = np.where(u[foster_other] < 0.52, 1, np.where(u[foster_other] < 0.95, 4, 5))
    foster_rel = np.isin(pc, ["U1", "U2", "U3"])
    prov[foster_rel] = np.where(u[foster_rel] < 0.9, 1, 2)
    homes = np.isin(pc, ["K1", "K2", "K3", "H5", "S1", "P2"])
    prov[homes] = np.where(u[homes] < 0.75, 4, np.where(u[homes] < 0.9, 1, 5))
    prov[np.isin(pc, ["K1"])] = np.where(u[np.isin(pc, ["K1"])] < 0.5, 1, 2)
    prov[np.isin(pc, ["R1", "R2", "R5"])] = 3
    prov[pc == "R3"] = 4
    prov[first == "A"] = np.where(u[first == "A"] < 0.6, 1, np.where(u[first == "A"] < 0.8, 2, 5))
    prov[np.isin(pc, C.NO_PROVIDER)] = -1
    prov[pc == "P1"] = 0
    # placement postcode: in the borough for most, out of area for some; never the
    # child's home postcode unless placed with parents (rule 392d)
    inside = rng.random(n) < 0.62
    ins_i = rng.integers(0, 14, n)
    out_areas = np.array(["SC", "SD", "SE", "SG", "SK", "SL"], dtype=object)
    out_d = out_areas[rng.integers(0, 6, n)] + rng.integers(1, 30, n).astype(str).astype(object)
    inward = _inward(rng, n)
    post = np.where(inside, HOME_DISTRICTS[ins_i], out_d) + " " + inward
    clash = (post == home_post) & (pc != "P1")
    post[clash] = HOME_DISTRICTS[(ins_i[clash] + 1) % 14] + " " + inward[clash]
    post = np.where(pc == "P1", home_post, post)
    # Ofsted unique reference number of the provider: none where Ofsted does not
    # register the placement (rule 222), XXXXXXX only for adoption (rule 242)
    urn = _pool_urn(rng, cfg, n)
    la_fostering = f"SC{cfg.la_number}001"
    urn = np.where((prov == 1) & (foster_other | foster_rel), la_fostering, urn)
    urn = np.where(np.isin(pc, C.URN_PLACEHOLDER), "XXXXXXX", urn)
    urn = np.where(np.isin(pc, C.NO_URN), "", urn)
    return prov, post.astype(object), urn.astype(object)


def _reform_2023(rng, cfg, eps):
    """Supported accommodation is registered with Ofsted from 28 October 2023. P2
    (independent living) and H5 placements open that day end on it and the same provider
    carries on as registered supported accommodation (H5) in a new episode (RNE T); P2
    episodes starting later become H5 (DfE rule 217t). H5 has a URN from that day on and
    none before (rules 222, 230)."""
    r = day(REFORM_2023)
    pl = eps["place"]
    i = np.flatnonzero(
        np.isin(pl, [C.PL["H5"], C.PL["P2"]]) & (eps["decom"] < r) & (eps["dec"] > r)
    )
    new = {k: v[i].copy() for k, v in eps.items()}
    new["decom"] = np.full(len(i), r, dtype=np.int64)
    new["rne"] = np.full(len(i), C.RNE["T"], dtype=new["rne"].dtype)
    eps = {k: v.copy() for k, v in eps.items()}
    eps["dec"][i] = r
    eps["rec"][i] = C.REC["X1"]
    eps["rpc"][i] = list(C.RPC_CODES).index("PLACE")
    eps = {k: np.concatenate([eps[k], new[k]]) for k in eps}
    order = np.lexsort((eps["decom"], eps["period"]))
    eps = {k: v[order] for k, v in eps.items()}
    after = eps["decom"] >= r
    eps["place"] = np.where(after & (eps["place"] == C.PL["P2"]), C.PL["H5"], eps["place"])
    h5 = eps["place"] == C.PL["H5"]
    urn = np.where(h5 & ~after, "", eps["urn"]).astype(object)
    # a former P2 provider gets its URN on registering: one per carer (a carer is new
    # at RNE S, P or B)
    new_carer = np.isin(eps["rne"], [C.RNE["S"], C.RNE["P"], C.RNE["B"]])
    carer = np.cumsum(new_carer | ~_same_as_prev(eps["period"]))
    need = h5 & after & (urn == "")
    if need.any():
        ids, pos = np.unique(carer[need], return_inverse=True)
        urn[need] = _pool_urn(rng, cfg, len(ids))[pos]
    eps["urn"] = urn
    # a legal change on the day of the reform also changes the placement's details: U
    prev_same = _same_as_prev(eps["period"])
    moved = (eps["place"] != _prev(eps["place"], -1)) | (urn != _prev(urn, ""))
    relabel = prev_same & after & moved & (eps["rne"] == C.RNE["L"])
    eps["rne"] = np.where(relabel, C.RNE["U"], eps["rne"])
    eps["rpc"] = np.where(_next(relabel, False), list(C.RPC_CODES).index("PLACE"), eps["rpc"])
    return eps


def _regulation_split(rng, cfg, ch, eps):
    """H5, P2 and Z1 leave the PLACE list in 2025-26: placements still open on
    1 April 2025 change (same provider re-registered as K3, or a move) in Feb-Mar 2025."""
    lo, hi = day("2025-02-01"), day("2025-03-31")
    pl = eps["place"]
    m = np.isin(pl, [C.PL["H5"], C.PL["P2"], C.PL["Z1"]]) & (eps["decom"] < lo) & (eps["dec"] > hi)
    i = np.flatnonzero(m)
    d = rng.integers(lo, hi + 1, len(i))
    reg = pl[i] == C.PL["H5"]  # re-registered supported accommodation: same carer (T)
    new = {k: v[i].copy() for k, v in eps.items()}
    new["decom"] = d
    new["place"] = np.where(pl[i] == C.PL["Z1"], C.PL["K2"], C.PL["K3"])
    new["rne"] = np.where(reg, C.RNE["T"], C.RNE["P"])
    prov, post, urn = _carer_attrs(rng, new["place"], home_post(ch, new["child"]), cfg)
    new["provider"] = np.where(reg, new["provider"], prov)
    new["pl_post"] = np.where(reg, new["pl_post"], post)
    new["urn"] = np.where(reg, new["urn"], urn)
    eps = {k: v.copy() for k, v in eps.items()}
    eps["dec"][i] = d
    eps["rec"][i] = C.REC["X1"]
    rpc_place = list(C.RPC_CODES).index("PLACE")
    rpc_la = list(C.RPC_CODES).index("LAREQ")
    eps["rpc"][i] = np.where(reg, rpc_place, rpc_la)
    eps = {k: np.concatenate([eps[k], new[k]]) for k in eps}
    order = np.lexsort((eps["decom"], eps["period"]))
    eps = {k: v[order] for k, v in eps.items()}
    # rows that inherited an old code (legal changes, returns from a temporary
    # placement) and run past 31 March 2025 are recoded too
    pl = eps["place"]
    old = np.isin(pl, [C.PL["H5"], C.PL["P2"], C.PL["Z1"]]) & (eps["dec"] > hi)
    z1 = pl == C.PL["Z1"]
    z1_new = np.where(eps["decom"] >= day("2025-04-01"), C.PL["Z11"], C.PL["K2"])
    new_pl = np.where(old, np.where(z1, z1_new, C.PL["K3"]), pl)
    prev_same = _same_as_prev(eps["period"])
    prev_pl = _prev(new_pl, -1)
    changed = old & prev_same & (prev_pl != new_pl)
    rne = eps["rne"]
    rne = np.where(changed & (rne == C.RNE["L"]), np.where(z1, C.RNE["B"], C.RNE["U"]), rne)
    rne = np.where(changed & (rne == C.RNE["T"]) & z1, C.RNE["P"], rne)
    eps["place"], eps["rne"] = new_pl, rne
    # a Z1 placement recoded as a children's home (K2) has that home's provider,
    # postcode and URN, one home per carer (a carer is new at RNE S, P or B)
    fix = old & z1 & (new_pl == C.PL["K2"])
    if fix.any():
        new_carer = np.isin(rne, [C.RNE["S"], C.RNE["P"], C.RNE["B"]]) | ~prev_same
        _, first, pos = np.unique(np.cumsum(new_carer)[fix], True, True)
        rows = np.flatnonzero(fix)[first]
        prov, post, urn = _carer_attrs(rng, new_pl[rows], home_post(ch, eps["child"][rows]), cfg)
        eps["provider"][fix], eps["pl_post"][fix], eps["urn"][fix] = prov[pos], post[pos], urn[pos]
    # the reason on the episode before a recoded one
    nxt_changed = _next(changed, False)
    nxt_rne = _next(rne, -1)
    eps["rpc"] = np.where(
        nxt_changed & np.isin(nxt_rne, [C.RNE["T"], C.RNE["U"]]),
        rpc_place,
        np.where(nxt_changed & np.isin(nxt_rne, [C.RNE["P"], C.RNE["B"]]), rpc_la, eps["rpc"]),
    )
    return eps


def _short_break_episodes(rng, cfg, ch, sbs):
    n = len(sbs["child"])
    length = sbs["end"] - sbs["start"]
    v3 = sbs["ls"] == C.LS["V3"]
    # V3: a break of 1-4 nights every 2-6 weeks; V4: one episode per agreement
    cnt = np.where(v3, length // 14 + 1, length // 180 + 1)
    rows = np.repeat(np.arange(n), cnt)
    nights = rng.integers(1, 5, len(rows))
    interval = rng.integers(14, 43, len(rows))
    ag_len = rng.integers(180, 366, len(rows))
    ag_gap = rng.integers(1, 22, len(rows))
    length_j = np.where(v3[rows], nights, ag_len)
    incr = np.where(v3[rows], interval, ag_len + ag_gap)
    start = sbs["start"][rows] + _group_cumsum(incr, cnt) - incr  # exclusive cumsum
    end = start + length_j
    end = np.minimum(end, sbs["end"][rows])
    keep = start < end
    rows, start, end = rows[keep], start[keep], end[keep]
    m = len(rows)
    child = sbs["child"][rows]
    # short breaks in a children's home, with foster carers (not long-term fostering,
    # DfE rule 384) or in a residential care home
    place = np.array([C.PL["K2"], C.PL["U6"], C.PL["R1"]])[
        C.draw(rng, np.array([0.45, 0.45, 0.1]), n)
    ][rows]
    prov, _, _ = _carer_attrs(rng, place, home_post(ch, child), cfg)
    # one carer for the whole series; no placement postcode or URN for short breaks
    # (rules 214, 398: the return's HOME_POST is left blank for them too)
    firsts = ~_same_as_prev(rows)
    src = _ffill_index(firsts)
    return {
        "child": child,
        "period": -1 - rows,
        "decom": start,
        "dec": end,
        "rne": np.full(m, C.RNE["S"]),
        "ls": sbs["ls"][rows],
        "need": np.full(m, C.NEED_N2),
        "place": place,
        "provider": prov[src],
        "rec": np.where(sbs["ls"][rows] == C.LS["V3"], C.REC["E13"], C.REC["E8"]),
        "rpc": np.full(m, -1),
        "pl_post": np.full(m, "", dtype=object),
        "urn": np.full(m, "", dtype=object),
    }


def _check_episodes(eps):
    """Invariants the returns rely on: positive lengths, unique CHILD+DECOM, no overlap."""
    c, a, b = eps["child"], eps["decom"], eps["dec"]
    if np.any(b <= a):
        raise AssertionError("episode with DEC <= DECOM")
    same = c[1:] == c[:-1]
    if np.any(same & (a[1:] <= a[:-1])):
        raise AssertionError("duplicate CHILD+DECOM")
    if np.any(same & (a[1:] < b[:-1])):
        raise AssertionError("overlapping episodes")


# ============================================================================ OC3
def simulate_oc3(
    cfg: SynthConfig,
    rng: np.random.Generator,
    ch: dict,
    eps: dict,
    ages: tuple[int, ...] = (19, 20, 21),
    in_touch=C.IN_TOUCH,
) -> dict:
    """Care leavers (looked after >= 13 weeks since 14, some time after 16, left care)
    followed up around the birthdays ``ages`` that fall after they left care."""
    N = len(ch["dob"])
    care = ~np.isin(eps["ls"], [C.LS["V3"], C.LS["V4"]])
    c, a, b, rec = eps["child"][care], eps["decom"][care], eps["dec"][care], eps["rec"][care]
    b14, b16, b18 = ch["b14"][c], ch["b16"][c], ch["b18"][c]
    after14 = np.maximum(0, np.minimum(b, b18) - np.maximum(a, b14))
    days14 = np.bincount(c, weights=after14, minlength=N)
    after16 = np.bincount(c, weights=(b > b16).astype(float), minlength=N) > 0
    last = ~_same_as_next(c)
    last_rec = np.full(N, -1)
    last_rec[c[last]] = rec[last]
    last_dec = np.zeros(N, dtype=np.int64)
    last_dec[c[last]] = b[last]
    excluded = np.isin(last_rec, [C.REC[x] for x in ("E2", "E3", "E15", "E16", "X1")])
    leaver = (days14 >= 91) & after16 & ~excluded & (last_rec >= 0)
    leaver &= last_dec <= ch["b18"]
    lv = np.flatnonzero(leaver)
    n = len(lv)
    k_ages = len(ages)
    bday = np.stack([add_years(ch["dob"][lv], k) for k in ages], axis=1)
    cy = collection_year(bday.ravel()).reshape(n, k_ages)
    it_codes, it_p = C.table(in_touch)
    status = C.draw(rng, it_p, k_ages * n).reshape(n, k_ages)
    died = it_codes[status] == "DIED"
    after_death = (np.cumsum(died, axis=1) - died) > 0
    in_window = (cy >= cfg.first_year) & (cy <= cfg.last_year)
    keep = in_window & ~after_death & (bday > last_dec[lv][:, None])
    rows_child = np.repeat(lv, k_ages).reshape(n, k_ages)[keep]
    year = cy[keep]
    age = np.broadcast_to(np.asarray(ages), (n, k_ages))[keep]
    st = it_codes[status[keep]]
    m = len(rows_child)

    # activity
    act_codes, act_p = C.table(C.ACTIV_NEW)
    activ = act_codes[C.draw(rng, act_p, m)]
    # in touch: what they do is known (DfE rule 345); died or returned home: nothing is
    # recorded, ACTIV and ACCOM are 0 (rule 344)
    in_touch = st == "YES"
    known = act_codes != "0"
    activ_known = act_codes[known][C.draw(rng, act_p[known] / act_p[known].sum(), m)]
    activ = np.where(in_touch & (activ == "0"), activ_known, activ)
    no_contact = np.isin(st, ["NO", "REFU"])
    activ = np.where(no_contact & (rng.random(m) < 0.8), "0", activ)
    gone = np.isin(st, ["DIED", "RHOM"])
    activ = np.where(gone, "0", activ)
    # apprenticeships, training and employment were one code (F3/P3) until 2021-22
    old = year <= 2021
    activ = np.where(old & np.isin(activ, ["F4", "F5"]), "F3", activ)
    activ = np.where(old & np.isin(activ, ["P4", "P5"]), "P3", activ)
    # accommodation: suitability improves over the years
    frac = (year - cfg.first_year) / max(cfg.last_year - cfg.first_year, 1)
    p_suit = 0.80 + 0.11 * frac
    u = rng.random(m)
    no_info = (u < 0.03) & ~in_touch
    suitable = ~no_info & (rng.random(m) < p_suit / 0.97)
    s_codes, s_p = C.table(C.ACCOM_SUITABLE)
    x_codes, x_p = C.table(C.ACCOM_UNSUITABLE)
    letter = np.where(suitable, s_codes[C.draw(rng, s_p, m)], x_codes[C.draw(rng, x_p, m)])
    accom = letter + np.where(suitable, "1", "2")
    accom = np.where(no_info, "0", accom)
    accom = np.where(no_contact & (rng.random(m) < 0.7), "0", accom)
    accom = np.where(gone, "0", accom)
    order = np.lexsort((rows_child, year))
    return {
        "child": rows_child[order],
        "year": year[order],
        "age": age[order],
        "in_touch": st[order].astype(object),
        "activ": activ[order].astype(object),
        "accom": accom[order].astype(object),
    }


# ============================================================================ entry point
# Children are simulated in independent chunks of at most this many (bounds memory at
# the national scale; the council and region presets are a single chunk).
CHUNK = 400_000
# child ids of chunk k start above ID_BASE + ID_STRIDE * (children in earlier chunks)
ID_BASE, ID_STRIDE, ID_MAX_GAP = 100_000, 40, 40


def chunks(n_children: int) -> list[tuple[int, int]]:
    """(number of children, id base) of each chunk."""
    out, done = [], 0
    while done < n_children:
        n = min(CHUNK, n_children - done)
        out.append((n, ID_BASE + ID_STRIDE * done))
        done += n
    return out


def simulate(
    cfg: SynthConfig, n: int | None = None, chunk: int = 0, id_base: int = ID_BASE
) -> History:
    """Simulate ``n`` children (default: all of ``cfg``) as chunk number ``chunk``."""
    n = cfg.n_children if n is None else n
    rng = np.random.default_rng([cfg.seed, chunk])
    ch = simulate_children(cfg, rng, n, id_base)
    cin, cp, periods, sbs, div = simulate_histories(cfg, rng, ch)
    eps = build_episodes(cfg, rng, ch, periods, sbs)
    oc3 = simulate_oc3(cfg, rng, ch, eps)
    core = History(
        cfg=cfg,
        children=ch,
        cin=cin,
        cp=cp,
        episodes=eps,
        oc3=oc3,
        diverted=div,
        missing={},
        oc2={},
        adoptions={},
    )
    from .journey import add_journey  # the journey builds on this module's histories

    return add_journey(core, np.random.default_rng([cfg.seed, chunk, 3]), id_base)
