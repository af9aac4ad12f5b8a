"""Showing published figures: numbers with separators, DfE codes with their meaning.

``published.*`` holds figures as text already rounded (a number, or a code ``c``/``z``/``x``);
these helpers only add thousands separators, signs and units for display.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
from markupsafe import Markup, escape

CODES = {
    "c": "c – suppressed to protect confidentiality (a count of 1 to the threshold, or a "
    "figure from which one could be worked out)",
    "z": "z – not applicable",
    "x": "x – not available",
}
UNIT_SUFFIX = {"percent": "%", "rate_per_10k": "", "count": ""}
UNIT_LABELS = {
    "count": "Number",
    "percent": "%",
    "rate_per_10k": "Per 10,000 children aged 0–17",
}
CHANGE_SUFFIX = {"percent": " pts", "rate_per_10k": "", "count": ""}
KIND_LABELS = {
    "population_indicator": "Population indicator",
    "how_much": "How much did we do?",
    "how_well": "How well did we do it?",
    "better_off": "Is anyone better off?",
}


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return isinstance(value, float) and math.isnan(value)
    except TypeError:
        return False


def figure_text(text, unit: str = "count", *, signed: bool = False, with_unit: bool = True) -> str:
    """Plain text of a published figure: ``1,234``, ``67.3%``, ``+2.1 pts``, or a code."""
    if is_missing(text):
        return "–"
    text = str(text).strip()
    if text in CODES:
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    decimals = 0 if unit == "count" else 1
    shown = f"{number:,.{decimals}f}"
    if shown.lstrip("-").strip("0.,") == "":
        shown = shown.lstrip("-")
    if signed and number > 0 and shown.strip("0.,"):
        shown = "+" + shown
    if with_unit:
        shown += CHANGE_SUFFIX.get(unit, "") if signed else UNIT_SUFFIX.get(unit, "")
    return shown


def figure_html(text, unit: str = "count", **kwargs) -> Markup:
    """As :func:`figure_text`, with a code wrapped in ``<abbr>`` giving its meaning."""
    shown = figure_text(text, unit, **kwargs)
    if shown in CODES:
        return Markup('<abbr class="code" title="{}">{}</abbr>').format(CODES[shown], shown)
    return escape(shown)


def number_text(value, unit: str = "count") -> str:
    """A float (already rounded in published.*) for display; ``–`` when missing."""
    if is_missing(value):
        return "–"
    return figure_text(repr(float(value)), unit)


def period_text(value, frequency: str | None = None) -> str:
    if is_missing(value):
        return "–"
    day = pd.Timestamp(value)
    return day.strftime("%d %b %Y").lstrip("0")


def date_text(value) -> str:
    if is_missing(value) or value == "":
        return ""
    try:
        return pd.Timestamp(value).strftime("%d %b %Y").lstrip("0")
    except (ValueError, TypeError):
        return str(value)


def generated_text(when: dt.datetime) -> str:
    return when.strftime("%d %B %Y %H:%M").lstrip("0")
