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
UNIT_SUFFIX = {"percent": "%", "rate_per_10k": "", "count": "", "days": " days"}
UNIT_LABELS = {
    "count": "Number",
    "percent": "%",
    "rate_per_10k": "Per 10,000 children aged 0–17",
    "days": "Days (mean)",
}
CHANGE_SUFFIX = {"percent": " pts", "rate_per_10k": "", "count": "", "days": " days"}
# Decimal places a unit is shown with (published.* rounds to the same).
UNIT_DECIMALS = {"count": 0, "days": 0, "percent": 1, "rate_per_10k": 1}
# The report card's groups: the stages of the child's journey, in its order
# (pipelines.sqlmodels.JOURNEYS), with their headings.
JOURNEY_LABELS = {
    "front_door": "Front door",
    "children_in_need": "Children in need",
    "child_protection": "Child protection",
    "children_looked_after": "Children looked after",
    "care_leavers": "Care leavers",
    "programmes": "Programmes",
}
# Readable titles of breakdowns; any other is its name with spaces, capitalised.
BREAKDOWN_TITLES = {
    "age_band": "Age band",
    "sex": "Sex",
    "ethnicity": "Ethnicity",
    "category_of_need": "Category of need",
    "category_of_abuse": "Category of abuse",
    "legal_status": "Legal status",
    "placement_type": "Placement type",
    "locality": "Locality",
    "program": "Programme",
}
KIND_LABELS = {
    "population_indicator": "Population indicator",
    "how_much": "How much did we do?",
    "how_well": "How well did we do it?",
    "better_off": "Is anyone better off?",
}


def unit_decimals(unit: str | None) -> int:
    return UNIT_DECIMALS.get(unit or "count", 1)


def breakdown_title(breakdown: str) -> str:
    """``category_of_abuse`` -> ``Category of abuse``."""
    text = str(breakdown)
    return BREAKDOWN_TITLES.get(text) or text.replace("_", " ").strip().capitalize()


def code_text(value, label: str | None) -> str:
    """A breakdown value with its plain label: ``Abuse or neglect (N1)`` for a code, the label
    alone where it already names the codes (``Care order (LS C1, C2)``), else the value."""
    value = str(value)
    if not label or label == value:
        return value
    if value.lower() in label.lower():
        return label
    if " " in value or "/" in value:
        return label
    return f"{label} ({value})"


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
    decimals = unit_decimals(unit)
    shown = f"{number:,.{decimals}f}"
    if shown.lstrip("-").strip("0.,") == "":
        shown = shown.lstrip("-")
    if signed and number > 0 and shown.strip("0.,"):
        shown = "+" + shown
    if with_unit:
        suffix = CHANGE_SUFFIX.get(unit, "") if signed else UNIT_SUFFIX.get(unit, "")
        if unit == "days" and shown.lstrip("+-") == "1":
            suffix = " day"
        shown += suffix
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
