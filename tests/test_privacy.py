"""No raw identifier of any source leaves raw: SSDA903 CHILD and SW_ID, CIN LAchildID and UPN,
case-export client ids, on a synthetic council with every source (the hand-made council of
test_ingest has SSDA903 only). Identifiers are found through each data contract's
`identifiers:`, so a new source is covered when its contract names them."""

import re

import duckdb
import pytest
from conftest import assert_no_identifier_leaves_raw, synthetic_tiny_outputs

from pipelines.contracts import load_contracts
from pipelines.sqlquote import quote_identifier


def _raw_identifiers(con) -> set[str]:
    raw = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
    ids: set[str] = set()
    for contract in load_contracts().values():
        if contract.source not in raw:
            continue
        table = f"raw.{quote_identifier(contract.source)}"
        present = {r[0] for r in con.execute(f"describe {table}").fetchall()}
        for name in contract.identifiers:
            if name.lower() in present:
                column = quote_identifier(name.lower())
                ids |= {
                    r[0]
                    for r in con.execute(
                        f"select distinct trim({column}) from {table} where trim({column}) <> ''"
                    ).fetchall()
                }
    return ids


@pytest.mark.slow
def test_no_identifier_of_any_source_outside_raw_or_in_outputs(tmp_path_factory):
    # `oba synth --scale tiny` then `oba run`, shared with the other tests of that council
    _, out = synthetic_tiny_outputs(tmp_path_factory)

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        ids = _raw_identifiers(con)
    finally:
        con.close()
    # every kind is present: numeric CHILD / LAchildID, 13-character UPNs, case client ids
    assert any(re.fullmatch(r"[A-Z]\d{12}", i) for i in ids)
    assert any(i.startswith("CL") for i in ids)
    assert any(i.isdigit() for i in ids)
    assert_no_identifier_leaves_raw(out, ids)
