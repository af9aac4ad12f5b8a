"""Say what cannot be computed (DESIGN §2b): a measure without its inputs is listed, with the
reason and the fix, in marts.measure_coverage, published.pub_not_computed, the report card, the
data-quality page and the board pack's caveats page; it never vanishes.

The reasons are checked on small warehouses built with the project's own models, then the whole
asset graph runs on copies of the hand-made council: without its population file, with an area
code that the population file does not hold, and with population estimates and OC3 records that
cover none or only some of the measures' periods."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import materialise_ok, query

from pipelines.contracts import load_contracts
from pipelines.settings import DEFAULT_MODELS_DIR
from pipelines.sqlmodels import build_measures, build_model, discover_models, load_catalogue

MODELS = discover_models(DEFAULT_MODELS_DIR)
CATALOGUE = load_catalogue(DEFAULT_MODELS_DIR)
CONTRACT_SOURCES = sorted(load_contracts())
HAS_PDF_TOOLS = Path("/usr/bin/chromium").is_file()


# --- the reasons, on small warehouses ----------------------------------------------------------


def _warehouse(*, population: list[tuple] = (), code: str | None = "E09000999",
               rows: dict[str, tuple[int, int]] | None = None,
               values: list[tuple] = ()) -> duckdb.DuckDBPyConnection:
    """A warehouse with every contract's raw table (``rows``: source -> (usable, excluded)),
    raw.population from ``population`` (area, year, age, population), the real population
    models, the catalogue, and ``values`` as marts.measure_values."""
    con = duckdb.connect()
    for schema in ("raw", "staging", "intermediate", "marts", "quality", "published"):
        con.execute(f"create schema {schema}")
    rows = rows or {}
    for source in CONTRACT_SOURCES:
        if source == "population":
            continue
        usable, excluded = rows.get(source, (0, 0))
        con.execute(f"create table raw.{source} (_active boolean, _quarantined boolean)")
        con.execute(
            f"insert into raw.{source} select true, i >= {usable} from range({usable + excluded}) t(i)"
        )
    con.execute(
        "create table raw.population (area_code varchar, year varchar, age varchar, "
        "population varchar, _active boolean, _quarantined boolean)"
    )
    for area, year, age, people in population:
        con.execute(
            "insert into raw.population values (?, ?, ?, ?, true, false)",
            [area, str(year), str(age), str(people)],
        )
    con.execute(
        "create table raw.oba_config as select 'Test' as authority_name, ?::varchar as "
        "authority_code, 5 as suppression_upper, '[]' as headline_measures",
        [code],
    )
    # staging.stg_population as its model types raw.population (built here from the raw table,
    # so this test does not depend on how staging reads raw), then the real 0-17 estimates
    con.execute(
        r"""create table staging.stg_population as
        select
            upper(trim(area_code)) as area_code,
            try_cast(trim(year) as integer) as mid_year,
            case
                when regexp_full_match(trim(age), '\d+') then trim(age)
                when trim(age) = '0-17' then '0-17'
            end as age,
            try_cast(trim(population) as double) as population,
        from raw.population
        where _active and not _quarantined"""
    )
    build_model(con, MODELS["int_population_0_17"])
    build_measures(con, CATALOGUE)
    frame = pd.DataFrame(
        list(values) or [("none", "2024-03-31", "all", "all", None, None, None)],
        columns=["measure_id", "period_end", "breakdown", "breakdown_value", "numerator",
                 "denominator", "value"],
    ).astype({"numerator": "float64", "denominator": "float64", "value": "float64"})
    frame["period_end"] = pd.to_datetime(frame["period_end"]).dt.date
    con.register("v", frame)
    con.execute("create table marts.measure_values as select * from v")
    build_model(con, MODELS["measure_coverage"])
    return con


def _coverage(con) -> dict[str, dict]:
    frame = con.execute("select * from marts.measure_coverage").df()
    return {r["measure_id"]: r for r in frame.to_dict("records")}


def _population(area: str, years=(2022, 2023)) -> list[tuple]:
    return [(area, year, age, 1000) for year in years for age in range(18)]


def _months(first: str, last: str) -> list[pd.Timestamp]:
    return list(pd.date_range(first, last, freq="ME"))


def _rate_rows(months, *, first_estimate: str | None) -> list[tuple]:
    """cla_rate_per_10k as int_rates_per_10k gives it: no denominator before the first estimate."""
    out = []
    for month in months:
        known = first_estimate is not None and month >= pd.Timestamp(first_estimate)
        out.append(("cla_rate_per_10k", month.date(), "all", "all", 5.0,
                    18000.0 if known else None, 5 * 10000 / 18000 if known else None))
    return out


def _counts(measure: str, months) -> list[tuple]:
    return [(measure, m.date(), "all", "all", 5.0, None, 5.0) for m in months]


SSDA903 = {"ssda903_header": (6, 0), "ssda903_episodes": (9, 0)}
MONTHS = _months("2022-04-30", "2024-03-31")


def test_every_catalogue_measure_has_a_row_and_computed_ones_no_reason():
    con = _warehouse(
        population=_population("E09000999"), rows=SSDA903,
        values=_counts("cla_count", MONTHS) + _rate_rows(MONTHS, first_estimate="2022-04-30"),
    )
    coverage = _coverage(con)
    assert set(coverage) == set(CATALOGUE)
    for measure_id in ("cla_count", "cla_rate_per_10k"):
        row = coverage[measure_id]
        assert row["coverage"] == "computed" and row["computed"], measure_id
        assert pd.isna(row["reason"]) and pd.isna(row["fix"]), measure_id
    for measure_id, row in coverage.items():
        if measure_id not in ("cla_count", "cla_rate_per_10k"):
            assert row["coverage"] == "not_computed" and not row["computed"], measure_id
            assert row["reason"] and row["fix"], measure_id


def test_no_population_file():
    con = _warehouse(rows=SSDA903, values=_counts("cla_count", MONTHS)
                     + _rate_rows(MONTHS, first_estimate=None))
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["coverage"] == "not_computed"
    assert row["reason_code"] == "no_population_file"
    assert "No population file" in row["reason"]
    assert "population estimates" in row["fix"] and "E09000999" in row["fix"]
    assert row["missing_inputs"] == "population"


def test_area_code_with_no_population_rows_names_the_code_and_the_codes_present():
    con = _warehouse(
        population=_population("E09000999") + _population("E09000998"), code="e06000001",
        rows=SSDA903, values=_rate_rows(MONTHS, first_estimate=None),
    )
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["reason_code"] == "population_area_missing"
    assert "E06000001" in row["reason"] and "E09000998, E09000999" in row["reason"]
    assert "authority.code" in row["reason"] and "oba.yaml" in row["fix"]


def test_many_areas_are_listed_up_to_five():
    areas = [f"E0600000{i}" for i in range(1, 9)]
    con = _warehouse(
        population=[r for a in areas for r in _population(a, (2023,))], code="E09000999",
        rows=SSDA903, values=_rate_rows(MONTHS, first_estimate=None),
    )
    reason = _coverage(con)["cla_rate_per_10k"]["reason"]
    assert "E06000001, E06000002, E06000003, E06000004, E06000005 and 3 more" in reason
    assert "E06000008" not in reason


def test_no_area_code_and_several_areas():
    con = _warehouse(
        population=_population("E09000999") + _population("E09000998"), code=None,
        rows=SSDA903, values=_rate_rows(MONTHS, first_estimate=None),
    )
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["reason_code"] == "no_area_code"
    assert "authority.code" in row["reason"] and "2 areas" in row["reason"]
    assert "Set authority.code in oba.yaml" in row["fix"]


def test_population_rows_without_a_usable_estimate():
    con = _warehouse(
        population=[("E09000999", "mid-2023", "all ages", "many")], rows=SSDA903,
        values=_rate_rows(MONTHS, first_estimate=None),
    )
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["reason_code"] == "population_unusable"
    assert "0-17" in row["reason"] and "population file" in row["fix"]


def test_population_estimates_after_every_period():
    con = _warehouse(
        population=_population("E09000999", (2030,)), rows=SSDA903,
        values=_rate_rows(MONTHS, first_estimate=None),
    )
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["coverage"] == "not_computed"
    assert row["reason_code"] == "population_period_missing"
    assert "before mid-2030" in row["reason"] and "March 2024" in row["reason"]
    assert "mid-2022 to mid-2023" in row["fix"]


def test_population_estimates_for_some_periods_only():
    con = _warehouse(
        population=_population("E09000999", (2023,)), rows=SSDA903,
        values=_rate_rows(MONTHS, first_estimate="2023-04-30"),
    )
    row = _coverage(con)["cla_rate_per_10k"]
    assert row["coverage"] == "partly_computed" and row["computed"]
    assert row["reason_code"] == "population_period_missing"
    assert "12 periods (April 2022 to March 2023)" in row["reason"]
    assert "mid-2022" in row["fix"] and "E09000999" in row["fix"]
    assert row["periods"] == 24 and row["periods_with_value"] == 12


@pytest.mark.parametrize(
    "measure_id, absent, named",
    [
        ("cpp_count", "cin_cp_plans", "CIN census child protection plans"),
        ("care_leavers_eet_pct", "ssda903_oc3", "SSDA903 OC3"),
        ("program_clients_served_12m", "case_enrolments", "Case export – programme enrolments"),
        ("cla_count", "ssda903_episodes", "SSDA903 episodes"),
    ],
)
def test_an_absent_source_is_named_with_what_to_add(measure_id, absent, named):
    present = {s: (10, 0) for s in CONTRACT_SOURCES if s != absent}
    con = _warehouse(population=_population("E09000999"), rows=present)
    row = _coverage(con)[measure_id]
    assert row["reason_code"] == "source_absent"
    assert row["reason"].startswith(f"No {named}") and absent in row["reason"]
    assert row["fix"].startswith("Add ") and "exports folder" in row["fix"]
    assert absent in row["missing_inputs"]


def test_rows_all_left_out_by_the_contracts():
    rows = dict(SSDA903, ssda903_oc3=(0, 4))
    con = _warehouse(rows=rows)
    row = _coverage(con)["care_leavers_suitable_accommodation_pct"]
    assert row["reason_code"] == "source_excluded"
    assert "all 4 rows of SSDA903 OC3" in row["reason"] and "data-quality page" in row["fix"]


def test_sources_present_but_no_rows_in_any_period():
    rows = dict(SSDA903, ssda903_oc3=(3, 0))
    values = [("care_leavers_eet_pct", d, "all", "all", 0.0, 0.0, float("nan"))
              for d in ("2023-03-31", "2024-03-31")]
    con = _warehouse(rows=rows, values=values)
    row = _coverage(con)["care_leavers_eet_pct"]
    assert row["reason_code"] == "no_rows_in_period"
    assert "SSDA903 OC3" in row["reason"] and "2 period(s) (March 2023 to March 2024)" in row["reason"]
    periods = _coverage(con)["care_leavers_suitable_accommodation_pct"]
    assert periods["reason_code"] == "no_periods"


def test_source_titles_follow_the_data_contracts():
    sql = MODELS["measure_coverage"].sql
    contracts = load_contracts()
    for measure in CATALOGUE.values():
        for source in measure.sources:
            assert source in contracts, (measure.id, source)
            contract = contracts[source]
            assert f"('{source}', '{contract.title}', '{contract.family}')" in sql, source
            assert f"from raw.{source}\n" in sql, source


def test_published_list_and_its_fallback_without_the_coverage_model():
    from pipelines.published import build_not_computed

    con = _warehouse(population=_population("E09000999"), rows=SSDA903,
                     values=_counts("cla_count", MONTHS) + _rate_rows(MONTHS, first_estimate=None))
    con.execute(
        "create table raw.stories (measure_id varchar, baseline_end date, target double, "
        "story varchar, partners varchar, what_works varchar, actions varchar, "
        "data_development varchar)"
    )
    con.execute("update raw.oba_config set headline_measures = '[\"cla_rate_per_10k\"]'")
    build_model(con, MODELS["pub_measures"])
    assert build_not_computed(con) == len(CATALOGUE) - 1
    rows = con.execute("select * from published.pub_not_computed").df()
    assert rows.iloc[0]["measure_id"] == "cla_rate_per_10k" and rows.iloc[0]["is_headline"]
    assert rows.iloc[0]["reason_code"] == "population_period_missing"
    assert "cla_count" not in set(rows["measure_id"])
    con.execute("drop table marts.measure_coverage")
    assert build_not_computed(con) == len(CATALOGUE) - 1
    rows = con.execute("select * from published.pub_not_computed").df()
    assert set(rows["reason_code"]) == {"no_values"}
    assert rows.iloc[0]["measure_id"] == "cla_rate_per_10k"
    assert rows["fix"].str.contains("data-quality page").all()


# --- the whole graph on the hand-made council -------------------------------------------------


def _copy(tmp_path_factory, hand_council: Path, name: str) -> tuple[Path, Path]:
    """A copy of the hand-made council's exports to change, and where its run writes."""
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(hand_council, root / "exports")
    return root / "exports", root / "out"


def _page_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<script.*?</script>", " ", text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def _section(text: str, heading: str, until: str) -> str:
    start = text.index(heading)
    end = text.index(until, start + len(heading))
    return text[start:end]


def _pdf_pages(pdf: Path) -> list[str]:
    from pypdf import PdfReader

    return [" ".join((page.extract_text() or "").split()) for page in PdfReader(pdf).pages]


def _squash(text: str) -> str:
    return re.sub(r"[\s\-‐]+", "", text)


@pytest.fixture(scope="module")
def no_population(tmp_path_factory, hand_council) -> Path:
    exports, out = _copy(tmp_path_factory, hand_council, "no_population")
    (exports / "population.csv").unlink()
    return materialise_ok(exports, out)


@pytest.fixture(scope="module")
def other_area(tmp_path_factory, hand_council) -> Path:
    exports, out = _copy(tmp_path_factory, hand_council, "other_area")
    config = yaml.safe_load((exports / "oba.yaml").read_text())
    config["authority"]["code"] = "E06000047"
    (exports / "oba.yaml").write_text(yaml.safe_dump(config))
    return materialise_ok(exports, out)


@pytest.fixture(scope="module")
def some_periods(tmp_path_factory, hand_council) -> Path:
    """Population estimates from mid-2023 only, and an OC3 return with no care leaver aged 19-21."""
    exports, out = _copy(tmp_path_factory, hand_council, "some_periods")
    population = pd.read_csv(exports / "population.csv", dtype=str)
    population = population[population["year"].astype(int) >= 2023]
    population.to_csv(exports / "population.csv", index=False)
    (exports / "ssda903" / "2023-24" / "oc3.csv").write_text(
        "CHILD,DOB,IN_TOUCH,ACTIV,ACCOM\n100005,30/09/2006,YES,F1,B1\n"
    )
    return materialise_ok(exports, out)


CP = ("cpp_count", "cpp_rate_per_10k", "cpp_repeat_pct_12m")
PROGRAMMES = ("program_clients_served_12m", "program_plan_within_30d_pct", "program_improved_pct")
CARE_LEAVERS = ("care_leavers_suitable_accommodation_pct", "care_leavers_eet_pct")
SSDA903_CORE = {"ssda903_episodes", "ssda903_header"}


def test_no_population_file_in_the_warehouse_and_published(no_population):
    coverage = query(no_population, "select * from marts.measure_coverage").set_index("measure_id")
    assert set(coverage.index) == set(CATALOGUE)
    assert coverage.loc["cla_count", "coverage"] == "computed"
    assert coverage.loc["cla_rate_per_10k", "reason_code"] == "no_population_file"
    for measure_id in (*CP, *PROGRAMMES, *CARE_LEAVERS):
        assert coverage.loc[measure_id, "reason_code"] == "source_absent", measure_id
    assert "No CIN census" in coverage.loc["cpp_count", "reason"]
    assert "No SSDA903 OC3" in coverage.loc["care_leavers_eet_pct", "reason"]
    assert "Case export" in coverage.loc["program_improved_pct", "reason"]
    published = query(no_population, "select * from published.pub_not_computed")
    assert set(published["measure_id"]) == set(coverage.index[coverage["coverage"] != "computed"])
    # The hand-made council's returns hold only headers and episodes: every measure needing
    # another input is not computed, and says which input is absent.
    needs_more = {m.id for m in CATALOGUE.values() if not set(m.sources) <= SSDA903_CORE}
    assert {"cla_rate_per_10k", *CP, *PROGRAMMES, *CARE_LEAVERS} | needs_more <= set(published["measure_id"])
    for measure_id in needs_more - {"cla_rate_per_10k"}:
        assert coverage.loc[measure_id, "reason_code"] in ("source_absent", "no_population_file"), measure_id
    assert not {"cla_count", "cla_starts_12m", "placement_stability_3plus_pct"} & set(published["measure_id"])
    assert published.iloc[0]["measure_id"] == "cla_rate_per_10k"  # the headline first
    assert bool(published.iloc[0]["is_headline"])
    assert published["reason"].str.len().gt(20).all() and published["fix"].str.len().gt(20).all()
    csv = pd.read_csv(no_population / "published" / "not_computed.csv", dtype=str)
    assert set(csv["measure_id"]) == set(published["measure_id"])


def test_no_population_file_on_the_report_card(no_population):
    text = _page_text(no_population / "site" / "index.html")
    headline = _section(text, "Children looked after: measures at the latest period", "Not computed, and why")
    row = _section(headline, "Children looked after per 10,000 children", "What to do")
    assert "Not computed." in row and "No population file" in row
    listed = _section(text, "Not computed, and why", "Downloads")
    for measure_id in ("cla_rate_per_10k", *CP, *PROGRAMMES, *CARE_LEAVERS):
        assert CATALOGUE[measure_id].name in listed, measure_id
    assert "Add ONS mid-year population estimates" in listed
    assert "No CIN census children or CIN census child protection plans loaded" in listed
    assert "No SSDA903 OC3 (care leavers) loaded" in listed
    assert "Add the case-management export" in listed
    page = _page_text(no_population / "site" / "measures" / "cla_rate_per_10k.html")
    assert "Not computed Why: No population file" in page and "What to do: Add ONS" in page


def test_no_population_file_on_the_data_quality_page(no_population):
    text = _page_text(no_population / "site" / "data-quality.html")
    listed = _section(text, "Measures not computed", "Contract checks")
    published = query(no_population, "select measure_id from published.pub_not_computed")
    assert f"{len(published)} measure(s)" in listed
    for measure_id in ("cla_rate_per_10k", *CP, *PROGRAMMES, *CARE_LEAVERS):
        assert CATALOGUE[measure_id].name in listed, measure_id
    assert "No population file" in listed and "authority.code in oba.yaml" in listed


@pytest.mark.skipif(not HAS_PDF_TOOLS, reason="needs Debian's chromium")
def test_no_population_file_in_the_board_pack(no_population):
    pages = _pdf_pages(no_population / "board_pack.pdf")
    assert len(pages) == 1 + 2 + 1  # cover, cla_count, cla_rate_per_10k, caveats
    cover, rate_page, caveats = pages[0], pages[2], pages[-1]
    assert "Not computed." in cover and "No population file" in cover
    assert "Children looked after per 10,000" in rate_page
    assert "Not computed." in rate_page and "What to do:" in rate_page
    assert "Not computed, and why" in caveats
    squashed = _squash(caveats)
    # The caveats page lists the headline first and groups measures sharing a reason; the
    # groups that do not fit are counted and left to the site's data-quality page.
    assert _squash(CATALOGUE["cla_rate_per_10k"].name) in squashed
    assert _squash("No population file") in squashed
    left_out = [m for m in (*CP, *PROGRAMMES, *CARE_LEAVERS) if _squash(CATALOGUE[m].name) not in squashed]
    if left_out:
        assert re.search(r"\d+ more on the site's data-quality page", caveats), left_out
    else:
        assert _squash("No SSDA903 OC3 (care leavers) loaded") in squashed


def test_area_code_without_population_rows_everywhere(other_area):
    row = query(
        other_area, "select * from published.pub_not_computed where measure_id = 'cla_rate_per_10k'"
    ).iloc[0]
    assert row["reason_code"] == "population_area_missing"
    reason = ("The population file has no rows for area code E06000047 (authority.code in "
              "oba.yaml); it holds 2 areas: E09000998, E09000999.")
    assert row["reason"] == reason
    assert "Check authority.code in oba.yaml" in row["fix"]
    index = _page_text(other_area / "site" / "index.html")
    headline = _section(index, "Children looked after: measures at the latest period", "Not computed, and why")
    assert "Not computed. " + reason in headline
    assert "Check authority.code in oba.yaml" in _section(index, "Not computed, and why", "Downloads")
    quality = _page_text(other_area / "site" / "data-quality.html")
    assert reason in _section(quality, "Measures not computed", "Contract checks")
    if HAS_PDF_TOOLS:
        caveats = _squash(_pdf_pages(other_area / "board_pack.pdf")[-1])
        assert _squash("no rows for area code E06000047") in caveats
        assert _squash("E09000998, E09000999") in caveats


def test_periods_without_inputs(some_periods):
    coverage = query(some_periods, "select * from marts.measure_coverage").set_index("measure_id")
    rate = coverage.loc["cla_rate_per_10k"]
    assert rate["coverage"] == "partly_computed"
    assert "before mid-2023" in rate["reason"] and "(April 2022 to March 2023)" in rate["reason"]
    for measure_id in CARE_LEAVERS:
        assert coverage.loc[measure_id, "reason_code"] == "no_rows_in_period", measure_id
        assert "SSDA903 OC3" in coverage.loc[measure_id, "reason"]
    index = _page_text(some_periods / "site" / "index.html")
    headline = _section(index, "Children looked after: measures at the latest period", "Not computed, and why")
    row = headline[headline.index("Children looked after per 10,000"):]
    assert "Partly computed: No population estimate for E09000999 before mid-2023" in row
    assert "31 Mar 2024" in row and "Not computed." not in row
    listed = _section(index, "Not computed, and why", "Downloads")
    assert "Partly computed" in listed
    for measure_id in CARE_LEAVERS:
        assert CATALOGUE[measure_id].name in listed
