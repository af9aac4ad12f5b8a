"""Check that the sampled great-expectations validation gives GX's full-data verdicts.

``python -m benchmarks.check_sampling [--rows N]``: builds ``raw.<source>`` tables of N rows
(default 300,000, above ``expectations.FULL_ROWS``) from the tiny synthetic exports with bad
values planted (blank and whitespace-only required values, unicode spaces, wrong date formats,
unknown and lower-case codes, non-ASCII look-alikes), validates each whole and sampled, and
fails if any expectation's success or unexpected count differs.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from pipelines import expectations
from pipelines.contracts import load_contracts
from pipelines.ingest import scan_exports, sync_source
from pipelines.ingest.load import insert_tabular

BAD = ["", "   ", "\t", "\u00a0", "\u2003x", "31-12-2020", "2020/12/31", "12/31/2020x", "zz", "a1",
       " a1 ", "\u0391\u0031", "N\u0131", "\uff11\uff12/01/2020", "01/02/2020\n", "1/2/2020"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.check_sampling")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--sources", default="ssda903_episodes,cin_children,case_services")
    args = parser.parse_args(argv)
    from pipelines.synth import generate

    contracts = load_contracts()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="oba-check-sampling-") as scratch:
        exports = Path(scratch) / "exports"
        generate(exports, scale="tiny", seed=7)
        con = duckdb.connect()
        con.execute("create schema raw")
        files = [f for f in scan_exports(exports) if f.recognised and f.kind == "csv"]
        rng = random.Random(1)
        for source in args.sources.split(","):
            contract = contracts[source]
            items = [
                (f, p, lambda table, f=f, p=p, c=contract: insert_tabular(con, c, f, p, table))
                for f in files for p in f.parts if p.source == source
            ]
            if not items:
                print(f"{source}: no CSV files in the tiny exports; skipped")
                continue
            sync_source(con, contract, items)
            table = f"raw.{source}"
            while con.execute(f"select count(*) from {table}").fetchone()[0] < args.rows:
                con.execute(f"insert into {table} select * from {table} limit {args.rows}")
            con.execute(f"delete from {table} where rowid >= {args.rows}")
            columns = [c.sql_name for c in contract.columns]
            for _ in range(60):  # plant bad values at random rows and columns
                column, value = rng.choice(columns), rng.choice(BAD)
                con.execute(f'update {table} set "{column}" = ? where rowid = ?', [value, rng.randrange(args.rows)])
            started = time.perf_counter()
            frame, sample = expectations.contract_frame(con, contract)
            sampled = expectations.validate(contract, frame, sample)
            sampled_s = time.perf_counter() - started
            started = time.perf_counter()
            whole = con.execute(
                f"select * exclude (_extra, _active, _quarantined) from {table} where _active"
            ).df()
            full = expectations.validate(contract, whole)
            full_s = time.perf_counter() - started
            a = {r["check_name"]: (r["success"], r["unexpected_count"]) for r in full}
            b = {r["check_name"]: (r["success"], r["unexpected_count"]) for r in sampled}
            differ = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
            failing = sum(1 for v in a.values() if not v[0])
            print(
                f"{source}: {args.rows:,} rows, sample {sample and sample['validated']:,}; "
                f"{len(a)} expectations, {failing} failing on all rows; "
                f"full {full_s:.1f} s, sampled {sampled_s:.1f} s; "
                + ("identical verdicts and counts" if not differ else f"DIFFERENT: {differ}")
            )
            failures += bool(differ)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
