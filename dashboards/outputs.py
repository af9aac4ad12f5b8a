"""Writing an output whole or not at all.

Every output (the site, the CSV downloads, the board pack, the regional site, the export-check
page, a baseline lock) is built in a fresh folder beside its target and swapped in with one
rename when complete: a reader sees the previous output or the new one, never half of one, and
a failure leaves the previous output in place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing_folder(target: Path) -> Iterator[Path]:
    """A fresh folder to build ``target`` in; it becomes ``target`` when the block succeeds and
    is removed when it fails."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        work.chmod(0o755)
        yield work
        _swap_folder(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


@contextlib.contextmanager
def replacing_file(target: Path) -> Iterator[Path]:
    """A scratch folder to build the file ``target`` in, with whatever helps make it: the file
    written there under ``target``'s name replaces ``target`` when the block succeeds. The
    folder is removed either way."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield work
        built = work / target.name
        with built.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(built, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    path = Path(path)
    with replacing_file(path) as work:
        (work / path.name).write_text(text, encoding="utf-8")
    return path


def _swap_folder(work: Path, target: Path) -> None:
    """Replace ``target`` with ``work``: the old folder stays until the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["replacing_file", "replacing_folder", "write_text"]
