"""True measure values computed from the simulated life histories (DOMAIN.md §3).

Only records that appear in at least one written return/export are used (an episode
open at some time in 1 Apr 2016 - 31 Mar 2026, a CP plan open in some CIN census year,
an enrolment started by 31 Mar 2026), because those are all a pipeline can ever see;
for month ends from 31 Mar 2017 on that restriction changes nothing. A 12-month measure
has no value before its first full window (31 Mar 2017, the first collection year's end), a
programme's 12-month measures none before the 12th month end from its first enrolment, as
the pipeline gives them (models/measures.yml, Windows).

Children are simulated in independent chunks, so every measure is kept as additive
parts (counts, numerators, denominators) per chunk and finished by :func:`finish`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from . import codes as C
from ._dates import day, minus_one_year, month_ends, shift_years, working_days
from .journey import period_starts


def period_ends(cfg) -> list[dt.date]:
    return month_ends(dt.date(cfg.first_year - 1, 4, 30), cfg.data_end)


def window_start(x: dt.date) -> dt.date:
    """First day of the 12-month window ending x: (x - 1 year, x]."""
    return minus_one_year(x) + dt.timedelta(days=1)


def mid_year(x: dt.date) -> int:
    return x.year if x.month >= 4 else x.year - 1


def _pct(num, den):
    return None if den == 0 else 100.0 * float(num) / float(den)


def _mean(total, count):
    return None if count == 0 else float(total) / float(count)


def minus_months(x: dt.date, months: int) -> dt.date:
    """X − ``months`` months, the day clamped to the month length (SQL ``INTERVAL``)."""
    k = x.year * 12 + x.month - 1 - months
    y, m = divmod(k, 12)
    nxt = dt.date(y + (m == 11), (m + 1) % 12 + 1, 1)
    return min(dt.date(y, m + 1, 1) + dt.timedelta(days=x.day - 1), nxt - dt.timedelta(days=1))


def month_end_back(x: dt.date, months: int) -> dt.date:
    """The month end ``months`` months before the month of x."""
    y, m = divmod(x.year * 12 + x.month - 1 - months, 12)
    return dt.date(y + (m == 11), (m + 1) % 12 + 1, 1) - dt.timedelta(days=1)


def _days(xs) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers of each period end and of its 12-month window's first day."""
    return np.array([day(x) for x in xs]), np.array([day(window_start(x)) for x in xs])


def _in_windows(dates: np.ndarray, xs) -> np.ndarray:
    """How many of ``dates`` fall in each 12-month window (X − 1 year, X]."""
    xd, fd = _days(xs)
    d = np.sort(dates)
    return np.searchsorted(d, xd, "right") - np.searchsorted(d, fd, "left")


def _open_at(start: np.ndarray, end: np.ndarray, xs) -> np.ndarray:
    """How many of the records [start, end) are open on each X (start <= X < end)."""
    xd, _ = _days(xs)
    return np.searchsorted(np.sort(start), xd, "right") - np.searchsorted(np.sort(end), xd, "right")


# --------------------------------------------------------------------------- episodes
def visible_care_episodes(h) -> dict:
    """Non short-break (V3/V4) episodes present in at least one return."""
    cfg, e = h.cfg, h.episodes
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    m = ~np.isin(e["ls"], [C.LS["V3"], C.LS["V4"]]) & (e["dec"] >= lo) & (e["decom"] <= hi)
    return {k: v[m] for k, v in e.items()}


def _shadow(e: dict) -> np.ndarray:
    """Rows the returns show inside another episode of the child (a DECOM given late)."""
    return e.get("is_shadow", np.zeros(len(e["child"]), bool))


def cla_counts(h, xs: list[dt.date]) -> np.ndarray:
    e = visible_care_episodes(h)
    own = ~_shadow(e)
    a, b = np.sort(e["decom"][own]), np.sort(e["dec"][own])
    xd = np.array([day(x) for x in xs])
    # a child's episodes overlap only where a repaired one lies inside another (left out
    # here), so open episodes = distinct children
    return np.searchsorted(a, xd, "right") - np.searchsorted(b, xd, "right")


def cla_parts(h, xs) -> dict:
    e = visible_care_episodes(h)
    child, decom, dec, rne = e["child"], e["decom"], e["dec"], e["rne"]
    shadow = _shadow(e)
    starts = rne == C.RNE["S"]
    placement = np.isin(rne, [C.RNE[c] for c in "SPBTU"])
    s_child, s_decom = child[starts], decom[starts]
    p_child, p_decom = child[placement], decom[placement]
    n = len(xs)
    out = {
        "cla_count": cla_counts(h, xs),
        "cla_starts": np.zeros(n, np.int64),
        "stab_num": np.zeros(n, np.int64),
        "stab_den": np.zeros(n, np.int64),
    }
    for j, x in enumerate(xs):
        xd, fd = day(x), day(window_start(x))
        out["cla_starts"][j] = len(np.unique(s_child[(s_decom >= fd) & (s_decom <= xd)]))
        kids = child[(decom <= xd) & (dec > xd) & ~shadow]
        carried = np.unique(child[(decom < fd) & (dec > fd)])
        in_win = p_child[(p_decom >= fd) & (p_decom <= xd)]
        # placements per child in care at x: moves in the window + 1 if carried in
        allk = np.concatenate([in_win, carried])
        uk, cnt = np.unique(allk, return_counts=True)
        pos = np.searchsorted(uk, kids)
        pos_c = np.minimum(pos, max(len(uk) - 1, 0))
        hit = (pos < len(uk)) & (uk[pos_c] == kids) if len(uk) else np.zeros(len(kids), bool)
        n_pl = np.where(hit, cnt[pos_c] if len(uk) else 0, 0)
        out["stab_num"][j] = int((n_pl >= 3).sum())
        out["stab_den"][j] = len(kids)
    ls_codes, place_codes = C.LS_CODES[e["ls"]], C.PLACE_CODES[e["place"]]
    for group, codes in C.LEGAL_STATUS_GROUP.items():
        m = np.isin(ls_codes, codes) & ~shadow
        out[f"ls:{group}"] = _open_at(decom[m], dec[m], xs)
    grouped = shadow.copy()
    for group, codes in C.PLACEMENT_TYPE_GROUP.items():
        m = np.isin(place_codes, codes) & ~shadow
        grouped |= m
        out[f"place:{group}"] = _open_at(decom[m], dec[m], xs)
    out[f"place:{C.OTHER_PLACEMENT}"] = _open_at(decom[~grouped], dec[~grouped], xs)
    uasc = h.children["uasc"][child] & ~shadow
    out["uasc_count"] = _open_at(decom[uasc], dec[uasc], xs)
    out.update(long_term_stability_parts(h, e, xs))
    out.update(missing_parts(h, e, xs))
    return out


def long_term_stability_parts(h, e: dict, xs) -> dict:
    """Children looked after at X, under 16, whose period of care (as the returns show it)
    began by X − 30 months: how many, and how many in the same placement for 2 years
    (the latest placement, RNE S/P/B/T/U, began by X − 2 years; or placed for adoption,
    A3-A6, with the placement before it begun by then)."""
    child, decom, dec = e["child"], e["decom"], e["dec"]
    n = len(child)
    # periods of care as the returns show them: episodes in a row, each beginning on the
    # day the one before (in DECOM order) ended
    new_period = np.ones(n, bool)
    new_period[1:] = (child[1:] != child[:-1]) | (decom[1:] != dec[:-1])
    period = np.cumsum(new_period)
    pstart = period_starts({"period": period, "child": child, "decom": decom})
    placement = np.isin(e["rne"], [C.RNE[c] for c in "SPBTU"])
    rows = np.arange(n)
    last_pl = np.maximum.accumulate(np.where(placement, rows, -1)) if n else rows
    has_pl = (last_pl >= 0) & (period[np.maximum(last_pl, 0)] == period)
    pl_start = np.where(has_pl, decom[np.maximum(last_pl, 0)], np.iinfo(np.int64).max)
    before = np.where(has_pl & (last_pl > 0), last_pl - 1, 0)
    prev_pl = last_pl[before] if n else rows
    has_prev = has_pl & (last_pl > 0) & (prev_pl >= 0) & (period[np.maximum(prev_pl, 0)] == period)
    prev_start = np.where(has_prev, decom[np.maximum(prev_pl, 0)], np.iinfo(np.int64).max)
    adoption = np.isin(e["place"], [C.PL[c] for c in ("A3", "A4", "A5", "A6")])
    under16 = h.children["b16"][child]
    zero = np.zeros(n, np.int64)
    sh_from, sh_to = e.get("shadow_from", zero), e.get("shadow_to", zero)
    out = {"lts_num": np.zeros(len(xs), np.int64), "lts_den": np.zeros(len(xs), np.int64)}
    for j, x in enumerate(xs):
        xd, two = day(x), day(minus_months(x, 24))
        m = (decom <= xd) & (dec > xd) & (xd < under16) & (pstart <= day(minus_months(x, 30)))
        # where two are open, the latest begun (the one given late) is the child's
        m &= ~((sh_from <= xd) & (sh_to > xd))
        ok = (pl_start <= two) | (adoption & (prev_start <= two))
        out["lts_den"][j] = int(m.sum())
        out["lts_num"][j] = int((m & ok).sum())
    return out


def missing_parts(h, e: dict, xs) -> dict:
    """Children looked after at any time in the window, and those of them with a missing
    (M) incident starting in it (incidents in the returns: from the first one's start)."""
    cfg, ms = h.cfg, h.missing
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    m = (ms["type"] == "M") & (ms["start"] >= lo) & (ms["start"] <= hi)
    m_child, m_start = ms["child"][m], ms["start"][m]
    xd, fd = _days(xs)
    out = {"miss_num": np.zeros(len(xs), np.int64), "miss_den": np.zeros(len(xs), np.int64)}
    for j in range(len(xs)):
        in_care = e["child"][(e["decom"] <= xd[j]) & (e["dec"] > fd[j])]
        out["miss_den"][j] = len(np.unique(in_care))
        out["miss_num"][j] = len(np.unique(m_child[(m_start >= fd[j]) & (m_start <= xd[j])]))
    return out


# --------------------------------------------------------------------------- CP plans
def visible_plans(h) -> dict:
    cfg, p = h.cfg, h.cp
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    m = (p["end"] >= lo) & (p["start"] <= hi)
    return {k: v[m] for k, v in p.items()}


def cpp_parts(h, xs) -> dict:
    p = visible_plans(h)
    a, b = np.sort(p["start"]), np.sort(p["end"])
    xd = np.array([day(x) for x in xs])
    fd = np.array([day(window_start(x)) for x in xs])
    w = (p["start"][None, :] >= fd[:, None]) & (p["start"][None, :] <= xd[:, None])
    rep = p["npc"] > 0
    out = {
        "cpp_count": np.searchsorted(a, xd, "right") - np.searchsorted(b, xd, "right"),
        "rep_num": (w & rep[None, :]).sum(axis=1),
        "rep_den": w.sum(axis=1),
    }
    # plans ending in the window (an end the returns show), and those lasting 2 years
    ended = p["end"] <= day(h.cfg.data_end)
    long = ended & (p["end"] >= shift_years(p["start"], 2))
    out["ended"] = _in_windows(p["end"][ended], xs)
    out["ended_2y"] = _in_windows(p["end"][long], xs)
    for k, code in enumerate(C.ABUSE):
        m = p["latest_cat"] == k
        out[f"cat:{code}"] = _open_at(p["start"][m], p["end"][m], xs)
    return out


# --------------------------------------------------------------------------- front door
def visible_cin(h) -> dict:
    """CIN episodes present in at least one census (open some time in its years)."""
    cfg, c = h.cfg, h.cin
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    m = (c["ref"] <= hi) & (c["close"] >= lo)
    return {k: v[m] for k, v in c.items()}


def front_door_parts(h, xs) -> dict:
    c = visible_cin(h)
    hi = day(h.cfg.data_end)
    support = ~c["nfa"]
    # re-referral: the child's previous referral (in the census) within the year before
    o = np.lexsort((c["ref"], c["child"]))
    child, ref = c["child"][o], c["ref"][o]
    same = np.zeros(len(child), bool)
    same[1:] = child[1:] == child[:-1]
    prev = np.concatenate([ref[:1], ref[:-1]])
    again = same & (prev >= shift_years(ref, -1))
    assessed = c["has_assessment"] & (c["a_auth"] <= hi)
    a_start, a_auth = c["a_start"][assessed], c["a_auth"][assessed]
    in_time = working_days(a_start, a_auth) <= 45
    s47 = c["s47"][c["has_s47"] & (c["s47"] <= hi)]
    held = c["has_icpc"] & ~c["icpc_not_required"] & (c["icpc"] <= hi)
    icpc, icpc_s47 = c["icpc"][held], c["s47"][held]
    conf_in_time = working_days(icpc_s47, icpc) <= 15
    return {
        "cin_count": _open_at(c["ref"][support], c["close"][support], xs),
        "referrals": _in_windows(c["ref"], xs),
        "rereferrals": _in_windows(ref[again], xs),
        "assess_den": _in_windows(a_auth, xs),
        "assess_num": _in_windows(a_auth[in_time], xs),
        "s47": _in_windows(s47, xs),
        "icpc_den": _in_windows(icpc, xs),
        "icpc_num": _in_windows(icpc[conf_in_time], xs),
    }


# --------------------------------------------------------------------------- care leavers
def leaver_parts(h) -> dict:
    o = h.oc3
    years = h.cfg.years
    out = {
        "suit_num": np.zeros(len(years), np.int64),
        "eet_num": np.zeros(len(years), np.int64),
        "den": np.zeros(len(years), np.int64),
    }
    suitable = (
        np.char.endswith(o["accom"].astype(str), "1") if len(o["accom"]) else np.zeros(0, bool)
    )
    for j, y in enumerate(years):
        m = (o["year"] == y) & (o["age"] >= 19) & ~np.isin(o["in_touch"], ["DIED", "RHOM"])
        codes = C.EET_CODES_PRE2022 if y < 2022 else C.EET_CODES
        out["den"][j] = int(m.sum())
        out["suit_num"][j] = int(suitable[m].sum())
        out["eet_num"][j] = int(np.isin(o["activ"][m], list(codes)).sum())
    young = np.isin(o["age"], [17, 18])
    out["young_num"] = np.zeros(len(years), np.int64)
    out["young_den"] = np.zeros(len(years), np.int64)
    for j, y in enumerate(years):
        m = young & (o["year"] == y) & ~np.isin(o["in_touch"], ["DIED", "RHOM"])
        out["young_den"][j] = int(m.sum())
        out["young_num"][j] = int(suitable[m].sum())
    # OC2 rows of each return
    oc2 = h.oc2
    for key in ("oc2_den", "health", "teeth", "sdq"):
        out[key] = np.zeros(len(years), np.int64)
    for j, y in enumerate(years):
        m = oc2["year"] == y
        out["oc2_den"][j] = int(m.sum())
        out["health"][j] = int((oc2["health_assessment"][m] == "1").sum())
        out["teeth"][j] = int((oc2["teeth_check"][m] == "1").sum())
        out["sdq"][j] = int((oc2["sdq_score"][m] != "").sum())
    out.update(adoption_parts(h))
    return out


def adoption_parts(h) -> dict:
    """Children adopted (REC E11/E12) in the 3 years to each 31 March, as the returns show
    them: total and number of days from the start of their period of care (its first
    episode in the returns) to the decision that they should be placed for adoption."""
    cfg, ad = h.cfg, h.adoptions
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    e = visible_care_episodes(h)
    # episodes run in date order within a child, so a period's first row is its start
    periods, first = np.unique(e["period"], return_index=True)
    seen = ad["adopted"] & (ad["adoption"] >= lo) & (ad["adoption"] <= hi)
    when = ad["adoption"][seen]
    start = e["decom"][first][np.searchsorted(periods, ad["period"][seen])]
    days = ad["decision"][seen] - start
    out = {
        "adopt_days": np.zeros(len(cfg.years), np.int64),
        "adopted": np.zeros(len(cfg.years), np.int64),
    }
    for j, y in enumerate(cfg.years):
        x = np.array([day(dt.date(y, 3, 31))])
        m = (when > shift_years(x, -3)[0]) & (when <= x[0])
        out["adopt_days"][j] = int(days[m].sum())
        out["adopted"][j] = int(m.sum())
    return out


# --------------------------------------------------------------------------- programmes
def _same_next(values: np.ndarray) -> np.ndarray:
    same = np.zeros(len(values), dtype=bool)
    same[:-1] = values[1:] == values[:-1]
    return same


def program_parts(cases: dict, xs) -> dict:
    en, pl, occ = cases["enrolments"], cases["plans"], cases["occasions"]
    big = np.iinfo(np.int64).max
    n = len(xs)
    xd = np.array([day(x) for x in xs])
    ws = np.array([day(minus_one_year(x)) for x in xs])
    early_end = np.array([day(month_end_back(x, 11)) for x in xs])
    out = {}
    for prog in C.PROGRAMS:
        m = en["program"] == prog
        e_client, e_start = en["client"][m], en["start"][m]
        e_end = np.where(en["end_known"][m], en["end"][m], big)
        e_id = en["enrolment_id"][m]
        # a plan dated from the start to 30 days after
        has_plan = np.zeros(len(e_id), dtype=bool)
        pm = np.isin(pl["enrolment_id"], e_id)
        if pm.any():
            pos = np.searchsorted(e_id, pl["enrolment_id"][pm])
            st = e_start[pos]
            ok = (pl["date"][pm] >= st) & (pl["date"][pm] <= st + 30)
            has_plan[pos[ok]] = True
        om = occ["program"] == prog
        o_client, o_date, o_total, o_hib = (
            occ["client"][om],
            occ["date"][om],
            occ["total"][om],
            occ["hib"][om],
        )
        order = np.lexsort((o_date, o_client))
        o_client, o_date, o_total, o_hib = (
            o_client[order],
            o_date[order],
            o_total[order],
            o_hib[order],
        )
        # at X a client's latest occasion is the last one dated by X: each second or later
        # occasion is the latest from its date until the client's next one
        uc, first_i, cnt = np.unique(o_client, return_index=True, return_counts=True)
        first_of = np.repeat(first_i, cnt)
        later = np.arange(len(o_client)) > first_of
        nxt = np.where(_same_next(o_client), np.r_[o_date[1:], big][: len(o_date)], big)
        l_date, l_next = o_date[later], nxt[later]
        better = np.where(
            o_hib[later],
            o_total[later] > o_total[first_of][later],
            o_total[later] < o_total[first_of][later],
        )
        # reliably better: the change in the good direction exceeds the tool's criterion
        # 1.96 * sd * sqrt(2 * (1 - r)), rounded to 6 places as the SQL does (Jacobson-Truax)
        sd, r = C.TOOL_RELIABILITY[C.PROGRAM_TOOLS[prog][0]]
        criterion = round(1.96 * sd * np.sqrt(2 * (1 - r)), 6)
        change = np.where(o_hib[later], 1, -1) * (o_total[later] - o_total[first_of][later])
        reliable = change > criterion
        parts = {
            k: np.zeros(n, np.int64)
            for k in ("served", "plan_num", "plan_den", "impr_num", "impr_den", "rel_num", "early")
        }
        for j in range(n):
            # enrolments begun by the month end 11 months before X: the programme has run for
            # the whole 12 months ending X
            parts["early"][j] = int((e_start <= early_end[j]).sum())
            parts["served"][j] = len(np.unique(e_client[(e_start <= xd[j]) & (e_end > ws[j])]))
            w = (e_start > ws[j]) & (e_start <= xd[j]) & (e_start <= xd[j] - 30)
            parts["plan_num"][j] = int(has_plan[w].sum())
            parts["plan_den"][j] = int(w.sum())
            lw = (l_date > ws[j]) & (l_date <= xd[j]) & (l_next > xd[j])
            parts["impr_num"][j] = int(better[lw].sum())
            parts["rel_num"][j] = int(reliable[lw].sum())
            parts["impr_den"][j] = int(lw.sum())
        out[prog] = parts
    return out


def case_variants(cases: dict) -> dict:
    """How many programme clients (program + client) have the cases the improved rule is
    about: 3 or more assessment occasions, of which those where the second occasion and
    the latest disagree on "better"; a latest total tied with the first; a lower-is-better
    tool (each of 2 or more occasions)."""
    occ = cases["occasions"]
    prog = np.array([C.PROGRAMS.index(p) for p in occ["program"].tolist()], np.int64)
    o = np.lexsort((occ["date"], occ["client"], prog))
    key = prog[o] * (1 << 32) + occ["client"][o]
    total, hib = occ["total"][o], occ["hib"][o]
    _, first, cnt = np.unique(key, return_index=True, return_counts=True)
    last = first + cnt - 1
    two = cnt >= 2
    second = np.minimum(first + 1, len(key) - 1) if len(key) else first

    def better(i):
        return np.where(hib[i], total[i] > total[first], total[i] < total[first])

    return {
        "clients_3plus_assessments": int((cnt >= 3).sum()),
        "clients_3plus_latest_decides": int(((cnt >= 3) & (better(second) != better(last))).sum()),
        "clients_tied_first_latest": int((two & (total[last] == total[first])).sum()),
        "clients_lower_is_better": int((two & ~hib[first]).sum()),
    }


# --------------------------------------------------------------------------- assembly
def chunk_parts(h, cases, xs) -> dict:
    return {
        "cla": cla_parts(h, xs),
        "cpp": cpp_parts(h, xs),
        "front_door": front_door_parts(h, xs),
        "leavers": leaver_parts(h),
        "programs": program_parts(cases, xs),
    }


def add_parts(a: dict | None, b: dict) -> dict:
    if a is None:
        return b
    return {k: add_parts(a[k], v) if isinstance(v, dict) else a[k] + v for k, v in b.items()}


def finish(parts: dict, xs, years, population: dict[int, int]) -> dict:
    keys = [x.isoformat() for x in xs]
    pop = np.array([population[mid_year(x)] for x in xs], dtype=float)
    cla, cpp, lv, pr = parts["cla"], parts["cpp"], parts["leavers"], parts["programs"]

    def series(values):
        return dict(zip(keys, values, strict=True))

    # A 12-month measure has a value only where the returns cover all 12 months of its window:
    # from the month end 11 months after the first (31 March of the first collection year).
    full = {x.isoformat() for x in xs if month_end_back(x, 11) >= xs[0]}

    def windowed(values):
        return {k: v for k, v in series(values).items() if k in full}

    def programme(values, early):
        """A programme's 12-month series: from the month end closing its first 12 months."""
        return {k: v for (k, v), n in zip(series(values).items(), early, strict=True) if n > 0}

    m = {
        "cla_count": series(int(v) for v in cla["cla_count"]),
        "cla_rate_per_10k": series((10000.0 * cla["cla_count"] / pop).tolist()),
        "cla_starts_12m": windowed(int(v) for v in cla["cla_starts"]),
        "placement_stability_3plus_pct": windowed(
            _pct(a, b) for a, b in zip(cla["stab_num"], cla["stab_den"], strict=True)
        ),
        "cpp_count": series(int(v) for v in cpp["cpp_count"]),
        "cpp_rate_per_10k": series((10000.0 * cpp["cpp_count"] / pop).tolist()),
        "cpp_repeat_pct_12m": windowed(
            _pct(a, b) for a, b in zip(cpp["rep_num"], cpp["rep_den"], strict=True)
        ),
    }
    ykeys = [dt.date(y, 3, 31).isoformat() for y in years]
    m["care_leavers_suitable_accommodation_pct"] = dict(
        zip(
            ykeys, (_pct(a, b) for a, b in zip(lv["suit_num"], lv["den"], strict=True)), strict=True
        )
    )
    m["care_leavers_eet_pct"] = dict(
        zip(ykeys, (_pct(a, b) for a, b in zip(lv["eet_num"], lv["den"], strict=True)), strict=True)
    )
    fd = parts["front_door"]
    m["cin_count"] = series(int(v) for v in fd["cin_count"])
    m["cin_rate_per_10k"] = series((10000.0 * fd["cin_count"] / pop).tolist())
    m["referrals_12m"] = windowed(int(v) for v in fd["referrals"])
    m["referral_rate_per_10k"] = windowed((10000.0 * fd["referrals"] / pop).tolist())
    m["rereferrals_12m_pct"] = windowed(map(_pct, fd["rereferrals"], fd["referrals"]))
    m["assessments_45wd_pct"] = windowed(map(_pct, fd["assess_num"], fd["assess_den"]))
    m["s47_rate_per_10k_12m"] = windowed((10000.0 * fd["s47"] / pop).tolist())
    m["icpc_15wd_pct"] = windowed(map(_pct, fd["icpc_num"], fd["icpc_den"]))
    m["cpp_2yrs_pct_12m"] = windowed(map(_pct, cpp["ended_2y"], cpp["ended"]))
    m["placement_stability_long_term_pct"] = series(map(_pct, cla["lts_num"], cla["lts_den"]))
    m["cla_missing_12m_pct"] = windowed(map(_pct, cla["miss_num"], cla["miss_den"]))
    m["uasc_count"] = series(int(v) for v in cla["uasc_count"])

    def annual(values):
        return dict(zip(ykeys, values, strict=True))

    m["cla_health_assessment_pct"] = annual(map(_pct, lv["health"], lv["oc2_den"]))
    m["cla_teeth_check_pct"] = annual(map(_pct, lv["teeth"], lv["oc2_den"]))
    m["cla_sdq_recorded_pct"] = annual(map(_pct, lv["sdq"], lv["oc2_den"]))
    m["adoption_entry_to_placed_days_3y"] = annual(map(_mean, lv["adopt_days"], lv["adopted"]))
    m["care_leavers_17_18_suitable_accommodation_pct"] = annual(
        map(_pct, lv["young_num"], lv["young_den"])
    )
    m["program_clients_served_12m"] = {
        p: programme((int(v) for v in pr[p]["served"]), pr[p]["early"]) for p in pr
    }
    m["program_plan_within_30d_pct"] = {
        p: programme(map(_pct, pr[p]["plan_num"], pr[p]["plan_den"]), pr[p]["early"]) for p in pr
    }
    m["program_improved_pct"] = {
        p: programme(map(_pct, pr[p]["impr_num"], pr[p]["impr_den"]), pr[p]["early"]) for p in pr
    }
    m["program_reliable_improvement_pct"] = {
        p: programme(map(_pct, pr[p]["rel_num"], pr[p]["impr_den"]), pr[p]["early"]) for p in pr
    }
    return m


def finish_breakdowns(parts: dict, xs) -> dict:
    """Breakdowns of the count measures: {measure: {breakdown: {value: {period: n}}}}."""
    keys = [x.isoformat() for x in xs]

    def grouped(source, prefix):
        return {
            k[len(prefix) :]: dict(zip(keys, (int(v) for v in values), strict=True))
            for k, values in source.items()
            if k.startswith(prefix)
        }

    cla, cpp = parts["cla"], parts["cpp"]
    return {
        "cla_count": {
            "legal_status": grouped(cla, "ls:"),
            "placement_type": grouped(cla, "place:"),
        },
        "cpp_count": {"category_of_abuse": grouped(cpp, "cat:")},
    }
