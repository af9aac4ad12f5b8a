"""The static dashboard site, opening from file:// with no network.

Pages: ``index.html`` (report card: headline population indicators and each programme's
measures), ``measures/<measure_id>.html`` (turn-the-curve chart, story behind the baseline,
partners, what works, action plan, breakdowns, definition, data-quality notes),
``programs/<program>.html`` (Friedman's performance-measure quadrants) and
``data-quality.html``; ``downloads/`` holds the CSVs. Everything comes from the published tables
(:class:`dashboards.published.PublishedTables`): figures already rounded and suppressed.

Pages are Jinja2 templates with autoescaping on (story text is people's words: shown as text,
never run). Charts travel as JSON data in ``<script type="application/json">`` elements drawn
by one local script (``assets/charts.js``) with one local copy of plotly.js; no page holds
inline code and no chart holds people's text. The site is written into a fresh folder beside
the target and swapped in only when complete.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.offline
from jinja2 import Environment, PackageLoader, select_autoescape

from dashboards import charts, theme
from dashboards.downloads import DOWNLOADS, swap_in, write_downloads_into
from dashboards.formatting import (
    KIND_LABELS,
    UNIT_LABELS,
    date_text,
    figure_html,
    figure_text,
    generated_text,
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
    "insufficient_data": "fewer than 12 periods of history before the baseline end",
}
DIRECTION_TEXT = {"up": "Higher is better", "down": "Lower is better"}
UNIT_TEXT = {
    "count": "Number (whole numbers)",
    "percent": "Per cent (1 decimal place)",
    "rate_per_10k": "Rate per 10,000 children aged 0–17 (1 decimal place)",
}
QUADRANTS = (
    ("how_much", "How much did we do?", "Quantity of effort"),
    ("how_well", "How well did we do it?", "Quality of effort"),
    ("better_off_number", "Is anyone better off? (#)", "Quantity of effect"),
    ("better_off_percent", "Is anyone better off? (%)", "Quality of effect"),
)


# --- environment ----------------------------------------------------------------------------


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dashboards", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fig=figure_html,
        status_style=theme.status_style,
        spc_style=theme.spc_style,
        force_style=theme.force_style,
        status_help=STATUS_HELP,
    )
    return env


def stylesheet(name: str) -> str:
    """A stylesheet template filled with the theme's colours (trusted constants only)."""
    env = Environment(loader=PackageLoader("dashboards", "templates"), autoescape=False)
    return env.get_template(name).render(c=theme.css_variables())


def static_text(name: str) -> str:
    env = Environment(loader=PackageLoader("dashboards", "templates"), autoescape=False)
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
    return view


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
    )
    rows = []
    for r in frame.sort_values("period_end", ascending=False).itertuples():
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
    views = []
    unit = measure.get("unit")
    for breakdown in tables.breakdowns(measure["measure_id"]):
        values = tables.measure_values(measure["measure_id"])
        rows = values[values["breakdown"] == breakdown]
        latest = rows["period_end"].max()
        rows = rows[rows["period_end"] == latest]
        rows = rows.iloc[sorted(range(len(rows)), key=lambda i: _band_key(rows.iloc[i]["breakdown_value"]))]
        label = breakdown.replace("_", " ")
        fig = charts.breakdown_bars(
            rows, title=f"{measure['name']} by {label}", unit=unit, width=width
        )
        plottable = bool((rows["value_num"].fillna(0) > 0).any())
        views.append(
            {
                "key": slug(breakdown),
                "label": label,
                "period": period_text(latest),
                "payload": charts.to_payload(fig, config or charts.SITE_CONFIG) if plottable else None,
                "chart_label": f"Bar chart of {measure['name']} by {label} at {period_text(latest)}. "
                "The figures are in the table below the chart.",
                "show_parts": unit != "count",
                "rows": [
                    {
                        "label": str(r.breakdown_value),
                        "numerator": r.numerator,
                        "denominator": r.denominator,
                        "value": r.value,
                    }
                    for r in rows.itertuples()
                ],
            }
        )
    return views


def measure_notes(tables: PublishedTables, measure: dict, card: dict | None) -> list[str]:
    notes = [
        f"Counts from 1 to {tables.suppression_upper} are shown as c, and so is a figure from "
        "which one could be worked out from a total; percentages and rates are c when their "
        "numerator or denominator is."
    ]
    if card and card.get("baseline_end"):
        notes.append(
            f"Baseline: the history up to {period_text(card['baseline_end'])}; the forecast is "
            "fitted on that history only, so later figures are judged against where the line "
            "was heading."
        )
    if card and card.get("baseline_locked"):
        notes.append(
            "The baseline is locked: the forecast was stored when this baseline end was first "
            "set, and later revisions of the history do not move it. Re-baselining is a "
            "deliberate step (oba rebaseline)."
        )
    if card and card.get("status") == "insufficient_data":
        notes.append(
            "Fewer than 12 periods of history before the baseline end: no forecast, status or "
            "SPC limits yet."
        )
    if measure.get("frequency") == "annual":
        notes.append("Annual measure: one figure a year, at 31 March.")
    if measure.get("oba_kind") != "population_indicator" and not measure.get(
        "has_whole_population"
    ):
        notes.append("A programme measure: figures are for each programme's own clients.")
    return notes


def _assurance_text(card: dict) -> str:
    return {
        "consistently_met": "The process consistently meets the target.",
        "consistently_missed": "The process will consistently miss the target without change.",
        "hit_and_miss": "The process will hit and miss the target.",
    }.get(card.get("assurance") or "", "")


def _target_text(card: dict, story: dict, unit: str) -> str:
    target = card.get("target")
    if is_missing(target):
        target = story.get("target")
    return number_text(target, unit) if not is_missing(target) else "None set"


# --- writer ---------------------------------------------------------------------------------


class SiteBuilder:
    def __init__(self, tables: PublishedTables, generated: dt.datetime):
        self.t = tables
        self.env = environment()
        self.generated = generated
        self.common = {
            "authority": tables.authority,
            "generated_text": generated_text(generated),
            "suppression_upper": tables.suppression_upper,
            "nav_programs": tables.programs(),
        }

    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(**self.common, **context)

    def index_cards(self) -> tuple[list[dict], list[dict], list[dict]]:
        """Population indicators (headline, then others) and programme groups: first every
        programme together (programme measures' whole-client rows), then each programme."""
        t = self.t
        headline = t.headline_ids()
        kinds = dict(zip(t.measures["measure_id"], t.measures["oba_kind"], strict=False))
        population, other, all_programs = [], [], []
        ordered = headline + [m for m in t.measures["measure_id"] if m not in headline]
        for measure_id in ordered:
            card = t.card(measure_id)
            entry = t.not_computed_for(measure_id)
            page = t.page_name(measure_id)
            if not card:
                # A headline measure that could not be computed keeps its row, saying why.
                if not entry or measure_id not in headline or any(
                    t.card(measure_id, p) for p in t.programs()
                ):
                    continue
                view = not_computed_view(entry, href=f"measures/{page}.html")
            else:
                view = card_view(
                    card,
                    href=f"measures/{page}.html",
                    spark=t.series(measure_id),
                    spark_id=f"spark-{page}",
                )
                if entry:
                    view["coverage_note"] = f"{entry['coverage_label']}: {entry.get('reason') or ''}"
            if kinds.get(measure_id) != "population_indicator":
                all_programs.append(view)
            elif measure_id in headline:
                population.append(view)
            else:
                other.append(view)
        order = {"how_much": 0, "how_well": 1, "better_off": 2}
        all_programs.sort(key=lambda c: order.get(c.get("oba_kind"), 3))
        groups = []
        if all_programs:
            groups.append({"name": "All programmes", "href": None, "cards": all_programs})
        for program in t.programs():
            cards = []
            for kind in ("how_much", "how_well", "better_off"):
                for measure_id in t.measures[t.measures["oba_kind"] == kind]["measure_id"]:
                    card = t.card(measure_id, program)
                    if not card:
                        continue
                    page = t.page_name(measure_id)
                    cards.append(
                        card_view(
                            card,
                            href=f"measures/{page}.html",
                            spark=t.series(measure_id, "program", program),
                            spark_id=f"spark-{page}-{t.program_slug(program)}",
                        )
                    )
            if cards:
                groups.append(
                    {"name": program, "href": f"programs/{t.program_slug(program)}.html",
                     "cards": cards}
                )
        return population, other, groups

    def not_computed_rows(self, root: str = "") -> list[dict]:
        """The not-computed list with each measure's page link."""
        return [
            dict(row, href=f"{root}measures/{self.t.page_name(row['measure_id'])}.html",
                 kind_label=KIND_LABELS.get(row.get("oba_kind"), row.get("oba_kind") or ""))
            for row in self.t.not_computed_list()
        ]

    def index(self) -> str:
        population, other, groups = self.index_cards()
        latest = self.t.report_card["latest_period"].max() if len(self.t.report_card) else None
        return self.render(
            "index.html",
            page="index",
            root="",
            population_cards=population,
            other_cards=other,
            program_groups=groups,
            not_computed=self.not_computed_rows(),
            latest_period=period_text(latest) if latest is not None and not pd.isna(latest) else "",
            downloads=[{"file": f, "description": d[2]} for f, d in DOWNLOADS.items()],
        )

    def measure_page(self, measure_row: dict) -> str:
        t = self.t
        measure = measure_view(t, measure_row)
        story = story_view(t.story(measure["measure_id"]))
        card = plain(t.card(measure["measure_id"]))
        if card:
            card["latest_period_text"] = period_text(card.get("latest_period"))
        curve = curve_view(t, measure, story) if card else None
        programs, programs_chart = [], None
        values = t.measure_values(measure["measure_id"])
        program_rows = values[values["breakdown"] == "program"]
        if len(program_rows):
            for program in sorted(program_rows["breakdown_value"].unique()):
                pcard = plain(t.card(measure["measure_id"], program))
                pcard["latest_period_text"] = period_text(pcard.get("latest_period"))
                pcard.setdefault("unit", measure["unit"])
                programs.append(
                    {"name": program, "href": f"../programs/{t.program_slug(program)}.html",
                     "card": pcard}
                )
            fig = charts.lines_by_group(
                program_rows, title=f"{measure['name']} by programme", unit=measure["unit"]
            )
            names = [x["name"] for x in programs]
            wide = program_rows.pivot_table(
                index="period_end", columns="breakdown_value", values="value", aggfunc="first"
            ).sort_index(ascending=False)
            programs_chart = {
                "payload": charts.to_payload(fig),
                "label": f"Line chart of {measure['name']} for each programme by period end. "
                "The figures are in the tables below the chart.",
                "rows": [
                    {"period": period_text(p), "cells": [row.get(n) for n in names]}
                    for p, row in ((p, wide.loc[p]) for p in wide.index)
                ],
            }
        sources = [s.strip() for s in str(measure.get("sources") or "").split(",") if s.strip()]
        return self.render(
            "measure.html",
            page="measure",
            root="../",
            measure=measure,
            card=card or None,
            curve=curve,
            story=story,
            programs=programs,
            programs_chart=programs_chart,
            breakdowns=breakdown_views(t, measure),
            target_text=_target_text(card or {}, t.story(measure["measure_id"]), measure["unit"]),
            assurance_text=_assurance_text(card or {}),
            quality_available=t.has_quality_results,
            quality=t.quality_for_sources(sources),
            notes=measure_notes(t, measure, card),
            not_computed=t.not_computed_for(measure["measure_id"]) or None,
        )

    def program_page(self, program: str) -> str:
        t = self.t
        quadrants = {key: [] for key, _, _ in QUADRANTS}
        for measure_row in t.measure_list():
            kind = measure_row.get("oba_kind")
            if kind not in ("how_much", "how_well", "better_off"):
                continue
            series = t.series(measure_row["measure_id"], "program", program)
            if series.empty:
                continue
            if kind == "better_off":
                kind = "better_off_number" if measure_row.get("unit") == "count" else "better_off_percent"
            measure = measure_view(t, measure_row)
            card = plain(t.card(measure["measure_id"], program))
            card["latest_period_text"] = period_text(card.get("latest_period"))
            curve = curve_view(
                t, measure, {}, height=330, program=program, title=measure["name"], compact=True
            )
            parts = {
                period_text(r.period_end): (r.numerator, r.denominator) for r in series.itertuples()
            }
            rows = [
                dict(r, numerator=parts.get(r["period"], (None, None))[0],
                     denominator=parts.get(r["period"], (None, None))[1])
                for r in (curve["rows"] if curve else [])
            ]
            quadrants[kind].append(
                {
                    "name": measure["name"],
                    "page": measure["page"],
                    "chart_id": f"trend-{measure['page']}",
                    "unit": measure["unit"],
                    "direction_of_good": measure.get("direction_of_good"),
                    "card": card,
                    "curve": curve,
                    "rows": rows,
                }
            )
        return self.render(
            "program.html",
            page="program",
            root="../",
            program=program,
            quadrants=[
                {"key": key, "title": title, "axis": axis, "measures": quadrants[key]}
                for key, title, axis in QUADRANTS
            ],
        )

    def data_quality_page(self) -> str:
        t = self.t
        checks = t.contract_results if t.contract_results is not None else pd.DataFrame()
        rows = [plain(r) for r in checks.to_dict("records")]
        rows.sort(key=lambda r: (bool(r.get("success")), r.get("severity") != "blocking",
                                 str(r.get("source")), str(r.get("check_name"))))
        quarantine = t.quarantine if t.quarantine is not None else pd.DataFrame()
        files = t.export_files if t.export_files is not None else pd.DataFrame()
        return self.render(
            "data_quality.html",
            page="data-quality",
            root="",
            quality_available=t.has_quality_results,
            checks=rows,
            summary={
                "checks": len(rows),
                "passed": sum(1 for r in rows if r.get("success")),
                "failed": sum(1 for r in rows if not r.get("success")),
                "blocking": sum(1 for r in rows if not r.get("success")
                                and r.get("severity") == "blocking"),
            },
            quarantine=[plain(r) for r in quarantine.to_dict("records")],
            not_computed=self.not_computed_rows(),
            export_files=[plain(r) for r in files.to_dict("records")],
        )


def write_site(
    site_dir: Path,
    tables: PublishedTables,
    *,
    generated: dt.datetime | None = None,
) -> list[Path]:
    """Write the site into ``site_dir`` (replacing it whole) and return the pages written."""
    generated = generated or dt.datetime.now().replace(microsecond=0)
    builder = SiteBuilder(tables, generated)
    site_dir = Path(site_dir)
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{site_dir.name}-", dir=site_dir.parent))
    try:
        work.chmod(0o755)
        for folder in ("assets", "measures", "programs", "downloads"):
            (work / folder).mkdir()
        (work / "assets" / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        (work / "assets" / "site.css").write_text(stylesheet("site.css"), encoding="utf-8")
        (work / "assets" / "charts.js").write_text(static_text("charts.js"), encoding="utf-8")
        write_downloads_into(work / "downloads", tables.frames(), tables.suppression_upper)
        pages = []
        for measure in tables.measure_list():
            path = work / "measures" / f"{tables.page_name(measure['measure_id'])}.html"
            path.write_text(builder.measure_page(measure), encoding="utf-8")
            pages.append(path)
        for program in tables.programs():
            path = work / "programs" / f"{tables.program_slug(program)}.html"
            path.write_text(builder.program_page(program), encoding="utf-8")
            pages.append(path)
        (work / "data-quality.html").write_text(builder.data_quality_page(), encoding="utf-8")
        pages.append(work / "data-quality.html")
        (work / "index.html").write_text(builder.index(), encoding="utf-8")
        pages.append(work / "index.html")
        swap_in(work, site_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return [site_dir / p.relative_to(work) for p in pages]


_swap_in = swap_in  # the name the first site writer used

__all__ = ["UNIT_LABELS", "environment", "write_site"]
