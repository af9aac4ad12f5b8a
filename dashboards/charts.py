"""Pure chart builders: DataFrame in, plotly Figure out."""

import pandas as pd
import plotly.graph_objects as go

from dashboards.theme import ROLE_COLOURS, register

UNIT_LABELS = {"count": "Children", "percent": "%", "rate_per_10k": "Per 10,000 children aged 0–17"}


def turn_the_curve(
    series: pd.DataFrame,
    *,
    title: str,
    unit: str,
    stories: list[dict] | None = None,
) -> go.Figure:
    """Actuals of one measure with numbered story markers.

    ``series`` has columns period_end and value (whole population, one row per period).
    ``stories`` are dicts with date, title, force; each becomes a numbered marker on the actual
    line at the first period on or after its date.
    """
    register()
    frame = series.sort_values("period_end")
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frame["period_end"],
            y=frame["value"],
            mode="lines+markers",
            name="Actual",
            line={"color": ROLE_COLOURS["actual"], "width": 2.5},
            marker={"size": 4},
            hovertemplate="%{x|%b %Y}: %{y:,.1f}<extra>Actual</extra>",
        )
    )
    for number, story in enumerate(stories or [], start=1):
        when = pd.Timestamp(story["date"])
        after = frame[frame["period_end"] >= when]
        if after.empty or pd.isna(after["value"].iloc[0]):
            continue
        colour = ROLE_COLOURS.get(story.get("force", "neutral"), ROLE_COLOURS["neutral"])
        fig.add_trace(
            go.Scatter(
                x=[after["period_end"].iloc[0]],
                y=[after["value"].iloc[0]],
                mode="markers+text",
                text=[str(number)],
                textposition="top center",
                marker={"size": 14, "color": colour, "symbol": "circle", "line": {"color": "white", "width": 1}},
                name=f"{number}. {story.get('title', '')}",
                showlegend=False,
                hovertemplate=f"{number}. %{{customdata}}<extra></extra>",
                customdata=[story.get("title", "")],
            )
        )
    fig.update_layout(
        template=register(),
        title={"text": title, "x": 0},
        yaxis_title=UNIT_LABELS.get(unit, unit),
        xaxis_title="Month end",
        height=420,
    )
    return fig


def sparkline(series: pd.DataFrame) -> go.Figure:
    """A small line of the last 24 periods, for the report card."""
    register()
    frame = series.sort_values("period_end").tail(24)
    fig = go.Figure(
        go.Scatter(
            x=frame["period_end"],
            y=frame["value"],
            mode="lines",
            line={"color": ROLE_COLOURS["actual"], "width": 2},
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        template=register(),
        height=60,
        width=180,
        margin={"l": 2, "r": 2, "t": 2, "b": 2},
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
    )
    return fig
