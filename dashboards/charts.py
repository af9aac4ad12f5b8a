"""Pure chart builders: DataFrame in, plotly Figure out.

No chart carries people's text (story titles, action text): story markers carry only their
number, and the story panel beside the chart holds the words, escaped. Figures are shipped to
the page as JSON data (:func:`to_payload`), drawn by one local script.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from dashboards.formatting import UNIT_LABELS
from dashboards.theme import ROLE_COLOURS, SERIES_COLOURS, force_style, register

SITE_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}
STATIC_CONFIG = {"staticPlot": True, "displayModeBar": False, "responsive": False}

TRACE_NAMES = {
    "actual": "Actual",
    "forecast": "Baseline forecast",
    "band": "80% forecast interval",
    "target": "Target",
    "spc_mean": "SPC centre line",
    "spc_limits": "SPC process limits",
}


def _hover(unit: str) -> str:
    return "%{y:,.0f}" if unit == "count" else "%{y:,.1f}"


def _dates(frame: pd.DataFrame) -> list[str]:
    return [pd.Timestamp(d).strftime("%Y-%m-%d") for d in frame["period_end"]]


def _values(column: pd.Series) -> list:
    return [None if pd.isna(v) else float(v) for v in column]


def story_positions(status: pd.DataFrame, stories: list[dict]) -> list[dict]:
    """Where each numbered story marker sits: the first period on or after the story's date,
    on its actual value (else the forecast; else, when both are hidden or missing, along the
    foot of the chart: ``y`` None). Stories after the last period sit on the last."""
    frame = status.sort_values("period_end").reset_index(drop=True)
    positions = []
    if frame.empty:
        return positions
    for number, story in enumerate(stories or [], start=1):
        try:
            when = pd.Timestamp(story.get("date"))
        except (TypeError, ValueError):
            continue
        if pd.isna(when):
            continue
        after = frame[frame["period_end"] >= when]
        row = after.iloc[0] if len(after) else frame.iloc[-1]
        y = None
        for column in ("value", "forecast"):
            if column in row and not pd.isna(row[column]):
                y = float(row[column])
                break
        positions.append({
            "number": number,
            "x": pd.Timestamp(row["period_end"]),
            "y": y,
            "force": story.get("force", "neutral"),
        })
    return positions


def turn_the_curve(
    status: pd.DataFrame,
    *,
    title: str,
    unit: str,
    stories: list[dict] | None = None,
    height: int = 440,
    width: int | None = None,
    show_spc: bool = False,
    spc: bool = True,
    x_title: str | None = None,
) -> go.Figure:
    """The turn-the-curve chart of one measure (whole population).

    ``status``: pub_measure_status rows of the measure (period_end, value, forecast,
    forecast_lower, forecast_upper, baseline_end, spc_mean, spc_lower, spc_upper, target);
    future periods have no value. Traces, each tagged with ``meta``: band, forecast, actual,
    target, spc (hidden until toggled unless ``show_spc``), story (numbered markers whose
    ``customdata`` is the story panel anchor ``story-N``). The baseline end is a vertical line.
    """
    template = register()
    frame = status.sort_values("period_end").reset_index(drop=True)
    for column in ("value", "forecast", "forecast_lower", "forecast_upper", "spc_mean",
                   "spc_lower", "spc_upper", "target"):
        if column not in frame:
            frame[column] = float("nan")
    fig = go.Figure()
    hover = _hover(unit)
    band = frame.dropna(subset=["forecast_lower", "forecast_upper"])
    if len(band):
        xs = _dates(band)
        fig.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=_values(band["forecast_upper"]) + _values(band["forecast_lower"])[::-1],
                fill="toself",
                fillcolor=ROLE_COLOURS["band"],
                line={"width": 0},
                mode="lines",
                name=TRACE_NAMES["band"],
                meta="band",
                hoverinfo="skip",
            )
        )
    forecast = frame.dropna(subset=["forecast"])
    if len(forecast):
        fig.add_trace(
            go.Scatter(
                x=_dates(forecast),
                y=_values(forecast["forecast"]),
                mode="lines",
                name=TRACE_NAMES["forecast"],
                meta="forecast",
                line={"color": ROLE_COLOURS["forecast"], "width": 2, "dash": "dash"},
                hovertemplate=f"%{{x|%b %Y}}: {hover}<extra>Forecast</extra>",
            )
        )
    actual = frame[frame["period_end"] <= frame.loc[frame["value"].notna(), "period_end"].max()] \
        if frame["value"].notna().any() else frame.iloc[0:0]
    fig.add_trace(
        go.Scatter(
            x=_dates(actual),
            y=_values(actual["value"]),
            mode="lines+markers",
            name=TRACE_NAMES["actual"],
            meta="actual",
            connectgaps=False,
            line={"color": ROLE_COLOURS["actual"], "width": 2.5},
            marker={"size": 4},
            hovertemplate=f"%{{x|%b %Y}}: {hover}<extra>Actual</extra>",
        )
    )
    target = frame["target"].dropna()
    if len(target):
        fig.add_trace(
            go.Scatter(
                x=[_dates(frame)[0], _dates(frame)[-1]],
                y=[float(target.iloc[-1])] * 2,
                mode="lines",
                name=TRACE_NAMES["target"],
                meta="target",
                line={"color": ROLE_COLOURS["target"], "width": 2, "dash": "dot"},
                hovertemplate=f"Target: {hover}<extra></extra>",
            )
        )
    spc_rows = frame.dropna(subset=["spc_mean"]) if spc else frame.iloc[0:0]
    if len(spc_rows):
        observed = frame[frame["value"].notna()]
        xs = (
            [_dates(observed)[0], _dates(observed)[-1]] if len(observed)
            else _dates(spc_rows)[:1] * 2
        )
        visible = True if show_spc else "legendonly"
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[float(spc_rows["spc_mean"].iloc[0])] * 2,
                mode="lines",
                name=TRACE_NAMES["spc_mean"],
                meta="spc",
                visible=visible,
                line={"color": ROLE_COLOURS["spc"], "width": 1.5},
                hovertemplate=f"Centre line: {hover}<extra></extra>",
            )
        )
        limits_x = xs + [None] + xs
        limits_y = [float(spc_rows["spc_upper"].iloc[0])] * 2 + [None] + [
            float(spc_rows["spc_lower"].iloc[0])
        ] * 2
        fig.add_trace(
            go.Scatter(
                x=limits_x,
                y=limits_y,
                mode="lines",
                name=TRACE_NAMES["spc_limits"],
                meta="spc",
                visible=visible,
                connectgaps=False,
                line={"color": ROLE_COLOURS["spc"], "width": 1.2, "dash": "dashdot"},
                hovertemplate=f"Process limit: {hover}<extra></extra>",
            )
        )
    markers = story_positions(frame, stories or [])
    for marker in markers:
        colour = force_style(marker["force"])["colour"]
        fig.add_trace(
            go.Scatter(
                x=[marker["x"].strftime("%Y-%m-%d")],
                y=[marker["y"] if marker["y"] is not None else 0.04],
                yaxis="y" if marker["y"] is not None else "y2",
                mode="markers+text",
                text=[str(marker["number"])],
                textposition="top center",
                textfont={"size": 13, "color": colour},
                marker={"size": 15, "color": colour, "symbol": "circle",
                        "line": {"color": "white", "width": 1.5}},
                name=f"Story {marker['number']}",
                meta="story",
                showlegend=False,
                customdata=[f"story-{marker['number']}"],
                hovertemplate=f"Story {marker['number']}: see the story behind the baseline"
                "<extra></extra>",
            )
        )
    baseline = frame["baseline_end"].dropna() if "baseline_end" in frame else pd.Series([])
    shapes, annotations = [], []
    observed = frame.loc[frame["value"].notna(), "period_end"]
    if len(baseline) and (
        # Only a baseline the data reach (an insufficient history can put it years earlier).
        observed.empty or pd.Timestamp(baseline.iloc[0]) < pd.Timestamp(frame["period_end"].min())
    ):
        baseline = baseline.iloc[0:0]
    if len(baseline):
        when = pd.Timestamp(baseline.iloc[0]).strftime("%Y-%m-%d")
        locked = "baseline_locked" in frame and bool(frame["baseline_locked"].fillna(False).any())
        shapes.append({
            "type": "line", "xref": "x", "yref": "paper", "x0": when, "x1": when,
            "y0": 0, "y1": 1, "line": {"color": ROLE_COLOURS["baseline"], "width": 1.5,
                                        "dash": "dot"},
        })
        annotations.append({
            "x": when, "xref": "x", "y": 1, "yref": "paper",
            "text": "Baseline end (locked forecast)" if locked else "Baseline end",
            "showarrow": False, "xanchor": "right", "yanchor": "top",
            "font": {"size": 11, "color": ROLE_COLOURS["baseline"]},
        })
    fig.update_layout(
        template=template,
        title={"text": title, "x": 0, "font": {"size": 15}},
        yaxis_title=UNIT_LABELS.get(unit, unit),
        yaxis_rangemode="nonnegative",
        xaxis_title=x_title,
        height=height,
        width=width,
        shapes=shapes,
        annotations=annotations,
        # The legend sits a fixed 34 px below the plot area, clear of the tick labels.
        legend={"orientation": "h", "yanchor": "top", "y": -34 / max(height - 44 - 80, 100),
                "x": 0},
        margin={"l": 64, "r": 20, "t": 44, "b": 80},
        hovermode="closest",
    )
    if any(m["y"] is None for m in markers):
        # Stories on hidden (suppressed) figures sit along the foot of the chart.
        fig.update_layout(
            yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
        )
    return fig


def sparkline(series: pd.DataFrame, *, periods: int = 24) -> go.Figure:
    """A small line of the last ``periods`` periods (period_end, value_num), for report cards."""
    template = register()
    frame = series.sort_values("period_end").tail(periods)
    fig = go.Figure(
        go.Scatter(
            x=_dates(frame),
            y=_values(frame["value_num"]),
            mode="lines",
            connectgaps=False,
            line={"color": ROLE_COLOURS["actual"], "width": 2},
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        template=template,
        height=44,
        width=150,
        margin={"l": 2, "r": 2, "t": 4, "b": 4},
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
    )
    return fig


def breakdown_bars(frame: pd.DataFrame, *, title: str, unit: str, width: int | None = None) -> go.Figure:
    """Latest values by breakdown value (breakdown_value, value_num, value text).

    Suppressed or missing cells have no bar and show their code (c, x, z) at the axis."""
    template = register()
    frame = frame.reset_index(drop=True)
    labels = [str(v) for v in frame["breakdown_value"]]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=_values(frame["value_num"]),
            orientation="h",
            marker={"color": ROLE_COLOURS["actual"]},
            text=[str(t) for t in frame["value"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{y}}: {_hover(unit).replace('y', 'x')}<extra></extra>",
            name="Latest",
        )
    )
    annotations = [
        {"x": 0, "y": label, "xref": "x", "yref": "y", "text": str(code), "showarrow": False,
         "xanchor": "left", "font": {"color": ROLE_COLOURS["suppressed"]}}
        for label, code, value in zip(labels, frame["value"], frame["value_num"], strict=True)
        if pd.isna(value)
    ]
    fig.update_layout(
        template=template,
        title={"text": title, "x": 0, "font": {"size": 14}},
        xaxis_title=UNIT_LABELS.get(unit, unit),
        yaxis={"autorange": "reversed", "type": "category"},
        height=90 + 34 * max(len(frame), 1),
        width=width,
        margin={"l": min(280, 24 + 7 * max((len(x) for x in labels), default=4)), "r": 50,
                "t": 40, "b": 50},
        annotations=annotations,
        showlegend=False,
    )
    return fig


def lines_by_group(
    frame: pd.DataFrame,
    *,
    title: str,
    unit: str,
    group: str = "breakdown_value",
    height: int = 380,
    width: int | None = None,
) -> go.Figure:
    """One line per group (e.g. programme): period_end, value_num, ``group``."""
    template = register()
    fig = go.Figure()
    for i, (name, rows) in enumerate(frame.sort_values("period_end").groupby(group, sort=True)):
        fig.add_trace(
            go.Scatter(
                x=_dates(rows),
                y=_values(rows["value_num"]),
                mode="lines+markers",
                marker={"size": 3},
                connectgaps=False,
                name=str(name),
                meta="actual",
                line={"color": SERIES_COLOURS[i % len(SERIES_COLOURS)], "width": 2},
                hovertemplate=f"%{{x|%b %Y}}: {_hover(unit)}<extra>%{{fullData.name}}</extra>",
            )
        )
    fig.update_layout(
        template=template,
        title={"text": title, "x": 0, "font": {"size": 15}},
        yaxis_title=UNIT_LABELS.get(unit, unit),
        height=height,
        width=width,
        legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0},
        margin={"l": 64, "r": 20, "t": 44, "b": 90},
    )
    return fig


def trend(series: pd.DataFrame, *, title: str, unit: str, height: int = 230) -> go.Figure:
    """A compact trend of one series (period_end, value_num), e.g. a programme quadrant."""
    template = register()
    frame = series.sort_values("period_end")
    fig = go.Figure(
        go.Scatter(
            x=_dates(frame),
            y=_values(frame["value_num"]),
            mode="lines+markers",
            marker={"size": 3},
            connectgaps=False,
            name=TRACE_NAMES["actual"],
            meta="actual",
            line={"color": ROLE_COLOURS["actual"], "width": 2},
            hovertemplate=f"%{{x|%b %Y}}: {_hover(unit)}<extra></extra>",
        )
    )
    fig.update_layout(
        template=template,
        title={"text": title, "x": 0, "font": {"size": 13}},
        yaxis_title=UNIT_LABELS.get(unit, unit),
        height=height,
        margin={"l": 56, "r": 12, "t": 36, "b": 36},
        showlegend=False,
    )
    return fig


def to_payload(fig: go.Figure, config: dict | None = None) -> str:
    """The figure as JSON data for a ``<script type="application/json">`` element.

    ``<``, ``>``, ``&`` and line separators are escaped as \\uXXXX, so the text can never
    close the script element or be read as markup.
    """
    body = json.loads(pio.to_json(fig, validate=False))
    payload = {"data": body.get("data", []), "layout": body.get("layout", {}),
               "config": config or SITE_CONFIG}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text
