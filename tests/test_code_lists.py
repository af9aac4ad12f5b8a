"""Code lists are versioned by collection year (DESIGN.md §2b, issue 19 item 2).

Every coded column of every contract has exactly one code-list version in force for each
collection year 2013/14 to 2026/27 (2014..2027, the year of the return's 31 March), each
version cites the guidance it comes from, and documented DfE changes land in the right year.
"""

from __future__ import annotations

import shutil

import pytest

from pipelines.contracts import ContractError, _parse, load_contracts
from pipelines.settings import CONTRACTS_DIR

YEARS = range(2014, 2028)
# Contract families whose code lists are DfE's (SSDA903 and the CIN census).
DFE_FAMILIES = {"ssda903", "cin"}


def in_force(versions, year: int):
    return [
        v
        for v in versions
        if (v.first_year is None or v.first_year <= year) and (v.last_year is None or year <= v.last_year)
    ]


def codes(source: str, list_name: str, year: int) -> frozenset[str]:
    (version,) = in_force(load_contracts()[source].code_lists[list_name], year)
    return version.codes


def coded_columns():
    for contract in load_contracts().values():
        for column in contract.columns:
            if column.codes:
                yield contract, column


def test_every_dfe_code_column_names_a_code_list():
    missing = [
        f"{contract.source}.{column.name}"
        for contract in load_contracts().values()
        if contract.family in DFE_FAMILIES
        for column in contract.columns
        if column.type == "code" and not column.codes
    ]
    assert not missing, f"coded DfE columns without a code list: {missing}"


@pytest.mark.parametrize("year", YEARS)
def test_exactly_one_version_per_collection_year(year):
    problems = []
    for contract, column in coded_columns():
        found = in_force(contract.code_lists[column.codes], year)
        if len(found) != 1:
            problems.append(f"{contract.source}.{column.name} ({column.codes}): {len(found)} versions")
    assert not problems, f"collection year {year}: {problems}"


def test_every_version_cites_a_source_and_is_contiguous():
    for contract in load_contracts().values():
        for name, versions in contract.code_lists.items():
            for v in versions:
                assert v.source and v.source.strip(), (contract.source, name)
                assert v.codes, (contract.source, name)
                if v.first_year is not None and v.last_year is not None:
                    assert v.first_year <= v.last_year, (contract.source, name, v.first_year)


def test_dfe_versions_name_their_years():
    """DfE lists give explicit from/to years, so no version silently claims years after 2027."""
    for contract, column in coded_columns():
        if contract.family not in DFE_FAMILIES:
            continue
        for v in contract.code_lists[column.codes]:
            assert v.first_year is not None and v.last_year is not None, (contract.source, column.codes)
            assert 2014 <= v.first_year and v.last_year <= 2027, (contract.source, column.codes)


def test_rec_special_guardianship_codes():
    for year in range(2014, 2019):
        assert {"E43", "E44"} <= codes("ssda903_episodes", "rec", year)
        assert not {"E45", "E46", "E47", "E48"} & codes("ssda903_episodes", "rec", year)
    for year in range(2019, 2028):
        assert {"E45", "E46", "E47", "E48"} <= codes("ssda903_episodes", "rec", year)
        assert not {"E43", "E44"} & codes("ssda903_episodes", "rec", year)


def test_ssda903_sex_codes():
    for year in range(2014, 2025):
        assert codes("ssda903_header", "sex", year) == {"1", "2"}
    for year in range(2025, 2028):
        assert codes("ssda903_header", "sex", year) == {"M", "F", "U"}


def test_place_codes():
    place = {year: codes("ssda903_episodes", "place", year) for year in YEARS}
    assert all("K3" not in place[y] for y in range(2014, 2025))
    assert all("K3" in place[y] for y in range(2025, 2028))
    z1x = {"Z11", "Z12", "Z13", "Z14"}
    assert all(not z1x & place[y] for y in range(2014, 2026))
    assert all(z1x <= place[y] for y in range(2026, 2028))
    gone = {"H5", "P2", "Z1"}
    assert all(gone <= place[y] for y in range(2014, 2026))
    assert all(not gone & place[y] for y in range(2026, 2028))


def test_other_documented_changes():
    activ = {year: codes("ssda903_oc3", "activ", year) for year in YEARS}
    assert all({"F3", "P3"} <= activ[y] and not {"F4", "F5"} & activ[y] for y in range(2014, 2022))
    assert all({"F4", "P4", "F5", "P5"} <= activ[y] and not {"F3", "P3"} & activ[y] for y in range(2022, 2028))
    assert "CUSTOD" not in codes("ssda903_episodes", "reason_place_change", 2018)
    assert "CUSTOD" in codes("ssda903_episodes", "reason_place_change", 2019)
    assert "5D" not in codes("cin_details", "referral_source", 2022)
    assert "5D" in codes("cin_details", "referral_source", 2023)
    assert "RC9" not in codes("cin_details", "closure_reason", 2022)
    assert "RC9" in codes("cin_details", "closure_reason", 2023)
    assert codes("cin_children", "gender", 2024) == {"0", "1", "2", "9"}
    assert codes("cin_children", "sex", 2025) == {"M", "F", "U"}
    assert "N9" not in codes("ssda903_episodes", "cin", 2020)  # SSDA903 category of need is N1-N8


def test_contract_with_unsourced_version_is_refused(tmp_path):
    path = tmp_path / "ssda903_header.yml"
    shutil.copy(CONTRACTS_DIR / "ssda903_header.yml", path)
    text = path.read_text()
    cited = ', source: "DfE SSDA903 guide 2024 to 2025'
    assert cited in text
    start = text.index(cited)
    end = text.index('"}', start + len(cited))
    path.write_text(text[:start] + text[end + 1 :])
    with pytest.raises(ContractError, match=r"code_lists\.sex\[2\].*needs a source"):
        _parse(path)


def test_contract_with_blank_source_is_refused(tmp_path):
    path = tmp_path / "case_clients.yml"
    text = (CONTRACTS_DIR / "case_clients.yml").read_text()
    start = text.index("source: \"Project's")
    end = text.index('"}', start)
    path.write_text(text[:start] + 'source: "  "' + text[end + 1 :])
    with pytest.raises(ContractError, match="needs a source"):
        _parse(path)
