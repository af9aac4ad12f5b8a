"""The one plotly template and the one palette: the only place colours and fonts are set.

Colours are the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies.
Meaning is never carried by colour alone: every status, force and SPC icon also has a word
and a symbol or letter. The stylesheets are Jinja templates filled from :func:`css_variables`.
"""

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#6B6B6B",
}

INK = "#1b1b1b"
MUTED = "#555555"
RULE = "#c8c8c8"
SHADE = "#f3f3f3"
PAPER = "#ffffff"
FOCUS = "#000000"
# Darker shades of the Okabe–Ito green and vermillion for words on white (contrast > 4.5:1).
TEXT_POSITIVE = "#00684A"
TEXT_NEGATIVE = "#A34100"

ROLE_COLOURS = {
    "actual": OKABE_ITO["blue"],
    "forecast": OKABE_ITO["orange"],
    "band": "rgba(230, 159, 0, 0.20)",
    "target": OKABE_ITO["green"],
    "spc": OKABE_ITO["grey"],
    "baseline": OKABE_ITO["black"],
    "positive": OKABE_ITO["green"],
    "negative": OKABE_ITO["vermillion"],
    "neutral": OKABE_ITO["grey"],
    "suppressed": "#9a9a9a",
    "england": OKABE_ITO["black"],
    "neighbours": OKABE_ITO["vermillion"],
    "neighbours_band": "rgba(213, 94, 0, 0.12)",
    "authority": OKABE_ITO["blue"],
}

SERIES_COLOURS = [
    OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black")
]

# Turn-the-curve status (DESIGN §4): colour, a symbol and words, so colour is never alone.
STATUS = {
    "turned": {"label": "Turned the curve", "symbol": "✓", "colour": OKABE_ITO["green"]},
    "improving": {"label": "Improving", "symbol": "↗", "colour": OKABE_ITO["sky_blue"]},
    "no_change": {"label": "No change", "symbol": "=", "colour": OKABE_ITO["grey"]},
    "worsening": {"label": "Worsening", "symbol": "✗", "colour": OKABE_ITO["vermillion"]},
    "insufficient_data": {"label": "Not enough data", "symbol": "?", "colour": RULE},
    None: {"label": "No baseline", "symbol": "–", "colour": RULE},
}

# NHS "Making Data Count" icon colours as NHSRplotthedots draws them (inst/icons): a white
# disc in a ring of blue (improvement, passing), orange (concern, failing) or grey (common
# cause, hit and miss), the letter in the ring's colour. The orange and grey letters are
# darkened for contrast on white; every icon also has its words (dashboards.icons).
MDC_COLOURS = {
    "improvement": {"ring": "#0072C6", "letter": "#0072C6"},
    "concern": {"ring": "#FF6600", "letter": "#B34700"},
    "neutral": {"ring": "#BFBFBF", "letter": "#595959"},
    "none": {"ring": "#D9D9D9", "letter": "#595959"},
}
MDC_LINE = "#7F7F7F"

FORCES = {
    "positive": {"label": "Positive force", "colour": ROLE_COLOURS["positive"]},
    "negative": {"label": "Negative force", "colour": ROLE_COLOURS["negative"]},
    "neutral": {"label": "Force", "colour": ROLE_COLOURS["neutral"]},
}

FONT = "Arial, 'Liberation Sans', Helvetica, sans-serif"
TEMPLATE_NAME = "turn_the_curve"


def css_variables() -> dict[str, str]:
    """Colours and fonts for the stylesheets (site.css and board_pack.css)."""
    return {
        "font": FONT,
        "ink": INK,
        "muted": MUTED,
        "rule": RULE,
        "shade": SHADE,
        "paper": PAPER,
        "focus": FOCUS,
        "link": OKABE_ITO["blue"],
        "highlight": OKABE_ITO["yellow"],
        "positive": ROLE_COLOURS["positive"],
        "negative": ROLE_COLOURS["negative"],
        "neutral": ROLE_COLOURS["neutral"],
        "text_positive": TEXT_POSITIVE,
        "text_negative": TEXT_NEGATIVE,
        **{f"status_{k}": v["colour"] for k, v in STATUS.items() if k},
        "status_none": STATUS[None]["colour"],
    }


def status_style(status) -> dict:
    return STATUS.get(status if isinstance(status, str) else None, STATUS[None])


def force_style(force) -> dict:
    return FORCES.get(force if isinstance(force, str) else "neutral", FORCES["neutral"])


def template_layout() -> dict:
    """The template's layout, as plain figure JSON (a fresh copy each call)."""
    return {
        "font": {"family": FONT, "size": 13, "color": INK},
        "colorway": list(SERIES_COLOURS),
        "paper_bgcolor": PAPER,
        "plot_bgcolor": PAPER,
        "xaxis": {"showgrid": False, "linecolor": "#444", "ticks": "outside"},
        "yaxis": {"gridcolor": "#e5e5e5", "zeroline": False, "linecolor": "#444"},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "hoverlabel": {"font": {"family": FONT}},
    }


def template_json() -> dict:
    """The template as it appears in a figure's JSON (``layout.template``)."""
    return {"layout": template_layout()}


def register() -> str:
    """Register the template with plotly (idempotent) and return its name."""
    import plotly.graph_objects as go
    import plotly.io as pio

    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = go.layout.Template(layout=go.Layout(**template_layout()))
    return TEMPLATE_NAME
