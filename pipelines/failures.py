"""What went wrong, in words: the real cause of a failed step or command and what to do about it.

Dagster wraps an exception raised inside an asset in ``DagsterExecutionStepExecutionError``; the
cause the user can act on (a config key, a file, a full disk) is at the end of that chain. These
functions find it and add the remedy for the common causes.
"""

from __future__ import annotations

import errno
import os
import re

_ERRNO = re.compile(r"\[Errno (\d+)\]")
_CLASS_PREFIX = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Failure|Interrupt|Exit)): ")

REMEDIES = {
    errno.ENOSPC: "free space on that disk (or point --out at another disk) and run again",
    errno.EDQUOT: "free space within your disk quota and run again",
    errno.EACCES: "make that path readable/writable for this user, or choose another folder",
    errno.EPERM: "make that path writable for this user, or choose another folder",
    errno.EROFS: "that file system is read-only: choose a writable folder",
    errno.ENOENT: "check the path exists",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and run again",
}
_BY_CLASS = {
    "ConfigError": "fix oba.yaml and run again",
    "YamlError": "fix that YAML file and run again",
    "AuthoritiesError": "fix authorities.yaml and run again",
    "ExportError": "fix or re-export that file and run again",
    "OutFolderError": "",
    "MemoryError": "the run needs more memory: lower OBA_DUCKDB_MEMORY_LIMIT or run on a larger machine",
}
_WRAPPERS = ("DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError", "DagsterExecutionInterruptedError")


def remedy(cls_name: str, message: str) -> str:
    """What to do about an error of class ``cls_name`` with ``message`` ('' when unknown).

    The errno is read from ``[Errno N]`` or, for libraries that give only the system's text
    (DuckDB: "IO Error: ... No space left on device"), from that text."""
    found = _ERRNO.search(message)
    if found and int(found.group(1)) in REMEDIES:
        return REMEDIES[int(found.group(1))]
    for code, text in REMEDIES.items():
        if os.strerror(code) in message:
            return text
    return _BY_CLASS.get(cls_name, "")


def clean_message(message: str) -> str:
    """The first meaningful lines of an error message, without the exception class prefix."""
    text = (message or "").strip()
    text = _CLASS_PREFIX.sub("", text, count=1)
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:12]) if lines else "unknown error"


def root_cause(error) -> tuple[str, str]:
    """The innermost (class name, message) of a Dagster ``SerializableErrorInfo`` chain."""
    info = error
    while info is not None and getattr(info, "cls_name", None) in _WRAPPERS and getattr(info, "cause", None):
        info = info.cause
    if info is None:
        return "", "unknown error"
    return info.cls_name or "", clean_message(info.message)


def describe(cls_name: str, message: str) -> str:
    """``message`` and, when known, what to do: one readable paragraph (an unexpected error
    keeps its class name, which says more than its message alone)."""
    hint = remedy(cls_name, message)
    if cls_name and not hint and cls_name not in _BY_CLASS:
        message = f"{cls_name}: {message}"
    return f"{message} — {hint}" if hint else message


def describe_exception(exc: BaseException) -> str:
    """An exception raised outside Dagster, described like a failed step."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return describe(type(exc).__name__, f"[Errno {exc.errno}] {exc.strerror}{where}")
    return describe(type(exc).__name__, clean_message(str(exc)))
