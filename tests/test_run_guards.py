"""Never publish nothing over something (DESIGN §2b): a near-miss header is an error naming the
export and its missing columns; a run whose exports give nothing, or under half of what the
outputs in place hold, fails and keeps them unless --accept-shrink."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLES, query


def _run(capsys, *argv: str) -> tuple[int, str]:
    from pipelines.cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, " ".join((captured.err + captured.out).split())


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".oba.lock"
    }


def test_episodes_missing_decom_is_a_blocking_error_naming_it(council_run, capsys):
    exports, out = council_run
    before = _files(out)
    path = exports / "ssda903" / "2023-24" / "episodes.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    header = lines[0].split(",")
    drop = [h.upper() for h in header].index("DECOM")
    path.write_text(
        "\n".join(",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines) + "\n",
        encoding="utf-8",
    )
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 1
    assert "SSDA903 episodes" in text and "DECOM" in text and "ssda903/2023-24/episodes.csv" in text
    assert _files(out) == before


@pytest.mark.parametrize("content", ["empty", "pdfs", "annex_a", "unrelated"])
def test_a_folder_with_nothing_to_read_keeps_the_outputs_in_place(council_run, tmp_path, capsys, content):
    _, out = council_run
    before = _files(out)
    exports = tmp_path / "new-exports"
    exports.mkdir()
    if content == "pdfs":
        (exports / "minutes.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
        (exports / "plan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    elif content == "annex_a":
        if not SAMPLES.is_dir():
            pytest.skip("shared samples not found")
        shutil.copy(SAMPLES / "annex_a" / "Annex_A_2024_Jan.xlsx", exports)
    elif content == "unrelated":
        (exports / "budget.csv").write_text("cost_centre,amount\nA1,100\n")
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 1
    assert "no rows from any recognised export" in text and "--accept-shrink" in text
    if content == "annex_a":
        assert "Annex A: not supported yet" in text
    assert _files(out) == before


def test_a_source_halved_needs_accept_shrink(council_run, capsys):
    exports, out = council_run
    before = _files(out)
    rows_before = query(out, "select count(*) as n from raw.ssda903_episodes")["n"][0]
    assert rows_before == 12  # 3 episodes in the 2022-23 return, 9 in 2023-24
    path = exports / "ssda903" / "2023-24" / "episodes.csv"
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")  # 2 of its 9 episodes left
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 1 and "ssda903_episodes: 5 rows now, fewer than half the 12" in text
    # it stopped once the exports were loaded, before any model was built
    assert "Failed: staging: the run would publish less than the outputs in place" in " ".join(text.split())
    assert "stg_" not in text
    # the steps left out are named once, in one line, not in a Dagster warning per step
    assert "Not run, as a step they need failed: intermediate, marts" in text
    assert "Dependencies for step" not in text
    assert _files(out) == before
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out), "--accept-shrink")
    assert code == 0, text
    assert query(out, "select count(*) as n from raw.ssda903_episodes")["n"][0] == 5


def test_a_zero_row_csv_after_a_good_run_keeps_the_outputs(council_run, capsys):
    exports, out = council_run
    before = _files(out)
    path = exports / "ssda903" / "2023-24" / "episodes.csv"
    path.write_text(path.read_text(encoding="utf-8-sig").splitlines()[0] + "\n", encoding="utf-8")
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 1 and "ssda903/2023-24/episodes.csv" in text and "no data rows" in text
    assert _files(out) == before
