"""YAML written by people (``oba.yaml``, ``stories/*.yml``, ``authorities.yaml``), loaded safely.

:func:`load_yaml` reads at most a size limit per file, refuses aliases (``*name``: a config or a
story never needs them, and nested aliases expand a few hundred bytes into gigabytes), never
constructs Python objects (a ``!!python/object`` or any other unknown tag is refused) and keeps an
impossible date such as ``2024-13-01`` as text, so the caller's own check names it. Every
problem raises :class:`YamlFileError`, whose message names the file, the line and what to do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024


class YamlFileError(ValueError):
    """A YAML file cannot be read safely; the message names the file, the line and the cause."""


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit:,} bytes"


def read_limited(
    path: Path, *, what: str = "file", max_bytes: int = MAX_BYTES, where: str | None = None
) -> bytes:
    """The bytes of ``path``, refusing a file larger than ``max_bytes`` (only that much is read)."""
    where = where or str(path)
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise YamlFileError(f"{where}: cannot read the {what}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise YamlFileError(
            f"{where}: the {what} is larger than {_size(max_bytes)}, the limit for such a file; "
            "check that it is the right file"
        )
    return data


class _Loader(yaml.SafeLoader):
    """SafeLoader without aliases, without unknown tags and with lenient dates."""

    where = "<yaml>"

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlFileError(
                f"{self.where}, line {event.start_mark.line + 1}: the alias *{event.anchor} is not "
                "allowed (aliases can expand a small file into gigabytes); write the value out in full"
            )
        return super().compose_node(parent, index)


def _refuse_tag(loader: _Loader, node: yaml.Node):
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise YamlFileError(
        f"{loader.where}, line {node.start_mark.line + 1}: the tag {tag} is not allowed; "
        "only plain text, numbers, dates, lists and mappings are read (remove the tag)"
    )


def _timestamp(loader: _Loader, node: yaml.Node):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:  # 2024-13-01: kept as text for the caller's check to name
        return loader.construct_scalar(node)


_Loader.add_constructor(None, _refuse_tag)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def load_yaml(
    path: Path, *, what: str = "YAML file", max_bytes: int = MAX_BYTES, where: str | None = None
) -> Any:
    """The document in ``path`` (None when empty), read safely; ``where`` names it in messages
    (default: the path) and ``what`` says what it is ("configuration", "story file")."""
    where = where or str(path)
    data = read_limited(path, what=what, max_bytes=max_bytes, where=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise YamlFileError(
            f"{where}: the {what} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    loader = None
    try:
        loader = _Loader(text)
        loader.where = where
        return loader.get_single_data()
    except YamlFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise YamlFileError(f"{where}{line}: the {what} is not valid YAML: {problem}") from exc
    except yaml.reader.ReaderError as exc:
        raise YamlFileError(
            f"{where}: the {what} holds a control character (#x{exc.character:04x}) at character "
            f"{exc.position}; remove it"
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlFileError(f"{where}: the {what} is not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise YamlFileError(f"{where}: the {what} is nested too deeply to read") from exc
    except (ValueError, OverflowError) as exc:  # e.g. an integer of thousands of digits
        raise YamlFileError(
            f"{where}: the {what} holds a value that cannot be read: {exc}"
        ) from exc
    finally:
        if loader is not None:
            loader.dispose()


def yaml_date(value) -> dt.date:
    """A date given in YAML or a CSV cell: a date, a datetime (its day) or text YYYY-MM-DD.
    Anything else raises ValueError."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())
