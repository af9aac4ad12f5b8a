"""The run configuration, ``oba.yaml``: authority, headline measures, baselines, targets,
suppression, stories folder, comparators and publishing audience.

```yaml
authority: {name: Hartlepool, code: E06000001}
headline_measures: [cla_rate_per_10k, cpp_rate_per_10k]
baselines: {cla_rate_per_10k: 2024-09-30}
targets: {cla_rate_per_10k: 65}
suppression: {upper: 5}
stories: stories
comparators: {region: E12000001, neighbours: [E06000002, E06000003]}
publish: {audience: internal}
collection_years: {"returns/903 March.csv": 2018, "old_returns/*": 2017}
assessment_tools: {Outcomes Star: {sd: 6.2, reliability: 0.85}}
```

``collection_years`` pins the collection year (the year of the return's 31 March; ``2018`` or
``2017-18``) of the files a key names: a file or folder path relative to the exports folder, or
a glob (``*``, ``?``, ``[...]``) matched against the file's path or any of its folders. A pin
beats every other way of dating a file (DESIGN §2b); of several keys naming one file, an exact
file path wins, then a folder, then a glob, the longest key first.

``assessment_tools`` gives, per assessment tool of the case export (its ``tool`` column, matched
ignoring case and surrounding spaces), the standard deviation ``sd`` (> 0) of its total score
and its reliability ``reliability`` (test-retest or Cronbach's alpha, 0 <= r < 1), from which
``program_reliable_improvement_pct`` works out the reliable change criterion 1.96 * sd *
sqrt(2 * (1 - r)) (Jacobson-Truax). Whether higher is better comes from the export's
``higher_is_better``, not from here. A tool without both counts its clients as better off on any
improvement, as ``program_improved_pct`` does.

Every key is checked on load: :func:`load_config` raises one :class:`ConfigError` listing every
problem, one line per key, naming the file, the key, the value found and what is expected.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml, yaml_date

MAX_BYTES = 1024 * 1024
SUPPRESSION_MAX = 100
AUDIENCES = ("internal", "public")
KEYS = {
    "authority": "a mapping with name and code",
    "headline_measures": "a list of measure ids",
    "baselines": "a mapping of measure id to a date YYYY-MM-DD",
    "targets": "a mapping of measure id to a number",
    "suppression": "a mapping with upper, a whole number",
    "stories": "the path of the stories folder",
    "comparators": "a mapping with region (a region code E12...) and neighbours (a list of LA codes)",
    "publish": "a mapping with audience, internal or public",
    "collection_years": "a mapping of file or folder path (or glob) to a collection year, e.g. 2018 or 2017-18",
    "assessment_tools": "a mapping of assessment tool name to {sd: a number > 0, reliability: a number from 0 to under 1}",
}
ASSESSMENT_TOOL_KEYS = ("sd", "reliability")
AUTHORITY_KEYS = ("name", "code")
SUPPRESSION_KEYS = ("upper",)
YEAR_RANGE = (2000, 2100)
PUBLISH_KEYS = ("audience",)
LA_CODE = re.compile(r"E0[6-9]\d{6}|E10\d{6}|[EWSN]\d{8}")
REGION_CODE = re.compile(r"E1[23]\d{6}")


class ConfigError(ValueError):
    """oba.yaml is malformed; the message names the file and, one line each, every bad key.

    ``problems`` holds those lines (``key: what is wrong``)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or []


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
    comparators: dict[str, object] = field(default_factory=dict)
    publish_audience: str = "internal"
    collection_years: dict[str, int] = field(default_factory=dict)
    assessment_tools: dict[str, AssessmentTool] = field(default_factory=dict)


@dataclass(frozen=True)
class AssessmentTool:
    """What the reliable change criterion of an assessment tool needs: the standard deviation of
    its total score and its reliability (None when not configured)."""

    sd: float | None = None
    reliability: float | None = None


class _Checker:
    """Collects one line per bad key."""

    def __init__(self):
        self.problems: list[str] = []

    def bad(self, key: str, expected: str, value) -> None:
        self.problems.append(f"{key}: expected {expected}, got {value!r}")

    def mapping(self, doc: dict, key: str, allowed: tuple[str, ...] | None = None) -> dict:
        value = doc.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.bad(key, KEYS[key], value)
            return {}
        for sub in value:
            if allowed is not None and sub not in allowed:
                self.problems.append(
                    f"{key}.{sub}: unknown key; {key} may hold {', '.join(allowed)}"
                )
        return value

    def text(self, value, key: str, expected: str, *, numbers: bool = True) -> str | None:
        """Text (or, with ``numbers``, a whole number read as text); None when absent or blank."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) or (
            numbers and isinstance(value, int) and not isinstance(value, bool)
        ):
            return str(value).strip()
        self.bad(key, expected, value)
        return None

    def text_list(self, value, key: str, expected: str, item: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(key, expected, value)
            return []
        out = []
        for i, entry in enumerate(value, start=1):
            text = self.text(entry, f"{key}[{i}]", item)
            if text is None and (entry is None or isinstance(entry, str)):
                self.bad(f"{key}[{i}]", item, entry)
            elif text is not None:
                out.append(text)
        return out

    def collection_year(self, value, key: str) -> int | None:
        """A collection year: ``2018``, or the academic year it ends, ``2017-18``, ``2017/18``."""
        low, high = YEAR_RANGE
        year = None
        if isinstance(value, int) and not isinstance(value, bool):
            year = value
        elif isinstance(value, str):
            text = value.strip()
            match = re.fullmatch(r"(\d{4})(?:\s*[-/_]\s*(\d{2}|\d{4}))?", text)
            if match:
                first = int(match.group(1))
                second = match.group(2)
                if second is None:
                    year = first
                elif int(second) in ((first + 1) % 100, first + 1):
                    year = first + 1
        if year is None or not low <= year <= high:
            self.bad(key, f"a collection year from {low} to {high}, e.g. 2018 or 2017-18", value)
            return None
        return year

    def date(self, value, key: str) -> dt.date | None:
        try:
            return yaml_date(value)
        except ValueError:
            self.bad(key, "a date YYYY-MM-DD", value)
            return None

    def number(self, value, key: str) -> float | None:
        if not isinstance(value, bool) and isinstance(value, (int, float, str)):
            try:
                number = float(value)
            except (ValueError, OverflowError):
                number = math.nan
            if math.isfinite(number):
                return number
        self.bad(key, "a number", value)
        return None

    def whole(self, value, key: str, low: int, high: int) -> int | None:
        number = None
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not low <= number <= high:
            self.bad(key, f"a whole number from {low} to {high}", value)
            return None
        return number


def _read(path: Path) -> dict:
    try:
        doc = load_yaml(path, what="configuration", max_bytes=MAX_BYTES)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys ({', '.join(KEYS)}) at the top level, "
            f"got {type(doc).__name__}"
        )
    return doc


def parse_config(doc: dict, path: Path) -> ObaConfig:
    """An ``ObaConfig`` from the mapping read from ``path``; every problem in one ConfigError."""
    check = _Checker()
    for key in doc:
        if key not in KEYS:
            check.problems.append(f"{key}: unknown key; the keys are {', '.join(KEYS)}")

    authority = check.mapping(doc, "authority", AUTHORITY_KEYS)
    name = check.text(authority.get("name"), "authority.name", "the authority's name as text")
    code = check.text(
        authority.get("code"), "authority.code", "the authority's code as text, e.g. E06000001"
    )

    headline = check.text_list(
        doc.get("headline_measures"), "headline_measures", KEYS["headline_measures"], "a measure id"
    )

    baselines: dict[str, dt.date] = {}
    for measure, value in check.mapping(doc, "baselines").items():
        date = check.date(value, f"baselines.{measure}")
        if date is not None:
            baselines[str(measure)] = date

    targets: dict[str, float] = {}
    for measure, value in check.mapping(doc, "targets").items():
        number = check.number(value, f"targets.{measure}")
        if number is not None:
            targets[str(measure)] = number

    upper = 5
    suppression = doc.get("suppression")
    if isinstance(suppression, dict):
        check.mapping(doc, "suppression", SUPPRESSION_KEYS)
        if suppression.get("upper") is not None:
            upper = check.whole(suppression["upper"], "suppression.upper", 0, SUPPRESSION_MAX)
    elif suppression is not None:  # a bare number is the upper bound
        upper = check.whole(suppression, "suppression", 0, SUPPRESSION_MAX)

    stories = check.text(doc.get("stories"), "stories", KEYS["stories"], numbers=False)

    comparators: dict[str, object] = {}
    raw = doc.get("comparators")
    if isinstance(raw, list):  # a bare list is the statistical neighbours
        raw = {"statistical_neighbours": raw}
    elif raw is not None and not isinstance(raw, dict):
        check.bad("comparators", KEYS["comparators"], raw)
        raw = None
    for sub, value in (raw or {}).items():
        if sub in ("neighbours", "statistical_neighbours"):
            codes = check.text_list(value, f"comparators.{sub}", "a list of LA codes", "an LA code")
            for i, la_code in enumerate(codes, start=1):
                if not LA_CODE.fullmatch(la_code):
                    check.bad(f"comparators.{sub}[{i}]", "an LA code such as E06000001", la_code)
            comparators["neighbours"] = [c for c in codes if LA_CODE.fullmatch(c)]
            if sub == "statistical_neighbours":  # the earlier name, still read
                comparators["statistical_neighbours"] = comparators["neighbours"]
        elif sub == "region":
            region_code = check.text(value, "comparators.region", "a region code such as E12000001")
            if region_code is not None and not REGION_CODE.fullmatch(region_code):
                check.bad("comparators.region", "a region code such as E12000001", region_code)
            elif region_code is not None:
                comparators["region"] = region_code
        else:
            check.problems.append(
                f"comparators.{sub}: unknown key; comparators may hold region, neighbours"
            )

    audience = "internal"
    publish = check.mapping(doc, "publish", PUBLISH_KEYS)
    if publish.get("audience") is not None:
        value = publish["audience"]
        if isinstance(value, str) and value.strip().lower() in AUDIENCES:
            audience = value.strip().lower()
        else:
            check.bad("publish.audience", " or ".join(AUDIENCES), value)

    collection_years: dict[str, int] = {}
    for pattern, value in check.mapping(doc, "collection_years").items():
        key = f"collection_years.{pattern}"
        name = str(pattern).strip().replace("\\", "/") if isinstance(pattern, (str, int)) else ""
        absolute = name.startswith("/") or bool(re.match(r"[A-Za-z]:/", name))
        while name.startswith("./"):
            name = name[2:]
        name = name.rstrip("/")
        if not name or absolute or ".." in name.split("/"):
            check.problems.append(
                f"{key}: expected a file or folder path (or glob) inside the exports folder, "
                f"got {pattern!r}"
            )
            continue
        year = check.collection_year(value, key)
        if year is not None:
            if name in collection_years and collection_years[name] != year:
                check.problems.append(f"{key}: {name!r} is pinned twice, to different years")
            collection_years[name] = year

    assessment_tools: dict[str, AssessmentTool] = {}
    for tool, value in check.mapping(doc, "assessment_tools").items():
        key = f"assessment_tools.{tool}"
        name = str(tool).strip() if isinstance(tool, (str, int)) and not isinstance(tool, bool) else ""
        if not name:
            check.problems.append(f"{key}: expected an assessment tool's name, got {tool!r}")
            continue
        if not isinstance(value, dict):
            check.bad(key, "a mapping with sd and reliability, e.g. {sd: 6.2, reliability: 0.85}", value)
            continue
        for sub in value:
            if sub == "higher_is_better":
                check.problems.append(
                    f"{key}.{sub}: not read from here; the case export's higher_is_better column says "
                    "which way a tool's scores improve"
                )
            elif sub not in ASSESSMENT_TOOL_KEYS:
                check.problems.append(
                    f"{key}.{sub}: unknown key; an assessment tool may hold {', '.join(ASSESSMENT_TOOL_KEYS)}"
                )
        sd = reliability = None
        if value.get("sd") is not None:
            sd = check.number(value["sd"], f"{key}.sd")
            if sd is not None and sd <= 0:
                check.bad(f"{key}.sd", "a standard deviation above 0", value["sd"])
                sd = None
        if value.get("reliability") is not None:
            reliability = check.number(value["reliability"], f"{key}.reliability")
            if reliability is not None and not 0 <= reliability < 1:
                check.bad(f"{key}.reliability", "a reliability from 0 up to (not including) 1", value["reliability"])
                reliability = None
        if name.casefold() in {known.casefold() for known in assessment_tools}:
            check.problems.append(f"{key}: the tool {name!r} is configured twice")
            continue
        assessment_tools[name] = AssessmentTool(sd=sd, reliability=reliability)

    if check.problems:
        count = len(check.problems)
        raise ConfigError(
            f"{path}: {count} problem{'s' if count > 1 else ''} in the configuration:\n"
            + "\n".join(f"  {line}" for line in check.problems),
            check.problems,
        )
    return ObaConfig(
        authority_name=name or "Local authority",
        authority_code=code,
        headline_measures=tuple(headline),
        baselines=baselines,
        targets=targets,
        suppression_upper=upper if upper is not None else 5,
        stories_dir=(path.parent / stories).resolve() if stories else None,
        source=path,
        comparators=comparators,
        publish_audience=audience,
        collection_years=collection_years,
        assessment_tools=assessment_tools,
    )


def load_config(path: Path | None, exports_dir: Path | None = None) -> ObaConfig:
    """Read ``path``; with no path, ``<exports_dir>/oba.yaml`` when it exists, else the defaults.

    Raises ConfigError (every bad key, one line each) when the file is missing, unreadable,
    larger than 1 MiB, not safe plain YAML or holds a bad value: call it before a run to
    stop early with a readable message."""
    if path is None and exports_dir is not None and (exports_dir / "oba.yaml").is_file():
        path = exports_dir / "oba.yaml"
    if path is None:
        return ObaConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    return parse_config(_read(path), path)
