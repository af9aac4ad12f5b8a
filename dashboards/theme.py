"""The one plotly template: the only place colours and fonts are set.

Colours are the Okabe–Ito palette, distinguishable with the common colour-vision deficiencies.
"""

import plotly.graph_objects as go
import plotly.io as pio

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

ROLE_COLOURS = {
    "actual": OKABE_ITO["blue"],
    "forecast": OKABE_ITO["orange"],
    "band": "rgba(230, 159, 0, 0.18)",
    "target": OKABE_ITO["green"],
    "spc": OKABE_ITO["grey"],
    "baseline": OKABE_ITO["black"],
    "positive": OKABE_ITO["green"],
    "negative": OKABE_ITO["vermillion"],
    "neutral": OKABE_ITO["grey"],
}

FONT = "Arial, Helvetica, sans-serif"
TEMPLATE_NAME = "turn_the_curve"


def register() -> str:
    """Register the template (idempotent) and return its name."""
    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = go.layout.Template(
            layout=go.Layout(
                font={"family": FONT, "size": 13, "color": "#1b1b1b"},
                colorway=[
                    OKABE_ITO[c]
                    for c in ("blue", "orange", "green", "vermillion", "purple", "sky_blue", "black")
                ],
                paper_bgcolor="white",
                plot_bgcolor="white",
                xaxis={"showgrid": False, "linecolor": "#444", "ticks": "outside"},
                yaxis={"gridcolor": "#e5e5e5", "zeroline": False, "linecolor": "#444"},
                legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                margin={"l": 60, "r": 20, "t": 50, "b": 50},
                hoverlabel={"font": {"family": FONT}},
            )
        )
    return TEMPLATE_NAME
