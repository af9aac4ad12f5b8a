"""DfE's SSDA903 validation rules as contract rules (``dfe_<code>``, issue 19 item 5).

Each rule has a small return breaking it and a clean one; the flags expected are worked out by
hand from DfE's rule (csc-validator-be-903, lac2022_23, unchanged to lac2026_27). The fake
2017/18 return gives, rule by rule, exactly the rows DfE's validator flags on the same file.
"""

import shutil
from pathlib import Path

import duckdb
import pytest

from pipelines.contracts import ContractError, _parse, load_contracts
from pipelines.ingest import recognise, sync_source
from pipelines.ingest.load import insert_tabular
from pipelines.pseudonym import register_macro
from pipelines.quality import check_rows, failures_sql

EPISODES = "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC,REASON_PLACE_CHANGE,HOME_POST,PL_POST,URN"
OC3 = "CHILD,DOB,IN_TOUCH,ACTIV,ACCOM"


def ep(child, decom, rne, ls="C2", place="U1", dec="", rec="", urn="SC100001", provider="PR1", post="AB3 4EF"):
    """One episodes row (collection year 2023-24 unless the dates say otherwise)."""
    return f"{child},{decom},{rne},{ls},N1,{place},{provider},{dec},{rec},,AB1 2CD,{post},{urn}"


def check(tmp_path: Path, source: str, header: str, rows: list[str], name: str) -> duckdb.DuckDBPyConnection:
    """Load ``rows`` as ``2023-24/<name>`` through the loader and run the contract's checks."""
    root = tmp_path / "exports"
    path = root / "2023-24" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return _load(root, path, source)


def _load(root: Path, path: Path, source: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for schema in ("raw", "quality"):
        con.execute(f"create schema if not exists {schema}")
    register_macro(con, b"k" * 32)
    contract = load_contracts()[source]
    f = recognise(path, root)
    part = f.parts[0]
    sync_source(con, contract, [(f, part, lambda table: insert_tabular(con, contract, f, part, table))])
    check_rows(con, contract)
    return con


def dfe_flags(con) -> dict[int, set[str]]:
    """File row -> the DfE rules flagging it."""
    flags: dict[int, set[str]] = {}
    for row, rule in con.execute(
        "select row_number, rule from quality.quarantine where rule like 'dfe_%'"
    ).fetchall():
        flags.setdefault(row, set()).add(rule)
    return flags


# (rows of one child's episodes, the DfE rules flagging each file row: header = row 1)
EPISODE_CASES = {
    "388 X1 but no next episode": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1")],
        {2: {"dfe_388"}},
    ),
    "388 X1 but the next episode starts later": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/09/2023", "P", place="U2")],
        {2: {"dfe_388"}, 3: {"dfe_433"}},
    ),
    "388 care ends but the next episode starts that day": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="E13"), ep(1, "01/08/2023", "S", place="U2")],
        {2: {"dfe_388"}, 3: {"dfe_431"}},
    ),
    "501 next episode starts before the previous ends": (
        [ep(1, "01/05/2023", "S", dec="01/09/2023", rec="X1"), ep(1, "01/08/2023", "P", place="U2")],
        {2: {"dfe_388"}, 3: {"dfe_501", "dfe_433"}},
    ),
    "142 earlier episode left open": (
        [ep(1, "01/05/2023", "S"), ep(1, "01/08/2023", "P", place="U2")],
        {2: {"dfe_142"}, 3: {"dfe_433"}},
    ),
    "142 earlier episode without REC": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023"), ep(1, "01/08/2023", "P", place="U2")],
        {2: {"dfe_142"}},
    ),
    "431 RNE S on a continuation": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "S", place="U2")],
        {3: {"dfe_431"}},
    ),
    "432 care ended but the next episode is not S": (
        [ep(1, "01/05/2023", "S", dec="01/07/2023", rec="E13"), ep(1, "01/09/2023", "P", place="U2")],
        {3: {"dfe_432", "dfe_433"}},
    ),
    "433 continuation with a gap": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"),
         ep(1, "02/08/2023", "L", ls="E1")],
        {2: {"dfe_388"}, 3: {"dfe_433"}},
    ),
    "434 RNE L but the legal status is unchanged": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "L")],
        {3: {"dfe_434"}},
    ),
    "434 RNE L but the placement's URN changed": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "L", ls="E1", urn="SC100002")],
        {3: {"dfe_434"}},
    ),
    "435 RNE P but the legal status changed": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "P", ls="E1", place="U2")],
        {3: {"dfe_435"}},
    ),
    "435 RNE T but the placement is unchanged": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "T")],
        {3: {"dfe_435"}},
    ),
    "436 RNE B but the legal status is unchanged": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "B", place="U2")],
        {3: {"dfe_436"}},
    ),
    "436 RNE U but the placement is unchanged (blank postcodes alike)": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1", post=""),
         ep(1, "01/08/2023", "U", ls="E1", post="")],
        {3: {"dfe_436"}},
    ),
    "437 died, then another episode": (
        [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="E2"), ep(1, "01/09/2023", "S", place="U2")],
        {2: {"dfe_437"}},
    ),
    "357 first episode in the year is not S": (
        [ep(1, "01/05/2023", "P")],
        {2: {"dfe_357"}},
    ),
    "353 episode before 14 October 1991": (
        [ep(1, "13/10/1991", "S")],
        {2: {"dfe_353"}},
    ),
    "355 episode of no length": (
        [ep(1, "01/05/2023", "S", dec="01/05/2023", rec="E13")],
        {2: {"dfe_355"}},
    ),
    # clean returns: DfE's rules find nothing
    "clean: a period of care with every kind of change": (
        [
            ep(1, "01/05/2023", "S", dec="01/07/2023", rec="X1"),
            ep(1, "01/07/2023", "P", place="U2", dec="01/08/2023", rec="X1"),  # placement only
            ep(1, "01/08/2023", "T", place="U2", urn="SC100002", dec="01/09/2023", rec="X1"),
            ep(1, "01/09/2023", "L", ls="E1", place="U2", urn="SC100002", dec="01/10/2023", rec="X1"),
            ep(1, "01/10/2023", "B", ls="C1", place="U3", dec="01/11/2023", rec="X1"),  # both
            ep(1, "01/11/2023", "U", ls="E1", place="U4", dec="01/12/2023", rec="E11"),  # both, same carer
        ],
        {},
    ),
    "clean: care ends, a new period starts later with S": (
        [ep(2, "01/06/2023", "S", ls="V2", dec="01/07/2023", rec="E13"), ep(2, "01/09/2023", "S")],
        {},
    ),
    "clean: an episode begun before the year need not be S": (
        [ep(3, "01/05/2022", "P")],
        {},
    ),
    "clean: a row without a usable start date is no neighbour": (
        [ep(4, "01/05/2023", "S", dec="01/08/2023", rec="E13"), ep(4, "", "P", place="U2")],
        {},
    ),
}


@pytest.mark.parametrize("case", list(EPISODE_CASES))
def test_episode_sequence_rules(case, tmp_path):
    rows, expected = EPISODE_CASES[case]
    con = check(tmp_path, "ssda903_episodes", EPISODES, rows, "episodes.csv")
    assert dfe_flags(con) == expected


def test_dfe_rules_warn_with_dfe_message_and_measure_treatment(tmp_path):
    rows = [ep(1, "01/05/2023", "S", dec="01/08/2023", rec="X1"), ep(1, "01/08/2023", "S", place="U2")]
    con = check(tmp_path, "ssda903_episodes", EPISODES, rows, "episodes.csv")
    got = con.execute(
        "select row_number, column_name, value, action, message from quality.quarantine where rule = 'dfe_431'"
    ).fetchall()
    assert len(got) == 1
    row, column, value, action, message = got[0]
    assert (row, column, value, action) == (3, "RNE", "S", "warn")
    assert message.startswith(
        "The reason for new episode is started to be looked after, but the previous episode ended on the same day."
    )
    assert "counts as a start of care in cla_starts_12m" in message
    # a warning changes nothing: the row is neither excluded nor cleared
    staged = con.execute(
        "select rne, dec from raw.ssda903_episodes_checked where _row_number = 3"
    ).fetchall()
    assert staged == [("S", None)]
    assert con.execute("select count(*) from raw.ssda903_episodes where _quarantined").fetchone()[0] == 0


def test_every_dfe_rule_warns_and_says_how_the_measures_treat_the_row():
    contracts = load_contracts()
    rules = [r for s in ("ssda903_episodes", "ssda903_oc3") for r in contracts[s].rules if r.name.startswith("dfe_")]
    assert {r.name for r in rules} >= {f"dfe_{c}" for c in (388, 501, 142, 431, 432, 433, 434, 435, 436, 437, 357, 344)}
    for rule in rules:
        assert rule.action == "warn", rule.name
        assert f"DfE rule {rule.name[4:]}" in rule.message and "Measures" in rule.message, rule.name


def test_rules_episodes_are_compared_within_a_file_only(tmp_path):
    """Two returns of the same child: each file's episodes are a sequence of their own."""
    root = tmp_path / "exports"
    for folder, rows in (
        ("2022-23", [ep(1, "01/05/2022", "S", dec="01/08/2022", rec="E13")]),
        ("2023-24", [ep(1, "01/05/2023", "S")]),
    ):
        (root / folder).mkdir(parents=True)
        (root / folder / "episodes.csv").write_text("\n".join([EPISODES, *rows]) + "\n")
    con = duckdb.connect()
    for schema in ("raw", "quality"):
        con.execute(f"create schema {schema}")
    register_macro(con, b"k" * 32)
    contract = load_contracts()["ssda903_episodes"]
    items = []
    for folder in ("2022-23", "2023-24"):
        f = recognise(root / folder / "episodes.csv", root)
        items.append((f, f.parts[0], lambda table, f=f: insert_tabular(con, contract, f, f.parts[0], table)))
    sync_source(con, contract, items)
    check_rows(con, contract)
    assert dfe_flags(con) == {}


# OC3: (IN_TOUCH, ACTIV, ACCOM) -> the DfE rules flagging the row
OC3_CASES = {
    ("DIED", "F1", "0"): {"dfe_344"},
    ("RHOM", "0", "B1"): {"dfe_344"},
    ("DIED", "", ""): {"dfe_344", "dfe_153"},
    ("DIED", "0", "0"): set(),
    ("RHOM", "0", "0"): set(),
    ("YES", "F1", "0"): {"dfe_345"},
    ("YES", "0", "B1"): {"dfe_345"},
    ("YES", "F1", "B1"): set(),
    ("NO", "0", "0"): set(),
    ("YES", "F1", ""): {"dfe_153"},
    ("NREQ", "", "B2"): {"dfe_153"},
}


def test_oc3_consistency_rules(tmp_path):
    cases = list(OC3_CASES)
    rows = [f"{900 + i},01/06/2003,{t},{a},{c}" for i, (t, a, c) in enumerate(cases)]
    con = check(tmp_path, "ssda903_oc3", OC3, rows, "oc3.csv")
    flags = dfe_flags(con)
    assert {case: flags.get(i + 2, set()) for i, case in enumerate(cases)} == OC3_CASES
    message, action, column = con.execute(
        "select message, action, column_name from quality.quarantine where rule = 'dfe_344' limit 1"
    ).fetchone()
    assert message.startswith("The record shows the young person has died or returned home")
    assert "left out of the care-leaver measures" in message
    assert (action, column) == ("warn", "IN_TOUCH")


def _contract_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "c.yml"
    path.write_text(
        "source: demo\ncolumns:\n  - {name: CHILD}\n  - {name: DECOM, type: date}\n" + extra
    )
    return path


def test_derived_values_are_checked_when_the_contract_loads(tmp_path):
    ok = _parse(_contract_file(tmp_path, (
        "windows:\n  w: partition by child order by decom\n"
        "derived:\n  prev_decom: lag(decom) over w\n"
        "rules:\n  - {name: r, column: DECOM, fails_when: decom = prev_decom, message: m, action: warn}\n"
    )))
    assert ok.derived == {"prev_decom": "lag(decom) over w"} and ok.windows == {"w": "partition by child order by decom"}
    assert "window w as (partition by child order by decom)" in failures_sql(ok)
    for bad in (
        "derived:\n  decom: lag(decom) over (order by decom)\n",  # a column's name
        "derived:\n  Prev: lag(decom) over (order by decom)\n",  # not lower-case
        "derived:\n  prev: ''\n",  # no expression
        "derived:\n  prev: 1; drop table x\n",  # more than one expression
        "derived: [lag(decom)]\n",  # not a mapping
    ):
        with pytest.raises(ContractError):
            _parse(_contract_file(tmp_path, bad))


# Rows DfE's validator (csc-validator-be-903 0.1.17, ruleset lac2022_23, collection year 2018)
# flags in ../shared/samples/ssda903_fake_2018; the contract rules flag the very same rows.
FAKE_2018_DFE_COUNTS = {
    "dfe_388": 21, "dfe_501": 62, "dfe_142": 10, "dfe_431": 58, "dfe_432": 7, "dfe_433": 12,
    "dfe_434": 58, "dfe_435": 7, "dfe_436": 5, "dfe_437": 7, "dfe_357": 8, "dfe_344": 21,
}


def test_fake_2018_return_is_flagged_as_dfe_flags_it(samples, tmp_path):
    root = tmp_path / "exports"
    (root / "ssda903_fake_2018").mkdir(parents=True)
    counts = {}
    for name, source in (("episodes.csv", "ssda903_episodes"), ("oc3.csv", "ssda903_oc3")):
        shutil.copy(samples / "ssda903_fake_2018" / name, root / "ssda903_fake_2018" / name)
        con = _load(root, root / "ssda903_fake_2018" / name, source)
        counts.update(con.execute(
            "select rule, count(*) from quality.quarantine where rule like 'dfe_%' group by rule"
        ).fetchall())
    print("rows flagged on the fake 2017/18 return:", dict(sorted(counts.items())))
    assert counts == FAKE_2018_DFE_COUNTS
