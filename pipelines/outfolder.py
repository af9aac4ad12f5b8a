"""The output folder of a run: whose it is, who is writing to it, and swapping a run's outputs in.

An output folder belongs to turn-the-curve once it holds the marker ``.oba-output.json``. A run
makes the marker in a folder that is new or empty; a folder that holds other files and no marker
is refused unless the user says ``--force``. The marker lists every file the last run put in
place, so a run replaces only its own outputs: a file someone else put inside ``site/`` or
``published/`` is carried over into the new folder, and a file of theirs at a path the run writes
is replaced only with ``--force``. A folder written by an earlier version (it holds ``.oba.lock``)
counts as the project's.

The warehouse and its folder are private to the user who runs the pipeline (0600 and 0700): the
``raw`` schema holds identifiers as exported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

MARKER = ".oba-output.json"
LOCK = ".oba.lock"
OUTPUTS = ("warehouse.duckdb", "site", "board_pack.pdf", "published", "baselines")
STATE = ("warehouse.duckdb", "baselines")  # outputs a run starts from (copied into its scratch folder)
PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700


class OutFolderError(Exception):
    """The output folder cannot be used; the message says why and what to do."""


def listing(out: Path) -> list[str]:
    """Files under the outputs' paths of ``out``, relative, as the marker records them."""
    found = []
    for name in OUTPUTS:
        path = out / name
        if path.is_dir() and not path.is_symlink():
            found.extend(p.relative_to(out).as_posix() for p in sorted(path.rglob("*")) if not p.is_dir())
        elif path.exists() or path.is_symlink():
            found.append(name)
    return found


def _read_marker(out: Path) -> dict | None:
    path = out / MARKER
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"files": []}
    return doc if isinstance(doc, dict) else {"files": []}


def _listing_of(out: Path, name: str) -> list[str]:
    path = out / name
    if path.is_dir() and not path.is_symlink():
        return [p.relative_to(out).as_posix() for p in sorted(path.rglob("*")) if not p.is_dir()]
    return [name]


def claim(out: Path, *, force: bool = False, keep: tuple[str, ...] = ()) -> None:
    """Make ``out`` a project output folder, or refuse one that holds other people's files.

    ``keep`` names entries the caller itself put there first (``oba demo``'s ``exports``).
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutFolderError(f"cannot create the output folder {out}: {exc.strerror}; choose another --out") from exc
    if not out.is_dir():
        raise OutFolderError(f"--out {out} is a file, not a folder")
    marker = _read_marker(out)
    legacy = marker is None and (out / LOCK).is_file()
    if marker is None and not legacy:
        others = [
            e.name for e in out.iterdir()
            if e.name not in keep and e.name not in (LOCK, MARKER)
        ]
        if others and not force:
            shown = ", ".join(sorted(others)[:8]) + (" …" if len(others) > 8 else "")
            raise OutFolderError(
                f"{out} already holds files that turn-the-curve did not write ({shown}); "
                "choose an empty or new folder for --out, or add --force to use it anyway "
                "(files of the same name as an output are then replaced; others are kept)"
            )
    if marker is None:
        write_marker(out, files=[] if not legacy else listing(out))
    _protect(out)


def record(out: Path, *written: Path) -> None:
    """Note files the project wrote into ``out`` outside a run's swap (``oba validate``'s page)."""
    ours = set((_read_marker(out) or {}).get("files") or ())
    ours.update(Path(p).resolve().relative_to(out.resolve()).as_posix() for p in written)
    write_marker(out, sorted(ours))


def write_marker(out: Path, files: list[str]) -> None:
    body = json.dumps(
        {"written_by": "turn-the-curve", "updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "files": files},
        indent=1,
    )
    tmp = out / f".tmp-{MARKER}-{os.getpid()}"
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, out / MARKER)


def conflicts(work: Path, out: Path) -> list[str]:
    """Files of someone else's in ``out`` at paths this run's outputs in ``work`` would replace."""
    ours = set((_read_marker(out) or {}).get("files") or ())
    produced = set()
    for name in OUTPUTS:
        if (work / name).exists():
            produced.update(_listing_of(work, name))
    clashing = []
    for name in OUTPUTS:
        target = out / name
        if not (target.exists() or target.is_symlink()):
            continue
        for rel in _listing_of(out, name):
            if rel not in ours and (rel in produced or (name not in produced and rel == name)):
                clashing.append(rel)
    return clashing


def swap(work: Path, out: Path) -> None:
    """Move a successful run's outputs over the previous ones, each in one rename; files of
    someone else's inside an output folder are carried over; the marker lists what is ours."""
    ours = set((_read_marker(out) or {}).get("files") or ())
    written = {rel for rel in ours if not (work / rel.split("/")[0]).exists()}  # outputs left as they were
    for name in OUTPUTS:
        produced = work / name
        if not produced.exists():
            continue
        written.update(_listing_of(work, name))
        target = out / name
        if produced.is_dir():
            if target.is_dir() and not target.is_symlink():
                for rel in _listing_of(out, name):
                    if rel in ours:
                        continue
                    source, dest = out / rel, work / rel
                    if not (dest.exists() or dest.is_symlink()):
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.move(str(source), str(dest))
            old = out / f".{name}-old"
            if old.exists():
                shutil.rmtree(old)
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                os.replace(target, old)
            os.replace(produced, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if target.is_dir() and not target.is_symlink():
                raise OutFolderError(f"{target} is a folder; the run writes a file there. Move it away.")
            os.replace(produced, target)
    write_marker(out, sorted(rel for rel in written if (out / rel).exists()))
    _protect(out)


def _protect(out: Path) -> None:
    """The warehouse (identifiers as exported in ``raw``) readable by its owner only."""
    with contextlib.suppress(OSError):
        os.chmod(out, PRIVATE_DIR)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        path = out / name
        if path.is_file() and not path.is_symlink():
            with contextlib.suppress(OSError):
                os.chmod(path, PRIVATE_FILE)


def writable(out: Path) -> None:
    """Refuse an output folder this process cannot write to, naming the cause."""
    probe = out / f".tmp-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutFolderError(
            f"cannot write to the output folder {out}: {exc.strerror}; choose a folder you can "
            "write to for --out (or make this one writable)"
        ) from exc


def rows_in_force(con) -> dict[str, int]:
    """Rows of each source's files in force (superseded files left out), read on ``con``."""
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = '_loads'"
        ).fetchall()
    }
    if not columns:
        return {}
    in_force = "where superseded_by is null" if "superseded_by" in columns else ""
    return dict(con.execute(f"select source, sum(rows)::bigint from raw._loads {in_force} group by source").fetchall())


def _rows_by_source(warehouse: Path) -> dict[str, int] | None:
    """:func:`rows_in_force` of the warehouse file, or None when it is missing or unreadable."""
    import duckdb

    if not warehouse.is_file():
        return None
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return None
    try:
        return rows_in_force(con)
    finally:
        con.close()


def shrinkage(previous: Path, now: dict[str, int]) -> list[str]:
    """Why a run whose exports give ``now`` (rows in force by source) must not replace the
    outputs whose warehouse is ``previous`` (DESIGN §2b: never publish nothing over something):
    no recognised export at all, a source the outputs in place had that now gives no rows, or
    fewer than half as many rows."""
    problems = []
    if not any(now.values()):
        problems.append("the exports gave no rows from any recognised export file")
    before = _rows_by_source(previous) or {}
    for source, rows in sorted(before.items()):
        count = now.get(source, 0)
        if rows and not count:
            problems.append(f"{source}: no rows now, {rows:,} in the outputs in place")
        elif rows and count * 2 < rows:
            problems.append(f"{source}: {count:,} rows now, fewer than half the {rows:,} in the outputs in place")
    return problems
