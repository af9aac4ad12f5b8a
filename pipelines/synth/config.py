"""Configuration and scale presets for the synthetic council generator."""

from __future__ import annotations

import dataclasses
import datetime as dt

# Number of children simulated (children known to children's social care over the
# whole simulated span, 1 Apr 2003 - 31 Mar 2026).
SCALES: dict[str, int] = {
    "tiny": 1_500,
    "council": 20_000,
    "region": 200_000,
    "national": 4_800_000,
}


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    n_children: int
    seed: int = 2026
    scale: str = "council"
    area_code: str = "E09000999"
    authority_name: str = "Synthetic Borough"
    la_number: str = "999"  # three-digit LA number used in the CIN census header
    sim_start: dt.date = dt.date(1999, 4, 1)  # life histories start here (pre-history)
    first_year: int = 2017  # first collection year written (1 Apr 2016 - 31 Mar 2017)
    last_year: int = 2026  # last collection year written (1 Apr 2025 - 31 Mar 2026)
    intervention_date: dt.date = dt.date(2024, 10, 1)
    intervention_title: str = "Edge-of-care team launched"
    intervention_effect: float = 0.35  # share of new entries into care prevented
    intervention_ramp_days: int = 60
    cla_trend_per_year: float = 0.012  # growth of the propensity to enter care
    cla_rate_anchor: float = 72.0  # CLA per 10,000 at anchor_date sizes the population
    anchor_date: dt.date = dt.date(2024, 3, 31)
    population_growth: float = 0.004  # per year
    # a few of the errors real returns hold (pipelines/synth/variants.py: episodes left open
    # then absent, a DEC re-stated by the next return, a late DECOM), which DfE's validator
    # flags; off, the returns are as submitted after DfE's checks
    council_errors: bool = True

    @property
    def data_start(self) -> dt.date:
        return dt.date(self.first_year - 1, 4, 1)

    @property
    def data_end(self) -> dt.date:
        return dt.date(self.last_year, 3, 31)

    @property
    def years(self) -> list[int]:
        return list(range(self.first_year, self.last_year + 1))


def resolve_scale(scale: str | int) -> tuple[str, int]:
    if isinstance(scale, bool):
        raise ValueError(f"invalid scale {scale!r}")
    if isinstance(scale, int):
        n = scale
        name = str(scale)
    else:
        s = str(scale).strip().lower()
        if s in SCALES:
            return s, SCALES[s]
        try:
            n = int(s.replace("_", ""))
        except ValueError:
            raise ValueError(
                f"unknown scale {scale!r}: use one of {', '.join(SCALES)} or a number of children"
            ) from None
        name = str(n)
    if n < 1:
        raise ValueError(f"scale must simulate at least 1 child, got {n}")
    return name, n
