"""The regional comparison site: each measure's authorities against the region, from file://."""

import html
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from dashboards.theme import OKABE_ITO, ROLE_COLOURS, register

_LINE_COLOURS = [OKABE_ITO[c] for c in ("orange", "sky_blue", "green", "purple", "vermillion", "yellow")]


def comparison_chart(frame: pd.DataFrame, *, title: str, unit: str) -> go.Figure:
    """One line per authority and a heavier line for the region.

    ``frame``: period_end, breakdown ('authority' or 'all'), breakdown_value, value (numbers;
    suppressed cells already NaN).
    """
    register()
    fig = go.Figure()
    authorities = frame[frame["breakdown"] == "authority"]
    for i, (name, rows) in enumerate(sorted(authorities.groupby("breakdown_value"), key=lambda x: x[0])):
        rows = rows.sort_values("period_end")
        fig.add_trace(
            go.Scatter(
                x=rows["period_end"], y=rows["value"], mode="lines", name=str(name),
                line={"color": _LINE_COLOURS[i % len(_LINE_COLOURS)], "width": 1.8},
            )
        )
    region = frame[frame["breakdown"] == "all"].sort_values("period_end")
    fig.add_trace(
        go.Scatter(
            x=region["period_end"], y=region["value"], mode="lines", name="Region",
            line={"color": ROLE_COLOURS["actual"], "width": 3.5},
        )
    )
    fig.update_layout(template=register(), title={"text": title, "x": 0}, height=380,
                      yaxis_title={"count": "Children", "percent": "%", "rate_per_10k": "Per 10,000"}.get(unit, unit))
    return fig


def write_region_site(site_dir: Path, *, region: str, measures: pd.DataFrame, values: pd.DataFrame) -> Path:
    """Write ``site_dir/index.html`` (replacing the folder whole) and return its path.

    ``values``: published regional values (display strings in ``shown``, numbers in ``value``).
    """
    site_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".region-site-", dir=site_dir.parent))
    work.chmod(0o755)
    try:
        (work / "assets").mkdir()
        (work / "assets" / "plotly.min.js").write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
        sections = []
        values = values.assign(period_end=pd.to_datetime(values["period_end"]))
        for m in measures.sort_values("measure_id").itertuples():
            frame = values[values["measure_id"] == m.measure_id]
            if frame.empty:
                continue
            chart = comparison_chart(frame, title=m.name, unit=m.unit).to_html(
                full_html=False, include_plotlyjs=False, div_id=f"chart-{m.measure_id}",
                config={"displaylogo": False, "responsive": True},
            )
            latest = frame[frame["period_end"] == frame["period_end"].max()].sort_values(
                ["breakdown", "breakdown_value"], ascending=[False, True]
            )
            rows = "".join(
                f"<tr><th scope=\"row\">{html.escape('Region' if r.breakdown == 'all' else str(r.breakdown_value))}</th>"
                f"<td class=\"num\">{html.escape(str(r.shown))}</td></tr>"
                for r in latest.itertuples()
            )
            when = latest["period_end"].max().strftime("%d %B %Y")
            sections.append(
                f"<section aria-labelledby=\"h-{m.measure_id}\"><h2 id=\"h-{m.measure_id}\">{html.escape(m.name)}</h2>"
                f"<div class=\"chart\" role=\"img\" aria-label=\"{html.escape(m.name)} by authority and for the region; "
                f"figures in the table below\">{chart}</div>"
                f"<table><caption>{html.escape(m.name)} at {when}</caption>"
                f"<thead><tr><th scope=\"col\">Area</th><th scope=\"col\">Value</th></tr></thead><tbody>{rows}</tbody></table></section>"
            )
        page = (
            "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\">"
            f"<title>Regional comparison – {html.escape(region)}</title>"
            "<script src=\"assets/plotly.min.js\"></script>"
            "<style>body{font-family:Arial,Helvetica,sans-serif;max-width:1100px;margin:1rem auto;padding:0 1rem}"
            "table{border-collapse:collapse;margin:1rem 0}th,td{border-bottom:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
            "td.num{text-align:right}caption{text-align:left;font-weight:bold}</style></head><body><main>"
            f"<h1>{html.escape(region)}: authorities compared</h1>"
            "<p>Each chart shows every authority and the region as a whole. Counts of 1 to 5 are shown as c; "
            "regional totals are rounded to the nearest 10.</p>"
            + "".join(sections)
            + "</main></body></html>"
        )
        (work / "index.html").write_text(page, encoding="utf-8")
        old = None
        if site_dir.exists():
            old = site_dir.with_name(f".{site_dir.name}-old-{os.getpid()}")
            os.replace(site_dir, old)
        os.replace(work, site_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return site_dir / "index.html"
