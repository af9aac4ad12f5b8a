"""No raw identifier of any source leaves raw: SSDA903 CHILD and SW_ID, CIN LAchildID and UPN,
case-export client ids, on a synthetic council with every source (the hand-made council of
test_ingest has SSDA903 only). Identifiers are found through each data contract's
`identifiers:`, so a new source is covered when its contract names them."""

import re

import duckdb

from pipelines.cli import main
from pipelines.contracts import load_contracts


def _raw_identifiers(con) -> set[str]:
    raw = {r[0] for r in con.execute("select table_name from information_schema.tables where table_schema = 'raw'").fetchall()}
    ids: set[str] = set()
    for contract in load_contracts().values():
        if contract.source not in raw:
            continue
        present = {r[0] for r in con.execute(f"describe raw.{contract.source}").fetchall()}
        for name in contract.identifiers:
            if name.lower() in present:
                ids |= {
                    r[0]
                    for r in con.execute(
                        f"select distinct trim({name.lower()}) from raw.{contract.source} where trim({name.lower()}) <> ''"
                    ).fetchall()
                }
    return ids


def test_no_identifier_of_any_source_outside_raw_or_in_outputs(tmp_path):
    exports, out = tmp_path / "exports", tmp_path / "out"
    assert main(["synth", "--out", str(exports), "--scale", "tiny"]) == 0
    assert main(["run", "--exports", str(exports), "--out", str(out)]) == 0

    con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
    try:
        ids = _raw_identifiers(con)
        # every kind is present: numeric CHILD / LAchildID, 13-character UPNs, case client ids
        assert any(re.fullmatch(r"[A-Z]\d{12}", i) for i in ids)
        assert any(i.startswith("CL") for i in ids)
        assert any(i.isdigit() for i in ids)
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema <> 'raw' and data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            hits = con.execute(
                f'select count(*) from "{schema}"."{table}" where trim("{column}") in (select unnest(?))',
                [sorted(ids)],
            ).fetchone()[0]
            assert hits == 0, f"{schema}.{table}.{column} holds a raw identifier"
    finally:
        con.close()

    # In the published files, an identifier standing alone (not digits of a longer number).
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, sorted(ids))) + r")(?!\w|\.\d)")
    checked = 0
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".html", ".csv", ".json", ".txt") and path.name != "plotly.min.js":
            found = pattern.search(path.read_text(encoding="utf-8", errors="replace"))
            assert not found, f"{path} holds the raw identifier {found.group(1)!r}"
            checked += 1
    assert checked > 10
