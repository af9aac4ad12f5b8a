"""The published tables the site, board pack and downloads are made from.

``PublishedTables`` bundles the ``published.*`` tables as DataFrames (the Dagster asset reads
them; nothing here knows where they came from). Every figure in them is already rounded and
suppressed; the writers only lay them out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pandas as pd

from dashboards.formatting import is_missing

# Quarantine actions that leave a row out of the figures ("quarantine": warehouses before
# DESIGN §2b); "kept" rows stay in with the failing value cleared, "warn" rows as they are.
LEFT_OUT = ("excluded", "quarantine")
STORY_KEYS = ("story", "partners", "what_works", "actions", "data_development")

# The published tables by name, with the columns the writers rely on.
TABLES = {
    "pub_about": ("authority_name", "authority_code", "suppression_upper"),
    "pub_measures": (
        "measure_id", "name", "oba_kind", "unit", "direction_of_good", "description",
        "frequency", "journey", "sources", "breakdowns", "is_headline", "has_whole_population",
        "headline_order",
    ),
    "pub_measure_values": (
        "measure_id", "period_end", "breakdown", "breakdown_value", "numerator", "denominator",
        "value", "value_num", "suppressed",
    ),
    "pub_measure_status": (
        "measure_id", "breakdown", "breakdown_value", "period_end", "value", "value_text", "forecast", "forecast_lower",
        "forecast_upper", "baseline_end", "status", "spc_signal", "spc_mean", "spc_lower",
        "spc_upper", "target", "assurance", "forecast_withheld", "baseline_locked", "is_latest",
        "is_future", "spc_method", "variation", "status_note", "rebase_suggested", "rebase_note",
    ),
    "pub_report_card": (
        "measure_id", "name", "oba_kind", "unit", "direction_of_good", "program", "is_headline",
        "headline_order", "latest_period", "latest_text", "latest_value", "year_ago_period",
        "year_ago_text", "change_value", "change_text", "change_is_good", "status",
        "spc_signal", "assurance", "target", "baseline_end", "baseline_locked", "latest_forecast",
        "journey", "spc_method", "variation", "status_note", "rebase_suggested", "rebase_note",
    ),
    "pub_headline": (
        "group_kind", "group_name", "curves", "turned", "improving", "worsening", "no_change",
        "insufficient_data", "headline",
    ),
    "pub_breakdown_codes": ("breakdown", "code", "label", "position"),
    "pub_assessment_tools": (
        "tool", "higher_is_better", "sd", "reliability", "reliable_change", "falls_back",
    ),
    "pub_comparator_values": (
        "measure_id", "period_end", "area_type", "area_code", "area_name", "value", "symbol",
        "value_text", "source_file",
    ),
    "pub_comparator_rank": (
        "measure_id", "period_end", "rank", "out_of", "quartile", "neighbours_mean", "england",
        "value", "value_text", "value_source", "region", "region_name", "neighbours_min",
        "neighbours_max", "neighbours_counted",
    ),
    "pub_stories": (
        "measure_id", "baseline_end", "target", "story", "partners", "what_works", "actions",
        "data_development",
    ),
    "pub_contract_results": (
        "source", "check_name", "success", "unexpected_count", "severity", "message",
    ),
    "pub_quarantine_summary": (
        "source", "source_file", "column_name", "rule", "action", "rows", "rule_message",
    ),
    "pub_export_files": (
        "source_file", "recognised_as", "collection_year", "year_from", "year_note", "rows_read",
        "rows_kept", "rows_quarantined", "rows_cleared", "status", "superseded_by", "reason",
    ),
    "pub_source_files": (
        "source", "title", "source_file", "part", "collection_year", "year_from", "year_note",
        "rows_read", "rows_kept", "rows_excluded", "rows_cleared", "rows_warned", "rows_flagged",
        "superseded_by", "status",
    ),
    "pub_not_computed": (
        "measure_id", "name", "oba_kind", "unit", "is_headline", "headline_order", "coverage",
        "reason_code", "reason", "fix", "missing_inputs",
    ),
}
# Who the site and board pack are for (DESIGN §5): internal shows exact aggregates, public
# the suppressed figures. The published CSVs are always public.
AUDIENCES = ("internal", "public")


def audience_text(audience: str, suppression_upper: int) -> str:
    """The line every page's footer gives its audience in."""
    if audience == "internal":
        return (
            "Audience: internal — exact figures, for use inside the council; not for "
            "publication"
        )
    return f"Audience: public — counts of 1 to {suppression_upper} shown as c"


COVERAGE_LABELS = {"not_computed": "Not computed", "partly_computed": "Partly computed"}


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame(columns=list(TABLES[name]))


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    frame["period_end"] = pd.to_datetime(frame["period_end"])
    return frame


def slug(text: str) -> str:
    """A file-name-safe slug: lower-case letters, digits and hyphens only."""
    value = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return value[:80] or "item"


def _json_list(text) -> list:
    if is_missing(text) or text == "":
        return []
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return []
    return value if isinstance(value, list) else []


@dataclass
class PublishedTables:
    about: dict
    measures: pd.DataFrame
    values: pd.DataFrame
    status: pd.DataFrame
    report_card: pd.DataFrame
    stories: pd.DataFrame
    contract_results: pd.DataFrame | None = None
    quarantine: pd.DataFrame | None = None
    not_computed: pd.DataFrame | None = None
    export_files: pd.DataFrame | None = None
    source_files: pd.DataFrame | None = None
    breakdown_codes: pd.DataFrame | None = None
    comparator_values: pd.DataFrame | None = None
    comparator_rank: pd.DataFrame | None = None
    headline: pd.DataFrame | None = None
    audience: str = "public"
    assessment_tools: pd.DataFrame | None = None
    _program_slugs: dict[str, str] = field(default_factory=dict, repr=False)
    _splits: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_tables(cls, tables: dict[str, pd.DataFrame | None], audience: str = "public"
                    ) -> PublishedTables:
        """Build from ``{table name: DataFrame}`` (names as in :data:`TABLES`); ``audience``:
        who the figures are for (internal: computed without suppression)."""

        def get(name):
            frame = tables.get(name)
            return _empty(name) if frame is None else frame.copy()

        about_frame = get("pub_about")
        about = about_frame.iloc[0].to_dict() if len(about_frame) else {}
        about.setdefault("authority_name", "Local authority")
        about.setdefault("suppression_upper", 5)
        values = get("pub_measure_values")
        values["period_end"] = pd.to_datetime(values["period_end"])
        status = get("pub_measure_status")
        for column in ("period_end", "baseline_end"):
            status[column] = pd.to_datetime(status[column])
        card = get("pub_report_card")
        for column in ("latest_period", "year_ago_period", "baseline_end"):
            card[column] = pd.to_datetime(card[column])
        return cls(
            about=about,
            measures=get("pub_measures"),
            values=values,
            status=status,
            report_card=card,
            stories=get("pub_stories"),
            contract_results=tables.get("pub_contract_results"),
            quarantine=tables.get("pub_quarantine_summary"),
            not_computed=get("pub_not_computed"),
            export_files=tables.get("pub_export_files"),
            source_files=tables.get("pub_source_files"),
            breakdown_codes=get("pub_breakdown_codes"),
            comparator_values=_dated(get("pub_comparator_values")),
            comparator_rank=_dated(get("pub_comparator_rank")),
            headline=get("pub_headline"),
            audience=audience,
            assessment_tools=get("pub_assessment_tools"),
        )

    def frames(self) -> dict[str, pd.DataFrame]:
        """The tables by their published names (for the CSV downloads)."""
        return {
            "pub_measures": self.measures,
            "pub_measure_values": self.values,
            "pub_measure_status": self.status,
            "pub_report_card": self.report_card,
            "pub_not_computed": self.not_computed if self.not_computed is not None
            else _empty("pub_not_computed"),
            "pub_breakdown_codes": self.breakdown_codes if self.breakdown_codes is not None
            else _empty("pub_breakdown_codes"),
            "pub_comparator_values": self.comparator_values if self.comparator_values is not None
            else _empty("pub_comparator_values"),
            "pub_comparator_rank": self.comparator_rank if self.comparator_rank is not None
            else _empty("pub_comparator_rank"),
        }

    # --- comparators (DfE's published tables) --------------------------------------------------

    def comparisons(self, measure_id: str) -> pd.DataFrame:
        """The measure's comparator rows (England, region, neighbours, their mean) by 31 March."""
        frame = self.comparator_values if self.comparator_values is not None else _empty(
            "pub_comparator_values"
        )
        rows = self._rows(frame, "measure_id", measure_id)
        return rows.sort_values(["period_end", "area_type", "area_code"]).reset_index(drop=True)

    def ranks(self, measure_id: str) -> pd.DataFrame:
        """The authority's rank, quartile and the comparators' summary by 31 March."""
        frame = self.comparator_rank if self.comparator_rank is not None else _empty(
            "pub_comparator_rank"
        )
        rows = self._rows(frame, "measure_id", measure_id)
        return rows.sort_values("period_end").reset_index(drop=True)

    def latest_rank(self, measure_id: str) -> dict:
        """The latest 31 March the authority has a rank for (else the latest row), or {}."""
        rows = self.ranks(measure_id)
        if not len(rows):
            return {}
        ranked = rows[rows["rank"].notna()]
        row = (ranked if len(ranked) else rows).iloc[-1].to_dict()
        return {k: (None if is_missing(v) else v) for k, v in row.items()}

    # --- measures ---------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        return str(self.about.get("authority_name") or "Local authority")

    @property
    def audience_text(self) -> str:
        return audience_text(self.audience, self.suppression_upper)

    @property
    def is_public(self) -> bool:
        return self.audience != "internal"

    def headlines(self) -> list[dict]:
        """The headline line of each group (the population's first, then each programme's):
        "N of M headline curves turned; K improving; J worsening"."""
        frame = self.headline if self.headline is not None else _empty("pub_headline")
        rows = []
        for row in frame.to_dict("records"):
            row = {k: (None if is_missing(v) else v) for k, v in row.items()}
            if not row.get("headline"):
                continue
            kind = row.get("group_kind")
            row["title"] = (
                str(row.get("group_name") or "Headline indicators") if kind == "population"
                else f"Programme: {row.get('group_name')}"
            )
            rows.append(row)
        rows.sort(key=lambda r: (r.get("group_kind") != "population", str(r.get("group_name"))))
        return rows

    @property
    def suppression_upper(self) -> int:
        try:
            return int(self.about.get("suppression_upper") or 5)
        except (TypeError, ValueError):
            return 5

    def measure_list(self) -> list[dict]:
        return self.measures.to_dict("records")

    def measure(self, measure_id: str) -> dict:
        rows = self._rows(self.measures, "measure_id", measure_id)
        return rows.iloc[0].to_dict() if len(rows) else {}

    def headline_ids(self) -> list[str]:
        heads = self.measures[self.measures["is_headline"].fillna(False).astype(bool)]
        heads = heads.sort_values(["headline_order", "measure_id"], na_position="last")
        return list(heads["measure_id"])

    def page_name(self, measure_id: str) -> str:
        """The file name of a measure's page (measure ids are catalogue ids; slug for safety)."""
        text = str(measure_id)
        return text if re.fullmatch(r"[A-Za-z0-9_-]+", text) else slug(text)

    # --- programmes -------------------------------------------------------------------------

    def programs(self) -> list[str]:
        rows = self._rows(self.values, "breakdown", "program")
        return sorted(rows["breakdown_value"].dropna().unique().tolist())

    def program_slug(self, program: str) -> str:
        if not self._program_slugs:
            used: set[str] = set()
            for name in self.programs():
                base = slug(name)
                candidate, n = base, 2
                while candidate in used:
                    candidate, n = f"{base}-{n}", n + 1
                used.add(candidate)
                self._program_slugs[name] = candidate
        return self._program_slugs.get(program, slug(program))

    # --- series -----------------------------------------------------------------------------

    def _rows(self, frame: pd.DataFrame | None, column: str, key) -> pd.DataFrame:
        """The rows of ``frame`` whose ``column`` is ``key``, in their order and with their
        index: what ``frame[frame[column] == key]`` gives. The table is split by ``column``
        once (again only when it is replaced), not filtered whole for every page and chart."""
        if frame is None:
            return pd.DataFrame()
        built_for, groups = self._splits.get((column, id(frame)), (None, {}))
        if built_for is not frame:
            groups = dict(iter(frame.groupby(column, sort=False))) if len(frame) else {}
            self._splits[(column, id(frame))] = (frame, groups)
        found = groups.get(key)
        return found if found is not None else frame.iloc[0:0]

    def measure_values(self, measure_id: str) -> pd.DataFrame:
        """The rows of ``values`` of one measure, in their order and with their index."""
        return self._rows(self.values, "measure_id", measure_id)

    def series(self, measure_id: str, breakdown: str = "all", breakdown_value: str = "all"):
        values = self.measure_values(measure_id)
        rows = values[(values["breakdown"] == breakdown) & (values["breakdown_value"] == breakdown_value)]
        return rows.sort_values("period_end").reset_index(drop=True)

    def status_series(self, measure_id: str, breakdown: str = "all",
                      breakdown_value: str = "all") -> pd.DataFrame:
        rows = self._rows(self.status, "measure_id", measure_id)
        rows = rows[(rows["breakdown"] == breakdown) & (rows["breakdown_value"] == breakdown_value)]
        return rows.sort_values("period_end").reset_index(drop=True)

    def breakdowns(self, measure_id: str) -> list[str]:
        values = self.measure_values(measure_id)
        rows = values[~values["breakdown"].isin(["all", "program"])]
        return sorted(rows["breakdown"].dropna().unique().tolist())

    def codes(self, breakdown: str) -> dict[str, str]:
        """The plain label of each code of ``breakdown``, in the catalogue's order ({} when the
        catalogue labels none)."""
        frame = self.breakdown_codes if self.breakdown_codes is not None else _empty(
            "pub_breakdown_codes"
        )
        built_for, labels = self._splits.get("codes", (None, {}))
        if built_for is not frame:
            labels = {}
            self._splits["codes"] = (frame, labels)
        if breakdown not in labels:
            rows = self._rows(frame, "breakdown", breakdown)
            if "position" in rows:
                rows = rows.sort_values("position")
            labels[breakdown] = {
                str(r.code): str(r.label) for r in rows.itertuples() if not is_missing(r.label)
            }
        return dict(labels[breakdown])

    def journey(self, measure_id: str) -> str | None:
        """The stage of the child's journey the measure belongs to (None in a warehouse from
        before journeys)."""
        value = self.measure(measure_id).get("journey")
        return None if is_missing(value) or not value else str(value)

    def card(self, measure_id: str, program: str | None = None) -> dict:
        built_for, cards = self._splits.get("cards", (None, {}))
        if built_for is not self.report_card:
            cards = {}
            self._splits["cards"] = (self.report_card, cards)
        if (measure_id, program) not in cards:
            card = self._rows(self.report_card, "measure_id", measure_id)
            if program is None:
                card = card[card["program"].isna()]
            else:
                card = card[card["program"] == program]
            cards[(measure_id, program)] = card.iloc[0].to_dict() if len(card) else {}
        return dict(cards[(measure_id, program)])  # a copy: callers add to it

    # --- stories ----------------------------------------------------------------------------

    def story(self, measure_id: str) -> dict:
        rows = self._rows(self.stories, "measure_id", measure_id)
        if not len(rows):
            return {key: [] for key in STORY_KEYS} | {"target": None, "baseline_end": None}
        row = rows.iloc[0]
        story = {key: _json_list(row.get(key)) for key in STORY_KEYS}
        story["story"] = [s for s in story["story"] if isinstance(s, dict)]
        story["actions"] = [a for a in story["actions"] if isinstance(a, dict)]
        story["target"] = None if is_missing(row.get("target")) else row.get("target")
        story["baseline_end"] = row.get("baseline_end")
        return story

    # --- measures not computed ---------------------------------------------------------------

    def not_computed_list(self) -> list[dict]:
        """Every measure not computed (or computed for some periods only), headline measures
        first: name, coverage and its label, reason and fix."""
        built_for, rows = self._splits.get("not_computed", (None, []))
        if built_for is None or built_for is not self.not_computed:
            frame = self.not_computed if self.not_computed is not None else _empty("pub_not_computed")
            rows = []
            for row in frame.to_dict("records"):
                row = {k: (None if is_missing(v) else v) for k, v in row.items()}
                row["is_headline"] = bool(row.get("is_headline"))
                row["coverage_label"] = COVERAGE_LABELS.get(row.get("coverage"), "Not computed")
                rows.append(row)
            self._splits["not_computed"] = (self.not_computed, rows)
        return [dict(row) for row in rows]  # copies: callers add to them

    def not_computed_for(self, measure_id: str) -> dict:
        """The measure's not-computed entry, or {} when it was computed."""
        for row in self.not_computed_list():
            if row.get("measure_id") == measure_id:
                return row
        return {}

    # --- data quality -----------------------------------------------------------------------

    @property
    def has_quality_results(self) -> bool:
        return self.contract_results is not None and len(self.contract_results) > 0

    def quality_for_sources(self, sources: list[str]) -> dict:
        checks = self.contract_results if self.contract_results is not None else _empty(
            "pub_contract_results"
        )
        quarantine = self.quarantine if self.quarantine is not None else _empty(
            "pub_quarantine_summary"
        )
        checks = checks[checks["source"].isin(sources)]
        failed = checks[~checks["success"].fillna(False).astype(bool)]
        rows = quarantine[quarantine["source"].isin(sources)]
        if "action" in rows:
            rows = rows[rows["action"].fillna("excluded").isin(LEFT_OUT)]
        return {
            "checks": len(checks),
            "failed": failed.to_dict("records"),
            "quarantined": int(rows["rows"].sum()) if len(rows) else 0,
        }
