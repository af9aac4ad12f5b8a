"""``python -m pipelines.synth OUT [--scale S] [--seed N] [--intervention-date D]``"""

from __future__ import annotations

import argparse
import json
import sys

from . import SCALES, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines.synth", description="Write a synthetic council's exports."
    )
    ap.add_argument("out", help="output folder")
    ap.add_argument(
        "--scale",
        default="council",
        help=f"{', '.join(SCALES)} or a number of children (default council)",
    )
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--intervention-date",
        default=None,
        help="date new entries into care start to fall (default 2024-10-01)",
    )
    ap.add_argument(
        "--no-council-errors",
        action="store_true",
        help="returns as submitted after DfE's checks, without the errors real returns hold",
    )
    args = ap.parse_args(argv)
    overrides = {}
    if args.no_council_errors:
        overrides["council_errors"] = False
    if args.intervention_date:
        overrides["intervention_date"] = args.intervention_date
    try:
        summary = generate(args.out, scale=args.scale, seed=args.seed, **overrides)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary.pop("files")
    summary.pop("config")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
