"""The child's journey around the core histories: the front door (referrals that end in
no further action, brief re-referrals, assessments, section 47 enquiries and initial
conferences), unaccompanied asylum-seeking children, missing episodes, the health of
children looked after (OC2), adoption decisions and matches, and young care leavers
followed up at 17 and 18.

Everything here draws from its own random stream, so adding these events leaves the
core histories of :mod:`.simulate` (referrals leading to plans and care, placements,
care leavers at 19-21) exactly as they were. Vectorised like the rest of the generator:
no loop runs per child or per record.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import codes as C
from ._dates import add_years, collection_year, day, ymd
from .config import SynthConfig
from .simulate import (
    _UPN_LETTERS,
    YEAR,
    History,
    _check_episodes,
    _lognormal,
    _next,
    _prev,
    _same_as_next,
    _same_as_prev,
    _unif_int,
    age_band,
    build_episodes,
    simulate_oc3,
)

# Unaccompanied children arriving, per child simulated, from the first arrival date on.
UASC_PER_CHILD = 0.0032
UASC_FIRST_ARRIVAL = "2012-04-01"
# Brief referrals after a child's CIN episode: some time later (a new contact that goes
# no further than an assessment or a short spell of support) and soon after an episode
# closed within weeks (a re-referral).
P_LATER_REFERRAL = 0.85
P_REREFERRAL = 0.42
BRIEF_KIND_P = np.array([0.18, 0.42, 0.40])  # no further action, assessed and closed, CIN support
# Assessments: calendar days from start to authorisation (~80% within 45 working days).
ASSESSMENT_MEDIAN_DAYS, ASSESSMENT_SIGMA = 50, 0.5
# Child-protection plans drawn out past two years (of plans that could be: the last plan
# of a CIN episode without care, with room before the child's next referral).
P_LONG_PLAN = 0.025
# Section 47 enquiries in episodes without a plan, and what came of them.
P_S47_NO_PLAN, P_ICPC_NO_PLAN, P_ICPC_NOT_REQUIRED = 0.38, 0.12, 0.07
# Calendar days from the enquiry's start to the initial conference (~80% within 15
# working days).
ICPC_MEDIAN_DAYS, ICPC_SIGMA = 17, 0.45
# Share of periods of care whose child goes missing, by age band at the start of the
# period, and incidents a year for those who do.
P_MISSING_CHILD = np.array([0.0, 0.005, 0.04, 0.32, 0.36])
MISSING_PER_YEAR = 3.0


def _table_draw(rng, pairs, n):
    codes, p = C.table(pairs)
    return codes[C.draw(rng, p, n)]


def period_starts(eps: dict) -> np.ndarray:
    """Start of each episode's period of care (its first episode's DECOM)."""
    first = ~_same_as_prev(eps["period"]) | ~_same_as_prev(eps["child"])
    idx = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0)) if len(first) else first
    return eps["decom"][idx]


# ============================================================================ UASC
def uasc_cohort(cfg: SynthConfig, rng, n_children: int, id_base: int, n_periods: int):
    """Unaccompanied asylum-seeking children arriving aged 14-16 and looked after under
    section 20 until they are 18: their children rows, CIN episodes, periods of care
    (numbered from ``n_periods``), episodes and care-leaver follow-ups, with child
    indexes starting at ``n_children``."""
    T1 = day(cfg.data_end)
    m = int(rng.binomial(n_children, UASC_PER_CHILD))
    t = rng.integers(day(UASC_FIRST_ARRIVAL), T1 + 1, m)
    age_d = np.floor((14 + C.draw(rng, np.array([0.2, 0.35, 0.45]), m)) * YEAR).astype(np.int64)
    dob = t - age_d - rng.integers(0, 300, m)
    # ids above every other child of the chunk (the chunk's ids stay below id_base + 39 n)
    ids = id_base + 40 * n_children - np.cumsum(rng.integers(1, 40, m))
    codes = list(C.ETHNIC_CODES)
    ch = {
        "idx": n_children + np.arange(m),
        "child_id": ids.astype(np.int64),
        "dob": dob,
        "sex": np.where(rng.random(m) < 0.92, 1, 2).astype(np.int8),
        "ethnic": np.array([codes.index(c) for c in _table_draw(rng, C.UASC_ETHNIC, m)], np.int16),
        "t_first": t,
        "upn_l": rng.integers(0, len(_UPN_LETTERS), m).astype(np.int8),
        "upn_n": rng.integers(0, 10**12, m),
        "home_d": rng.integers(0, 14, m).astype(np.int16),
        "inward": rng.integers(0, 10 * 20 * 20, m).astype(np.int16),
        "b14": add_years(dob, 14),
        "b16": add_years(dob, 16),
        "b18": add_years(dob, 18),
        "uasc": np.ones(m, dtype=bool),
    }
    start = t + rng.integers(0, 4, m)
    local = np.arange(m)
    need_n8 = list(C.NEED_CODES).index("N8")
    per = {
        "child": local,
        "start": start,
        "end": ch["b18"],
        "rec": C.REC_AT_18[C.draw(rng, C.REC_AT_18_P, m)],
        "route": np.full(m, C.R_LONG),
        "need": np.full(m, need_n8),
        "ls": np.full(m, C.LS["V2"]),
    }
    empty = {k: np.zeros(0, np.int64) for k in ("child", "cin_id", "start", "end", "ls")}
    eps = build_episodes(cfg, rng, ch, per, empty)
    oc3 = simulate_oc3(cfg, rng, ch, eps)
    eps["child"] = eps["child"] + n_children
    eps["period"] = eps["period"] + n_periods
    oc3["child"] = oc3["child"] + n_children
    cin = {
        "child": ch["idx"],
        "ref": t,
        "close": ch["b18"],
        "need": np.full(m, need_n8),
        "source": np.full(m, list(C.SOURCE_CODES).index("8")),  # other
        "rc": np.full(m, 6),  # RC7: services ceased at 18
        "nfa": np.zeros(m, bool),
        "quick": np.zeros(m, bool),
        "has_cp": np.zeros(m, bool),
        "in_care": np.ones(m, bool),
        "age_band": age_band(t - dob),
    }
    return ch, cin, eps, oc3


# ============================================================================ front door
def brief_referrals(cfg: SynthConfig, rng, ch: dict, cin: dict) -> dict:
    """Referrals that go no further than an assessment or a short spell of support, in
    the gaps of each child's history after a CIN episode: one at some time before the
    child's next referral or 18th birthday, and one soon after an episode closed within
    weeks (a re-referral). Never overlapping the child's other CIN episodes, never in
    the child's last week before 18 or after the last return."""
    T1 = day(cfg.data_end)
    o = np.lexsort((cin["ref"], cin["child"]))
    child, ref, close, quick = cin["child"][o], cin["ref"][o], cin["close"][o], cin["quick"][o]
    n = len(child)
    next_ref = np.where(_same_as_next(child), _next(ref, 0), 10**9)
    # a later contact, at any time before the next referral or the 18th birthday
    hi = np.minimum(next_ref, ch["b18"][child]) - 21
    later = (rng.random(n) < P_LATER_REFERRAL) & (hi > close + 14)
    t_later = _unif_int(rng, close + 14, np.maximum(hi, close + 14))
    # a re-referral weeks after a quick closure
    t_again = close + 7 + np.floor(rng.exponential(70, n)).astype(np.int64)
    again = quick & (rng.random(n) < P_REREFERRAL)
    start = np.concatenate([t_later[later], t_again[again]])
    limit = np.concatenate([next_ref[later], next_ref[again]]) - 7
    kid = np.concatenate([child[later], child[again]])
    m = len(start)
    kind = C.draw(rng, BRIEF_KIND_P, m)
    dur = np.select(
        [kind == 0, kind == 1],
        [rng.integers(0, 3, m), rng.integers(10, 46, m)],
        np.ceil(np.clip(_lognormal(rng, 340, 0.6, m), 30, 1200)).astype(np.int64),
    )
    end = start + dur
    b18 = ch["b18"][kid]
    ok = (
        (end < limit) & (end <= b18) & (start < b18 - 7) & (start <= T1) & (start >= ch["dob"][kid])
    )
    kid, start, end, kind = kid[ok], start[ok], end[ok], kind[ok]
    # a later contact and a re-referral in the same gap may collide: keep the first
    o = np.lexsort((start, kid))
    kid, start, end, kind = kid[o], start[o], end[o], kind[o]
    ok = ~(_same_as_prev(kid) & (start <= _prev(end, 0)))
    kid, start, end, kind = kid[ok], start[ok], end[ok], kind[ok]
    m = len(kid)
    band = age_band(start - ch["dob"][kid])
    need = C.draw(rng, C.NEED_P, m)
    need = np.where((need == 7) & (band < 3), 0, need)
    nfa = kind == 0
    return {
        "child": kid,
        "ref": start,
        "close": end,
        "need": need,
        "source": C.draw(rng, C.SOURCE_P, m),
        # RC8 no further action after assessment, RC9 referred to early help, RC7 support
        # ended
        "rc": np.where(kind == 2, 6, np.where(rng.random(m) < 0.6, 7, 8)),
        "nfa": nfa,
        "quick": kind < 2,
        "has_cp": np.zeros(m, bool),
        "in_care": np.zeros(m, bool),
        "age_band": band,
    }


def long_plans(cfg: SynthConfig, rng, ch: dict, cin: dict, cp: dict) -> tuple[dict, dict]:
    """A few child-protection plans that last two years or more (a family where change
    is slow): the last plan of a CIN episode in which the child did not come into care
    runs on, and the episode with it, if the child's next referral leaves room."""
    T1 = day(cfg.data_end)
    o = np.lexsort((cin["ref"], cin["child"]))
    next_ref = np.full(len(cin["ref"]), 10**9)
    nxt = np.where(_same_as_next(cin["child"][o]), _next(cin["ref"][o], 0), 10**9)
    next_ref[cin["cin_id"][o]] = nxt
    ep = cp["cin_id"]
    n = len(ep)
    end = cp["start"] + 730 + np.floor(rng.exponential(150, n)).astype(np.int64)
    close = end + rng.integers(0, 31, n)
    ok = ~_same_as_next(ep) & ~cin["in_care"][ep] & (rng.random(n) < P_LONG_PLAN)
    ok &= (end > cp["end"]) & (close < ch["b18"][cp["child"]]) & (close + 30 < next_ref[ep])
    ok &= cp["end"] <= T1  # a plan still open at the last return is not changed
    cp = {**cp, "end": np.where(ok, end, cp["end"])}
    cin = {**cin, "close": cin["close"].copy()}
    cin["close"][ep[ok]] = np.maximum(cin["close"][ep[ok]], close[ok])
    return cin, cp


def codes_in_force(cin: dict) -> dict:
    """Referral source and reason for closure as the census of their time codes them."""
    new_codes = day(C.CIN_2023_FROM)
    source, rc = cin["source"], cin["rc"]
    return {
        "source": np.where((source == C.SOURCE_5D) & (cin["ref"] < new_codes), C.SOURCE_5C, source),
        "rc": np.where((rc == C.RC9) & (cin["close"] < new_codes), C.RC8, rc),
    }


def assessments_and_enquiries(rng, cin: dict, cp: dict) -> dict:
    """Assessment (start and authorisation) of every referral not closed with no further
    action, and the section 47 enquiries: before every first plan of a CIN episode (the
    plan starts at the initial conference) and in some episodes without a plan, a few
    of which still go to a conference or find one no longer needed."""
    n = len(cin["ref"])
    ref, close, nfa = cin["ref"], cin["close"], cin["nfa"]
    a_start = np.minimum(ref + rng.integers(0, 6, n), np.maximum(close, ref))
    took = np.ceil(_lognormal(rng, ASSESSMENT_MEDIAN_DAYS, ASSESSMENT_SIGMA, n)).astype(np.int64)
    a_auth = np.minimum(a_start + took, np.maximum(close, a_start))

    # first plan of each CIN episode
    big = np.iinfo(np.int64).max
    first_plan = np.full(n, big)
    np.minimum.at(first_plan, cp["cin_id"], cp["start"])
    planned = first_plan < big
    gap = np.ceil(_lognormal(rng, ICPC_MEDIAN_DAYS, ICPC_SIGMA, n)).astype(np.int64)
    s47 = np.where(planned, np.maximum(first_plan - gap, ref), a_start + rng.integers(0, 11, n))
    other = ~planned & ~nfa & (rng.random(n) < P_S47_NO_PLAN) & (s47 < close)
    u = rng.random(n)
    conf = other & (u < P_ICPC_NO_PLAN) & (s47 + gap < close)
    not_required = other & (u >= P_ICPC_NO_PLAN) & (u < P_ICPC_NO_PLAN + P_ICPC_NOT_REQUIRED)
    return {
        "a_start": a_start,
        "a_auth": a_auth,
        "has_assessment": ~nfa,
        "has_s47": planned | other,
        "s47": s47,
        "has_icpc": planned | conf,
        "icpc": np.where(planned, first_plan, s47 + gap),
        "icpc_not_required": not_required,
    }


# ============================================================================ in care
def simulate_missing(cfg: SynthConfig, rng, ch: dict, eps: dict) -> dict:
    """Incidents of a looked-after child missing (M) or away from placement without
    authorisation (A): a share of periods of care, mostly of teenagers, have incidents
    at a steady rate. Each incident lies inside one episode and one collection year,
    and a child's incidents never overlap."""
    T1 = day(cfg.data_end)
    care = np.flatnonzero(~np.isin(eps["ls"], [C.LS["V3"], C.LS["V4"]]))
    child, a, b, period = (eps[k][care] for k in ("child", "decom", "dec", "period"))
    starts = period_starts({"period": period, "child": child, "decom": a})
    uper, inv = np.unique(period, return_inverse=True)
    band = np.zeros(len(uper), np.int64)
    band[inv] = age_band(starts - ch["dob"][child])
    prone = (rng.random(len(uper)) < P_MISSING_CHILD[band])[inv]
    days = np.maximum(np.minimum(b, T1 + 1) - a, 0)
    k = np.where(prone, rng.poisson(MISSING_PER_YEAR * days / YEAR), 0)
    rows = np.repeat(np.arange(len(care)), k)
    start = a[rows] + np.floor(rng.random(len(rows)) * days[rows]).astype(np.int64)
    # back the same day for many, otherwise after a day or a few
    length = np.where(rng.random(len(rows)) < 0.4, 0, rng.geometric(0.45, len(rows)))
    end = start + length
    ok = (end < b[rows]) & (end <= T1) & (collection_year(end) == collection_year(start))
    rows, start, end = rows[ok], start[ok], end[ok]
    kid = child[rows]
    o = np.lexsort((start, kid))
    kid, start, end = kid[o], start[o], end[o]
    # drop an incident starting before an earlier one of the child has ended
    offset = kid.astype(np.int64) * 10**6
    reach = np.maximum.accumulate(offset + end) if len(end) else end
    prev_reach = np.concatenate([[-1], reach[:-1]])[: len(end)]
    keep = (offset + start > prev_reach) | ~_same_as_prev(kid)
    m = int(keep.sum())
    return {
        "child": kid[keep],
        "start": start[keep],
        "end": end[keep],
        "type": _table_draw(rng, C.MISSING_TYPE, m),
    }


def _whole_years(dob: np.ndarray, at: np.ndarray) -> np.ndarray:
    y0, m0, d0 = ymd(dob)
    y1, m1, d1 = ymd(at)
    return y1 - y0 - ((m1 < m0) | ((m1 == m0) & (d1 < d0)))


def simulate_oc2(cfg: SynthConfig, rng, ch: dict, eps: dict) -> dict:
    """OC2 rows: each child looked after continuously for the 12 months to 31 March (a
    period of care begun by 1 April and open on 31 March, no short breaks in the year),
    with health assessment, teeth check, SDQ and the other checks for their age."""
    care = ~np.isin(eps["ls"], [C.LS["V3"], C.LS["V4"]])
    starts = period_starts(eps)
    rows_child, rows_year = [], []
    for y in cfg.years:
        ys, ye = day(f"{y - 1}-04-01"), day(f"{y}-03-31")
        sb = np.unique(eps["child"][~care & (eps["decom"] <= ye) & (eps["dec"] >= ys)])
        m = care & (eps["decom"] <= ye) & (eps["dec"] > ye) & (starts <= ys)
        kids = np.setdiff1d(eps["child"][m], sb)
        rows_child.append(kids)
        rows_year.append(np.full(len(kids), y))
    child, year = np.concatenate(rows_child), np.concatenate(rows_year)
    n = len(child)
    dob = ch["dob"][child]
    age_end = _whole_years(
        dob, np.array([day(f"{y}-03-31") for y in cfg.years])[year - cfg.first_year]
    )
    age_start = _whole_years(
        dob, np.array([day(f"{y - 1}-04-01") for y in cfg.years])[year - cfg.first_year]
    )
    frac = (year - cfg.first_year) / max(cfg.last_year - cfg.first_year, 1)

    def yes_no(p, given):
        return np.where(given, np.where(rng.random(n) < p, "1", "0"), "").astype(object)

    sdq_due = (age_end >= 4) & (age_start <= 16)
    scored = sdq_due & (rng.random(n) < 0.86)
    score = np.clip(np.round(rng.normal(14.0, 6.5, n)), 0, 40).astype(np.int64)
    substance = yes_no(0.04, age_end >= 10)
    substance = np.where(age_end >= 10, substance, "0").astype(object)
    received = yes_no(0.6, substance == "1")
    return {
        "child": child,
        "year": year,
        "sdq_score": np.where(scored, score.astype(str), "").astype(object),
        "sdq_reason": np.where(sdq_due & ~scored, _table_draw(rng, C.SDQ_REASON, n), "").astype(
            object
        ),
        "convicted": yes_no(0.03, age_end >= 10),
        "health_check": yes_no(0.9, age_end < 5),
        "immunisations": yes_no(0.86, np.ones(n, bool)),
        "teeth_check": yes_no(0.82 + 0.06 * frac, np.ones(n, bool)),
        "health_assessment": yes_no(0.88 + 0.04 * frac, np.ones(n, bool)),
        "substance_misuse": substance,
        "intervention_received": received,
        "intervention_offered": yes_no(0.5, received == "0"),
    }


def simulate_adoptions(cfg: SynthConfig, rng, eps: dict) -> dict:
    """For each period of care with a placement order or a placement for adoption: the
    decision that the child should be placed for adoption (before both), and for each
    child adopted (REC E11/E12) the match with the adopters (before the placement with
    them, never on the adoption day) and who the adopters are."""
    big = np.iinfo(np.int64).max
    adoptive = np.isin(eps["place"], [C.PL[c] for c in ("A3", "A4", "A5", "A6")])
    placement_order = eps["ls"] == C.LS["E1"]
    adopted = np.isin(eps["rec"], [C.REC["E11"], C.REC["E12"]])
    starts = period_starts(eps)
    per = eps["period"]
    # periods with a placement order or a placement for adoption
    with_decision = np.zeros(int(per.max()) + 1 if len(per) else 0, bool)
    with_decision[per[(adoptive | placement_order) & (per >= 0)]] = True
    sel = (per >= 0) & with_decision[np.maximum(per, 0)]
    up, inv = np.unique(per[sel], return_inverse=True)
    k = len(up)
    child = np.zeros(k, np.int64)
    start = np.zeros(k, np.int64)
    child[inv], start[inv] = eps["child"][sel], starts[sel]
    e1 = np.full(k, big)
    np.minimum.at(e1, inv, np.where(placement_order[sel], eps["decom"][sel], big))
    placed = np.full(k, big)
    np.minimum.at(placed, inv, np.where(adoptive[sel], eps["decom"][sel], big))
    place = np.full(k, -1)
    first_a = adoptive[sel] & (eps["decom"][sel] == placed[inv])
    place[inv[first_a]] = eps["place"][sel][first_a]
    adopt_day = np.full(k, big)
    np.minimum.at(adopt_day, inv, np.where(adopted[sel], eps["dec"][sel], big))
    end = np.zeros(k, np.int64)
    np.maximum.at(end, inv, eps["dec"][sel])

    decision = np.maximum(start, np.minimum(e1, placed) - rng.integers(14, 91, k))
    match = np.where(
        placed < big,
        placed - rng.integers(7, 46, k),
        np.where(adopt_day < big, adopt_day - rng.integers(60, 181, k), big),
    )
    match = np.maximum(match, decision)
    couple = rng.random(k) < 0.8
    sex = np.where(
        couple,
        _table_draw(rng, C.COUPLE_ADOPTERS, k),
        _table_draw(rng, C.SINGLE_ADOPTER, k),
    )
    ls = np.where(
        ~couple,
        "L0",
        np.where(
            sex == "MF",
            _table_draw(rng, C.LS_ADOPTERS_MF, k),
            _table_draw(rng, C.LS_ADOPTERS_SAME_SEX, k),
        ),
    )
    foster = np.isin(place, [C.PL["A3"], C.PL["A5"]])
    return {
        "child": child,
        "period": up,
        "period_start": start,
        "period_end": end,
        "decision": decision,
        "match": match,
        "adopted": adopt_day < big,
        "adoption": adopt_day,
        "foster_care": np.where(foster, "1", "0").astype(object),
        "nb_adopters": np.where(couple, "2", "1").astype(object),
        "sex_adopters": sex.astype(object),
        "ls_adopters": ls.astype(object),
    }


def young_care_leavers(cfg: SynthConfig, rng, ch: dict, eps: dict) -> dict:
    """Care leavers followed up at their 17th and 18th birthdays (those who left care
    between 16 and that birthday)."""
    in_touch = [(c, w) for c, w in C.IN_TOUCH if c != "DIED"]
    oc3 = simulate_oc3(cfg, rng, ch, eps, ages=(17, 18), in_touch=in_touch)
    # staying with former foster carers (Z) begins at 18 (DfE rule 3001): at 17 the
    # young person is in semi-independent transitional accommodation (D)
    accom = oc3["accom"].copy()
    with_carers = (oc3["age"] == 17) & np.array([a[:1] == "Z" for a in accom.tolist()], bool)
    accom[with_carers] = np.array(["D" + a[1:] for a in accom[with_carers].tolist()], object)
    oc3["accom"] = accom
    return oc3


# ============================================================================ assembly
def add_journey(h: History, rng: np.random.Generator, id_base: int) -> History:
    """The core histories ``h`` with the journey events added (own stream ``rng``)."""
    cfg, ch, cin, eps = h.cfg, h.children, h.cin, h.episodes
    cin, cp = long_plans(cfg, rng, ch, cin, h.cp)
    n = len(ch["dob"])
    n_periods = int(eps["period"].max()) + 1 if len(eps["period"]) else 0
    u_ch, u_cin, u_eps, u_oc3 = uasc_cohort(cfg, rng, n, id_base, n_periods)
    if len(u_ch["child_id"]) and np.isin(u_ch["child_id"], ch["child_id"]).any():
        raise AssertionError("UASC child id clashes with another child's")
    ch = {**ch, "uasc": np.zeros(n, bool)}
    ch = {k: np.concatenate([ch[k], u_ch[k]]) for k in ch}

    brief = brief_referrals(cfg, rng, ch, cin)
    added = {k: np.concatenate([brief[k], u_cin[k]]) for k in brief}
    n_cin = len(cin["child"])
    added["cin_id"] = n_cin + np.arange(len(added["child"]))  # cin_id is the row number
    cin = {k: np.concatenate([cin[k], added[k]]) for k in cin}
    cin.update(codes_in_force(cin))
    cin.update(assessments_and_enquiries(rng, cin, cp))

    eps = {k: np.concatenate([eps[k], u_eps[k]]) for k in eps}
    order = np.lexsort((eps["decom"], eps["child"]))
    eps = {k: v[order] for k, v in eps.items()}
    _check_episodes(eps)

    young = young_care_leavers(cfg, rng, ch, eps)
    oc3 = {k: np.concatenate([h.oc3[k], u_oc3[k], young[k]]) for k in h.oc3}
    order = np.lexsort((oc3["child"], oc3["year"]))
    oc3 = {k: v[order] for k, v in oc3.items()}
    return dataclasses.replace(
        h,
        children=ch,
        cin=cin,
        cp=cp,
        episodes=eps,
        oc3=oc3,
        missing=simulate_missing(cfg, rng, ch, eps),
        oc2=simulate_oc2(cfg, rng, ch, eps),
        adoptions=simulate_adoptions(cfg, rng, eps),
    )
