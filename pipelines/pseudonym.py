"""Pseudonymisation: child and client identifiers become HMAC-SHA256 pseudonyms at staging.

A pseudonym is the first 128 bits of the HMAC-SHA256 of the trimmed identifier, held in
DuckDB's UUID type (shown as 32 hex digits in 8-4-4-4-12 groups): truncating an HMAC to half
its output keeps it a sound keyed hash (RFC 2104), and a fixed-width 128-bit key joins, groups
and sorts several times faster than 64 hex characters across the millions of rows of a national
warehouse (pandas and Python read it as uuid.UUID).

The key is per installation: 32 random bytes generated on first use at the path in
``OBA_PSEUDONYM_KEY`` (default ``~/.config/turn-the-curve/pseudonym.key``), readable by its
owner only, never in the repository or the warehouse. The same identifier always gives the same
pseudonym under one key, so pseudonyms join across sources and runs; without the key they cannot
be reversed or recomputed. HMAC is computed in DuckDB (set-based) from the key's inner and outer
pads; ``pseudonymise`` is the Python reference implementation the tests compare against.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid
from pathlib import Path

import duckdb

from pipelines.settings import DEFAULT_KEY_PATH, current

KEY_BYTES = 32


class KeyError_(ValueError):
    """The key file exists but cannot be used."""


def key_path() -> Path:
    return current().pseudonym_key


def load_or_create_key(path: Path | None = None) -> bytes:
    path = path or key_path()
    if path.is_file():
        _owner_only(path, 0o600)
        if path.parent == DEFAULT_KEY_PATH.expanduser().parent:  # the project's own folder
            _owner_only(path.parent, 0o700)
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (UnicodeDecodeError, ValueError) as exc:
            raise KeyError_(
                f"{path}: the pseudonymisation key is not hex text; restore it from your backup "
                "(or delete it to generate a new one: pseudonyms then change)"
            ) from exc
        if len(key) < 16:
            raise KeyError_(f"{path}: pseudonymisation key is too short; delete it to generate a new one")
        return key
    # A folder made here is its owner's alone; a folder that exists is someone's choice (the key
    # may be kept in a shared folder such as /tmp), so only the project's own folder is tightened.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent == DEFAULT_KEY_PATH.expanduser().parent:
        _owner_only(path.parent, 0o700)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    return key


def _owner_only(path: Path, mode: int) -> None:
    """Tighten ``path`` to ``mode`` when it is looser (a key copied in with 0644, its folder 0755)."""
    try:
        if path.stat().st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass  # not ours to change (a key provided read-only by an administrator): use it as it is


def pseudonymise(value: str | None, key: bytes) -> uuid.UUID | None:
    if value is None or not str(value).strip():
        return None
    return uuid.UUID(hmac.new(key, str(value).strip().encode("utf-8"), hashlib.sha256).hexdigest()[:32])


def register_macro(con: duckdb.DuckDBPyConnection, key: bytes | None = None) -> None:
    """Define ``pseudonym(x)`` for this connection only (a temporary macro: the key never persists)."""
    key = key or load_or_create_key()
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    ipad = bytes(b ^ 0x36 for b in block).hex()
    opad = bytes(b ^ 0x5C for b in block).hex()
    # Null and blank identifiers give null: nullif makes the value null and null propagates
    # through encode, || and sha256 (a case expression around it evaluated trim twice per row).
    con.execute(
        "create or replace temp macro pseudonym(x) as left("
        f"sha256(unhex('{opad}') || unhex(sha256(unhex('{ipad}') || encode(nullif(trim(x::varchar), ''))))), 32"
        ")::uuid"
    )
