"""Synthetic council generator.

``generate(out, scale, seed)`` simulates children's life histories (referrals and
assessments, child in need, section 47 enquiries and conferences, child-protection plans,
periods of care cut into SSDA903 episodes, missing episodes, health checks, adoptions,
short breaks, unaccompanied asylum-seeking children, care-leaver follow-ups, programme
enrolments and assessments), cuts them into the annual returns and exports a council
would submit, and writes the true measure values computed from the histories to
``truth.json``. No real child data is used or needed.

Layout written under ``out``::

    ssda903/<YYYY-1>-<YY>/header.csv, episodes.csv, oc3.csv, uasc.csv, missing.csv,
        oc2.csv, ad1.csv, placed_adoption.csv                  (one folder per year)
    cin/CIN_Census_<YYYY>.xml                                  (one file per year)
    case/clients.csv, enrolments.csv, services.csv, service_plans.csv, assessments.csv
    population.csv, oba.yaml, stories/*.yml, truth.json
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from . import truth as T
from . import variants as V
from ._dates import DateFormatter, day
from .cases import simulate_cases
from .config import SCALES, SynthConfig, resolve_scale
from .ees import write_ees
from .simulate import chunks, simulate
from .writers import (
    CaseWriter,
    CinWriter,
    Ssda903Writer,
    cin_extras,
    mothers_of,
    population_table,
    write_oba_yaml,
    write_stories,
)

__all__ = ["generate", "SCALES", "SynthConfig", "make_config"]


def make_config(scale: str | int = "council", seed: int = 2026, **overrides) -> SynthConfig:
    """Config for a named scale or a number of children, with optional overrides
    (e.g. ``intervention_date=datetime.date(2023, 4, 1)``)."""
    name, n = resolve_scale(scale)
    for k, v in list(overrides.items()):
        if k in ("intervention_date", "anchor_date", "sim_start") and isinstance(v, str):
            overrides[k] = dt.date.fromisoformat(v)
    return SynthConfig(n_children=n, seed=int(seed), scale=name, **overrides)


def generate(out: Path | str, scale: str | int = "council", seed: int = 2026, **overrides) -> dict:
    """Write a synthetic council's exports under ``out`` and return a summary dict.

    ``scale``: "tiny", "council", "region", "national" or an int number of children.
    Same ``seed`` and ``scale`` give byte-identical files.
    Keyword overrides are :class:`SynthConfig` fields (intervention_date, ...).
    """
    t0 = time.perf_counter()
    cfg = make_config(scale, seed, **overrides)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    xs = T.period_ends(cfg)
    fmt = DateFormatter()
    lo, hi = day(cfg.data_start), day(cfg.data_end)

    w903, wcin, wcase = Ssda903Writer(out, cfg), CinWriter(out, cfg), CaseWriter(out, cfg)
    parts = variants = None
    anchor = 0
    counts = {"children_in_ssda903": 0, "episodes": 0, "care_episodes": 0, "cp_plans": 0}
    try:
        for k, (n_k, id_base) in enumerate(chunks(cfg.n_children)):
            h = simulate(cfg, n_k, chunk=k, id_base=id_base)
            cases = simulate_cases(cfg, np.random.default_rng([cfg.seed, k, 1]), h)
            aux = np.random.default_rng([cfg.seed, k, 2])
            errors = V.choose(h, np.random.default_rng([cfg.seed, k, 4]))
            variants = T.add_parts(variants, {**V.counts(errors), **T.case_variants(cases)})
            # the truth: the returns as DOMAIN §2 reads them
            parts = T.add_parts(parts, T.chunk_parts(V.as_read(h, errors), cases, xs))
            anchor += int(T.cla_counts(h, [cfg.anchor_date])[0])
            w903.write_chunk(h, fmt, mothers_of(h, aux), errors)
            wcin.write_chunk(h, fmt, cin_extras(h, aux))
            wcase.write_chunk(h, cases, fmt)
            ep = h.episodes
            in_returns = (ep["dec"] >= lo) & (ep["decom"] <= hi)
            counts["children_in_ssda903"] += int(len(np.unique(ep["child"][in_returns])))
            counts["episodes"] += int(in_returns.sum())
            counts["care_episodes"] += int(len(T.visible_care_episodes(h)["child"]))
            counts["cp_plans"] += int(len(T.visible_plans(h)["child"]))
            del h, cases
    finally:
        w903.close()
        wcin.close()
        wcase.close()

    # ---- population sized from the simulated children looked after, then the truth
    pop = population_table(cfg, anchor, np.random.default_rng([cfg.seed, 99]))
    pop.to_csv(out / "population.csv", index=False, lineterminator="\n")
    pop_total = {int(k): int(v) for k, v in pop.groupby("year")["population"].sum().items()}
    files = w903.files + wcin.files + wcase.files + ["population.csv"]
    files += write_stories(cfg, out)
    ees_files, comparators = write_ees(cfg, out)
    files += ees_files
    files.append(write_oba_yaml(cfg, out, comparators))

    truth = {
        "seed": cfg.seed,
        "scale": cfg.scale,
        "n_children": cfg.n_children,
        "area_code": cfg.area_code,
        "first_period_end": xs[0].isoformat(),
        "last_period_end": xs[-1].isoformat(),
        "intervention_date": cfg.intervention_date.isoformat(),
        "population_0_17": {str(k): v for k, v in pop_total.items()},
        "notes": (
            "Computed from the simulated life histories and the returns written from them, "
            "read as DOMAIN.md §2 says: 'variants' counts the council's errors the returns "
            "carry (open episodes left out of later returns, repaired by E99 or X1; years "
            "re-stated with a corrected DEC, the newest return winning; a DECOM given late, "
            "an episode inside the true one, the latest begun giving the values while both "
            "are open) and the programme clients with 3+ assessments, ties and a "
            "lower-is-better tool. Only records present in at least "
            "one written return are counted (episodes open at some time from "
            f"{cfg.data_start} to {cfg.data_end}; CP plans open in some census year). "
            "12-month measures have no value before their first full window (31 March of "
            "the first collection year; a programme's, the 12th month end from its first "
            "enrolment). program_reliable_improvement_pct uses each tool's SD and "
            "reliability of oba.yaml (assessment_tools): better by more than "
            "1.96 * SD * sqrt(2 * (1 - r)), rounded to 6 places. A period of care starts at "
            "its first episode "
            "in the returns (long-term stability, adoption timeliness). Short-break "
            "episodes (LS V3/V4) are excluded from every CLA measure. Rates use "
            "population_0_17 of mid-year N for 1 April N to 31 March N+1. Working days: "
            "Monday to Friday except bank holidays of England (holidays package), from "
            "the day after the start to the end inclusive. 'breakdowns' holds the count "
            "measures by legal status, placement type and category of abuse."
        ),
        "variants": {k: int(v) for k, v in variants.items()},
        "measures": T.finish(parts, xs, cfg.years, pop_total),
        "breakdowns": T.finish_breakdowns(parts, xs),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    files.append("truth.json")

    return {
        "out": str(out),
        "scale": cfg.scale,
        "seed": cfg.seed,
        "n_children": cfg.n_children,
        **counts,
        **w903.stats,
        **wcin.stats,
        **{k: v for k, v in wcase.n.items() if k != "assessments"},
        "files": files,
        "seconds": round(time.perf_counter() - t0, 2),
        "config": {
            k: (v.isoformat() if isinstance(v, dt.date) else v)
            for k, v in dataclasses.asdict(cfg).items()
        },
    }
