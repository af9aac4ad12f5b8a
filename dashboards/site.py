"""The static dashboard site, opening from file:// with no network.

Pages: ``index.html`` (report card: the measures grouped by the stage of the child's journey,
headline measures first in each, and each programme's measures), ``measures/<measure_id>.html`` (turn-the-curve chart, story behind the baseline,
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
from pathlib import Path

import pandas as pd

from dashboards import charts
from dashboards.data_quality import render_quality_page
from dashboards.downloads import DOWNLOADS, copy_downloads, write_downloads_into
from dashboards.formatting import JOURNEY_LABELS, KIND_LABELS, generated_text, period_text
from dashboards.outputs import replacing_folder
from dashboards.published import PublishedTables
from dashboards.views import (
    OTHER_JOURNEY,
    assurance_text,
    breakdown_views,
    by_journey,
    card_view,
    comparison_view,
    curve_view,
    environment,
    journey_heading,
    journey_of,
    measure_view,
    not_computed_view,
    plain,
    plotly_js,
    static_text,
    story_view,
    stylesheet,
    target_text,
)
from pipelines.forked import split_map

QUADRANTS = (
    ("how_much", "How much did we do?", "Quantity of effort"),
    ("how_well", "How well did we do it?", "Quality of effort"),
    ("better_off_number", "Is anyone better off? (#)", "Quantity of effect"),
    ("better_off_percent", "Is anyone better off? (%)", "Quality of effect"),
)


def comparison_cells(rank: dict) -> dict:
    """The report card's "vs England" and quartile cells from the latest comparator rank."""
    if not rank:
        return {"vs_england": "", "quartile": "", "rank_year": ""}
    value, england = rank.get("value"), rank.get("england")
    vs = ""
    if value is not None and england is not None:
        diff = float(value) - float(england)
        vs = f"{'+' if diff > 0 else ''}{diff:.1f} ({float(england):.1f})"
    quartile = rank.get("quartile")
    return {
        "vs_england": vs,
        "quartile": "" if quartile is None else str(int(quartile)),
        "rank_year": str(pd.Timestamp(rank["period_end"]).year) if rank.get("period_end") is not None else "",
    }


def measure_notes(tables: PublishedTables, measure: dict, card: dict | None) -> list[str]:
    notes = [
        f"Counts from 1 to {tables.suppression_upper} are shown as c, and so is a figure from "
        "which one could be worked out from a total; percentages and rates are c when their "
        "numerator or denominator is."
        if tables.is_public
        else "Exact figures for use inside the council: small counts are not suppressed here "
        "(the published CSVs are)."
    ]
    if measure.get("unit") == "days" and tables.is_public:
        notes.append(
            "A mean number of days is c when the number of children it is taken over is; the "
            "days added up never count as children."
        )
    first = tables.series(measure["measure_id"])["period_end"].min()
    if card and card.get("baseline_end") and not (
        # an insufficient history can put the baseline end before the first figure
        card.get("status") == "insufficient_data"
        and not pd.isna(first) and pd.Timestamp(card["baseline_end"]) < pd.Timestamp(first)
    ):
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
            "is_public": tables.is_public,
            "audience_text": tables.audience_text,
            "nav_programs": tables.programs(),
        }

    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(**self.common, **context)

    def index_groups(self) -> list[dict]:
        """The report card's groups, one per stage of the child's journey in its order (front
        door, children in need, child protection, children looked after, care leavers,
        programmes), each with its measures' whole-population rows, headline measures first;
        an empty stage is left out. Programmes also hold each programme's own rows."""
        t = self.t
        headline = t.headline_ids()
        kinds = dict(zip(t.measures["measure_id"], t.measures["oba_kind"], strict=False))
        ordered = headline + [m for m in t.measures["measure_id"] if m not in headline]
        cards: dict[str, list[dict]] = {}
        for measure_id in by_journey(t, ordered):
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
                view.update(comparison_cells(t.latest_rank(measure_id)))
            view.setdefault("oba_kind", kinds.get(measure_id))
            cards.setdefault(journey_of(t, measure_id), []).append(view)
        order = {"how_much": 0, "how_well": 1, "better_off": 2}
        cards.get("programmes", []).sort(key=lambda c: order.get(c.get("oba_kind"), 3))
        program_groups = []
        for program in t.programs():
            rows = []
            for kind in ("how_much", "how_well", "better_off"):
                for measure_id in t.measures[t.measures["oba_kind"] == kind]["measure_id"]:
                    card = t.card(measure_id, program)
                    if not card:
                        continue
                    page = t.page_name(measure_id)
                    rows.append(
                        card_view(
                            card,
                            href=f"measures/{page}.html",
                            spark=t.series(measure_id, "program", program),
                            spark_id=f"spark-{page}-{t.program_slug(program)}",
                        )
                    )
            if rows:
                program_groups.append(
                    {"name": program, "href": f"programs/{t.program_slug(program)}.html",
                     "cards": rows}
                )
        groups = []
        for key in (*JOURNEY_LABELS, OTHER_JOURNEY):
            group = {"key": key, "heading": journey_heading(key), "cards": cards.get(key, [])}
            if key == "programmes":
                group["program_groups"] = program_groups
            if group["cards"] or group.get("program_groups"):
                groups.append(group)
        return groups

    def not_computed_rows(self, root: str = "") -> list[dict]:
        """The not-computed list with each measure's page link."""
        return [
            dict(row, href=f"{root}measures/{self.t.page_name(row['measure_id'])}.html",
                 kind_label=KIND_LABELS.get(row.get("oba_kind"), row.get("oba_kind") or ""))
            for row in self.t.not_computed_list()
        ]

    def index(self) -> str:
        groups = self.index_groups()
        latest = self.t.report_card["latest_period"].max() if len(self.t.report_card) else None
        return self.render(
            "index.html",
            page="index",
            root="",
            journey_groups=groups,
            headlines=self.t.headlines(),
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
            comparison=comparison_view(t, measure),
            story=story,
            programs=programs,
            programs_chart=programs_chart,
            breakdowns=breakdown_views(t, measure),
            target_text=target_text(card or {}, t.story(measure["measure_id"]), measure["unit"]),
            assurance_text=assurance_text(card or {}),
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

    def data_quality_page(self, *, measures: bool = True) -> str:
        """The data-quality page (``dashboards.data_quality``); ``measures=False`` leaves out
        the measures not computed (an export check computes none)."""
        return render_quality_page(self, measures=measures)


def write_site(
    site_dir: Path,
    tables: PublishedTables,
    *,
    generated: dt.datetime | None = None,
    downloads: Path | None = None,
) -> list[Path]:
    """Write the site into ``site_dir`` (replacing it whole) and return the pages written.

    ``downloads``: the folder the CSV downloads were written to, copied into the site's
    ``downloads/``; without it they are written there from ``tables``.
    """
    generated = generated or dt.datetime.now().replace(microsecond=0)
    builder = SiteBuilder(tables, generated)
    site_dir = Path(site_dir)
    with replacing_folder(site_dir) as work:
        for folder in ("assets", "measures", "programs", "downloads"):
            (work / folder).mkdir()
        (work / "assets" / "plotly.min.js").write_text(plotly_js(), encoding="utf-8")
        (work / "assets" / "site.css").write_text(stylesheet("site.css"), encoding="utf-8")
        (work / "assets" / "charts.js").write_text(static_text("charts.js"), encoding="utf-8")
        if downloads is None:
            write_downloads_into(work / "downloads", tables.frames(), tables.suppression_upper)
        else:
            copy_downloads(downloads, work / "downloads")
        jobs = [
            (Path("measures") / f"{tables.page_name(m['measure_id'])}.html", "measure_page", m)
            for m in tables.measure_list()
        ]
        jobs += [
            (Path("programs") / f"{tables.program_slug(p)}.html", "program_page", p)
            for p in tables.programs()
        ]
        jobs += [
            (Path("data-quality.html"), "data_quality_page", None),
            (Path("index.html"), "index", None),
        ]

        def render(job: tuple[Path, str, object]) -> str:
            _, page, argument = job
            return getattr(builder, page)() if argument is None else getattr(builder, page)(argument)

        # the pages are independent: shared with forked copies of this process (one per other core)
        for (path, _, _), html in zip(jobs, split_map(render, jobs), strict=True):
            (work / path).write_text(html, encoding="utf-8")
    return [site_dir / path for path, _, _ in jobs]


__all__ = ["write_site"]
