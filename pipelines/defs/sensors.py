"""A sensor on the exports folder: a run when a file arrives or changes, never twice for one file.

The cursor maps each export file to the sha256 of the content that last triggered (or was seen);
a file whose content has been seen before does not trigger again. Run tags name the files.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from pipelines import settings
from pipelines.defs.jobs import refresh
from pipelines.defs.resources import ObaPaths
from pipelines.ingest.files import SKIP_SUFFIXES
from pipelines.ingest.load import sha256_of


def export_fingerprints(root: Path) -> dict[str, str]:
    """sha256 of every candidate export file under ``root`` (hidden files and folders skipped)."""
    found = {}
    if not root.is_dir():
        return found
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts) or path.name.startswith("~$"):
            continue
        if path.suffix.lower() in SKIP_SUFFIXES - {".yml", ".yaml"}:
            continue
        if "baselines" in parts:  # locked baselines are written by runs, not exports
            continue
        found[path.relative_to(root).as_posix()] = sha256_of(path)
    return found


def changed_files(previous: dict[str, list[str]], current: dict[str, str]) -> list[str]:
    return sorted(name for name, digest in current.items() if digest not in previous.get(name, []))


@dg.sensor(
    name="exports_folder",
    job=refresh,
    minimum_interval_seconds=settings.current().sensor_interval,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launch a refresh when a new or changed file lands in the exports folder.",
)
def exports_folder(context: dg.SensorEvaluationContext, oba: ObaPaths):
    region = oba.region
    if region is None:
        roots = {None: oba.exports}
    else:
        roots = {a.key: a.exports for a in region.authorities}
    seen: dict[str, list[str]] = json.loads(context.cursor) if context.cursor else {}
    requests = []
    for key, root in roots.items():
        prefix = f"{key}:" if key else ""
        current = {prefix + name: digest for name, digest in export_fingerprints(root).items()}
        changed = changed_files(seen, current)
        if not changed:
            continue
        for name in changed:
            seen.setdefault(name, []).append(current[name])
        run_key = hashlib.sha256(json.dumps([(n, current[n]) for n in changed]).encode()).hexdigest()[:32]
        names = ", ".join(n[len(prefix):] for n in changed)
        requests.append(
            dg.RunRequest(
                run_key=run_key,
                partition_key=key,
                tags={"oba/trigger": "exports_folder", "oba/files": names[:4000]},
            )
        )
    if not requests:
        return dg.SkipReason("no new or changed files in the exports folder(s)")
    context.update_cursor(json.dumps(seen, sort_keys=True))
    return requests[0] if region is None else requests


defs = dg.Definitions(sensors=[exports_folder])
