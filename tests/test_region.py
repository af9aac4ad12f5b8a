"""Several authorities: one static partition each, run independently, rolled up to the region."""

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

OBA = Path(sys.executable).parent / "oba"


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    from pipelines.synth import generate

    root = tmp_path_factory.mktemp("region")
    generate(root / "north" / "exports", scale="tiny", seed=11)
    generate(root / "south" / "exports", scale="tiny", seed=12)
    (root / "authorities.yaml").write_text(
        "region: {name: Test Region, code: E12000009}\n"
        "authorities:\n"
        "  - {key: north, name: Northshire, code: E09000999, exports: north/exports}\n"
        "  - {key: south, name: Southshire, code: E09000999, exports: south/exports}\n"
    )
    completed = subprocess.run(
        [str(OBA), "run", "--authorities", str(root / "authorities.yaml"), "--out", str(root / "out")],
        capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return root


def test_definitions_are_partitioned_by_authority(region):
    code = (
        "from pipelines.definitions import defs; "
        "job = defs.resolve_job_def('oba_refresh'); "
        "print(sorted(job.partitions_def.get_partition_keys())); "
        "print(sorted(k.to_user_string() for k in defs.resolve_job_def('oba_region').asset_layer.executable_asset_keys))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**os.environ, "OBA_AUTHORITIES": str(region / "authorities.yaml")},
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert lines[0] == "['north', 'south']"
    assert "marts/regional_measure_values" in lines[1] and "published/regional_site" in lines[1]


def test_each_authority_has_its_own_outputs(region):
    for key in ("north", "south"):
        out = region / "out" / key
        assert (out / "warehouse.duckdb").is_file()
        assert (out / "site" / "index.html").is_file()
        con = duckdb.connect(str(out / "warehouse.duckdb"), read_only=True)
        name = con.execute("select authority_name from raw.oba_config").fetchone()[0]
        con.close()
        assert name == {"north": "Northshire", "south": "Southshire"}[key]


def test_rollup_adds_authority_breakdown_and_region_totals(region):
    con = duckdb.connect(str(region / "out" / "region" / "warehouse.duckdb"), read_only=True)
    rows = con.execute(
        "select breakdown, breakdown_value, value, numerator, denominator from marts.regional_measure_values "
        "where measure_id = 'cla_count' and period_end = date '2026-03-31' order by breakdown, breakdown_value"
    ).fetchall()
    rate = con.execute(
        "select breakdown_value, numerator, denominator, value from marts.regional_measure_values "
        "where measure_id = 'cla_rate_per_10k' and period_end = date '2026-03-31' and breakdown = 'all'"
    ).fetchone()
    con.close()
    by = {(b, v): value for b, v, value, _, _ in rows}
    assert set(by) == {("all", "all"), ("authority", "Northshire"), ("authority", "Southshire")}
    assert by[("all", "all")] == by[("authority", "Northshire")] + by[("authority", "Southshire")]
    assert rate[3] == pytest.approx(10000 * rate[1] / rate[2])
    site = (region / "out" / "region" / "site" / "index.html").read_text()
    assert "Northshire" in site and "Southshire" in site and "Region" in site
    csv = (region / "out" / "region" / "published" / "regional_measure_values.csv").read_text()
    assert "Northshire" in csv
