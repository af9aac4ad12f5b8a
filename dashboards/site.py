"""The static dashboard site: report card and one page per measure, opening from file://.

Pages are Jinja2 templates with autoescaping on (story text is people's words: shown as text,
never run). One local copy of plotly.js serves every page; nothing is fetched from a network.
The site is written into a fresh folder beside the target and swapped in only when complete.
"""

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import plotly.offline
from jinja2 import Environment, PackageLoader, select_autoescape

from dashboards import charts

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("dashboards", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["number"] = format_value
    return env


def format_value(value, unit: str = "count") -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _chart_html(fig, div_id: str) -> str:
    return fig.to_html(
        full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG, div_id=div_id
    )


def _measure_summary(measure: dict, series: pd.DataFrame) -> dict:
    series = series.dropna(subset=["value"]).sort_values("period_end")
    latest = series.iloc[-1] if len(series) else None
    year_ago = None
    if latest is not None:
        target_date = (latest["period_end"] - pd.DateOffset(years=1)) + pd.offsets.MonthEnd(0)
        match = series[series["period_end"] == target_date]
        year_ago = match["value"].iloc[0] if len(match) else None
    return {
        **measure,
        "latest_period": latest["period_end"].strftime("%d %b %Y") if latest is not None else "–",
        "latest_value": format_value(latest["value"] if latest is not None else None, measure["unit"]),
        "change_year": (
            format_value(latest["value"] - year_ago, measure["unit"])
            if latest is not None and year_ago is not None
            else "–"
        ),
        "n_periods": len(series),
    }


def write_site(
    site_dir: Path,
    *,
    authority: str,
    measures: pd.DataFrame,
    values: pd.DataFrame,
    stories: dict[str, dict],
    generated: dt.datetime | None = None,
) -> list[Path]:
    """Write the site into ``site_dir`` (replacing it whole) and return the pages written.

    ``measures``: marts.measures rows. ``values``: period_end, measure_id, value for the whole
    population (breakdown 'all'). ``stories``: measure_id → story dict (story, partners, ...).
    """
    env = _environment()
    generated = generated or dt.datetime.now().replace(microsecond=0)
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".site-", dir=site_dir.parent))
    try:
        work.chmod(0o755)
        (work / "assets").mkdir()
        (work / "measures").mkdir()
        (work / "assets" / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        (work / "assets" / "site.css").write_text(
            env.get_template("site.css").render(), encoding="utf-8"
        )
        values = values.assign(period_end=pd.to_datetime(values["period_end"]))
        cards = []
        pages = []
        for measure in measures.to_dict("records"):
            series = values[values["measure_id"] == measure["measure_id"]][["period_end", "value"]]
            story = stories.get(measure["measure_id"]) or {}
            summary = _measure_summary(measure, series)
            spark = charts.sparkline(series)
            summary["sparkline"] = _chart_html(spark, f"spark-{measure['measure_id']}")
            cards.append(summary)
            fig = charts.turn_the_curve(
                series, title=measure["name"], unit=measure["unit"], stories=story.get("story")
            )
            table = series.sort_values("period_end", ascending=False)
            page = env.get_template("measure.html").render(
                authority=authority,
                generated=generated,
                measure=summary,
                chart=_chart_html(fig, f"chart-{measure['measure_id']}"),
                story=story,
                rows=[
                    {"period": r.period_end.strftime("%d %b %Y"), "value": format_value(r.value, measure["unit"])}
                    for r in table.itertuples()
                ],
                root="../",
            )
            path = work / "measures" / f"{measure['measure_id']}.html"
            path.write_text(page, encoding="utf-8")
            pages.append(path)
        index = env.get_template("index.html").render(
            authority=authority, generated=generated, cards=cards, root=""
        )
        (work / "index.html").write_text(index, encoding="utf-8")
        pages.append(work / "index.html")
        _swap_in(work, site_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return [site_dir / p.relative_to(work) for p in pages]


def _swap_in(work: Path, target: Path) -> None:
    """Replace ``target`` with ``work``: the old folder stays until the new one is in place."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
