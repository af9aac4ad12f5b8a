"""The board pack: an A4 landscape PDF for review meetings, printed by headless Chromium.

Pages: a cover with the report card of the headline measures grouped by the stage of the
child's journey (front door to programmes), one page per headline measure in that order
(turn-the-curve chart, status, SPC, story summary, partners, action plan, breakdowns) and a last
page of data-quality caveats. Headline measures are ``pub_measures.is_headline`` (the configured
list; if empty, every measure with whole-population rows).

The pack is an HTML page (Jinja2, autoescaped) drawn with the same local plotly.js and
``charts.js`` as the site, then printed to PDF by Debian's Chromium run as a subprocess:
``chromium --headless --print-to-pdf`` with a virtual-time budget so plotly has drawn before
printing. Charts are SVG, so they stay vector in the PDF. Nothing is downloaded: the page loads
only files beside it. Each page is a fixed-height box with overflow hidden (long stories and
action plans are shortened, with "N more on the site"), so the page count is always
cover + one per headline measure + caveats. The PDF is written beside the target and moved
into place only when complete.

Chromium is found from ``OBA_CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on PATH.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dashboards import charts, theme
from dashboards import chromium as browsers
from dashboards.formatting import KIND_LABELS, generated_text, period_text
from dashboards.outputs import replacing_file
from dashboards.published import LEFT_OUT, PublishedTables
from dashboards.views import (
    DIRECTION_TEXT,
    breakdown_views,
    by_journey,
    card_view,
    curve_view,
    environment,
    journey_heading,
    journey_of,
    measure_view,
    plain,
    plotly_js,
    static_text,
    story_view,
    stylesheet,
    target_text,
)
from pipelines import settings

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-crash-reporter",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)
DEBIAN_CHROMIUM = "/usr/bin/chromium"
VIRTUAL_TIME_BUDGET_MS = 30000
TIMEOUT_S = 240
ABANDON_WAIT_S = 30
CHART_SIZE = (600, 420)
STORY_ITEMS, STORY_TEXT = 5, 170
ACTION_ROWS = 6
COVER_ROWS = 14
NOT_COMPUTED_GROUPS, NOT_COMPUTED_TEXT = 7, 230
BREAKDOWN_VALUES = 12
INSTALL_HINT = (
    "install it with `apt-get install chromium` (Debian/Ubuntu), or set OBA_CHROMIUM to the "
    "path of a Chromium or Chrome executable"
)


class BoardPackError(RuntimeError):
    """The board pack could not be made; the message says why and what to do."""


@dataclass
class BoardPackResult:
    path: Path
    pages: int
    headline: list[str]
    seconds: float
    chromium: str


def find_chromium() -> str:
    """The Chromium to print with: OBA_CHROMIUM, /usr/bin/chromium, or chromium on PATH."""
    configured = settings.current().chromium
    if configured:
        path = Path(configured)
        found = shutil.which(configured) if not path.is_file() else str(path)
        if found and os.access(found, os.X_OK):
            return found
        raise BoardPackError(
            f"OBA_CHROMIUM is set to {configured!r}, which is not an executable; {INSTALL_HINT}."
        )
    for candidate in (DEBIAN_CHROMIUM, shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BoardPackError(f"No Chromium found to print the board pack: {INSTALL_HINT}.")


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _css_string(text: str) -> str:
    """Text for a CSS string literal: anything but letters, digits and spaces escaped."""
    return "".join(c if (c.isalnum() and c.isascii()) or c == " " else f"\\{ord(c):x} " for c in text)


def _cover_fit(rows: list[dict]) -> int:
    """How many of the cover's rows fit its page: COVER_ROWS rows, a stage heading taking half
    a row's height."""
    room, shown, journey = float(COVER_ROWS), 0, None
    for row in rows:
        need = 1.0 + (0.5 if row.get("journey") != journey else 0.0)
        if need > room:
            break
        room -= need
        shown += 1
        journey = row.get("journey")
    return shown


class PackBuilder:
    def __init__(self, tables: PublishedTables, generated: dt.datetime):
        self.t = tables
        self.generated = generated
        self.env = environment()

    def cover_rows(self, headline: list[str]) -> list[dict]:
        """The cover's report-card rows of the headline measures (in the order given: the
        child's journey), each row naming its stage (``journey``, ``journey_heading``)."""
        t = self.t
        rows = []
        for measure_id in headline:
            journey = journey_of(t, measure_id)
            stage = {"journey": journey, "journey_heading": journey_heading(journey)}
            measure = t.measure(measure_id)
            page = t.page_name(measure_id)
            cards = [(None, t.card(measure_id))] if t.card(measure_id) else [
                (p, t.card(measure_id, p)) for p in t.programs() if t.card(measure_id, p)
            ]
            entry = t.not_computed_for(measure_id)
            if not cards and entry:
                # A headline measure that could not be computed keeps its row, saying why.
                rows.append({
                    **stage,
                    "not_computed": True,
                    "name": measure.get("name") or measure_id,
                    "kind_label": KIND_LABELS.get(measure.get("oba_kind"), ""),
                    "coverage_label": entry["coverage_label"],
                    "reason": _shorten(entry.get("reason") or "", 200),
                })
                continue
            for program, card in cards:
                spark = (t.series(measure_id) if program is None
                         else t.series(measure_id, "program", program))
                view = card_view(card, href="", spark=spark,
                                 spark_id=f"spark-{page}-{len(rows)}")
                if entry and program is None:
                    view["coverage_note"] = _shorten(
                        f"{entry['coverage_label']}: {entry.get('reason') or ''}", 160
                    )
                view["target_text"] = target_text(plain(card), t.story(measure_id),
                                                  measure.get("unit"))
                if view["target_text"] == "None set":
                    view["target_text"] = "–"
                rows.append({**view, **stage})
        return rows

    def measure_page(self, measure_id: str) -> dict:
        t = self.t
        measure = measure_view(t, t.measure(measure_id))
        unit = measure.get("unit")
        story = story_view(t.story(measure_id))
        card = plain(t.card(measure_id))
        view = {
            "name": measure["name"],
            "page": measure["page"],
            "unit": unit,
            "kind_label": KIND_LABELS.get(measure.get("oba_kind"), ""),
            "direction_of_good": measure.get("direction_of_good"),
            "direction_text": DIRECTION_TEXT.get(measure.get("direction_of_good"), ""),
            "card": None,
            "chart_payload": None,
            "chart_label": "",
            "programs": [],
            "breakdowns": [],
        }
        width, height = CHART_SIZE
        if card:
            card["latest_period_text"] = period_text(card.get("latest_period"))
            view["card"] = card
            curve = curve_view(t, measure, story, height=height, width=width,
                               config=charts.STATIC_CONFIG, compact=True)
            if curve:
                view["chart_payload"] = curve["payload"]
                view["chart_label"] = curve["label"]
        else:
            values = t.measure_values(measure_id)
            rows = values[values["breakdown"] == "program"]
            if len(rows):
                fig = charts.lines_by_group(rows, title=f"{measure['name']} by programme",
                                            unit=unit, height=height, width=width)
                view["chart_payload"] = charts.to_payload(fig, charts.STATIC_CONFIG)
                view["chart_label"] = f"{measure['name']} by programme"
                latest = rows["period_end"].max()
                view["programs_period"] = period_text(latest)
                view["programs"] = [
                    {
                        "name": r.breakdown_value,
                        "value": r.value,
                        "status": theme.status_style(
                            t.card(measure_id, r.breakdown_value).get("status")
                        )["label"],
                    }
                    for r in rows[rows["period_end"] == latest].sort_values(
                        "breakdown_value").itertuples()
                ]
        entry = t.not_computed_for(measure_id)
        view["not_computed"] = {
            "label": entry["coverage_label"],
            "reason": _shorten(entry.get("reason") or "", 400),
            "fix": _shorten(entry.get("fix") or "", 400),
        } if entry else None
        view["target_text"] = target_text(card or {}, t.story(measure_id), unit)
        view["breakdowns"] = breakdown_views(t, measure, config=charts.STATIC_CONFIG)
        for b in view["breakdowns"]:
            b.pop("payload", None)
            if len(b["rows"]) > BREAKDOWN_VALUES:
                b["more"] = len(b["rows"]) - BREAKDOWN_VALUES
                b["rows"] = b["rows"][:BREAKDOWN_VALUES]
        items = story["entries"]
        view["story"] = [
            dict(item, text=_shorten(item["text"], STORY_TEXT), title=_shorten(item["title"], 90))
            for item in items[:STORY_ITEMS]
        ]
        view["story_more"] = max(len(items) - STORY_ITEMS, 0)
        view["partners"] = [_shorten(p, 60) for p in story["partners"][:8]]
        view["actions"] = [
            {k: _shorten(v, 110 if k == "action" else 40) for k, v in a.items()}
            for a in story["actions"][:ACTION_ROWS]
        ]
        view["actions_more"] = max(len(story["actions"]) - ACTION_ROWS, 0)
        rank = t.latest_rank(measure_id)

        def number(value):
            return "x" if value is None else f"{float(value):.1f}"

        view["comparison"] = {
            "year": pd.Timestamp(rank["period_end"]).year,
            "england": number(rank.get("england")),
            "neighbours_mean": number(rank.get("neighbours_mean")),
            "region": None if rank.get("region") is None else number(rank.get("region")),
            "region_name": rank.get("region_name") or "Region",
            "rank": None if rank.get("rank") is None else int(rank["rank"]),
            "out_of": None if rank.get("out_of") is None else int(rank["out_of"]),
            "quartile": None if rank.get("quartile") is None else int(rank["quartile"]),
        } if rank else None
        return view

    def quality(self, failure_rows: int = 10) -> dict:
        t = self.t
        checks = t.contract_results if t.contract_results is not None else pd.DataFrame(
            columns=["source", "check_name", "success", "severity", "message"]
        )
        rows = [plain(r) for r in checks.to_dict("records")]
        failures = [r for r in rows if not r.get("success")]
        failures.sort(key=lambda r: (r.get("severity") != "blocking", str(r.get("source"))))
        quarantine = t.quarantine if t.quarantine is not None else pd.DataFrame(
            columns=["source", "rows"]
        )
        if "action" in quarantine:  # rows left out of the figures; cleared values keep their rows
            quarantine = quarantine[quarantine["action"].fillna("excluded").isin(LEFT_OUT)]
        by_source = (
            quarantine.groupby("source", as_index=False)["rows"].sum().to_dict("records")
            if len(quarantine) else []
        )
        return {
            "checks": len(rows),
            "passed": len(rows) - len(failures),
            "failed": len(failures),
            "blocking": sum(1 for r in failures if r.get("severity") == "blocking"),
            "failures": [
                dict(r, message=_shorten(r.get("message") or "", 150))
                for r in failures[:failure_rows]
            ],
            "failures_more": max(len(failures) - failure_rows, 0),
            "quarantined": int(quarantine["rows"].sum()) if len(quarantine) else 0,
            "quarantine": [plain(r) for r in by_source],
        }

    def not_computed(self) -> tuple[list[dict], int]:
        """The measures not computed, grouped where they share the reason and the fix (so the
        caveats page stays one page), headline measures first; and how many groups are left
        for the site."""
        groups: dict[tuple, dict] = {}
        for row in self.t.not_computed_list():
            key = (row.get("coverage_label"), row.get("reason"), row.get("fix"))
            group = groups.setdefault(key, {
                "label": row.get("coverage_label"),
                "names": [],
                "reason": _shorten(row.get("reason") or "", NOT_COMPUTED_TEXT),
                "fix": _shorten(row.get("fix") or "", NOT_COMPUTED_TEXT),
            })
            group["names"].append(
                (row.get("name") or row.get("measure_id")) + (" (headline)" if row["is_headline"] else "")
            )
        listed = list(groups.values())
        return listed[:NOT_COMPUTED_GROUPS], max(len(listed) - NOT_COMPUTED_GROUPS, 0)

    def html(self, headline: list[str]) -> str:
        t = self.t
        cover = self.cover_rows(headline)
        shown = _cover_fit(cover)
        pages = [self.measure_page(m) for m in headline]
        insufficient = [
            t.measure(m).get("name") for m in headline
            if t.card(m).get("status") == "insufficient_data"
        ]
        latest = t.report_card["latest_period"].max() if len(t.report_card) else None
        not_computed, not_computed_more = self.not_computed()
        return self.env.get_template("board_pack.html").render(
            not_computed=not_computed,
            not_computed_more=not_computed_more,
            authority=t.authority,
            generated_text=generated_text(self.generated),
            latest_period=period_text(latest) if latest is not None and not pd.isna(latest) else "–",
            cover_rows=cover[:shown],
            cover_more=len(cover) - shown,
            pages=pages,
            quality_available=t.has_quality_results,
            # the not-computed list shares the caveats page: fewer failures, the rest on the site
            quality=self.quality(4 if not_computed else 10),
            insufficient=[n for n in insufficient if n],
            suppression_upper=t.suppression_upper,
            is_public=t.is_public,
            audience_text=t.audience_text,
            headlines=t.headlines(),
        )


def write_pack_html(folder: Path, tables: PublishedTables, headline: list[str],
                    generated: dt.datetime) -> Path:
    """Write the pack's HTML and its local assets into ``folder``; returns the HTML path."""
    builder = PackBuilder(tables, generated)
    css = stylesheet(  # a stylesheet: not HTML-escaped; the footer is a quoted CSS string
        "board_pack.css",
        footer=_css_string(f"{tables.authority} · turn the curve board pack · "
                           f"{generated_text(generated)} · {tables.audience_text}"),
    )
    (folder / "board_pack.css").write_text(css, encoding="utf-8")
    (folder / "plotly.min.js").write_text(plotly_js(), encoding="utf-8")
    (folder / "charts.js").write_text(static_text("charts.js"), encoding="utf-8")
    path = folder / "board_pack.html"
    path.write_text(builder.html(headline), encoding="utf-8")
    return path


# Switches of Chromium's one-shot headless commands (--print-to-pdf and its options): a browser
# that stays up to print on request must not get them.
_COMMAND_SWITCHES = ("--no-pdf-header-footer",)
BROWSER_FLAGS = tuple(f for f in CHROMIUM_FLAGS if f not in _COMMAND_SWITCHES)


def prestart_chromium() -> None:
    """Start the browser the board pack will print with, so that it is up by then (no-op when
    there is no Chromium: the board pack step reports that)."""
    try:
        chromium = find_chromium()
    except BoardPackError:
        return
    browsers.prestart(chromium, BROWSER_FLAGS)


def _browser(chromium: str) -> browsers.Browser:
    """A started browser: the prestarted one, else one started now."""
    return browsers.take(chromium) or browsers.start(chromium, BROWSER_FLAGS)


def print_pdf(html: Path, pdf: Path, chromium: str, *, timeout: float = TIMEOUT_S,
              browser: browsers.Browser | None = None) -> None:
    """Print ``html`` to ``pdf`` with headless Chromium; raises BoardPackError on failure
    (:func:`printing` with nothing to do meanwhile)."""
    with printing(html, pdf, chromium, timeout=timeout, browser=browser):
        pass


@contextlib.contextmanager
def printing(html: Path, pdf: Path, chromium: str, *, timeout: float = TIMEOUT_S,
             browser: browsers.Browser | None = None) -> Iterator[None]:
    """Print ``html`` to ``pdf`` while the ``with`` block runs: when the block ends, the PDF is
    written, or BoardPackError is raised. If the block raises, its exception goes on and the
    print is abandoned (the browser closes).

    With ``browser`` (started ahead), that browser prints it, from the block's start, and is
    handed back for the next pack (``chromium.release``); if it fails, or without one,
    ``chromium --headless --print-to-pdf`` prints it once the block has ended.
    """
    started = time.monotonic()
    wait = None
    if browser is not None:
        try:
            wait = browser.submit_print(
                html.resolve().as_uri(), pdf, budget_ms=VIRTUAL_TIME_BUDGET_MS, timeout=timeout
            )
        except browsers.BrowserError:
            browser.close()
            browser = None
    try:
        yield
    except BaseException:
        if browser is not None:
            # it ends the page it has, then closes: waited for, so that nothing is written into
            # the pack's folder once it is removed
            browser.close(wait=ABANDON_WAIT_S)
        raise
    if browser is not None and wait is not None:
        printed = False
        try:
            wait()
            _check_pdf(pdf, browser.stderr_tail())
            printed = True
        except TimeoutError as exc:
            raise BoardPackError(f"Chromium did not finish printing within {timeout:.0f} s") from exc
        except (browsers.BrowserError, OSError, ValueError, KeyError):
            pdf.unlink(missing_ok=True)
        finally:
            if printed:
                browsers.release(chromium, browser)  # up for the next pack in this process
            else:
                browser.close()
        if printed:
            return
    _print_pdf_command(html, pdf, chromium, timeout=max(timeout - (time.monotonic() - started), 1.0))


def _check_pdf(pdf: Path, tail: str) -> None:
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise BoardPackError(f"Chromium failed to print the board pack: {tail}")
    with pdf.open("rb") as handle:
        if handle.read(5) != b"%PDF-":
            raise BoardPackError("Chromium wrote a file that is not a PDF")


def _print_pdf_command(html: Path, pdf: Path, chromium: str, *, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="oba-chromium-") as profile:
        command = [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            f"--print-to-pdf={pdf}",
            html.resolve().as_uri(),
        ]
        env = settings.child_environment(HOME=profile, XDG_CONFIG_HOME=profile, XDG_CACHE_HOME=profile)
        try:
            completed = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BoardPackError(f"Chromium did not finish printing within {timeout:.0f} s") from exc
        except OSError as exc:
            raise BoardPackError(f"Chromium could not be started ({exc}); {INSTALL_HINT}.") from exc
    if completed.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        tail = "\n".join((completed.stderr or "").strip().splitlines()[-8:])
        raise BoardPackError(
            f"Chromium failed to print the board pack (exit {completed.returncode}): {tail}"
        )
    with pdf.open("rb") as handle:
        if handle.read(5) != b"%PDF-":
            raise BoardPackError("Chromium wrote a file that is not a PDF")


def write_board_pack(
    pdf_path: Path,
    tables: PublishedTables,
    *,
    generated: dt.datetime | None = None,
    chromium: str | None = None,
    keep_html: Path | None = None,
    meanwhile: Callable[[], None] | None = None,
) -> BoardPackResult:
    """Write the board pack PDF at ``pdf_path`` (atomically) and return what was made.

    ``keep_html``: a folder to copy the pack's HTML into (for looking at it in a browser).
    ``meanwhile``: other work to do in this thread while Chromium prints the pack (the site);
    it runs once the pack's HTML is written, and its exception, if any, is raised in place of
    the pack's. The result's ``seconds`` leave its time out.
    """
    started = time.monotonic()
    aside = 0.0
    chromium = chromium or find_chromium()
    generated = generated or dt.datetime.now().replace(microsecond=0)
    headline = by_journey(tables, [m for m in tables.headline_ids() if tables.measure(m)])
    pdf_path = Path(pdf_path)
    with replacing_file(pdf_path) as work:
        browser = _browser(chromium)  # starts while the page is written, unless started before
        try:
            html = write_pack_html(work, tables, headline, generated)
        except BaseException:
            browser.close()
            raise
        with printing(html, work / pdf_path.name, chromium, browser=browser):
            if meanwhile is not None:
                begun = time.monotonic()
                meanwhile()
                aside = time.monotonic() - begun
        if keep_html is not None:
            if keep_html.exists():
                shutil.rmtree(keep_html)
            shutil.copytree(work, keep_html, ignore=shutil.ignore_patterns("*.pdf"))
    return BoardPackResult(
        path=pdf_path,
        pages=len(headline) + 2,
        headline=headline,
        seconds=time.monotonic() - started - aside,
        chromium=chromium,
    )


__all__ = ["BoardPackError", "BoardPackResult", "find_chromium", "write_board_pack"]
