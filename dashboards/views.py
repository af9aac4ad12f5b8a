"""What the site and the board pack show of the published tables, shared by both.

The Jinja2 environment (autoescaped: story text is people's words), the stylesheet and static
script from ``templates/``, and the view models: a report-card row, a measure's header, its
story behind the baseline, its turn-the-curve chart with the figures behind it, and its
breakdowns. Each view is plain Python values made from
:class:`dashboards.published.PublishedTables`, figures already rounded and suppressed.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from dashboards import charts, icons, theme
from dashboards.formatting import (
    JOURNEY_LABELS,
    KIND_LABELS,
    breakdown_title,
    code_text,
    date_text,
    figure_html,
    figure_text,
    is_missing,
    number_text,
    period_text,
)
from dashboards.published import PublishedTables, slug

STATUS_HELP = {
    "turned": "the last 3 figures after the baseline end are on the good side of the forecast "
    "and the latest is beyond its 80% interval",
    "improving": "the last 3 figures are on the good side of the forecast, within the interval",
    "no_change": "the figures are not consistently on either side of the forecast",
    "worsening": "the latest figure is beyond the 80% interval on the bad side",
    "insufficient_data": (
        "fewer than 12 values before the baseline end, fewer than 3 values since it, or more than "
        "a quarter of the history missing or suppressed (the card says which)"
    ),
}
# Measures counted with each tool's reliable change criterion (Jacobson-Truax); their page
# lists the tools and says which fall back to any improvement.
RELIABLE_CHANGE_MEASURES = ("program_reliable_improvement_pct",)
DIRECTION_TEXT = {"up": "Higher is better", "down": "Lower is better"}
UNIT_TEXT = {
    "count": "Number (whole numbers)",
    "percent": "Per cent (1 decimal place)",
    "rate_per_10k": "Rate per 10,000 children aged 0–17 (1 decimal place)",
    "days": "Days: the mean number of days over the children counted (whole days)",
}


# --- the report card's groups --------------------------------------------------------------

OTHER_JOURNEY = "other"


def journey_of(tables: PublishedTables, measure_id: str) -> str:
    """The report-card group of a measure: its stage of the child's journey (a warehouse from
    before journeys: programme measures under Programmes, the rest under Other measures)."""
    journey = tables.journey(measure_id)
    if journey in JOURNEY_LABELS:
        return journey
    if journey is None and tables.measure(measure_id).get("oba_kind") not in (
        None, "population_indicator"
    ):
        return "programmes"
    return OTHER_JOURNEY


def journey_heading(journey: str) -> str:
    return JOURNEY_LABELS.get(journey, "Other measures")


def by_journey(tables: PublishedTables, measure_ids: list[str]) -> list[str]:
    """``measure_ids`` in the order of the child's journey (front door first, programmes last),
    keeping their order within a stage."""
    order = {key: i for i, key in enumerate(JOURNEY_LABELS)}
    return sorted(
        measure_ids, key=lambda m: order.get(journey_of(tables, m), len(order))
    )


# --- environment ----------------------------------------------------------------------------


@functools.cache
def environment() -> Environment:
    """The templates' environment, one per process: each template is compiled once (Jinja keeps
    it, and reloads it if its file changes); nothing changes the environment once made."""
    env = Environment(
        loader=PackageLoader("dashboards", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fig=figure_html,
        status_style=theme.status_style,
        force_style=theme.force_style,
        status_help=STATUS_HELP,
        variation_icon=icons.variation_icon,
        assurance_icon=icons.assurance_icon,
        variation_key=icons.variation_key,
        icon_key_entries=icons.key_entries(),
    )
    return env


@functools.cache
def _plain_environment() -> Environment:
    """Templates of trusted constants only (stylesheets, scripts): no escaping. One per process."""
    return Environment(loader=PackageLoader("dashboards", "templates"), autoescape=False)


def stylesheet(name: str, **context) -> str:
    """A stylesheet template filled with the theme's colours (trusted constants only)."""
    return _plain_environment().get_template(name).render(c=theme.css_variables(), **context)


# The charts draw only scatter traces, so the pages load plotly.js's basic bundle (scatter, bar,
# pie; 1.2 MB, from the npm package plotly.js-basic-dist-min, MIT licence beside it), not the full
# one plotly.py ships (4.8 MB): a browser starts it in a quarter of the time. Its version is the
# plotly.js version of the installed plotly.py, which writes the figures (a test checks).
PLOTLY_JS = Path(__file__).with_name("assets") / "plotly-basic.min.js"


def plotly_js() -> str:
    """The plotly.js the site, the regional page and the board pack load (``plotly.min.js``)."""
    return PLOTLY_JS.read_text(encoding="utf-8")


def static_text(name: str) -> str:
    """A template file as it is (a script)."""
    env = _plain_environment()
    source, _, _ = env.loader.get_source(env, name)
    return source


# --- view models ----------------------------------------------------------------------------


def plain(value):
    """numpy/pandas scalars to Python; NaN, NA and NaT to None."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _band_key(value) -> tuple:
    match = re.match(r"\s*(\d+(?:\.\d+)?)", str(value))
    return (0, float(match.group(1)), str(value)) if match else (1, 0.0, str(value))


def card_view(card: dict, *, href: str, spark: pd.DataFrame | None, spark_id: str) -> dict:
    card = plain(card)
    view = dict(card)
    view["href"] = href
    view["kind_label"] = KIND_LABELS.get(card.get("oba_kind"), card.get("oba_kind") or "")
    view["latest_period_text"] = period_text(card.get("latest_period"))
    view["spark_id"] = spark_id
    view["spark_payload"] = None
    if spark is not None and spark["value_num"].notna().any():
        view["spark_payload"] = charts.to_payload(
            charts.sparkline(spark), {**charts.STATIC_CONFIG, "responsive": False}
        )
        shown = spark.sort_values("period_end").tail(24)
        first, last = shown.iloc[0], shown.iloc[-1]
        view["spark_label"] = (
            f"Trend of {card.get('name')} over the last {len(shown)} periods, from "
            f"{figure_text(first['value'], card.get('unit'))} ({period_text(first['period_end'])}) "
            f"to {figure_text(last['value'], card.get('unit'))} ({period_text(last['period_end'])})"
        )
    return view


def not_computed_view(entry: dict, *, href: str) -> dict:
    """A report-card row for a measure that could not be computed: its name, why and the fix."""
    return {
        "not_computed": True,
        "measure_id": entry.get("measure_id"),
        "name": entry.get("name") or entry.get("measure_id"),
        "oba_kind": entry.get("oba_kind"),
        "unit": entry.get("unit"),
        "is_headline": bool(entry.get("is_headline")),
        "kind_label": KIND_LABELS.get(entry.get("oba_kind"), entry.get("oba_kind") or ""),
        "coverage_label": entry.get("coverage_label") or "Not computed",
        "reason": entry.get("reason") or "",
        "fix": entry.get("fix") or "",
        "href": href,
    }


def measure_view(tables: PublishedTables, measure: dict) -> dict:
    measure = plain(measure)
    view = dict(measure)
    view["page"] = tables.page_name(measure["measure_id"])
    view["kind_label"] = KIND_LABELS.get(measure.get("oba_kind"), measure.get("oba_kind") or "")
    view["direction_text"] = DIRECTION_TEXT.get(measure.get("direction_of_good"), "")
    view["unit_text"] = UNIT_TEXT.get(measure.get("unit"), measure.get("unit") or "")
    view["journey_label"] = JOURNEY_LABELS.get(measure.get("journey") or "", "")
    names = [b.strip() for b in str(measure.get("breakdowns") or "").split(",")]
    view["breakdown_titles"] = ", ".join(breakdown_title(b) for b in names if b and b != "all")
    view["assessment_tools"] = (
        assessment_tools_view(tables) if measure["measure_id"] in RELIABLE_CHANGE_MEASURES else []
    )
    return view


def assessment_tools_view(tables: PublishedTables) -> list[dict]:
    """The assessment tools with their reliable change criterion, or why a tool falls back."""
    frame = tables.assessment_tools
    rows = []
    for r in ([] if frame is None else frame.to_dict("records")):
        r = plain(r)
        if r.get("falls_back"):
            criterion = (
                "No SD and reliability configured (assessment_tools in oba.yaml): its clients "
                "count as better off on any improvement, as in program_improved_pct."
            )
        else:
            criterion = (
                f"A change of more than {r['reliable_change']:.2f} points "
                f"(1.96 × SD {r['sd']:g} × √(2 × (1 − {r['reliability']:g})))."
            )
        rows.append({"tool": str(r["tool"]), "criterion": criterion})
    return rows


def story_view(story: dict) -> dict:
    items = []
    for number, item in enumerate(story.get("story") or [], start=1):
        force = item.get("force") if item.get("force") in theme.FORCES else "neutral"
        items.append(
            {
                "number": number,
                "date": date_text(item.get("date")),
                "title": str(item.get("title") or ""),
                "text": str(item.get("text") or ""),
                "force": force,
                "force_label": theme.force_style(force)["label"].lower().capitalize(),
            }
        )
    actions = [
        {
            "action": str(a.get("action") or ""),
            "owner": str(a.get("owner") or ""),
            "due": date_text(a.get("due")),
            "status": str(a.get("status") or ""),
        }
        for a in story.get("actions") or []
    ]
    return {
        "entries": items,
        "positive": [i for i in items if i["force"] == "positive"],
        "negative": [i for i in items if i["force"] == "negative"],
        "partners": [str(p) for p in story.get("partners") or []],
        "what_works": [str(w) for w in story.get("what_works") or []],
        "actions": actions,
        "data_development": [str(d) for d in story.get("data_development") or []],
        "raw": story.get("story") or [],
    }


def curve_frame(tables: PublishedTables, measure_id: str, breakdown: str = "all",
                breakdown_value: str = "all") -> pd.DataFrame:
    """The turn-the-curve series: pub_measure_status rows, else the actuals alone."""
    status = tables.status_series(measure_id, breakdown, breakdown_value)
    if len(status):
        return status
    series = tables.series(measure_id, breakdown, breakdown_value)
    return pd.DataFrame(
        {
            "period_end": series["period_end"],
            "value": series["value_num"],
            "value_text": series["value"],
        }
    )


# The columns of a curve frame its table is made from.
_TABLE_COLUMNS = frozenset({
    "period_end", "is_future", "value_text", "forecast", "forecast_lower", "forecast_upper",
    "status",
})


def curve_view(
    tables: PublishedTables, measure: dict, story: dict, *, height: int = 440,
    width: int | None = None, config: dict | None = None, compact: bool = False,
    program: str | None = None, title: str | None = None,
) -> dict | None:
    if program is None:
        frame = curve_frame(tables, measure["measure_id"])
    else:
        frame = curve_frame(tables, measure["measure_id"], "program", program)
    if frame.empty or not (
        frame["value"].notna().any() or frame.get("value_text", pd.Series(dtype=str)).notna().any()
    ):
        return None
    unit = measure.get("unit")
    fig = charts.turn_the_curve(
        frame, title=title or measure["name"], unit=unit,
        stories=story.get("raw") if program is None else None,
        height=height, width=width, spc=not compact,
        comparators=tables.ranks(measure["measure_id"]) if program is None else None,
    )
    rows = []
    table = frame[[c for c in frame.columns if c in _TABLE_COLUMNS]]  # what the table shows
    for r in table.sort_values("period_end", ascending=False).itertuples():
        future = getattr(r, "is_future", False)
        if not is_missing(future) and bool(future) and is_missing(getattr(r, "forecast", None)):
            continue  # a period still to come, with no forecast for it
        lower, upper = getattr(r, "forecast_lower", None), getattr(r, "forecast_upper", None)
        status = getattr(r, "status", None)
        rows.append(
            {
                "period": period_text(r.period_end),
                "actual": getattr(r, "value_text", None),
                "forecast": number_text(getattr(r, "forecast", None), unit),
                "interval": (
                    f"{number_text(lower, unit)} to {number_text(upper, unit)}"
                    if not is_missing(lower) and not is_missing(upper) else "–"
                ),
                "status": theme.status_style(status)["label"] if not is_missing(status) else "",
            }
        )
    has_spc = "spc_mean" in frame and frame["spc_mean"].notna().any()
    withheld = "forecast_withheld" in frame and frame["forecast_withheld"].fillna(False).any()
    first = frame.iloc[0] if len(frame) else {}
    latest = frame[frame["value"].notna()]
    label = f"Turn-the-curve chart of {measure['name']}"
    if len(latest):
        last = latest.iloc[-1]
        label += f": latest {figure_text(last.get('value_text'), unit)} at {period_text(last['period_end'])}"
    parts = ["Actual values by period end (solid)"]
    if "forecast" in frame and frame["forecast"].notna().any():
        parts.append("the baseline forecast – where the line was heading at the baseline end "
                     "(dashed) – with its 80% interval (shaded)")
    if "target" in frame and frame["target"].notna().any():
        parts.append("the target (dotted)")
    if story.get("entries") and program is None:
        parts.append("numbered markers for the story behind the baseline")
    caption = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] + "."
    if withheld:
        caption += (" The baseline forecast and SPC lines are not shown for this series: some of "
                    "its figures are suppressed (c), and a line fitted to them could reveal them.")
    plottable = frame["value"].notna().any() or (
        "forecast" in frame and frame["forecast"].notna().any()
    )
    if not plottable:
        caption = ("Every figure in this series is suppressed (c) or not available, so there is "
                   "no chart; the table lists the periods.")
    return {
        "payload": charts.to_payload(fig, config or charts.SITE_CONFIG) if plottable else None,
        "label": label + ". The figures are in the table below the chart.",
        "caption": caption,
        "rows": rows,
        "has_spc": bool(has_spc),
        "withheld": bool(withheld),
        "spc_mean": number_text(first.get("spc_mean"), unit) if has_spc else "",
        "spc_lower": number_text(first.get("spc_lower"), unit) if has_spc else "",
        "spc_upper": number_text(first.get("spc_upper"), unit) if has_spc else "",
    }


def breakdown_views(tables: PublishedTables, measure: dict, *, config: dict | None = None,
                    width: int | None = None) -> list[dict]:
    """Each breakdown at its latest period: a bar chart and table, each value named with its
    plain label (``Abuse or neglect (N1)``), and the breakdown's codes with their labels."""
    views = []
    unit = measure.get("unit")
    for breakdown in tables.breakdowns(measure["measure_id"]):
        values = tables.measure_values(measure["measure_id"])
        rows = values[values["breakdown"] == breakdown]
        latest = rows["period_end"].max()
        rows = rows[rows["period_end"] == latest]
        codes = tables.codes(breakdown)
        order = {code: i for i, code in enumerate(codes)}

        names = [str(v) for v in rows["breakdown_value"]]

        def key(i, names=names, order=order):
            value = names[i]
            return (order.get(value, len(order)), _band_key(value))

        rows = rows.iloc[sorted(range(len(rows)), key=key)]
        rows = rows.assign(label=[code_text(v, codes.get(str(v))) for v in rows["breakdown_value"]])
        title = breakdown_title(breakdown)
        label = title[:1].lower() + title[1:]
        fig = charts.breakdown_bars(
            rows, title=f"{measure['name']} by {label}", unit=unit, width=width
        )
        plottable = bool((rows["value_num"].fillna(0) > 0).any())
        views.append(
            {
                "key": slug(breakdown),
                "label": label,
                "title": title,
                "codes": [{"code": code, "label": text} for code, text in codes.items()],
                "period": period_text(latest),
                "payload": charts.to_payload(fig, config or charts.SITE_CONFIG) if plottable else None,
                "chart_label": f"Bar chart of {measure['name']} by {label} at {period_text(latest)}. "
                "The figures are in the table below the chart.",
                "show_parts": unit != "count",
                "rows": [
                    {
                        "label": str(r.label),
                        "code": str(r.breakdown_value),
                        "numerator": r.numerator,
                        "denominator": r.denominator,
                        "value": r.value,
                    }
                    for r in rows.itertuples()
                ],
            }
        )
    return views


def assurance_text(card: dict) -> str:
    return {
        "consistently_met": "The process consistently meets the target.",
        "consistently_missed": "The process will consistently miss the target without change.",
        "hit_and_miss": "The process will hit and miss the target.",
    }.get(card.get("assurance") or "", "")


def target_text(card: dict, story: dict, unit: str) -> str:
    target = card.get("target")
    if is_missing(target):
        target = story.get("target")
    return number_text(target, unit) if not is_missing(target) else "None set"


def comparison_view(tables: PublishedTables, measure: dict, *, config: dict | None = None) -> dict | None:
    """The measure page's comparison with DfE's published figures: the authority, each
    neighbour, the region, the neighbours' mean and England by 31 March (a table), and every
    authority's figure for the latest year as a ranked bar chart."""
    measure_id = measure["measure_id"]
    ranks, values = tables.ranks(measure_id), tables.comparisons(measure_id)
    if not len(ranks) and not len(values):
        return None
    years = sorted({pd.Timestamp(p) for p in list(ranks["period_end"]) + list(values["period_end"])})
    headers = [f"31 March {y.year}" for y in years]
    authority = {pd.Timestamp(r.period_end): r for r in ranks.itertuples()}

    def cell(text):
        return "" if is_missing(text) else str(text)

    rows = [{
        "area": tables.authority, "kind": "authority",
        "cells": [cell(getattr(authority.get(y), "value_text", None)) if y in authority else "" for y in years],
    }]
    order = {"neighbour": 1, "neighbours_mean": 2, "region": 3, "england": 4}
    names = {}
    area_years: dict[tuple, dict] = {}  # each area's figure by 31 March, read in one pass
    for r in values.itertuples():
        names.setdefault((order.get(r.area_type, 9), r.area_type, r.area_code), r.area_name)
        if not is_missing(r.area_type) and not is_missing(r.area_code):  # a missing one matches none
            area_years.setdefault((r.area_type, r.area_code), {})[pd.Timestamp(r.period_end)] = r.value_text
    for (_, kind, code), name in sorted(names.items()):
        by_year = area_years.get((kind, code), {})
        rows.append({"area": cell(name) or code, "kind": kind, "cells": [cell(by_year.get(y)) for y in years]})
    rank_rows = [
        {"period": f"31 March {pd.Timestamp(r.period_end).year}",
         "rank": "" if is_missing(r.rank) else f"{int(r.rank)} of {int(r.out_of)}",
         "quartile": "" if is_missing(r.quartile) else str(int(r.quartile)),
         "source": cell(r.value_source)}
        for r in ranks.itertuples()
    ]
    latest = tables.latest_rank(measure_id)
    chart = None
    if years:
        last = years[-1]
        bars = [{"area_name": tables.authority, "area_code": "", "role": "authority",
                 "value": getattr(authority.get(last), "value", None) if last in authority else None}]
        for r in values[values["period_end"] == last].itertuples():
            bars.append({"area_name": r.area_name, "area_code": r.area_code,
                         "role": "neighbour" if r.area_type in ("neighbour", "neighbours_mean") else "other",
                         "value": r.value})
        frame = pd.DataFrame(bars)
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
        frame = frame.sort_values("value", ascending=measure.get("direction_of_good") != "up")
        if frame["value"].notna().any():
            fig = charts.ranked_bars(
                frame, title=f"{measure['name']}, 31 March {last.year}: best first", unit=measure["unit"],
                highlight=set(),
            )
            chart = {
                "payload": charts.to_payload(fig, config),
                "label": f"Bar chart of {measure['name']} on 31 March {last.year} for the authority, "
                "its statistical neighbours, their mean, the region and England, best first. "
                "The figures are in the table below.",
                "year": last.year,
            }
    return {
        "headers": headers, "rows": rows, "ranks": rank_rows, "latest": latest, "chart": chart,
    }
