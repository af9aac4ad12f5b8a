"""True measure values computed from the simulated life histories (DOMAIN.md §3).

Only records that appear in at least one written return/export are used (an episode
open at some time in 1 Apr 2016 - 31 Mar 2026, a CP plan open in some CIN census year,
an enrolment started by 31 Mar 2026), because those are all a pipeline can ever see;
for month ends from 31 Mar 2017 on that restriction changes nothing, while 12-month
windows ending before then would otherwise include records no return holds.

Children are simulated in independent chunks, so every measure is kept as additive
parts (counts, numerators, denominators) per chunk and finished by :func:`finish`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from . import codes as C
from ._dates import day, minus_one_year, month_ends


def period_ends(cfg) -> list[dt.date]:
    return month_ends(dt.date(cfg.first_year - 1, 4, 30), cfg.data_end)


def window_start(x: dt.date) -> dt.date:
    """First day of the 12-month window ending x: (x - 1 year, x]."""
    return minus_one_year(x) + dt.timedelta(days=1)


def mid_year(x: dt.date) -> int:
    return x.year if x.month >= 4 else x.year - 1


def _pct(num, den):
    return None if den == 0 else 100.0 * float(num) / float(den)


# --------------------------------------------------------------------------- episodes
def visible_care_episodes(h) -> dict:
    """Non short-break (V3/V4) episodes present in at least one return."""
    cfg, e = h.cfg, h.episodes
    lo, hi = day(cfg.data_start), day(cfg.data_end)
    m = ~np.isin(e["ls"], [C.LS["V3"], C.LS["V4"]]) & (e["dec"] >= lo) & (e["decom"] <= hi)
    return {k: v[m] for k, v in e.items()}


def cla_counts(h, xs: list[dt.date]) -> np.ndarray:
    e = visible_care_episodes(h)
    a, b = np.sort(e["decom"]), np.sort(e["dec"])
    xd = np.array([day(x) for x in xs])
    # a child's episodes never overlap, so open episodes = distinct children
    return np.searchsorted(a, xd, "right") - np.searchsorted(b, xd, "right")


def cla_parts(h, xs) -> dict:
    e = visible_care_episodes(h)
    child, decom, dec, rne = e["child"], e["decom"], e["dec"], e["rne"]
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
        kids = child[(decom <= xd) & (dec > xd)]
        carried = child[(decom < fd) & (dec > fd)]
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
    return {
        "cpp_count": np.searchsorted(a, xd, "right") - np.searchsorted(b, xd, "right"),
        "rep_num": (w & rep[None, :]).sum(axis=1),
        "rep_den": w.sum(axis=1),
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
        m = (o["year"] == y) & ~np.isin(o["in_touch"], ["DIED", "RHOM"])
        codes = C.EET_CODES_PRE2022 if y < 2022 else C.EET_CODES
        out["den"][j] = int(m.sum())
        out["suit_num"][j] = int(suitable[m].sum())
        out["eet_num"][j] = int(np.isin(o["activ"][m], list(codes)).sum())
    return out


# --------------------------------------------------------------------------- programmes
def program_parts(cases: dict, xs) -> dict:
    en, pl, occ = cases["enrolments"], cases["plans"], cases["occasions"]
    big = np.iinfo(np.int64).max
    n = len(xs)
    xd = np.array([day(x) for x in xs])
    ws = np.array([day(minus_one_year(x)) for x in xs])
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
        uc, first_i, cnt = np.unique(o_client, return_index=True, return_counts=True)
        last_i = first_i + cnt - 1
        two = cnt >= 2
        l_date = o_date[last_i][two]
        better = np.where(
            o_hib[last_i][two],
            o_total[last_i][two] > o_total[first_i][two],
            o_total[last_i][two] < o_total[first_i][two],
        )
        parts = {
            k: np.zeros(n, np.int64)
            for k in ("served", "plan_num", "plan_den", "impr_num", "impr_den")
        }
        for j in range(n):
            parts["served"][j] = len(np.unique(e_client[(e_start <= xd[j]) & (e_end > ws[j])]))
            w = (e_start > ws[j]) & (e_start <= xd[j]) & (e_start <= xd[j] - 30)
            parts["plan_num"][j] = int(has_plan[w].sum())
            parts["plan_den"][j] = int(w.sum())
            lw = (l_date > ws[j]) & (l_date <= xd[j])
            parts["impr_num"][j] = int(better[lw].sum())
            parts["impr_den"][j] = int(lw.sum())
        out[prog] = parts
    return out


# --------------------------------------------------------------------------- assembly
def chunk_parts(h, cases, xs) -> dict:
    return {
        "cla": cla_parts(h, xs),
        "cpp": cpp_parts(h, xs),
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

    m = {
        "cla_count": series(int(v) for v in cla["cla_count"]),
        "cla_rate_per_10k": series((10000.0 * cla["cla_count"] / pop).tolist()),
        "cla_starts_12m": series(int(v) for v in cla["cla_starts"]),
        "placement_stability_3plus_pct": series(
            _pct(a, b) for a, b in zip(cla["stab_num"], cla["stab_den"], strict=True)
        ),
        "cpp_count": series(int(v) for v in cpp["cpp_count"]),
        "cpp_rate_per_10k": series((10000.0 * cpp["cpp_count"] / pop).tolist()),
        "cpp_repeat_pct_12m": series(
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
    m["program_clients_served_12m"] = {p: series(int(v) for v in pr[p]["served"]) for p in pr}
    m["program_plan_within_30d_pct"] = {
        p: series(_pct(a, b) for a, b in zip(pr[p]["plan_num"], pr[p]["plan_den"], strict=True))
        for p in pr
    }
    m["program_improved_pct"] = {
        p: series(_pct(a, b) for a, b in zip(pr[p]["impr_num"], pr[p]["impr_den"], strict=True))
        for p in pr
    }
    return m
