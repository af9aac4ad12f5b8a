"""SSDA903's other tables and the CIN census's other CINdetails modules (issue 19, item 4).

UASC, Missing, Reviews, OC2, AD1, PlacedAdoption, PrevPerm, SWEpisodes and DoLo (DOMAIN.md §3b)
are recognised by their CSV headers and read from the SSDA903 XML; Assessments (and their
factors), CINPlanDates, Section47 and PreProceedingsandFGDM from the CIN census XML. Each is
contracted, loaded into raw, checked and staged with pseudonymised identifiers, and the sources
that were there before are recognised and staged as before.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from conftest import materialise_all, query

from pipelines.contracts import load_contracts
from pipelines.ingest.files import XML_FAMILIES, scan_exports
from pipelines.ingest.xml_readers import read_cin_xml, read_ssda903_xml
from pipelines.pseudonym import load_or_create_key, pseudonymise

RAW_AND_STAGING = ("raw", "staging")

NEW_SSDA903 = (
    "ssda903_uasc", "ssda903_missing", "ssda903_reviews", "ssda903_oc2", "ssda903_ad1",
    "ssda903_placed_adoption", "ssda903_prev_perm", "ssda903_sw_episodes", "ssda903_dolo",
)
NEW_CIN = ("cin_assessments", "cin_assessment_factors", "cin_plan_dates", "cin_section47", "cin_pre_proceedings")

# Small hand-made CSVs in the DfE layout (headers as DOMAIN.md §3b and DfE's validator give them).
CSVS = {
    "uasc.csv": ("ssda903_uasc", "CHILD,SEX,DOB,DUC\n700001,1,10/07/2003,10/07/2021\n700002,2,18/10/2004,\n"),
    "missing.csv": (
        "ssda903_missing",
        "CHILD,DOB,MISSING,MIS_START,MIS_END\n700001,10/07/2003,M,21/11/2017,04/01/2018\n"
        "700002,18/10/2004,A,13/11/2017,25/11/2017\n700002,18/10/2004,X,01/12/2017,\n",
    ),
    "reviews.csv": (
        "ssda903_reviews",
        "CHILD,DOB,REVIEW,REVIEW_CODE\n700001,10/07/2003,30/08/2017,PN6\n700001,10/07/2003,28/02/2018,PN1\n",
    ),
    "oc2.csv": (
        "ssda903_oc2",
        "CHILD,DOB,SDQ_SCORE,SDQ_REASON,CONVICTED,HEALTH_CHECK,IMMUNISATIONS,TEETH_CHECK,HEALTH_ASSESSMENT,"
        "SUBSTANCE_MISUSE,INTERVENTION_RECEIVED,INTERVENTION_OFFERED\n"
        "700001,10/07/2003,14,,0,1,1,1,1,0,,\n700002,18/10/2004,,SDQ4,0,1,0,1,0,0,,\n",
    ),
    "ad1.csv": (
        "ssda903_ad1",
        "CHILD,DOB,DATE_INT,DATE_MATCH,FOSTER_CARE,NB_ADOPTR,SEX_ADOPTR,LS_ADOPTR\n"
        "700003,15/06/2013,22/11/2015,22/12/2015,1,2,MM,L11\n",
    ),
    "placed_for_adoption.csv": (
        "ssda903_placed_adoption",
        "CHILD,DOB,DATE_PLACED,DATE_PLACED_CEASED,REASON_PLACED_CEASED\n"
        "700003,15/06/2013,22/11/2015,,\n700004,24/11/2012,12/09/2015,23/04/2017,RD1\n",
    ),
    "previous_permanence.csv": (
        "ssda903_prev_perm",
        "CHILD,DOB,PREV_PERM,LA_PERM,DATE_PERM\n700001,10/07/2003,Z1,,\n700002,18/10/2004,P1,SCO,ZZ/10/2011\n",
    ),
    "sw_episodes.csv": (
        "ssda903_sw_episodes",
        "CHILD,DOB,SW_ID,SW_DECOM,SW_DEC,SW_REASON\n700001,10/07/2003,SW999,01/04/2017,03/01/2018,MANAGE\n"
        "700001,10/07/2003,SW123,03/01/2018,,\n",
    ),
    "dolo.csv": ("ssda903_dolo", "CHILD,DOB,DOLO_START,DOLO_END\n700002,18/10/2004,01/01/2018,02/02/2018\n"),
}

# A hand-made SSDA903 XML: the DfE layout (groups in HEADER, AD1 and UASC as HEADER fields) plus
# social worker and DoLo groups, a group written directly under CHILD, an unset UASC flag, an
# empty OC2 and the <CHILD><CHILD> variant of the child's id.
XML = """<?xml version="1.0" encoding="utf-8"?>
<EXPSSDA903>
  <CHILD>
    <HEADER>
      <CHILDID>800001</CHILDID><SEX>1</SEX><DOB>01/02/2004</DOB><ETHNIC>WBRI</ETHNIC>
      <UASC>1</UASC><DUC>01/02/2022</DUC>
      <AREVIEW><REVIEW>01/06/2017</REVIEW><REVIEW_CODE>PN1</REVIEW_CODE></AREVIEW>
      <AREVIEW><REVIEW>01/12/2017</REVIEW><REVIEW_CODE>PN2</REVIEW_CODE></AREVIEW>
      <AMISSING><MISSING>M</MISSING><MIS_START>03/03/2018</MIS_START><MIS_END/></AMISSING>
      <PERMANENCE><PREV_PERM>Z1</PREV_PERM><LA_PERM/><DATE_PERM/></PERMANENCE>
      <OC2><SDQ_SCORE>12</SDQ_SCORE><CONVICTED>0</CONVICTED><HEALTH_CHECK>1</HEALTH_CHECK></OC2>
      <SWEPISODE><SW_ID>SW42</SW_ID><SW_DECOM>01/04/2017</SW_DECOM><SW_DEC/><SW_REASON/></SWEPISODE>
    </HEADER>
    <EPISODE><DECOM>01/04/2017</DECOM><RNE>S</RNE><LS>V2</LS><CIN>N1</CIN><PL>U1</PL></EPISODE>
  </CHILD>
  <CHILD>
    <HEADER>
      <CHILDID>800002</CHILDID><SEX>2</SEX><DOB>05/05/2014</DOB><UASC>0</UASC><DUC/>
      <DATE_INT>01/05/2016</DATE_INT><DATE_MATCH>01/06/2016</DATE_MATCH><FOSTER_CARE>0</FOSTER_CARE>
      <NB_ADOPTR>2</NB_ADOPTR><SEX_ADOPTR>MF</SEX_ADOPTR><LS_ADOPTR>L11</LS_ADOPTR>
      <AD_PLACED><DATE_PLACED>01/05/2016</DATE_PLACED><DATE_PLACED_CEASED/><REASON_PLACED_CEASED/></AD_PLACED>
      <OC2/>
    </HEADER>
    <EPISODE><DECOM>01/05/2016</DECOM><RNE>P</RNE><LS>E1</LS><CIN>N1</CIN><PL>A4</PL></EPISODE>
  </CHILD>
  <CHILD>
    <CHILD>800003</CHILD><SEX>1</SEX><DOB>09/09/2012</DOB><UASC/>
    <DOLO><DOLO_START>02/02/2018</DOLO_START><DOLO_END/></DOLO>
  </CHILD>
</EXPSSDA903>
"""


def _pseudonym(value: str) -> str:
    return str(pseudonymise(value, load_or_create_key()))


def _recognised(root: Path) -> dict[str, list[str]]:
    return {f.relative: [p.source for p in f.parts] for f in scan_exports(root)}


# -- recognition --------------------------------------------------------------------------------


def test_contracts_declare_every_new_table():
    contracts = load_contracts()
    for source in NEW_SSDA903 + NEW_CIN:
        contract = contracts[source]
        assert contract.family == source.split("_")[0]
        assert contract.identifiers[0] in ("CHILD", "LAchildID")
        if contract.family == "ssda903":
            assert contract.column("DOB").personal == "date"
            assert contract.recognise_by == {c.name for c in contract.columns}
    assert set(XML_FAMILIES["EXPSSDA903"][1]) >= set(NEW_SSDA903)
    assert set(XML_FAMILIES["Message"][1]) >= set(NEW_CIN)
    assert "SW_ID" in contracts["ssda903_sw_episodes"].identifiers  # a member of staff: pseudonymised


def test_samples_are_recognised_as_before_plus_the_new_tables(samples):
    found = _recognised(samples)
    # the sources that were recognised before are recognised the same way
    assert found["ssda903_fake_2018/episodes.csv"] == ["ssda903_episodes"]
    assert found["ssda903_fake_2018/header.csv"] == ["ssda903_header"]
    assert found["ssda903_fake_2018/oc3.csv"] == ["ssda903_oc3"]
    assert found["liia_small/SSDA903_2020_episodes.csv"] == ["ssda903_episodes"]
    assert found["liia_small/SSDA903_2020_header.csv"] == ["ssda903_header"]
    assert found["liia_small/SSDA903_episodes_for_testing_fixes_INPUT.csv"] == ["ssda903_episodes"]
    assert found["annex_a/Annex_A_2024_Jan.xlsx"] == []
    # and the other tables of the fake return are now recognised too
    assert found["ssda903_fake_2018/uasc.csv"] == ["ssda903_uasc"]
    assert found["ssda903_fake_2018/missing.csv"] == ["ssda903_missing"]
    assert found["ssda903_fake_2018/reviews.csv"] == ["ssda903_reviews"]
    xml = found["ssda903_fake_2018/fake_903.xml"]
    assert xml[:3] == ["ssda903_header", "ssda903_episodes", "ssda903_oc3"] and set(NEW_SSDA903) <= set(xml)
    for name in ("CIN_Census_2021.xml", "CIN_Census_2024.xml", "CIN_Census_2026.xml", "fake_CIN_data.xml"):
        sources = found[f"cin_census/{name}"]
        assert sources[:3] == ["cin_children", "cin_details", "cin_cp_plans"] and set(NEW_CIN) <= set(sources)
    assert not [f for f in scan_exports(samples) if f.error or any(p.missing for p in f.parts)]


def test_each_table_is_recognised_by_its_header_and_a_near_miss_names_what_it_lacks(tmp_path):
    for name, (_, text) in CSVS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    # a BOM, semicolons and a column order of its own change nothing
    (tmp_path / "reviews_excel.csv").write_text(
        "\ufeffREVIEW_CODE;CHILD;REVIEW;DOB\nPN0;700001;01/09/2017;10/07/2003\n", encoding="utf-8"
    )
    (tmp_path / "dolo_short.csv").write_text("CHILD,DOB,DOLO_START\n700002,18/10/2004,01/01/2018\n")
    files = {f.relative: f for f in scan_exports(tmp_path)}
    for name, (source, _) in CSVS.items():
        assert [p.source for p in files[name].parts] == [source], name
        assert not files[name].parts[0].missing
    assert [p.source for p in files["reviews_excel.csv"].parts] == ["ssda903_reviews"]
    near = files["dolo_short.csv"].parts[0]
    assert near.source == "ssda903_dolo" and near.missing == ("DOLO_END",)


# -- the XML readers ----------------------------------------------------------------------------


def test_fake_903_xml_yields_the_other_tables(samples):
    rows = list(read_ssda903_xml(samples / "ssda903_fake_2018" / "fake_903.xml"))
    counts = Counter(source for source, _ in rows)
    # the tables read before, as before
    assert (counts["ssda903_header"], counts["ssda903_episodes"], counts["ssda903_oc3"]) == (253, 459, 6)
    # the element counts of the file (HEADER/AREVIEW 1,206, UASC set 12 times, AMISSING 6, ...)
    assert counts["ssda903_reviews"] == 1206
    assert counts["ssda903_uasc"] == 12
    assert counts["ssda903_missing"] == 6
    assert counts["ssda903_ad1"] == 3
    assert counts["ssda903_placed_adoption"] == 3
    assert counts["ssda903_oc2"] == 253
    assert counts["ssda903_prev_perm"] == 253
    uasc = next(r for s, r in rows if s == "ssda903_uasc")
    assert uasc["CHILD"] and uasc["DOB"] and uasc["SEX"] and uasc["DUC"]
    ad1 = next(r for s, r in rows if s == "ssda903_ad1")
    assert ad1["SEX_ADOPTR"] and ad1["LS_ADOPTR"] and ad1["CHILD"]


def test_hand_made_ssda903_xml(tmp_path):
    path = tmp_path / "return_2018.xml"
    path.write_text(XML, encoding="utf-8")
    rows = list(read_ssda903_xml(path))
    by = {}
    for source, row in rows:
        by.setdefault(source, []).append(row)
    assert [(r["CHILD"], r["SEX"], r["DUC"]) for r in by["ssda903_uasc"]] == [("800001", "1", "01/02/2022")]
    assert [(r["REVIEW"], r["REVIEW_CODE"]) for r in by["ssda903_reviews"]] == [
        ("01/06/2017", "PN1"), ("01/12/2017", "PN2"),
    ]
    assert [r["_row_number"] for r in by["ssda903_reviews"]] == [7, 8]  # each group's own line
    assert [(r["CHILD"], r["MISSING"], r["MIS_END"]) for r in by["ssda903_missing"]] == [("800001", "M", None)]
    assert [(r["CHILD"], r["SW_ID"], r["SW_DECOM"]) for r in by["ssda903_sw_episodes"]] == [
        ("800001", "SW42", "01/04/2017"),
    ]
    assert [(r["CHILD"], r["DOB"], r["DOLO_START"]) for r in by["ssda903_dolo"]] == [
        ("800003", "09/09/2012", "02/02/2018"),
    ]
    assert [(r["CHILD"], r["NB_ADOPTR"], r["LS_ADOPTR"]) for r in by["ssda903_ad1"]] == [("800002", "2", "L11")]
    assert [(r["CHILD"], r["DATE_PLACED"]) for r in by["ssda903_placed_adoption"]] == [("800002", "01/05/2016")]
    assert [r["CHILD"] for r in by["ssda903_oc2"]] == ["800001"]  # an empty <OC2/> is no row
    assert [r["CHILD"] for r in by["ssda903_prev_perm"]] == ["800001"]
    assert [r["CHILD"] for r in by["ssda903_header"]] == ["800001", "800002", "800003"]
    assert len(by["ssda903_episodes"]) == 2


def test_cin_census_modules_are_keyed_to_their_episode(samples):
    rows = list(read_cin_xml(samples / "cin_census" / "CIN_Census_2026.xml"))
    counts = Counter(source for source, _ in rows)
    assert counts["cin_assessments"] == 2
    assert counts["cin_assessment_factors"] == 3
    assert counts["cin_plan_dates"] == 1
    assert counts["cin_section47"] == 1
    assert counts["cin_pre_proceedings"] == 1
    episodes = {(r["LAchildID"], r["CINreferralDate"]) for s, r in rows if s == "cin_details"}
    for source, row in rows:
        if source in NEW_CIN:
            assert (row["LAchildID"], row["CINreferralDate"]) in episodes, (source, row)
    s47 = next(r for s, r in rows if s == "cin_section47")
    assert (s47["S47ActualStartDate"], s47["DateOfInitialCPC"], s47["ICPCnotRequired"]) == (
        "2022-06-02", "2022-06-17", "false",
    )
    pp = next(r for s, r in rows if s == "cin_pre_proceedings")
    assert (pp["PPStartDate"], pp["PPOutcome"], pp["ReviewMeetingsCount"]) == ("2026-09-09", "A", "3")
    # the census without these modules gives none, and its other tables as before
    fake = Counter(s for s, _ in read_cin_xml(samples / "cin_census" / "fake_CIN_data.xml"))
    assert fake == Counter({"cin_details": 402, "cin_children": 332})


# -- loaded, checked and staged -------------------------------------------------------------------


@pytest.fixture(scope="module")
def staged(samples, tmp_path_factory):
    """One raw + staging run: the fake 2017/18 return's CSVs, the hand-made CSVs of the other
    tables beside them, and a CIN census with every module."""
    root = tmp_path_factory.mktemp("more_tables")
    exports = root / "exports"
    shutil.copytree(
        samples / "ssda903_fake_2018", exports / "ssda903_fake_2018",
        ignore=shutil.ignore_patterns("fake_903.xml", "uasc.csv", "missing.csv", "reviews.csv"),
    )
    for name, (_, text) in CSVS.items():
        (exports / "ssda903_fake_2018" / name).write_text(text, encoding="utf-8")
    shutil.copy(samples / "cin_census" / "CIN_Census_2026.xml", exports / "CIN_Census_2026.xml")
    result = materialise_all(exports, root / "out", groups=RAW_AND_STAGING)
    assert result.success
    return root / "out"


STAGED = {
    "ssda903_uasc": "stg_ssda903_uasc",
    "ssda903_missing": "stg_ssda903_missing",
    "ssda903_reviews": "stg_ssda903_reviews",
    "ssda903_oc2": "stg_ssda903_oc2",
    "ssda903_ad1": "stg_ssda903_ad1",
    "ssda903_placed_adoption": "stg_ssda903_placed_adoption",
    "ssda903_prev_perm": "stg_ssda903_prev_perm",
    "ssda903_sw_episodes": "stg_ssda903_sw_episodes",
    "ssda903_dolo": "stg_ssda903_dolo",
    "cin_assessments": "stg_cin_assessments",
    "cin_assessment_factors": "stg_cin_assessment_factors",
    "cin_plan_dates": "stg_cin_plan_dates",
    "cin_section47": "stg_cin_section47",
    "cin_pre_proceedings": "stg_cin_pre_proceedings",
}


def test_every_new_table_is_loaded_and_staged_with_pseudonymised_ids(staged):
    for source, model in STAGED.items():
        raw = query(staged, f"select * from raw.{source}")
        assert len(raw), source
        excluded = query(
            staged,
            "select count(distinct (source_file, row_number)) as n from quality.quarantine "
            "where source = ? and action = 'excluded'",
            [source],
        )["n"][0]
        rows = query(staged, f"select * from staging.{model}")
        assert len(rows) == len(raw) - excluded, source
        ident = "child" if source.startswith("ssda903") else "lachildid"
        expected = {_pseudonym(v) for v in raw[ident]}
        assert {str(v) for v in rows["child_id"]} <= expected, source
        assert not set(raw[ident]) & {str(v) for v in rows["child_id"]}, source
        assert (rows["source_row_number"] >= 2).all() and rows["source_file"].notna().all()


def test_staged_values_are_typed_and_value_problems_keep_the_row(staged):
    missing = query(staged, "select * from staging.stg_ssda903_missing order by missing_start")
    # MISSING 'X' is not a code: cleared, the row kept (DESIGN §2b)
    assert list(missing["missing_type"].fillna("-")) == ["A", "M", "-"]
    cleared = query(
        staged, "select * from quality.quarantine where source = 'ssda903_missing' and rule = 'unknown_code'"
    )
    assert list(cleared["action"]) == ["kept"] and list(cleared["value"]) == ["X"]
    assert str(missing["missing_start"].min().date()) == "2017-11-13"
    oc2 = query(staged, "select * from staging.stg_ssda903_oc2 order by sdq_score nulls last")
    assert oc2["sdq_score"].iloc[0] == 14 and bool(oc2["health_check"].iloc[0]) is True
    sw = query(staged, "select * from staging.stg_ssda903_sw_episodes order by sw_start")
    assert set(map(str, sw["social_worker_id"])) == {_pseudonym("SW999"), _pseudonym("SW123")}
    perm = query(staged, "select * from staging.stg_ssda903_prev_perm order by prev_perm")
    assert list(perm["prev_perm"]) == ["P1", "Z1"] and perm["prev_perm_year"].iloc[0] == 2011
    assert perm["prev_perm_date"].isna().all()  # ZZ/10/2011 has no day: year only
    s47 = query(staged, "select * from staging.stg_cin_section47")
    assert str(s47["icpc_date"].iloc[0].date()) == "2022-06-17" and not s47["icpc_not_required"].iloc[0]
    pp = query(staged, "select * from staging.stg_cin_pre_proceedings")
    assert pp["review_meetings_count"].iloc[0] == 3
    factors = query(staged, "select * from staging.stg_cin_assessment_factors")
    # 'RB' is not a factor code: that factor row is excluded (the factor is its key), the rest stay
    assert sorted(factors["assessment_factor"]) == ["1C", "6B"]


def test_new_tables_join_the_existing_ones_by_pseudonym(staged):
    joined = query(
        staged,
        "select count(*) as n from staging.stg_cin_assessments as a "
        "join staging.stg_cin_details as d on a.child_id = d.child_id and a.referral_date = d.referral_date",
    )["n"][0]
    assert joined == 2
    reviews = query(
        staged,
        "select count(*) as n from staging.stg_ssda903_reviews as r "
        "join staging.stg_ssda903_header as h on r.child_id = h.child_id",
    )
    assert reviews["n"][0] >= 0  # hand-made children are not in the fake header: joins, never errors


def test_existing_sources_are_staged_as_before(staged, samples, tmp_path):
    """The same return without the new tables' files gives the same existing staging tables."""
    exports = tmp_path / "exports"
    shutil.copytree(
        samples / "ssda903_fake_2018", exports / "ssda903_fake_2018",
        ignore=shutil.ignore_patterns("fake_903.xml", "uasc.csv", "missing.csv", "reviews.csv"),
    )
    shutil.copy(samples / "cin_census" / "CIN_Census_2026.xml", exports / "CIN_Census_2026.xml")
    assert materialise_all(exports, tmp_path / "out", groups=RAW_AND_STAGING).success
    for model in ("stg_ssda903_episodes", "stg_ssda903_header", "stg_ssda903_oc3", "stg_cin_details",
                  "stg_cp_plans", "stg_cin_children"):
        sql = f"select * exclude (source_file) from staging.{model} order by all"
        before = query(tmp_path / "out", sql)
        after = query(staged, sql)
        assert before.equals(after), model


def test_xml_return_loads_its_other_tables(samples, tmp_path):
    exports = tmp_path / "exports" / "ssda903_fake_2018"
    exports.mkdir(parents=True)
    shutil.copy(samples / "ssda903_fake_2018" / "fake_903.xml", exports / "fake_903.xml")
    # another year's return (one file per source and year: the same year twice would be a clash)
    (tmp_path / "exports" / "2018-19").mkdir()
    (tmp_path / "exports" / "2018-19" / "return.xml").write_text(XML, encoding="utf-8")
    out = tmp_path / "out"
    assert materialise_all(tmp_path / "exports", out, groups=RAW_AND_STAGING).success
    counts = {
        model: query(out, f"select count(*) as n from staging.{model}")["n"][0]
        for model in ("stg_ssda903_reviews", "stg_ssda903_uasc", "stg_ssda903_missing", "stg_ssda903_ad1",
                      "stg_ssda903_placed_adoption", "stg_ssda903_oc2", "stg_ssda903_prev_perm",
                      "stg_ssda903_sw_episodes", "stg_ssda903_dolo")
    }
    raw = {
        source: query(out, f"select count(*) as n from raw.{source}")["n"][0]
        for source in NEW_SSDA903
    }
    assert raw["ssda903_reviews"] == 1206 + 2 and raw["ssda903_uasc"] == 12 + 1
    assert raw["ssda903_sw_episodes"] == 1 and raw["ssda903_dolo"] == 1
    assert counts["stg_ssda903_placed_adoption"] == 3 + 1
    # REASON_PLACED_CEASED 'XXX' in the fake return: cleared and kept, never excluded
    xxx = query(
        out,
        "select action, count(*) as n from quality.quarantine where source = 'ssda903_placed_adoption' "
        "and column_name = 'REASON_PLACED_CEASED' group by all",
    )
    assert list(xxx["action"]) == ["kept"] and xxx["n"][0] == 3
    lines = query(out, "select distinct source_row_number as n from staging.stg_ssda903_dolo")
    assert list(lines["n"]) == [XML.splitlines().index("    <DOLO><DOLO_START>02/02/2018</DOLO_START><DOLO_END/></DOLO>") + 1]
    assert counts["stg_ssda903_reviews"] > 0
