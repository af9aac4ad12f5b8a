"""program_reliable_improvement_pct (DOMAIN.md §3b): a client is reliably better off when the
change from the first total score to the latest, in the good direction, exceeds the tool's
reliable change criterion 1.96 * SD * sqrt(2 * (1 - r)) (Jacobson-Truax); equal is not enough.
SD and r come from oba.yaml (assessment_tools), checked by pipelines/config.py; a tool without
them falls back to program_improved_pct's rule (any improvement), and says so in
published.pub_assessment_tools.

Worked by hand: SD 50 and r 0.875 give 1.96 * 50 * sqrt(2 * 0.125) = 1.96 * 50 * 0.5 = 49.
"""

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from pipelines.config import AssessmentTool, ConfigError, parse_config
from pipelines.sqlmodels import discover_models, register_macros

MODELS = discover_models(Path(__file__).resolve().parent.parent / "models")
DAY = dt.date(2024, 1, 10)


def _occasions(tools: list[tuple], scores: list[tuple]) -> duckdb.DuckDBPyConnection:
    """tools: (tool, sd, reliability) as raw.assessment_tools holds them; scores: (client,
    tool, higher_is_better, first total, latest total), one programme enrolment each."""
    con = duckdb.connect()
    register_macros(con)
    con.execute("create table assessment_tools (tool varchar, sd double, reliability double)")
    con.executemany("insert into assessment_tools values (?, ?, ?)", tools)
    con.execute(
        "create table int_program_enrolments (enrolment_id varchar, client_id varchar, program varchar, "
        "start_date date)"
    )
    con.execute(
        "create table stg_case_assessments (assessment_id varchar, enrolment_id varchar, "
        "assessment_date date, tool varchar, domain varchar, score double, higher_is_better boolean)"
    )
    for client, tool, higher, first, latest in scores:
        con.execute("insert into int_program_enrolments values (?, ?, 'Support', ?)", [client, client, DAY])
        for n, (total, days) in enumerate(((first, 0), (latest, 90))):
            # the total split over two domains, summed by the occasion
            for domain, part in (("a", total / 2), ("b", total - total / 2)):
                con.execute(
                    "insert into stg_case_assessments values (?, ?, ?, ?, ?, ?, ?)",
                    [f"{client}{n}", client, DAY + dt.timedelta(days=days), tool, domain, part, higher],
                )
    for name in ("int_assessment_tools", "int_program_assessment_occasions"):
        con.execute(f"create table {name} as {MODELS[name].sql}")
    con.execute("create schema marts")
    con.execute(f"create table marts.reliable_change_tools as {MODELS['reliable_change_tools'].sql}")
    con.execute(f"create table pub_assessment_tools as {MODELS['pub_assessment_tools'].sql}")
    return con


def _flags(con) -> dict[str, tuple[bool, bool]]:
    return {
        client: (improved, reliable)
        for client, improved, reliable in con.execute(
            "select client_id, is_improved, is_reliably_improved from int_program_assessment_occasions "
            "where occasion_number = 2"
        ).fetchall()
    }


def test_a_change_equal_to_the_criterion_is_not_reliable_just_above_is():
    con = _occasions(
        [("star ", 50.0, 0.875), ("Scale", 50.0, 0.875)],
        [
            ("A", "Star", True, 10, 59),  # +49: the criterion, not above it
            ("B", "Star", True, 10, 59.001),  # just above
            ("C", " Scale", False, 70, 21),  # lower is better: -49
            ("D", "Scale", False, 70, 20.999),
            ("E", "Star", True, 59, 10),  # 49 the wrong way
        ],
    )
    assert con.execute("select reliable_change from int_assessment_tools where tool = 'Star'").fetchone() == (49.0,)
    assert _flags(con) == {
        "A": (True, False),
        "B": (True, True),
        "C": (True, False),
        "D": (True, True),
        "E": (False, False),
    }


def test_a_tool_without_sd_or_reliability_falls_back_to_any_improvement():
    con = _occasions(
        [("Half", 5.0, None), ("Star", 50.0, 0.875)],
        [
            ("F", "Other", True, 10, 11),  # no configuration: +1 is better off
            ("G", "Other", True, 10, 10),  # a tie is not
            ("H", "Half", True, 10, 11),  # SD without r: falls back
            ("I", "Star", True, 10, 11),  # configured: +1 is not reliable
            ("J", "", True, 10, 12),  # no tool named: Unknown, falls back
        ],
    )
    assert _flags(con) == {
        "F": (True, True),
        "G": (False, False),
        "H": (True, True),
        "I": (True, False),
        "J": (True, True),
    }
    rows = con.execute(
        "select tool, higher_is_better, sd, reliability, reliable_change, falls_back from pub_assessment_tools"
    ).fetchall()
    assert rows == [
        ("Half", True, 5.0, None, None, True),
        ("Other", True, None, None, None, True),
        ("Star", True, 50.0, 0.875, 49.0, False),
        ("Unknown", True, None, None, None, True),
    ]


def test_config_reads_assessment_tools():
    cfg = parse_config(
        {"assessment_tools": {"Family Star Plus": {"sd": 4, "reliability": 0.8}, "SDQ": {"sd": "5.5"}, "PSOC": {}}},
        Path("oba.yaml"),
    )
    assert cfg.assessment_tools == {
        "Family Star Plus": AssessmentTool(sd=4.0, reliability=0.8),
        "SDQ": AssessmentTool(sd=5.5, reliability=None),
        "PSOC": AssessmentTool(),
    }
    assert parse_config({}, Path("oba.yaml")).assessment_tools == {}
    # the edges that are allowed: r of 0, a tiny SD
    assert parse_config({"assessment_tools": {"T": {"sd": 0.001, "reliability": 0}}}, Path("o.yaml")).assessment_tools[
        "T"
    ] == AssessmentTool(sd=0.001, reliability=0.0)


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        ({"T": {"sd": 0, "reliability": 0.8}}, "assessment_tools.T.sd: expected a standard deviation above 0, got 0"),
        ({"T": {"sd": -1}}, "assessment_tools.T.sd: expected a standard deviation above 0, got -1"),
        ({"T": {"sd": "wide"}}, "assessment_tools.T.sd: expected a number, got 'wide'"),
        ({"T": {"reliability": 1}}, "assessment_tools.T.reliability: expected a reliability from 0 up to (not including) 1, got 1"),
        ({"T": {"reliability": -0.1}}, "assessment_tools.T.reliability: expected a reliability from 0 up to (not including) 1, got -0.1"),
        ({"T": {"sd": 3, "alpha": 0.8}}, "assessment_tools.T.alpha: unknown key; an assessment tool may hold sd, reliability"),
        ({"T": {"sd": 3, "higher_is_better": True}}, "assessment_tools.T.higher_is_better: not read from here"),
        ({"T": 3}, "assessment_tools.T: expected a mapping with sd and reliability"),
        ({"T": {"sd": 3}, "t ": {"sd": 4}}, "assessment_tools.t : the tool 't' is configured twice"),
        ([1, 2], "assessment_tools: expected a mapping of assessment tool name"),
    ],
)
def test_config_rejects_bad_assessment_tools(tools, problem):
    with pytest.raises(ConfigError) as caught:
        parse_config({"assessment_tools": tools}, Path("oba.yaml"))
    assert len(caught.value.problems) == 1, caught.value.problems
    assert caught.value.problems[0].startswith(problem), caught.value.problems


def test_the_measure_page_lists_each_tools_criterion_or_its_fallback():
    import pandas as pd

    from dashboards.published import PublishedTables
    from dashboards.views import measure_view

    tools = pd.DataFrame({
        "tool": ["PSOC", "SDQ"], "higher_is_better": [True, False], "sd": [6.0, None],
        "reliability": [0.84, None], "reliable_change": [6.652, None], "falls_back": [False, True],
    })
    tables = PublishedTables.from_tables({"pub_assessment_tools": tools})
    measure = {"measure_id": "program_reliable_improvement_pct", "breakdowns": "all,program"}
    listed = {t["tool"]: t["criterion"] for t in measure_view(tables, measure)["assessment_tools"]}
    # 1.96 * 6 * sqrt(2 * 0.16) = 6.652...: more than 6.65 points
    assert listed["PSOC"].startswith("A change of more than 6.65 points")
    assert "better off on any improvement, as in program_improved_pct" in listed["SDQ"]
    # near miss: the plain improvement measure lists no tools
    other = {"measure_id": "program_improved_pct", "breakdowns": "all,program"}
    assert measure_view(tables, other)["assessment_tools"] == []
