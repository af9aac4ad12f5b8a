"""Programme (case-management) records: clients, enrolments, services, service plans
and outcome assessments, drawn from the simulated children's CIN episodes.

Each client enrols at most once in a programme and is assessed at the start, at the
end (if they did not drop out) and, for a few, at a review in between: a client with a
review and no exit assessment is judged on the review, one with both on the exit (the
review went the other way, so only first-versus-latest gives the right answer). Scores
may tie (not better), and one tool is scored lower-is-better.
"""

from __future__ import annotations

import numpy as np

from . import codes as C
from ._dates import day
from .config import SynthConfig
from .simulate import YEAR, _lognormal

LAUNCH = {
    "Family Support": "2015-04-01",
    "Parenting": "2017-09-04",
    "Youth Mentoring": "2019-01-07",
    # "Edge of Care" launches on the intervention date
}
P_REVIEW = 0.15  # enrolments with a review assessment between the first and the last
SERVICE_EVERY = {"Family Support": 14, "Edge of Care": 7, "Youth Mentoring": 14, "Parenting": 7}


def simulate_cases(cfg: SynthConfig, rng: np.random.Generator, h) -> dict:
    T1 = day(cfg.data_end)
    cin, ch, div = h.cin, h.children, h.diverted
    n = len(cin["child"])
    prog_ix = {p: i for i, p in enumerate(C.PROGRAMS)}
    # Family Support: a share of CIN episodes that are not closed at once
    fs = ~cin["quick"] & (rng.random(n) < 0.22)
    fs_start = cin["ref"] + rng.integers(7, 61, n)
    fs_len = np.ceil(np.clip(_lognormal(rng, 150, 0.5, n), 30, 540)).astype(np.int64)
    # Parenting: families of children under 5 (including early-help closures)
    pa = (cin["age_band"] <= 1) & (rng.random(n) < 0.25)
    pa_start = cin["ref"] + rng.integers(14, 91, n)
    pa_len = rng.integers(56, 99, n)
    # Youth Mentoring: children aged 10-17
    ym = (cin["age_band"] >= 3) & (rng.random(n) < 0.15)
    ym_start = cin["ref"] + rng.integers(14, 121, n)
    ym_len = rng.integers(180, 366, n)
    # Edge of Care: children at risk of entering care, from the launch date
    ti = day(cfg.intervention_date)
    eo = cin["has_cp"] & (cin["age_band"] >= 3) & ~cin["in_care"] & (rng.random(n) < 0.25)
    eo_start = np.maximum(cin["ref"] + rng.integers(14, 60, n), ti)
    eo &= cin["ref"] >= ti - 60
    eo_len = rng.integers(90, 200, n)
    nd = len(div["child"])
    dv_start = np.maximum(div["date"] - rng.integers(0, 22, nd), ti)
    dv_len = rng.integers(90, 200, nd)

    child = np.concatenate(
        [cin["child"][fs], cin["child"][pa], cin["child"][ym], cin["child"][eo], div["child"]]
    )
    prog = np.concatenate(
        [
            np.full(fs.sum(), prog_ix["Family Support"]),
            np.full(pa.sum(), prog_ix["Parenting"]),
            np.full(ym.sum(), prog_ix["Youth Mentoring"]),
            np.full(eo.sum(), prog_ix["Edge of Care"]),
            np.full(nd, prog_ix["Edge of Care"]),
        ]
    )
    start = np.concatenate([fs_start[fs], pa_start[pa], ym_start[ym], eo_start[eo], dv_start])
    length = np.concatenate([fs_len[fs], pa_len[pa], ym_len[ym], eo_len[eo], dv_len])
    launch = np.array([day(LAUNCH.get(p, cfg.intervention_date.isoformat())) for p in C.PROGRAMS])
    keep = (start >= launch[prog]) & (start <= T1) & (start < ch["b18"][child])
    child, prog, start, length = child[keep], prog[keep], start[keep], length[keep]
    # one enrolment per client and programme (the first)
    order = np.lexsort((start, prog, child))
    child, prog, start, length = child[order], prog[order], start[order], length[order]
    first = np.ones(len(child), dtype=bool)  # (empty in a small population)
    first[1:] = (child[1:] != child[:-1]) | (prog[1:] != prog[:-1])
    child, prog, start, length = child[first], prog[first], start[first], length[first]
    m = len(child)

    # exits
    exit_ix = C.draw(rng, np.array([0.66, 0.19, 0.05, 0.10]), m)
    frac = np.where(exit_ix == 1, 0.2 + 0.5 * rng.random(m), 1.0)
    end = start + np.maximum(np.floor(length * frac).astype(np.int64), 14)
    end_known = end <= T1

    # stable ordering and identifiers
    order = np.lexsort((prog, child, start))
    child, prog, start, end, end_known, exit_ix = (
        x[order] for x in (child, prog, start, end, end_known, exit_ix)
    )
    enrol_id = np.arange(m)
    disengaged = exit_ix == 1
    uc, first_pos = np.unique(child, return_index=True)
    # clients numbered in order of first contact
    intake_order = np.argsort(start[first_pos], kind="stable")
    client_no = np.empty(len(uc), dtype=np.int64)
    client_no[intake_order] = np.arange(len(uc))
    client_of_child = dict(zip(uc.tolist(), client_no.tolist(), strict=True))
    client = np.array([client_of_child[c] for c in child.tolist()], dtype=np.int64)
    clients = {
        "client": client_no[np.argsort(client_no)],
        "child": uc[intake_order],
        "intake": start[first_pos][intake_order],
    }

    en = {
        "enrolment_id": enrol_id,
        "client": client,
        "child": child,
        "program": np.array(C.PROGRAMS, dtype=object)[prog],
        "prog": prog,
        "start": start,
        "end": end,
        "end_known": end_known,
        "exit": exit_ix,
    }

    # ---- services
    end_eff = np.minimum(end, T1)
    every = np.array([SERVICE_EVERY[p] for p in C.PROGRAMS])[prog]
    n_srv = np.maximum(1, (end_eff - start) // every)
    rows = np.repeat(enrol_id, n_srv)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(n_srv) - n_srv, n_srv)
    sdate = start[rows] + k * every[rows] + rng.integers(0, 4, len(rows))
    ok = sdate <= end_eff[rows]
    rows, sdate = rows[ok], sdate[ok]
    stype = np.empty(len(rows), dtype=object)
    for p_i, p in enumerate(C.PROGRAMS):
        mm = prog[rows] == p_i
        codes, pw = C.table(C.PROGRAM_SERVICES[p])
        stype[mm] = codes[C.draw(rng, pw, mm.sum())]
    minutes = np.array([15, 30, 45, 60, 90, 120])[
        C.draw(rng, np.array([0.08, 0.2, 0.22, 0.3, 0.15, 0.05]), len(rows))
    ]
    minutes = np.where(stype == "Phone call", np.minimum(minutes, 30), minutes)
    services = {"enrolment_id": rows, "date": sdate, "type": stype, "minutes": minutes}

    # ---- service plans: most within 30 days, timeliness improving over the years
    has_plan = rng.random(m) < 0.95
    t = (start - day("2016-04-01")) / (10 * YEAR)
    p_timely = np.clip(0.70 + 0.20 * t, 0.6, 0.92)
    timely = rng.random(m) < p_timely
    pdate = start + np.where(timely, rng.integers(0, 31, m), rng.integers(31, 81, m))
    pm = has_plan & (pdate <= T1)
    plans = {"enrolment_id": enrol_id[pm], "date": pdate[pm]}

    # ---- assessments: baseline near the start, exit near the end
    base_d = start + rng.integers(0, 15, m)
    has_base = (base_d <= end_eff) & (base_d <= T1) & (rng.random(m) < 0.93)
    exit_d = end - rng.integers(0, 11, m)
    has_exit = has_base & end_known & (exit_d > base_d + 28) & ~(disengaged & (rng.random(m) < 0.7))
    # a review between the two for a few
    last_d = np.where(has_exit, exit_d, np.minimum(end_eff, T1))
    review_d = base_d + (last_d - base_d) // 2 + rng.integers(-7, 8, m)
    has_review = has_base & (rng.random(m) < P_REVIEW)
    has_review &= (review_d > base_d + 14) & (review_d < last_d - 14) & (review_d <= T1)
    occ_enrol = np.concatenate([enrol_id[has_base], enrol_id[has_review], enrol_id[has_exit]])
    occ_date = np.concatenate([base_d[has_base], review_d[has_review], exit_d[has_exit]])
    occ_kind = np.repeat([0, 1, 2], [has_base.sum(), has_review.sum(), has_exit.sum()])
    o = np.lexsort((occ_date, occ_enrol))
    occ_enrol, occ_date, occ_kind = occ_enrol[o], occ_date[o], occ_kind[o]
    improver = rng.random(m) < 0.6

    a_rows = {
        k: []
        for k in (
            "assessment_id",
            "client",
            "enrolment_id",
            "date",
            "tool",
            "domain",
            "score",
            "hib",
        )
    }
    occ_tot = np.zeros(len(occ_enrol), dtype=np.int64)
    occ_id = np.arange(len(occ_enrol))
    for p_i, p in enumerate(C.PROGRAMS):
        tool, domains, lo, hi, hib = C.PROGRAM_TOOLS[p]
        nd_ = len(domains)
        # baseline scores for every enrolment of the programme (used if assessed)
        rngspan = hi - lo
        if hib:
            base = lo + np.floor(rng.random((m, nd_)) * (0.6 * rngspan + 1)).astype(np.int64)
        else:
            base = lo + np.floor(
                rngspan * 0.35 + rng.random((m, nd_)) * (0.65 * rngspan + 1)
            ).astype(np.int64)
        base = np.clip(base, lo, hi)
        step = max(1, rngspan // 8)
        up = rng.integers(0, step + 2, (m, nd_))
        up[np.arange(m), rng.integers(0, nd_, m)] += 1
        down = -rng.integers(0, step + 1, (m, nd_))
        delta = np.where(improver[:, None], up, down)
        if not hib:
            delta = -delta
        final = np.clip(base + delta, lo, hi)
        # at the review the change runs the other way (a dip before improving, or an
        # early gain that was lost)
        review = np.clip(base - np.where(improver[:, None], up, down) * (1 if hib else -1), lo, hi)
        sel = prog[occ_enrol] == p_i
        e_ix = occ_enrol[sel]
        kind = occ_kind[sel][:, None]
        scores = np.where(kind == 2, final[e_ix], np.where(kind == 1, review[e_ix], base[e_ix]))
        occ_tot[sel] = scores.sum(axis=1)
        ids = occ_id[sel]
        a_rows["assessment_id"].append(np.repeat(ids, nd_))
        a_rows["client"].append(np.repeat(client[e_ix], nd_))
        a_rows["enrolment_id"].append(np.repeat(e_ix, nd_))
        a_rows["date"].append(np.repeat(occ_date[sel], nd_))
        a_rows["tool"].append(np.full(len(ids) * nd_, tool, dtype=object))
        a_rows["domain"].append(np.tile(np.array(domains, dtype=object), len(ids)))
        a_rows["score"].append(scores.ravel())
        a_rows["hib"].append(np.full(len(ids) * nd_, hib))
    asm = {k: np.concatenate(v) for k, v in a_rows.items()}
    o = np.lexsort((asm["assessment_id"],))
    asm = {k: v[o] for k, v in asm.items()}
    occasions = {
        "client": client[occ_enrol],
        "program": np.array(C.PROGRAMS, dtype=object)[prog[occ_enrol]],
        "date": occ_date,
        "total": occ_tot,
        "hib": np.array([C.PROGRAM_TOOLS[p][4] for p in C.PROGRAMS])[prog[occ_enrol]],
    }
    return {
        "clients": clients,
        "enrolments": en,
        "services": services,
        "plans": plans,
        "assessments": asm,
        "occasions": occasions,
    }
