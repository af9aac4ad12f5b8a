"""Run DfE's SSDA903 validator (csc-validator-be-903) on each year of a synthetic export.

Runs inside the validator's own venv (it pins pandas 1.5; see ``setup.sh``)::

    bash benchmarks/dfe_validator/setup.sh
    benchmarks/dfe_validator/.venv/bin/python benchmarks/dfe_validator/check.py OUT
    benchmarks/dfe_validator/.venv/bin/python benchmarks/dfe_validator/check.py \\
        --synth council --seed 2026          # generate first, with the project's .venv

``OUT`` is a folder written by ``python -m pipelines.synth`` (``OUT/ssda903/<YYYY-1>-<YY>/``
with header.csv, episodes.csv, oc3.csv) or its ``ssda903`` folder. Each year is validated
with its own ruleset (``lac2023_24`` for 2023-24) and the year before as "previous year"
data, as a council uploads them; years before 2022-23, the oldest ruleset, use
``lac2022_23``. Printed per year: rows flagged per rule, then rules excluded because they
need real postcodes, a real authority code or Ofsted's provider lists, then rows not
counted with the reason (codes valid in their own year, defects and contradictions of the
validator itself); finally a total. Exit code 1 if any counted row is flagged.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import re
import subprocess
import sys
import tempfile
import warnings
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OLDEST, NEWEST = 2023, 2027  # collection years (ending March) the validator has rulesets for

# Rules the synthetic returns cannot meet: the postcodes are made up (not in ONS's postcode
# directory, which the validator uses to find each placement's LA, location and distance),
# the authority code E09000999 is not a real authority and no Ofsted provider lists are
# loaded. The Ofsted rules return nothing without those lists; they are listed for the record.
POSTCODE = "needs real postcodes (placement LA, location and distance come from ONS's directory)"
EXCLUDED = {
    "392c": "postcodes must exist in ONS's postcode directory; synthetic ones do not",
    "164": POSTCODE,
    "169": POSTCODE,
    "179": POSTCODE,
    "392a": POSTCODE,
    "411": POSTCODE,
    "454": POSTCODE,
    "1015": "compares the placement's LA (from its postcode) with the authority: "
    + "needs real postcodes and a real authority code",
    "241": "compares the placement's LA (from its postcode) with the authority for K3 "
    + "URNs: needs real postcodes and Ofsted's provider list",
    **{
        code: "needs Ofsted's children's homes and social care providers lists (real URNs)"
        for code in ("1008", "219", "221", "224", "227", "228", "229")
    },
}

# Codes DfE retired before the oldest ruleset: valid in the years up to the one given.
OLD_CODES = {
    "132": ("ACTIV", {"F3", "P3"}, 2021, "ACTIV F3/P3 valid until 2020-21"),
    "149": ("REC", {"E43", "E44"}, 2018, "REC E43/E44 valid until 2017-18"),
}
RULES_NEEDING_HISTORY = ["1001", "1002"]
TABLES = ("header.csv", "episodes.csv", "oc3.csv")
FAILS = {
    "231": "needs UASC_STATUS, which the validator adds only with a UASC table",
    "233": "reads a column DATE_EPISODE_CEASED that no table has (validator defect)",
}


def _ruleset(year: int) -> str:
    y = min(max(year, OLDEST), NEWEST)
    return f"lac{y - 1}_{y % 100:02d}"


def year_folders(out: Path) -> dict[int, Path]:
    base = out / "ssda903" if (out / "ssda903").is_dir() else out
    found = {}
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        m = re.fullmatch(r"(\d{4})-(\d{2})", d.name)
        if m and (int(m.group(1)) + 1) % 100 == int(m.group(2)):
            found[int(m.group(1)) + 1] = d
    return found


def _read(path: Path):
    import pandas as pd

    if not path.is_file():
        return pd.DataFrame({"CHILD": [], "DECOM": [], "DOB": [], "SEX": []}, dtype=str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write(df, folder: Path, name: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / name, index=False)
    return str(folder / name)


def _run(year, this, prev, la, rules=None):
    from lac_validator import lac_validator
    from lac_validator.utils import process_uploaded_files

    registry = importlib.import_module(f"lac_validator.rules.{_ruleset(year)}").registry
    files = process_uploaded_files({"This year": this, "Prev year": prev})
    metadata = {"collectionYear": str(year), "localAuthority": la}
    quiet = io.StringIO()
    with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
        v = lac_validator.LacValidator(
            metadata=metadata, files=files, registry=registry, selected_rules=rules
        )
    flagged = defaultdict(list)  # rule -> [(table, row)]
    for table, df in v.ds_results.items():
        if table == "metadata" or table.endswith("_last"):
            continue
        for col in (c for c in df.columns if str(c).startswith("ERR_")):
            hit = df.index[df[col].fillna(False).astype(bool)]
            flagged[col[4:]] += [(table, i) for i in hit]
    return registry, flagged, v.fails, v.ds_results


class Year:
    """One collection year's return, the previous one and the written history before it."""

    def __init__(self, year: int, folders: dict[int, Path], tmp: Path, use_prev: bool) -> None:
        self.year, self.folder = year, folders[year]
        self.prev = folders.get(year - 1) if use_prev else None
        self.earlier = [folders[y] for y in sorted(folders) if y < year]
        self.tmp = tmp / str(year)
        self.this_files = [str(p) for f in TABLES if (p := self.folder / f).is_file()]
        self.episodes = _read(self.folder / "episodes.csv")
        self.header = _read(self.folder / "header.csv")
        self.oc3 = _read(self.folder / "oc3.csv")
        self.in_care = set(self.episodes["CHILD"])
        self._runs: dict = {}

    def run_days(self, ls: str):
        """Days of each episode's unbroken run of episodes with legal status ``ls`` (DEC =
        next DECOM), by row: what rules 361 (L1) and 362 (L2) mean to measure."""
        import pandas as pd

        if ls in self._runs:
            return self._runs[ls]
        e = self.episodes.copy()
        e["a"] = pd.to_datetime(e["DECOM"], format="%d/%m/%Y")
        e["b"] = pd.to_datetime(e["DEC"].replace("", None), format="%d/%m/%Y")
        e["b"] = e["b"].fillna(pd.Timestamp(self.year, 3, 31))
        e = e.sort_values(["CHILD", "a"])
        prev = e.shift(1)
        same = e["LS"] == ls
        joined = same & (prev["LS"] == ls) & (prev["CHILD"] == e["CHILD"]) & (prev["b"] == e["a"])
        run = (~joined).cumsum()
        days = e.groupby(run)["b"].transform("max") - e.groupby(run)["a"].transform("min")
        self._runs[ls] = days.dt.days
        return self._runs[ls]

    def prev_files(self) -> list[str]:
        """The previous return; its header's SEX recoded 1/2 -> M/F when it predates the
        2024-25 coding (rule 202 compares the raw codes and flags every child otherwise)."""
        if self.prev is None:
            return []
        files = [str(p) for f in TABLES[1:] if (p := self.prev / f).is_file()]
        if not (self.prev / "header.csv").is_file():
            return files
        head = _read(self.prev / "header.csv")
        if self.year >= 2025 and set(head["SEX"]) <= {"1", "2"}:
            head["SEX"] = head["SEX"].map({"1": "M", "2": "F"})
            return files + [_write(head, self.tmp / "prev", "header.csv")]
        return files + [str(self.prev / "header.csv")]

    def history_files(self) -> tuple[list[str], list[str]]:
        """This year's files and, as one "previous year" episodes table, every earlier
        return's episodes (newest return wins per CHILD + DECOM): rules 1001/1002 judge care
        leavers on the episodes they see. Short breaks (V3/V4), which neither rule counts,
        are left out: rule 1001 drops them by row label after joining two tables whose
        labels overlap, which drops other children's episodes too (validator defect)."""
        import pandas as pd

        eps = pd.concat([_read(f / "episodes.csv") for f in self.earlier], ignore_index=True)
        eps = eps.drop_duplicates(["CHILD", "DECOM"], keep="last")
        eps = eps[~eps["LS"].isin(["V3", "V4"])]
        now = self.episodes[~self.episodes["LS"].isin(["V3", "V4"])]
        this = [f for f in self.this_files if not f.endswith("episodes.csv")]
        this.append(_write(now, self.tmp / "history_this", "episodes.csv"))
        return this, [_write(eps, self.tmp / "history", "episodes.csv")]


def not_counted(rule: str, table: str, row, y: Year, data, truncated: set) -> str | None:
    """Why a flagged row is not counted against the synthetic data, or None."""
    import pandas as pd

    rec = data[table].loc[row]
    old = OLD_CODES.get(rule)
    if old and y.year <= old[2] and rec.get(old[0]) in old[1]:
        return old[3] + " (older than the oldest ruleset, lac2022_23)"
    if rule == "146" and y.year == 2025 and rec.get("PLACE") == "K3":
        return "lac2024_25 rule 146 lists K3 as 'k3' (validator defect); K3 is valid from 2024-25"
    if rule == "218" and y.year >= 2026 and rec.get("LS") in ("V3", "V4"):
        return "contradicts rule 214 (no URN on short breaks)"
    if rule == "624" and table == "Header" and rec["CHILD"] not in y.in_care:
        return (
            "contradicts rules 612/628 (no motherhood details for a care leaver not looked after)"
        )
    if rule in RULES_NEEDING_HISTORY and table == "OC3":
        dob = pd.to_datetime(rec["DOB"], format="%d/%m/%Y")
        if rule == "1001" and dob + pd.DateOffset(years=20) <= pd.Timestamp(y.year, 3, 31):
            return "rule 1001 drops young people aged 20+ before checking (validator defect)"
        if rec["CHILD"] in truncated:
            return "care since age 14 may predate the first return written"
    limit = {"361": ("L1", 3), "362": ("L2", 21)}.get(rule)
    if limit and table == "Episodes" and y.run_days(limit[0])[row] <= limit[1]:
        return f"rule {rule} joins a child's separate {limit[0]} episodes (validator defect)"
    if rule == "626" and table == "Header" and y.prev is not None:
        # MOTHER was 0 last year because the child was born after her care ended then
        last = _read(y.prev / "episodes.csv")
        last = last[(last["CHILD"] == rec["CHILD"]) & ~last["LS"].isin(["V3", "V4"])]
        ends = pd.to_datetime(last["DEC"].replace("", None), format="%d/%m/%Y")
        born = pd.to_datetime(rec["MC_DOB"], format="%d/%m/%Y", errors="coerce")
        if ends.notna().all() and len(ends) and ends.max() < born:
            return "born after the mother's care ended last year, when MOTHER was rightly 0"
    if rule == "232" and rec.get("SEX") == "U":
        return "a query on a valid code: U is in DfE's SEX list from 2024-25"
    return None


def truncated_history(folders: dict[int, Path]) -> set:
    """Care leavers whose care since their 14th birthday, which rules 1001/1002 judge,
    may have begun before the first return written: 14 before it, or no episode in any
    return (OC3 only)."""
    import pandas as pd

    start = pd.Timestamp(min(folders) - 1, 4, 1)
    eps = pd.concat([_read(folders[y] / "episodes.csv") for y in folders], ignore_index=True)
    oc3 = pd.concat([_read(folders[y] / "oc3.csv") for y in folders], ignore_index=True)
    dob = pd.to_datetime(oc3["DOB"], format="%d/%m/%Y")
    early = set(oc3.loc[dob + pd.DateOffset(years=14) < start, "CHILD"])
    return early | (set(oc3["CHILD"]) - set(eps["CHILD"]))


def check_year(y: Year, la: str, truncated: set):
    registry, flagged, fails, data = _run(y.year, y.this_files, y.prev_files(), la)
    if y.earlier and len(y.oc3):
        this, history = y.history_files()
        _, hist, _, _ = _run(y.year, this, history, la, rules=RULES_NEEDING_HISTORY)
        for rule in RULES_NEEDING_HISTORY:
            flagged[rule] = hist.get(rule, [])
    counted, excluded, skipped = Counter(), Counter(), Counter()
    why_of = {}  # (rule, table, row) -> reason not counted ("" if counted)
    for rule, rows in flagged.items():
        for table, row in rows:
            if rule in EXCLUDED:
                excluded[rule] += 1
                why_of[rule, table, row] = "excluded"
            elif why := not_counted(rule, table, row, y, data, truncated):
                skipped[(rule, why)] += 1
                why_of[rule, table, row] = why
            else:
                counted[rule] += 1
                why_of[rule, table, row] = ""
    return registry, counted, excluded, skipped, fails, why_of, data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", help="synthetic export folder (or its ssda903/ folder)")
    ap.add_argument("--synth", metavar="SCALE", help="generate a synthetic export into OUT first")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--python", default=str(ROOT / ".venv" / "bin" / "python"), help="python for --synth"
    )
    ap.add_argument("--la", default="E09000999", help="authority code given to the validator")
    ap.add_argument("--years", help="only these collection years, e.g. 2024,2025")
    ap.add_argument("--no-prev", action="store_true", help="do not load the year before")
    ap.add_argument(
        "--show", metavar="RULE", action="append", default=[], help="print a rule's rows"
    )
    args = ap.parse_args(argv)
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")

    if args.synth:
        out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="synth903_"))
        # as oba demo writes them: the returns as submitted, without planted council errors
        cmd = [args.python, "-m", "pipelines.synth", str(out), "--scale", args.synth, "--no-council-errors"]
        subprocess.run(
            cmd + ["--seed", str(args.seed)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL
        )
        print(f"generated {out} (scale {args.synth}, seed {args.seed})")
    elif args.out:
        out = Path(args.out)
    else:
        ap.error("give an export folder or --synth SCALE")

    folders = year_folders(out)
    if not folders:
        print(f"no <YYYY>-<YY> year folders under {out}", file=sys.stderr)
        return 2
    wanted = {int(y) for y in args.years.split(",")} if args.years else set(folders)
    truncated = truncated_history(folders)
    total, total_x, total_s, by_rule = 0, 0, 0, Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for year in sorted(wanted & set(folders)):
            y = Year(year, folders, Path(tmp), use_prev=not args.no_prev)
            registry, counted, excluded, skipped, fails, why_of, data = check_year(
                y, args.la, truncated
            )
            note = "" if OLDEST <= year <= NEWEST else " (older than any ruleset: oldest used)"
            print(
                f"== {y.folder.name}: ruleset {_ruleset(year)}{note}; previous year "
                f"{y.prev.name if y.prev else 'none'}"
            )
            for rule in sorted(counted, key=lambda k: (-counted[k], k)):
                msg = (registry[rule].message or "") if rule in registry else ""
                print(f"   {rule:>6} {counted[rule]:6d}  {msg[:100]}")
            for rule in sorted(excluded, key=lambda k: (-excluded[k], k)):
                print(f"   {rule:>6} {excluded[rule]:6d}  excluded: {EXCLUDED[rule]}")
            for (rule, why), n in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                print(f"   {rule:>6} {n:6d}  not counted: {why}")
            for rule in sorted(fails):
                print(f"   {rule:>6}     --  failed to run: {FAILS.get(rule, 'see the validator')}")
            n, nx, ns = sum(counted.values()), sum(excluded.values()), sum(skipped.values())
            print(f"   rows flagged: {n}   (excluded rules: {nx}; not counted: {ns})")
            total, total_x, total_s = total + n, total_x + nx, total_s + ns
            by_rule.update(counted)
            for rule in args.show:
                for table in sorted({t for r, t, _ in why_of if r == rule}):
                    rows = [i for r, t, i in why_of if r == rule and t == table]
                    df = data[table].loc[rows]
                    df = df[[c for c in df.columns if not str(c).startswith(("ERR_", "__"))]]
                    df["not counted"] = [why_of[rule, table, i][:40] for i in rows]
                    df = df.sort_values("not counted", kind="stable")  # counted rows first
                    print(f"   rule {rule}, {table}:\n{df.to_string(max_rows=60)}")
    print(f"TOTAL rows flagged: {total}   (excluded rules: {total_x}; not counted: {total_s})")
    if by_rule:
        print("flagged by rule: " + ", ".join(f"{k}={v}" for k, v in sorted(by_rule.items())))
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
