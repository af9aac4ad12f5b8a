"""The regional comparison site: each measure's authorities against the region, from file://."""

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from markupsafe import Markup

from dashboards.outputs import replacing_file, replacing_folder
from dashboards.published import audience_text
from dashboards.theme import OKABE_ITO, ROLE_COLOURS, register
from dashboards.views import environment, plotly_js

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
                      yaxis_title={"count": "Children", "percent": "%", "rate_per_10k": "Per 10,000",
                                   "days": "Days (mean)"}.get(unit, unit))
    return fig


def write_region_site(
    site_dir: Path, *, region: str, measures: pd.DataFrame, values: pd.DataFrame, suppression_upper: int = 5
) -> Path:
    """Write ``site_dir/index.html`` (replacing the folder whole) and return its path.

    ``values``: published regional values (display strings in ``shown``, numbers in ``value``:
    already rounded and suppressed, suppressed cells NaN); ``suppression_upper``: the largest
    count shown as c, for the page's note.
    """
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
        sections.append(
            {
                "measure_id": m.measure_id,
                "name": m.name,
                "chart": Markup(chart),  # plotly's own markup: the figure's data as JSON
                "when": latest["period_end"].max().strftime("%d %B %Y"),
                "rows": [
                    {"area": "Region" if r.breakdown == "all" else str(r.breakdown_value), "shown": str(r.shown)}
                    for r in latest.itertuples()
                ],
            }
        )
    # the regional roll-up is published data: always public (DESIGN §5)
    page = environment().get_template("region.html").render(
        region=region, measures=sections, upper=int(suppression_upper),
        audience_text=audience_text("public", int(suppression_upper)),
    )
    with replacing_folder(site_dir) as work:
        (work / "assets").mkdir()
        (work / "assets" / "plotly.min.js").write_text(plotly_js(), encoding="utf-8")
        (work / "index.html").write_text(page, encoding="utf-8")
    return Path(site_dir) / "index.html"


def write_region_download(folder: Path, values: pd.DataFrame) -> Path:
    """Write ``folder/regional_measure_values.csv`` (the published regional values as shown:
    numerator, denominator and shown, each a rounded number or a code)."""
    path = Path(folder) / "regional_measure_values.csv"
    with replacing_file(path) as work:
        values.drop(columns=["value"]).to_csv(work / path.name, index=False)
    return path
