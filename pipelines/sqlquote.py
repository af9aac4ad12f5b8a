"""The one place text is quoted into SQL: identifiers and string literals for DuckDB.

Text that comes from an export (a column header, a sheet name, a file path, a code) reaches
SQL as a bound parameter (``?``) wherever DuckDB allows one; where it cannot (an identifier, a
table function's options, a key inside ``json_object`` built for many columns at once) it goes
through these two functions and nowhere else.

DuckDB reads ``'...'`` as a standard SQL string: a quote is doubled, a backslash is an ordinary
character (only ``E'...'`` strings have escapes, and these functions never write one). An
identifier in double quotes works the same way with ``"``; an empty identifier is a parse error.

A NUL byte (``\x00``) is refused by both with a ``ValueError``: no export format holds one in a
name or value (a CSV with one is binary, XML and Excel cannot hold it), DuckDB cannot name a
column with it, and keeping it out of SQL text leaves no doubt where a string ends. A caller that
quotes export text turns the ``ValueError`` into an error naming the file and the column.
"""

from __future__ import annotations


def _refuse_nul(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"an SQL {what} must be text, not {type(text).__name__}")
    if "\x00" in text:
        raise ValueError(f"an SQL {what} cannot hold a NUL byte (\\x00): {text!r}")


def quote_identifier(name: str) -> str:
    """``name`` as a DuckDB identifier: in double quotes, any ``"`` doubled."""
    _refuse_nul(name, "identifier")
    if not name:
        raise ValueError("an SQL identifier cannot be empty")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """``text`` as a DuckDB string literal: in single quotes, any ``'`` doubled."""
    _refuse_nul(text, "string literal")
    return "'" + text.replace("'", "''") + "'"
