"""The run configuration, ``oba.yaml``: authority, headline measures, baselines, targets, suppression."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ConfigError(ValueError):
    """oba.yaml is malformed; the message names the file and the key."""


@dataclass(frozen=True)
class ObaConfig:
    authority_name: str = "Local authority"
    authority_code: str | None = None
    headline_measures: tuple[str, ...] = ()
    baselines: dict[str, dt.date] = field(default_factory=dict)
    targets: dict[str, float] = field(default_factory=dict)
    suppression_upper: int = 5
    stories_dir: Path | None = None
    source: Path | None = None


def _as_date(value, path: Path, key: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{path}: {key} must be a date YYYY-MM-DD, got {value!r}") from exc


def load_config(path: Path | None, exports_dir: Path | None = None) -> ObaConfig:
    """Read ``path``; with no path, ``<exports_dir>/oba.yaml`` when it exists, else the defaults."""
    if path is None and exports_dir is not None and (exports_dir / "oba.yaml").is_file():
        path = exports_dir / "oba.yaml"
    if path is None:
        return ObaConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    authority = doc.get("authority") or {}
    if not isinstance(authority, dict):
        raise ConfigError(f"{path}: authority must be a mapping with name and code")
    headline = doc.get("headline_measures") or []
    if not isinstance(headline, list):
        raise ConfigError(f"{path}: headline_measures must be a list of measure ids")
    baselines = {
        str(k): _as_date(v, path, f"baselines.{k}") for k, v in (doc.get("baselines") or {}).items()
    }
    targets = {}
    for k, v in (doc.get("targets") or {}).items():
        try:
            targets[str(k)] = float(v)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: targets.{k} must be a number, got {v!r}") from exc
    suppression = doc.get("suppression") or {}
    upper = suppression.get("upper", 5) if isinstance(suppression, dict) else suppression
    try:
        upper = int(upper)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: suppression.upper must be a whole number") from exc
    stories = doc.get("stories")
    stories_dir = (path.parent / stories).resolve() if stories else None
    code = authority.get("code")
    return ObaConfig(
        authority_name=str(authority.get("name") or "Local authority"),
        authority_code=str(code) if code else None,
        headline_measures=tuple(str(m) for m in headline),
        baselines=baselines,
        targets=targets,
        suppression_upper=upper,
        stories_dir=stories_dir,
        source=path,
    )
