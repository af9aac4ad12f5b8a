"""Stories behind the baseline: ``stories/*.yml`` (one per measure) or ``stories.csv``.

The YAML format is fixed (DOMAIN.md §2): measure, optional baseline_end and target, dated story
items with a force, partners, what works and an action plan. A ``stories.csv`` with columns
measure, date, title, text, force is also accepted.

Files are read safely (:mod:`pipelines.safeyaml`: no aliases, no tags, a size limit per file);
a story whose measure is not in the catalogue is kept but reported (``known_measures``).
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.safeyaml import YamlFileError, load_yaml, read_limited, yaml_date

YAML_MAX_BYTES = 1024 * 1024
CSV_MAX_BYTES = 10 * 1024 * 1024


class StoryError(ValueError):
    """A story file is malformed; the message names the file and the entry."""


FORCES = {"positive", "negative", "neutral"}


@dataclass
class Story:
    measure_id: str
    source_file: str
    baseline_end: dt.date | None = None
    target: float | None = None
    story: list[dict] = field(default_factory=list)
    partners: list[str] = field(default_factory=list)
    what_works: list[str] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    data_development: list[str] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)  # every file that added to it

    def __post_init__(self):
        if not self.source_files:
            self.source_files = [self.source_file]


def _date(value, where: str) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        return yaml_date(value)
    except ValueError as exc:
        raise StoryError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from exc


def _text_list(value, where: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise StoryError(f"{where}: expected a list")
    return [str(v) for v in value]


def _story_item(item, where: str) -> dict:
    if not isinstance(item, dict):
        raise StoryError(f"{where}: each story item is a mapping with date, title, force, text")
    force = str(item.get("force") or "neutral").strip().lower()
    if force not in FORCES:
        raise StoryError(f"{where}: force must be one of {sorted(FORCES)}, got {force!r}")
    date = _date(item.get("date"), f"{where} date")
    if date is None:
        raise StoryError(f"{where}: a story item needs a date")
    return {
        "date": date.isoformat(),
        "title": str(item.get("title") or "").strip(),
        "force": force,
        "text": str(item.get("text") or "").strip(),
    }


def parse_story_yaml(path: Path, name: str | None = None) -> Story:
    where = name or str(path)
    try:
        doc = load_yaml(path, what="story file", max_bytes=YAML_MAX_BYTES, where=where)
    except YamlFileError as exc:
        raise StoryError(str(exc)) from exc
    if not isinstance(doc, dict) or not doc.get("measure"):
        raise StoryError(f"{where}: expected a mapping with a 'measure:' key")
    target = doc.get("target")
    if target is not None:
        try:
            target = float(target)
        except (TypeError, ValueError) as exc:
            raise StoryError(f"{where}: target must be a number, got {target!r}") from exc
    items = doc.get("story") or []
    if not isinstance(items, list):
        raise StoryError(f"{where}: story must be a list of dated items")
    actions = []
    for i, action in enumerate(doc.get("actions") or [], start=1):
        if not isinstance(action, dict) or not action.get("action"):
            raise StoryError(f"{where} actions[{i}]: each action needs 'action:' text")
        due = _date(action.get("due"), f"{where} actions[{i}] due")
        actions.append(
            {
                "action": str(action["action"]),
                "owner": str(action.get("owner") or ""),
                "due": due.isoformat() if due else "",
                "status": str(action.get("status") or ""),
            }
        )
    return Story(
        measure_id=str(doc["measure"]).strip(),
        source_file=where,
        baseline_end=_date(doc.get("baseline_end"), f"{where} baseline_end"),
        target=target,
        story=sorted(
            (_story_item(item, f"{where} story[{i}]") for i, item in enumerate(items, start=1)),
            key=lambda s: s["date"],
        ),
        partners=_text_list(doc.get("partners"), f"{where} partners"),
        what_works=_text_list(doc.get("what_works"), f"{where} what_works"),
        actions=actions,
        data_development=_text_list(doc.get("data_development"), f"{where} data_development"),
    )


def parse_story_csv(path: Path, name: str | None = None) -> list[Story]:
    where = name or str(path)
    stories: dict[str, Story] = {}
    try:
        data = read_limited(path, what="stories file", max_bytes=CSV_MAX_BYTES, where=where)
        text = data.decode("utf-8-sig")
    except YamlFileError as exc:
        raise StoryError(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise StoryError(f"{where}: not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = {f.strip().lower() for f in reader.fieldnames or []}
        missing = {"measure", "date", "title", "text"} - fields
        if missing:
            raise StoryError(f"{where}: missing column(s) {', '.join(sorted(missing))}")
        for row in reader:
            line = reader.line_num
            row = {k.strip().lower(): v for k, v in row.items() if k}
            measure = (row.get("measure") or "").strip()
            if not measure:
                raise StoryError(f"{where} line {line}: measure is blank")
            story = stories.setdefault(measure, Story(measure_id=measure, source_file=where))
            story.story.append(_story_item(row, f"{where} line {line}"))
    except csv.Error as exc:
        raise StoryError(f"{where} line {reader.line_num}: not a readable CSV row ({exc})") from exc
    for story in stories.values():
        story.story.sort(key=lambda s: s["date"])
    return list(stories.values())


def story_files(directory: Path | None, exports: Path | None = None) -> list[Path]:
    """Story files in ``directory`` plus a ``stories.csv`` at the top of the exports folder."""
    paths: list[Path] = []
    if directory is not None and directory.is_dir():
        paths += sorted(
            p
            for p in [*directory.glob("*.yml"), *directory.glob("*.yaml"), *directory.glob("*.csv")]
            if not p.name.startswith((".", "~$")) and p.is_file()  # editors' and macOS's side files
        )
    if exports is not None and (exports / "stories.csv").is_file():
        paths.append(exports / "stories.csv")
    return paths


def load_stories(
    paths: list[Path],
    root: Path | None = None,
    *,
    known_measures: Iterable[str] | None = None,
    warn: Callable[[str], object] | None = None,
) -> list[Story]:
    """Stories from YAML and CSV files, one per measure: later files add items to earlier ones.

    With ``known_measures`` (the catalogue's ids), ``warn`` is called once for each story whose
    measure is not among them (no page shows it), naming its files and the measure id."""
    merged: dict[str, Story] = {}
    for path in paths:
        name = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        parsed = (
            parse_story_csv(path, name) if path.suffix == ".csv" else [parse_story_yaml(path, name)]
        )
        for story in parsed:
            if story.measure_id in merged:
                existing = merged[story.measure_id]
                existing.story = sorted(existing.story + story.story, key=lambda s: s["date"])
                for attr in ("partners", "what_works", "actions", "data_development"):
                    getattr(existing, attr).extend(getattr(story, attr))
                existing.baseline_end = existing.baseline_end or story.baseline_end
                existing.target = existing.target if existing.target is not None else story.target
                existing.source_files += [f for f in story.source_files if f not in existing.source_files]
            else:
                merged[story.measure_id] = story
    stories = list(merged.values())
    if known_measures is not None and warn is not None:
        for message in unknown_measure_warnings(stories, known_measures):
            warn(message)
    return stories


def unknown_measure_warnings(stories: Iterable[Story], known_measures: Iterable[str]) -> list[str]:
    """One message per story whose measure id is not a known measure: such a story is loaded
    but no page shows it, so the message names its file(s), the id and the nearest known ids."""
    known = sorted(set(known_measures))
    messages = []
    for story in stories:
        if story.measure_id in known:
            continue
        close = difflib.get_close_matches(story.measure_id, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        messages.append(
            f"{', '.join(story.source_files)}: the story's measure {story.measure_id!r} is not a "
            f"known measure, so no page shows it; {hint}known measures: {', '.join(known)}"
        )
    return messages
