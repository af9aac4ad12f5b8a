"""The errors and corrections of real returns, at realistic low rates (DOMAIN.md §2).

- **Repairs**: a council leaves an episode open in one return and it is absent from
  every later return. Read by DOMAIN's rule, it closes at the child's next episode
  (REC X1) or, if none, on 1 April after that return's 31 March (REC E99). Two kinds:
  a child's last episode (closed by E99, so the returns show the child leaving care
  earlier than the history did) and an episode followed by another the same day (closed
  by X1 where it really ended).
- **Re-submitted years**: a return closes a child's last episode of a period a few
  weeks before 31 March (a wrong DEC), and the next return re-states the episode with
  its true values (still open on 1 April), so only the newest return is right.

:func:`choose` picks the episodes from the histories (its own random stream, so the
histories stay as they were); the SSDA903 writer writes the returns with them and
:func:`as_read` gives the episodes as the returns show them read by DOMAIN §2, from
which the truth is computed. Vectorised: no loop per child or per record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from . import codes as C
from ._dates import collection_year, day
from .simulate import History, _same_as_next

# Of episodes that could be, the share with each error.
P_REPAIR_LAST = 0.04  # a child's last episode, open at a 31 March, then left out
P_REPAIR_CHAIN = 0.02  # an episode open at a 31 March that ends the next year with X1
P_EARLY_DEC = 0.04  # a period's last episode closed early in one return, re-stated later
P_LATE_DECOM = 0.02  # a period's first episode given a late DECOM in its first return
NEVER = np.iinfo(np.int32).max


def _year_end(y: np.ndarray) -> np.ndarray:
    return np.array([day(dt.date(int(k), 3, 31)) for k in y], dtype=np.int64)


def _pick(rng, candidates: np.ndarray, p: float) -> np.ndarray:
    """Each candidate with probability ``p``, and at least one if there are any (so every
    variant occurs even in a small population)."""
    u = rng.random(len(candidates))
    picked = candidates & (u < p)
    if candidates.any() and not picked.any():
        picked[np.flatnonzero(candidates)[np.argmin(u[candidates])]] = True
    return picked


def choose(h: History, rng: np.random.Generator) -> dict:
    """Per episode row of ``h.episodes``: ``last_return`` (the last return that holds it,
    NEVER if every return that should does) and ``early_year``/``early_dec`` (the return
    that closes it early and the DEC it gives, 0 if none). None when the configuration
    turns council errors off."""
    cfg, e = h.cfg, h.episodes
    n = len(e["child"])
    if not cfg.council_errors:
        none = np.zeros(n, np.int64)
        return {
            "last_return": np.full(n, NEVER, np.int64),
            "late_year": none,
            "late_decom": none,
            "early_year": none,
            "early_dec": none,
            "repair_e99": np.zeros(n, bool),
            "repair_x1": np.zeros(n, bool),
        }
    child, decom, dec, rec = e["child"], e["decom"], e["dec"], e["rec"]
    care = ~np.isin(e["ls"], [C.LS["V3"], C.LS["V4"]])
    last_of_child = ~_same_as_next(child)
    # the last 31 March the episode is open on (y), if it ends in the year after
    y = collection_year(dec) - 1
    ok_y = (y >= cfg.first_year) & (y < cfg.last_year)
    y = np.where(ok_y, y, cfg.first_year)
    ye = _year_end(y) if n else np.zeros(0, np.int64)
    open_at_ye = ok_y & (decom <= ye) & (dec > ye)
    # children with other records after that 31 March that tie them to later returns
    # (missing incidents, OC2 rows, adoption) are left alone
    big = np.iinfo(np.int64).max
    tied_after = np.full(len(h.children["dob"]), -1, np.int64)
    np.maximum.at(tied_after, h.missing["child"], h.missing["start"])
    oc2_ye = _year_end(h.oc2["year"]) if len(h.oc2["year"]) else np.zeros(0, np.int64)
    np.maximum.at(tied_after, h.oc2["child"], oc2_ye)
    ad = h.adoptions
    np.maximum.at(tied_after, ad["child"], np.full(len(ad["child"]), big))
    uasc = h.children["uasc"][child]
    free = care & ~uasc & (tied_after[child] <= ye)
    # an OC2 row says the child was looked after on that 31 March
    oc2_after = np.full(len(h.children["dob"]), -1, np.int64)
    np.maximum.at(oc2_after, h.oc2["child"], oc2_ye)

    last_return = np.full(n, NEVER, np.int64)
    repair_last = _pick(rng, open_at_ye & last_of_child & free, P_REPAIR_LAST)
    chain = open_at_ye & ~last_of_child & (rec == C.REC["X1"]) & free
    repair_chain = _pick(rng, chain, P_REPAIR_CHAIN)
    last_return[repair_last | repair_chain] = y[repair_last | repair_chain]

    # a period's last episode (not X1, not adopted), open at 31 March y and ended by the
    # last return: return y closes it 1-60 days early
    ends_period = (rec >= 0) & (rec != C.REC["X1"]) & (dec <= day(cfg.data_end))
    ends_period &= ~np.isin(rec, [C.REC["E11"], C.REC["E12"]])
    early_dec = np.maximum(ye - rng.integers(1, 61, n), decom + 1)
    # nothing else of the child (a missing incident, an OC2 row) after the early DEC
    early = (
        open_at_ye
        & ends_period
        & free
        & ~repair_last
        & (tied_after[child] < early_dec)
        & (oc2_after[child] < ye)
    )
    early = _pick(rng, early & (early_dec < ye - 1), P_EARLY_DEC)
    # a period's first episode, open at its first 31 March: that return gives a DECOM a
    # few days late, later returns the true one (ended by X1 or the child's last episode,
    # so the repaired row lies inside the true one)
    y1 = np.maximum(collection_year(decom), cfg.first_year)
    ye1 = _year_end(y1) if n else np.zeros(0, np.int64)
    late = decom + rng.integers(1, 21, n)
    no_missing = ~np.isin(child, h.missing["child"])
    shift = (e["rne"] == C.RNE["S"]) & (decom <= ye1) & (dec > ye1) & (y1 < cfg.last_year)
    shift &= (late <= ye1) & (late < dec) & (last_of_child | (rec == C.REC["X1"]))
    shift &= care & ~uasc & no_missing & (tied_after[child] < big) & (last_return == NEVER)
    shift = _pick(rng, shift & ~early, P_LATE_DECOM)
    return {
        "last_return": last_return,
        "late_year": np.where(shift, y1, 0),
        "late_decom": np.where(shift, late, 0),
        "early_year": np.where(early, y, 0),
        "early_dec": np.where(early, early_dec, 0),
        "repair_e99": repair_last,
        "repair_x1": repair_chain,
    }


def as_read(h: History, v: dict) -> History:
    """The histories with the episodes as the returns show them read by DOMAIN §2: a
    repaired episode ends at the child's next episode (REC X1) or on 1 April after the
    last return that holds it (REC E99); a re-stated episode has the newest return's
    (true) values."""
    e = h.episodes
    n = len(e["child"])
    if not n:
        z = np.zeros(0, np.int64)
        eps = {**e, "shadow_from": z, "shadow_to": z, "is_shadow": np.zeros(0, bool)}
        return dataclasses.replace(h, episodes=eps)
    cut = v["last_return"] < NEVER
    nxt_same = _same_as_next(e["child"])
    nxt_decom = np.concatenate([e["decom"][1:], e["decom"][-1:]])
    april = np.array(
        [
            day(dt.date(int(y), 4, 1)) if c else 0
            for y, c in zip(v["last_return"], cut, strict=True)
        ],
        dtype=np.int64,
    )
    new_dec = np.where(nxt_same, nxt_decom, april)
    new_rec = np.where(nxt_same, C.REC["X1"], -1)  # -1: E99, not a code the returns use
    eps = {**e, "dec": np.where(cut, new_dec, e["dec"]), "rec": np.where(cut, new_rec, e["rec"])}
    # a late DECOM is another episode (CHILD + DECOM) that no later return holds: repaired,
    # it lies inside the true one, and while both are open it is the latest begun
    late = np.flatnonzero(v["late_year"] > 0)
    april = np.array([day(dt.date(int(y), 4, 1)) for y in v["late_year"][late]], np.int64)
    shadow = {k: val[late].copy() for k, val in eps.items()}
    shadow["decom"] = v["late_decom"][late]
    shadow["dec"] = np.where(nxt_same[late], nxt_decom[late], april)
    shadow["rec"] = np.where(nxt_same[late], C.REC["X1"], -1)
    eps["shadow_from"] = np.zeros(n, np.int64)
    eps["shadow_to"] = np.zeros(n, np.int64)
    eps["shadow_from"][late], eps["shadow_to"][late] = shadow["decom"], shadow["dec"]
    shadow["shadow_from"] = np.zeros(len(late), np.int64)
    shadow["shadow_to"] = np.zeros(len(late), np.int64)
    eps["is_shadow"] = np.zeros(n, bool)
    shadow["is_shadow"] = np.ones(len(late), bool)
    eps = {k: np.concatenate([eps[k], shadow[k]]) for k in eps}
    order = np.lexsort((eps["decom"], eps["child"]))
    eps = {k: val[order] for k, val in eps.items()}
    return dataclasses.replace(h, episodes=eps)


def counts(v: dict) -> dict:
    return {
        "repaired_episodes_e99": int(v["repair_e99"].sum()),
        "repaired_episodes_x1": int(v["repair_x1"].sum()),
        "resubmitted_episodes": int((v["early_year"] > 0).sum()),
        "overlapping_episodes": int((v["late_year"] > 0).sum()),
    }
