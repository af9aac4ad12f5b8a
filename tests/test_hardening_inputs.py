"""Hardening of the files people write and the exports' XML (issue 14): safe YAML, a config
checked key by key, stories for unknown measures reported, the ``<HEADER><CHILD>`` variant of
the SSDA903 XML, and the synthetic council at small scales."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.authorities import AuthoritiesError, load_region
from pipelines.config import ConfigError, load_config
from pipelines.ingest.xml_readers import read_ssda903_xml
from pipelines.ingest.xml_stage import stage_xml
from pipelines.safeyaml import MAX_DEPTH, YamlFileError, load_yaml
from pipelines.stories import StoryError, load_stories, parse_story_csv, parse_story_yaml
from pipelines.synth import generate


def _laughs(levels: int) -> str:
    """A YAML ``partners:`` whose nested aliases expand 10-fold per level."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]")
    lines.append(f"partners: *l{levels}")
    return "measure: cla_count\n" + "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- safe YAML
def test_story_with_nested_aliases_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "stories" / "cla_count.yml"
    path.parent.mkdir()
    path.write_text(_laughs(4), encoding="utf-8")  # 10^5 strings today; nine levels are 2.4 GB
    assert len(path.read_bytes()) < 400
    with pytest.raises(StoryError) as err:
        load_stories([path], tmp_path)
    message = str(err.value)
    assert "stories/cla_count.yml, line 3" in message
    assert "alias *l0 is not allowed" in message


def test_config_with_aliases_is_refused(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text("base: &b [cla_count]\nheadline_measures: *b\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"oba\.yaml, line 2: the alias \*b is not allowed"):
        load_config(path)


def test_python_object_tag_in_config_names_file_line_and_tag(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text(
        "authority: {name: X}\nsuppression: !!python/object/apply:os.system ['id']\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"{path}, line 2" in message
    assert "the tag !!python/object/apply:os.system is not allowed" in message


def test_story_file_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "big.yml"
    path.write_text("measure: cla_count\nwhat_works:\n" + "  - lorem ipsum\n" * 80_000)
    with pytest.raises(StoryError, match=r"big\.yml: the story file is larger than 1 MiB"):
        parse_story_yaml(path, "big.yml")


def test_stories_csv_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "stories.csv"
    row = "cla_count,2024-01-31,Title," + "x" * 1000 + ",neutral\n"
    path.write_text("measure,date,title,text,force\n" + row * 11_000, encoding="utf-8")
    with pytest.raises(StoryError, match=r"stories\.csv: the stories file is larger than 10 MiB"):
        parse_story_csv(path, "stories.csv")


def test_stories_csv_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "stories.csv"
    path.write_bytes("measure,date,title,text\ncla_count,2024-01-31,Caf\xe9,x\n".encode("cp1252"))
    with pytest.raises(StoryError, match=r"stories\.csv: not UTF-8 text"):
        parse_story_csv(path, "stories.csv")


def test_authorities_file_is_loaded_safely(tmp_path):
    path = tmp_path / "authorities.yaml"
    path.write_text("a: &a {key: one, exports: one}\nauthorities: [*a]\n", encoding="utf-8")
    with pytest.raises(AuthoritiesError, match=r"authorities\.yaml, line 2: the alias \*a"):
        load_region(str(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x: !foo bar\n", "line 1: the tag !foo is not allowed"),
        ("x: [1, 2\n", "line 2: the story file is not valid YAML"),
        ("x: \x00\n", "control character (#x0000)"),
        ("[" * 100_000, "nested too deeply"),
        ("x: " + "9" * 10_000 + "\n", "holds a value that cannot be read"),
    ],
)
def test_load_yaml_errors_are_readable(tmp_path, text, expected):
    path = tmp_path / "s.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlFileError) as err:
        load_yaml(path, what="story file")
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.dates(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"))),
)
_DOCUMENTS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_DOCUMENTS, flow=st.booleans())
def test_load_yaml_reads_what_pyyamls_own_safe_loader_reads(tmp_path, document, flow):
    """Any document of plain values, written either way, reads the same as PyYAML's pure-Python
    SafeLoader reads it: libyaml's parser changes nothing but the speed."""
    path = tmp_path / "doc.yml"
    path.write_text(yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True), encoding="utf-8")
    assert load_yaml(path) == yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)


def test_nesting_deeper_than_the_limit_is_refused_before_it_is_composed(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("x: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match=r"s\.yml, line 1: the story file is nested too deeply"):
        load_yaml(path, what="story file")  # the mapping and MAX_DEPTH lists: one too many
    path.write_text("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n", encoding="utf-8")
    value = load_yaml(path)
    for _ in range(MAX_DEPTH):
        (value,) = value
    assert value == 1


def test_load_yaml_keeps_an_impossible_date_as_text(tmp_path):
    path = tmp_path / "s.yml"
    path.write_text("a: 2024-13-01\nb: 2024-01-31\nc: &x plain\n", encoding="utf-8")
    doc = load_yaml(path)
    assert doc["a"] == "2024-13-01" and str(doc["b"]) == "2024-01-31" and doc["c"] == "plain"


# --------------------------------------------------------------------------- config, key by key
def test_bad_suppression_names_file_key_value_and_what_is_expected(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text("suppression: {upper: lots}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "suppression.upper: expected a whole number from 0 to 100, got 'lots'" in message


def test_every_bad_key_is_reported_together(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text(
        "authority: {name: [A], code: 1.5, nmae: B}\n"
        "headline_measures: cla_count\n"
        "baselines: {cla_count: 2024-13-01}\n"
        "targets: {cla_count: high, cpp_count: yes}\n"
        "suppression: {upper: -1}\n"
        "stories: 5\n"
        "publish: {audience: everyone}\n"
        "comparators: 7\n"
        "headline: [cla_count]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}: 12 problems in the configuration:"
    expected = [
        "headline: unknown key; the keys are authority, headline_measures, baselines, targets, "
        "suppression, stories, comparators, publish, collection_years, assessment_tools",
        "authority.nmae: unknown key; authority may hold name, code",
        "authority.name: expected the authority's name as text, got ['A']",
        "authority.code: expected the authority's code as text, e.g. E06000001, got 1.5",
        "headline_measures: expected a list of measure ids, got 'cla_count'",
        "baselines.cla_count: expected a date YYYY-MM-DD, got '2024-13-01'",
        "targets.cla_count: expected a number, got 'high'",
        "targets.cpp_count: expected a number, got True",
        "suppression.upper: expected a whole number from 0 to 100, got -1",
        "stories: expected the path of the stories folder, got 5",
        "comparators: expected a mapping with region (a region code E12...) and neighbours (a list of LA codes), got 7",
        "publish.audience: expected internal or public, got 'everyone'",
    ]
    assert [line.strip() for line in lines[1:]] == expected
    assert err.value.problems == expected


def test_a_good_config_with_comparators_and_audience_loads(tmp_path):
    path = tmp_path / "oba.yaml"
    path.write_text(
        "authority: {name: Hand-made Borough, code: E09000999}\n"
        "headline_measures: [cla_count, cla_rate_per_10k]\n"
        "baselines: {cla_count: 2024-09-30}\n"
        "targets: {cla_count: 65}\n"
        "suppression: {upper: 10}\n"
        "stories: notes\n"
        "comparators: {statistical_neighbours: [E09000001, E09000002]}\n"
        "publish: {audience: public}\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.authority_code == "E09000999" and cfg.suppression_upper == 10
    assert cfg.headline_measures == ("cla_count", "cla_rate_per_10k")
    assert str(cfg.baselines["cla_count"]) == "2024-09-30" and cfg.targets == {"cla_count": 65.0}
    assert cfg.stories_dir == (tmp_path / "notes").resolve()
    assert cfg.comparators["neighbours"] == ["E09000001", "E09000002"]
    assert cfg.publish_audience == "public"


def test_existing_configs_still_load():
    for path in (Path(__file__).parent / "fixtures").rglob("oba.yaml"):
        assert load_config(path).authority_name


# --------------------------------------------------------------------------- stories, unknown measures
def test_story_for_an_unknown_measure_is_reported(tmp_path):
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "cla.yml").write_text(
        "measure: cla_rate_per_10K\nstory: [{date: 2024-01-31, title: T, force: positive}]\n"
    )
    (folder / "cpp.yml").write_text("measure: cpp_count\n")
    (tmp_path / "stories.csv").write_text(
        "measure,date,title,text\ncla_rate_per_10K,2024-02-29,More,x\n", encoding="utf-8"
    )
    warnings: list[str] = []
    paths = [folder / "cla.yml", folder / "cpp.yml", tmp_path / "stories.csv"]
    found = load_stories(
        paths, tmp_path, known_measures=["cla_rate_per_10k", "cpp_count"], warn=warnings.append
    )
    assert {s.measure_id for s in found} == {"cla_rate_per_10K", "cpp_count"}
    assert warnings == [
        "stories/cla.yml, stories.csv: the story's measure 'cla_rate_per_10K' is not a known "
        "measure, so no page shows it; did you mean 'cla_rate_per_10k'? "
        "known measures: cla_rate_per_10k, cpp_count"
    ]


# --------------------------------------------------------------------------- SSDA903 XML
HEADER_CHILD_XML = """<?xml version='1.0' encoding='utf-8'?>
<EXPSSDA903>
  <CHILD>
    <HEADER><CHILD>500001</CHILD><SEX>1</SEX><DOB>01/02/2010</DOB><ETHNIC>WBRI</ETHNIC></HEADER>
    <EPISODE><DECOM>01/04/2017</DECOM><RNE>S</RNE><LS>C2</LS><CIN>N1</CIN><PL>U1</PL></EPISODE>
    <EPISODE><DECOM>01/06/2017</DECOM><RNE>P</RNE><LS>C2</LS><CIN>N1</CIN><PL>U4</PL></EPISODE>
  </CHILD>
  <CHILD>
    <HEADER><SEX>2</SEX><CHILD>500002</CHILD><DOB>03/04/2000</DOB><IN_TOUCH>YES</IN_TOUCH></HEADER>
    <EPISODE><DECOM>05/05/2017</DECOM><RNE>S</RNE><LS>V2</LS><PL>K2</PL></EPISODE>
  </CHILD>
  <CHILD>
    <CHILD>500003</CHILD><SEX>1</SEX><DOB>09/09/2012</DOB>
    <EPISODE><DECOM>07/07/2017</DECOM><RNE>S</RNE></EPISODE>
  </CHILD>
</EXPSSDA903>
"""


def test_ssda903_header_child_variant_keeps_every_child(tmp_path):
    path = tmp_path / "return.xml"
    path.write_text(HEADER_CHILD_XML, encoding="utf-8")
    rows = list(read_ssda903_xml(path))
    headers = [r for s, r in rows if s == "ssda903_header"]
    episodes = [r for s, r in rows if s == "ssda903_episodes"]
    oc3 = [r for s, r in rows if s == "ssda903_oc3"]
    assert [(h["CHILD"], h["SEX"], h["DOB"]) for h in headers] == [
        ("500001", "1", "01/02/2010"),
        ("500002", "2", "03/04/2000"),
        ("500003", "1", "09/09/2012"),
    ]
    assert [(e["CHILD"], e["DECOM"], e.get("PLACE")) for e in episodes] == [
        ("500001", "01/04/2017", "U1"),
        ("500001", "01/06/2017", "U4"),
        ("500002", "05/05/2017", "K2"),
        ("500003", "07/07/2017", None),
    ]
    assert [(o["CHILD"], o["IN_TOUCH"]) for o in oc3] == [("500002", "YES")]
    assert [e["_row_number"] for e in episodes] == [5, 6, 10, 14]


def test_ssda903_header_child_variant_stages_ids(tmp_path):
    path = tmp_path / "return.xml"
    path.write_text(HEADER_CHILD_XML, encoding="utf-8")
    columns = {"ssda903_header": ["CHILD", "SEX", "DOB"], "ssda903_episodes": ["CHILD", "DECOM"]}
    staged = stage_xml("ssda903", path, columns, tmp_path, "return")
    header = pq.read_table(staged["ssda903_header"]).to_pylist()
    episodes = pq.read_table(staged["ssda903_episodes"]).to_pylist()
    assert [r["CHILD"] for r in header] == ["500001", "500002", "500003"]
    assert [r["CHILD"] for r in episodes] == ["500001", "500001", "500002", "500003"]


def test_ssda903_sample_still_reads_every_child(samples):
    rows = list(read_ssda903_xml(samples / "ssda903_fake_2018" / "fake_903.xml"))
    headers = [r for s, r in rows if s == "ssda903_header"]
    episodes = [r for s, r in rows if s == "ssda903_episodes"]
    assert headers and episodes
    assert all(r["CHILD"] for r in headers + episodes)
    assert headers[0]["CHILD"] == "907440" and headers[0]["UPN"] == "O013219285333"


# --------------------------------------------------------------------------- synth at small scales
@pytest.mark.parametrize("scale", [1, 5, 50, 200])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synth_small_scales_generate(tmp_path, scale, seed):
    summary = generate(tmp_path, scale=scale, seed=seed)
    assert summary["n_children"] == scale
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth
    assert (tmp_path / "oba.yaml").is_file() and (tmp_path / "population.csv").is_file()
