"""Several authorities in one deployment: ``authorities.yaml`` lists each with its exports folder.

```yaml
region: {name: North East, code: E12000001}
authorities:
  - {key: hartlepool, name: Hartlepool, code: E06000001, exports: hartlepool/exports}
  - {key: darlington, name: Darlington, code: E06000005, exports: /data/darlington}
```

Paths are relative to the file. Each authority is one Dagster partition: its outputs go to
``<out>/<key>/`` and the regional roll-up to ``<out>/region/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml
from pipelines.settings import current

REGION_KEY = "region"


class AuthoritiesError(ValueError):
    """authorities.yaml is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Authority:
    key: str
    name: str
    code: str | None
    exports: Path
    config: Path | None = None


@dataclass(frozen=True)
class Region:
    name: str
    code: str | None
    authorities: tuple[Authority, ...]
    source: Path

    def authority(self, key: str) -> Authority:
        for a in self.authorities:
            if a.key == key:
                return a
        raise AuthoritiesError(f"{self.source}: no authority with key {key!r}")

    @property
    def keys(self) -> list[str]:
        return [a.key for a in self.authorities]


@cache
def load_region(path: str) -> Region:
    source = Path(path)
    if not source.is_file():
        raise AuthoritiesError(f"{source}: authorities file not found")
    try:
        doc = load_yaml(source, what="authorities file") or {}
    except YamlFileError as exc:
        raise AuthoritiesError(str(exc)) from exc
    if not isinstance(doc, dict):
        raise AuthoritiesError(f"{source}: expected a mapping with 'region:' and 'authorities:'")
    region = doc.get("region") or {}
    if not isinstance(region, dict):
        raise AuthoritiesError(f"{source}: region must be a mapping with name and code, got {region!r}")
    entries = doc.get("authorities")
    if not isinstance(entries, list) or not entries:
        raise AuthoritiesError(f"{source}: expected an 'authorities:' list")
    authorities = []
    for i, entry in enumerate(entries, start=1):
        where = f"{source} authorities[{i}]"
        if not isinstance(entry, dict) or not entry.get("key") or not entry.get("exports"):
            raise AuthoritiesError(f"{where}: each authority needs a key and an exports folder")
        key = str(entry["key"])
        if not re.fullmatch(r"[a-z0-9_-]+", key) or key == REGION_KEY:
            raise AuthoritiesError(f"{where}: key must be lower-case letters, digits, - or _ (not 'region')")
        if key in {a.key for a in authorities}:
            raise AuthoritiesError(f"{where}: key {key!r} is listed twice")
        exports = (source.parent / str(entry["exports"])).resolve()
        config = (source.parent / str(entry["config"])).resolve() if entry.get("config") else None
        authorities.append(
            Authority(key, str(entry.get("name") or key), entry.get("code"), exports, config)
        )
    return Region(
        name=str(region.get("name") or "Region"),
        code=region.get("code"),
        authorities=tuple(authorities),
        source=source,
    )


def configured_region() -> Region | None:
    """The region of the settings in force (their ``authorities``), or None for one authority."""
    path = current().authorities
    return load_region(str(path.resolve())) if path else None
