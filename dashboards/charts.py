"""Pure chart builders: DataFrame in, plotly figure JSON out.

No chart carries people's text (story titles, action text): story markers carry only their
number, and the story panel beside the chart holds the words, escaped. Figures are shipped to
the page as JSON data (:func:`to_payload`), drawn by one local script.

A figure is the plain dict plotly.js draws (``{"data": [...], "layout": {...}}``), written
directly in the form plotly's own ``Figure(...).to_json()`` gives (the template expanded into
``layout.template``, axis titles as ``{"text": ...}``); building plotly graph objects and
validating every property cost more than all the rest of the site.
"""

from __future__ import annotations

import json
import textwrap

import pandas as pd

from dashboards.formatting import UNIT_LABELS, UNIT_SUFFIX, figure_text, unit_decimals
from dashboards.theme import ROLE_COLOURS, SERIES_COLOURS, force_style, template_json

Figure = dict  # {"data": [trace, ...], "layout": {...}}

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
    "england": "England (DfE)",
    "neighbours_mean": "Statistical neighbours' mean (DfE)",
    "neighbours_band": "Statistical neighbours' range (DfE)",
}


def _hover(unit: str, axis: str = "y") -> str:
    """A hover figure as the unit is shown: whole counts and days, else 1 decimal place."""
    text = f"%{{{axis}:,.{unit_decimals(unit)}f}}"
    return text + (UNIT_SUFFIX.get(unit, "") if unit in ("percent", "days") else "")


def _dates(frame: pd.DataFrame) -> list[str]:
    dates = frame["period_end"]
    if pd.api.types.is_datetime64_any_dtype(dates.dtype) and not dates.isna().any():
        return dates.dt.strftime("%Y-%m-%d").tolist()  # the same text, formatted at once
    return [pd.Timestamp(d).strftime("%Y-%m-%d") for d in dates]


def _values(column: pd.Series) -> list:
    return [None if pd.isna(v) else float(v) for v in column]


def _trace(kind: str, **props) -> dict:
    return {**{k: v for k, v in props.items() if v is not None}, "type": kind}


def _layout(**props) -> dict:
    """A layout with the one template; properties that are None, and empty lists of shapes or
    annotations, are left out (as plotly leaves them out)."""
    return {
        "template": template_json(),
        **{k: v for k, v in props.items() if v is not None and not (isinstance(v, list) and not v)},
    }


def _axis_title(text: str | None) -> dict:
    return {"text": text} if text is not None else {}


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


# The columns of a status frame the turn-the-curve chart (and its story markers) read.
_CURVE_COLUMNS = frozenset({
    "period_end", "value", "forecast", "forecast_lower", "forecast_upper", "baseline_end",
    "baseline_locked", "spc_mean", "spc_lower", "spc_upper", "spc_method", "target",
})


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
    comparators: pd.DataFrame | None = None,
) -> Figure:
    """The turn-the-curve chart of one measure (whole population).

    ``comparators`` (pub_comparator_rank rows: period_end, england, neighbours_mean,
    neighbours_min, neighbours_max) adds DfE's published figures for each 31 March: England and
    the neighbours' mean as annual markers, the neighbours' range as a band (traces tagged
    ``england``, ``neighbours_mean``, ``neighbours_band``; each toggles from the legend).

    ``status``: pub_measure_status rows of the measure (period_end, value, forecast,
    forecast_lower, forecast_upper, baseline_end, spc_mean, spc_lower, spc_upper, target);
    future periods have no value. Traces, each tagged with ``meta``: band, forecast, actual,
    target, spc (hidden until toggled unless ``show_spc``), story (numbered markers whose
    ``customdata`` is the story panel anchor ``story-N``). The baseline end is a vertical line.
    """
    # Only the columns drawn from: every selection below then copies a dozen columns, not all.
    frame = status[[c for c in status.columns if c in _CURVE_COLUMNS]]
    frame = frame.sort_values("period_end").reset_index(drop=True)
    for column in ("value", "forecast", "forecast_lower", "forecast_upper", "spc_mean",
                   "spc_lower", "spc_upper", "target"):
        if column not in frame:
            frame[column] = float("nan")
    data: list[dict] = []
    hover = _hover(unit)
    band = frame.dropna(subset=["forecast_lower", "forecast_upper"])
    if len(band):
        xs = _dates(band)
        data.append(
            _trace("scatter",
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
        data.append(
            _trace("scatter",
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
    data.append(
        _trace("scatter",
            x=_dates(actual),
            y=_values(actual["value"]),
            mode="lines+markers",
            name=TRACE_NAMES["actual"],
            meta="actual",
            connectgaps=False,
            line={"color": ROLE_COLOURS["actual"], "width": 2.5},
            # a short series (an annual measure's few years) in markers big enough to see a
            # point standing alone between gaps
            marker={"size": 8 if actual["value"].notna().sum() <= 24 else 4},
            hovertemplate=f"%{{x|%b %Y}}: {hover}<extra>Actual</extra>",
        )
    )
    target = frame["target"].dropna()
    if len(target):
        data.append(
            _trace("scatter",
                x=[_dates(frame)[0], _dates(frame)[-1]],
                y=[float(target.iloc[-1])] * 2,
                mode="lines",
                name=TRACE_NAMES["target"],
                meta="target",
                line={"color": ROLE_COLOURS["target"], "width": 2, "dash": "dot"},
                hovertemplate=f"Target: {hover}<extra></extra>",
            )
        )
    data.extend(comparator_traces(comparators, hover))
    spc_rows = frame.dropna(subset=["spc_mean"]) if spc else frame.iloc[0:0]
    if len(spc_rows):
        observed = frame[frame["value"].notna()]
        xs = (
            [_dates(observed)[0], _dates(observed)[-1]] if len(observed)
            else _dates(spc_rows)[:1] * 2
        )
        visible = True if show_spc else "legendonly"
        data.append(
            _trace("scatter",
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
        per_point = (
            "spc_method" in spc_rows and (spc_rows["spc_method"] == "p_chart").any()
        )
        if per_point:
            # p-chart limits differ with each period's denominator: a step line through them
            steps = spc_rows.dropna(subset=["spc_upper", "spc_lower"])
            limits_x = _dates(steps) + [None] + _dates(steps)
            limits_y = [float(v) for v in steps["spc_upper"]] + [None] + [
                float(v) for v in steps["spc_lower"]
            ]
        else:
            limits_x = xs + [None] + xs
            limits_y = [float(spc_rows["spc_upper"].iloc[0])] * 2 + [None] + [
                float(spc_rows["spc_lower"].iloc[0])
            ] * 2
        data.append(
            _trace("scatter",
                x=limits_x,
                y=limits_y,
                mode="lines",
                name=TRACE_NAMES["spc_limits"] + (" (p-chart, small numbers)" if per_point else ""),
                meta="spc",
                visible=visible,
                connectgaps=False,
                line={"color": ROLE_COLOURS["spc"], "width": 1.2, "dash": "dashdot",
                      **({"shape": "hv"} if per_point else {})},
                hovertemplate=f"Process limit: {hover}<extra></extra>",
            )
        )
    markers = story_positions(frame, stories or [])
    for marker in markers:
        colour = force_style(marker["force"])["colour"]
        data.append(
            _trace("scatter",
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
    layout = _layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        yaxis={"title": _axis_title(UNIT_LABELS.get(unit, unit)), "rangemode": "nonnegative"},
        xaxis={"title": _axis_title(x_title)},
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
        layout["yaxis2"] = {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True}
    return {"data": data, "layout": layout}


def comparator_traces(comparators: pd.DataFrame | None, hover: str) -> list[dict]:
    """England and neighbours' mean markers and the neighbours' range band, by 31 March."""
    if comparators is None or not len(comparators):
        return []
    frame = comparators.sort_values("period_end")
    data = []
    band = frame.dropna(subset=["neighbours_min", "neighbours_max"])
    if len(band):
        xs = _dates(band)
        data.append(_trace("scatter",
            x=xs + xs[::-1],
            y=_values(band["neighbours_max"]) + _values(band["neighbours_min"])[::-1],
            fill="toself", fillcolor=ROLE_COLOURS["neighbours_band"], line={"width": 0},
            mode="lines", name=TRACE_NAMES["neighbours_band"], meta="neighbours_band",
            hoverinfo="skip",
        ))
    for column, role, symbol in (("england", "england", "diamond"), ("neighbours_mean", "neighbours", "square")):
        rows = frame.dropna(subset=[column])
        if len(rows):
            data.append(_trace("scatter",
                x=_dates(rows), y=_values(rows[column]), mode="markers",
                name=TRACE_NAMES[column], meta=column,
                marker={"color": ROLE_COLOURS[role], "size": 10, "symbol": symbol},
                hovertemplate=f"31 March %{{x|%Y}}: {hover}<extra>{TRACE_NAMES[column]}</extra>",
            ))
    return data


def ranked_bars(rows: pd.DataFrame, *, title: str, unit: str, highlight: set[str],
                height: int = 420) -> Figure:
    """Every local authority's figure for one 31 March, best first; the authority and its
    neighbours highlighted. ``rows``: area_name, area_code, value, role (authority, neighbour,
    other)."""
    frame = rows.dropna(subset=["value"]).reset_index(drop=True)
    colours = [
        ROLE_COLOURS["authority"] if r == "authority" else
        ROLE_COLOURS["neighbours"] if r == "neighbour" else ROLE_COLOURS["spc"]
        for r in frame["role"]
    ]
    data = [_trace("bar",
        x=list(range(1, len(frame) + 1)), y=_values(frame["value"]),
        marker={"color": colours}, meta="ranked",
        customdata=[str(n) for n in frame["area_name"]],
        hovertemplate=f"Rank %{{x}}: %{{customdata}}, {_hover(unit)}<extra></extra>",
        name="Local authorities",
    )]
    layout = _layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        yaxis={"title": _axis_title(UNIT_LABELS.get(unit, unit)), "rangemode": "nonnegative"},
        xaxis={"title": _axis_title("Rank (1 = best)")},
        height=height, margin={"l": 64, "r": 20, "t": 44, "b": 50}, bargap=0.1, showlegend=False,
    )
    return {"data": data, "layout": layout}


def sparkline(series: pd.DataFrame, *, periods: int = 24) -> Figure:
    """A small line of the last ``periods`` periods (period_end, value_num), for report cards."""
    frame = series.sort_values("period_end").tail(periods)
    data = [
        _trace(
            "scatter",
            x=_dates(frame),
            y=_values(frame["value_num"]),
            mode="lines",
            connectgaps=False,
            line={"color": ROLE_COLOURS["actual"], "width": 2},
            hoverinfo="skip",
        )
    ]
    layout = _layout(
        height=44,
        width=150,
        margin={"l": 2, "r": 2, "t": 4, "b": 4},
        xaxis={"visible": False},
        yaxis={"visible": False},
        showlegend=False,
    )
    return {"data": data, "layout": layout}


def _wrapped(label: str, width: int = 36) -> str:
    """A long axis label over several lines (plotly's ``<br>``); a label holding markup
    characters stays on one line, as it is."""
    if len(label) <= width or any(c in label for c in "<>&"):
        return label
    return "<br>".join(textwrap.wrap(label, width)) or label


def breakdown_bars(frame: pd.DataFrame, *, title: str, unit: str, width: int | None = None) -> Figure:
    """Latest values by breakdown value (breakdown_value, value_num, value text; ``label``, the
    value with its plain label, names the bar when given).

    Suppressed or missing cells have no bar and show their code (c, x, z) at the axis."""
    frame = frame.reset_index(drop=True)
    labels = [_wrapped(str(v)) for v in frame["label" if "label" in frame else "breakdown_value"]]
    lines = [label.split("<br>") for label in labels]
    data = [
        _trace(
            "bar",
            y=labels,
            x=_values(frame["value_num"]),
            orientation="h",
            marker={"color": ROLE_COLOURS["actual"]},
            text=[figure_text(t, unit) for t in frame["value"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate=f"%{{y}}: {_hover(unit, 'x')}<extra></extra>",
            name="Latest",
        )
    ]
    annotations = [
        {"x": 0, "y": label, "xref": "x", "yref": "y", "text": str(code), "showarrow": False,
         "xanchor": "left", "font": {"color": ROLE_COLOURS["suppressed"]}}
        for label, code, value in zip(labels, frame["value"], frame["value_num"], strict=True)
        if pd.isna(value)
    ]
    layout = _layout(
        title={"text": title, "x": 0, "font": {"size": 14}},
        xaxis={"title": _axis_title(UNIT_LABELS.get(unit, unit))},
        yaxis={"autorange": "reversed", "type": "category"},
        height=90 + max(sum(34 if len(rows) == 1 else 16 * len(rows) + 10 for rows in lines), 34),
        width=width,
        margin={"l": min(280, 24 + 7 * max((len(x) for rows in lines for x in rows), default=4)),
                "r": 50, "t": 40, "b": 50},
        annotations=annotations,
        showlegend=False,
    )
    return {"data": data, "layout": layout}


def lines_by_group(
    frame: pd.DataFrame,
    *,
    title: str,
    unit: str,
    group: str = "breakdown_value",
    height: int = 380,
    width: int | None = None,
) -> Figure:
    """One line per group (e.g. programme): period_end, value_num, ``group``."""
    data = []
    for i, (name, rows) in enumerate(frame.sort_values("period_end").groupby(group, sort=True)):
        data.append(
            _trace("scatter",
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
    layout = _layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        yaxis={"title": _axis_title(UNIT_LABELS.get(unit, unit))},
        height=height,
        width=width,
        legend={"orientation": "h", "yanchor": "top", "y": -0.1, "x": 0},
        margin={"l": 64, "r": 20, "t": 44, "b": 90},
    )
    return {"data": data, "layout": layout}


def trend(series: pd.DataFrame, *, title: str, unit: str, height: int = 230) -> Figure:
    """A compact trend of one series (period_end, value_num), e.g. a programme quadrant."""
    frame = series.sort_values("period_end")
    data = [
        _trace(
            "scatter",
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
    ]
    layout = _layout(
        title={"text": title, "x": 0, "font": {"size": 13}},
        yaxis={"title": _axis_title(UNIT_LABELS.get(unit, unit))},
        height=height,
        margin={"l": 56, "r": 12, "t": 36, "b": 36},
        showlegend=False,
    )
    return {"data": data, "layout": layout}


def to_payload(fig, config: dict | None = None) -> str:
    """The figure as JSON data for a ``<script type="application/json">`` element.

    ``<``, ``>``, ``&`` and line separators are escaped as \\uXXXX, so the text can never
    close the script element or be read as markup.
    """
    if isinstance(fig, dict):
        body = fig
    else:  # a plotly Figure
        import plotly.io as pio

        body = json.loads(pio.to_json(fig, validate=False))
    payload = {"data": body.get("data", []), "layout": body.get("layout", {}),
               "config": config or SITE_CONFIG}
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text
