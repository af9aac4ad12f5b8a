"""YAML written by people (``oba.yaml``, ``stories/*.yml``, ``authorities.yaml``), loaded safely.

:func:`load_yaml` reads at most a size limit per file, refuses aliases (``*name``: a config or a
story never needs them, and nested aliases expand a few hundred bytes into gigabytes), never
constructs Python objects (a ``!!python/object`` or any other unknown tag is refused) and keeps an
impossible date such as ``2024-13-01`` as text, so the caller's own check names it. Every
problem raises :class:`YamlFileError`, whose message names the file, the line and what to do.

Aliases and nesting are checked on the parser's events before any node is composed, so a file
is refused before it can expand or recurse; the document is then composed and constructed with
libyaml (PyYAML's C parser, several times faster) where PyYAML was built with it.
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


MAX_DEPTH = 100  # lists and mappings inside each other; no configuration or story needs more

if yaml.__with_libyaml__:
    from yaml.cyaml import CParser as _Parser  # libyaml: reads and composes in C
else:

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer):
        """PyYAML's own parser, where it was built without libyaml."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor without unknown tags and with lenient dates."""

    where = "<yaml>"


class _Loader(_Parser, _Constructor, yaml.resolver.Resolver):
    """The parser (libyaml's, else PyYAML's own) with :class:`_Constructor`."""

    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _Constructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)


def _check_events(text: str, where: str, what: str) -> None:
    """Refuse an alias or nesting deeper than MAX_DEPTH, reading only the parser's events."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlFileError(
                f"{where}, line {event.start_mark.line + 1}: the alias *{event.anchor} is not "
                "allowed (aliases can expand a small file into gigabytes); write the value out in full"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlFileError(
                    f"{where}, line {event.start_mark.line + 1}: the {what} is nested too deeply to "
                    f"read (more than {MAX_DEPTH} lists or mappings inside each other)"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _refuse_tag(loader: _Constructor, node: yaml.Node):
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise YamlFileError(
        f"{loader.where}, line {node.start_mark.line + 1}: the tag {tag} is not allowed; "
        "only plain text, numbers, dates, lists and mappings are read (remove the tag)"
    )


def _timestamp(loader: _Constructor, node: yaml.Node):
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:  # 2024-13-01: kept as text for the caller's check to name
        return loader.construct_scalar(node)


_Constructor.add_constructor(None, _refuse_tag)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


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
        _check_events(text, where, what)
        loader = _Loader(text)
        loader.where = where
        return loader.get_single_data()
    except YamlFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if "maximum nesting depth" in problem:  # libyaml's own limit, met while it reads ahead
            raise YamlFileError(f"{where}{line}: the {what} is nested too deeply to read") from exc
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
