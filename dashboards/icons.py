"""The NHS "Making Data Count" icons, as NHSRplotthedots draws them: the one place they are made.

Variation (what SPC says of the latest point) and assurance (whether the process will meet its
target) are each a white disc in a coloured ring with a letter: blue for improvement or
consistently passing, orange for concern or consistently failing, grey for common cause or hit
and miss. Every icon is an inline SVG with ``role="img"``, a ``<title>`` and an ``aria-label``,
followed by its words, so colour (or the letter) is never the only carrier of meaning. The
report card, its key, the measure and programme pages and the board pack all call
:func:`variation_icon` and :func:`assurance_icon`, so they cannot drift apart.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from dashboards.theme import MDC_COLOURS, MDC_LINE

# Variation: key -> (words, colour family, letter). H/L say whether the special cause is high
# or low; improvement or concern comes from the measure's direction of good.
VARIATION = {
    "common_cause": ("Common cause variation", "neutral", ""),
    "improvement_high": ("Special cause variation: improvement (high)", "improvement", "H"),
    "improvement_low": ("Special cause variation: improvement (low)", "improvement", "L"),
    "concern_high": ("Special cause variation: concern (high)", "concern", "H"),
    "concern_low": ("Special cause variation: concern (low)", "concern", "L"),
    "insufficient_data": ("Not enough data for SPC", "none", "?"),
}
VARIATION_SHORT = {
    "common_cause": "Common cause",
    "improvement_high": "Improvement (high)",
    "improvement_low": "Improvement (low)",
    "concern_high": "Concern (high)",
    "concern_low": "Concern (low)",
    "insufficient_data": "Not enough data",
}
NO_SPC = ("No SPC (no baseline)", "none", "–")

# Assurance: key -> (words, colour family, letter).
ASSURANCE = {
    "consistently_met": ("Assurance: consistently passing the target", "improvement", "P"),
    "consistently_missed": ("Assurance: consistently failing the target", "concern", "F"),
    "hit_and_miss": ("Assurance: hit and miss the target", "neutral", "?"),
    "no_target": ("No target set", "none", "–"),
    "insufficient_data": ("Not enough data for assurance", "none", "–"),
}
ASSURANCE_SHORT = {
    "consistently_met": "Passing",
    "consistently_missed": "Failing",
    "hit_and_miss": "Hit and miss",
    "no_target": "No target",
    "insufficient_data": "Not enough data",
}
ASSURANCE_KEYS = ("consistently_met", "consistently_missed", "hit_and_miss")


def variation_key(row: dict) -> str | None:
    """The variation icon of a status or report-card row: its ``variation`` column, else
    worked out from ``spc_signal`` and ``direction_of_good`` (an improvement is high when
    higher is better; a concern is high when lower is better)."""
    value = row.get("variation")
    if isinstance(value, str) and value in VARIATION:
        return value
    signal = row.get("spc_signal")
    higher_is_better = row.get("direction_of_good") != "down"
    if signal == "improvement":
        return "improvement_high" if higher_is_better else "improvement_low"
    if signal == "concern":
        return "concern_low" if higher_is_better else "concern_high"
    if signal in ("common_cause", "insufficient_data"):
        return signal
    return None


def _svg(label: str, family: str, letter: str, size: int, mark: str) -> str:
    colours = MDC_COLOURS[family]
    ring = colours["ring"]
    dashed = ' stroke-dasharray="4 3"' if family == "none" else ""
    # the small chart inside the icon: a wavy line (variation) or a dashed target line over a
    # wavy line (assurance), grey as in NHSRplotthedots
    if mark == "assurance":
        inner = (
            f'<path d="M9 27.5H31" stroke="{ring}" stroke-width="1.4" stroke-dasharray="3 1.5"/>'
            f'<path d="M10.5 30 13.5 27 17 29.5 20.5 26.5 24 29.5 29.5 28" stroke="{MDC_LINE}" '
            'stroke-width="1.4" fill="none"/>'
        )
        letter_y = 21.5
    else:
        inner = (
            f'<path d="M10 27 14 30 18 24.5 22 29.5 26 26 30 28" stroke="{MDC_LINE}" '
            'stroke-width="1.6" fill="none"/>'
        )
        letter_y = 21.5 if letter else 0
    text = (
        f'<text x="20" y="{letter_y}" text-anchor="middle" font-family="Arial, sans-serif" '
        f'font-size="15" font-weight="bold" fill="{colours["letter"]}" aria-hidden="true">'
        f"{escape(letter)}</text>"
        if letter
        else ""
    )
    title = escape(label)
    return (
        f'<svg class="mdc-icon" width="{size}" height="{size}" viewBox="0 0 40 40" role="img" '
        f'aria-label="{title}" focusable="false"><title>{title}</title>'
        f'<circle cx="20" cy="20" r="16.5" fill="#FFFFFF" stroke="{ring}" stroke-width="3.5"{dashed}/>'
        f"{inner}{text}</svg>"
    )


def _icon(label: str, short: str, family: str, letter: str, size: int, mark: str,
          show_label: bool) -> Markup:
    words = (
        f'<span class="mdc-words">{escape(short)}</span>' if show_label else ""
    )
    return Markup(
        f'<span class="mdc" data-icon="{mark}">{_svg(label, family, letter, size, mark)}{words}</span>'
    )


def variation_icon(key: str | None, size: int = 26, show_label: bool = True) -> Markup:
    """The variation icon of ``key`` (see :data:`VARIATION`; None: no SPC) and its words."""
    label, family, letter = VARIATION.get(key, NO_SPC) if key else NO_SPC
    short = VARIATION_SHORT.get(key, "No SPC")
    return _icon(label, short, family, letter, size, "variation", show_label)


def assurance_icon(key: str | None, size: int = 26, show_label: bool = True) -> Markup:
    """The assurance icon of ``key`` (see :data:`ASSURANCE`) and its words."""
    label, family, letter = ASSURANCE.get(key or "no_target", ASSURANCE["no_target"])
    short = ASSURANCE_SHORT.get(key or "no_target", "No target")
    return _icon(label, short, family, letter, size, "assurance", show_label)


def key_entries() -> dict[str, list[dict]]:
    """The key of the icons: every variation and assurance icon with its words, made by the
    same functions as the icons in the tables."""
    return {
        "variation": [
            {"icon": variation_icon(k, show_label=False), "label": VARIATION[k][0]}
            for k in VARIATION
        ],
        "assurance": [
            {"icon": assurance_icon(k, show_label=False), "label": ASSURANCE[k][0]}
            for k in (*ASSURANCE_KEYS, "no_target")
        ],
    }
