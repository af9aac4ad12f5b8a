"""The command line on hostile or broken input: every failure names its cause, user text is never
markup, the output folder is only ever the project's own, personal values are masked and the
warehouse is private."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import query


@pytest.fixture
def exports(hand_council, tmp_path) -> Path:
    folder = tmp_path / "exports"
    shutil.copytree(hand_council, folder)
    return folder


def _run(capsys, *argv: str) -> tuple[int, str]:
    from pipelines.cli import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err + captured.out


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".oba.lock"
    }


# -- a failure names its real cause --------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("suppression: {upper: lots}\n", ["suppression.upper", "lots"]),
        ("authority: !!python/object:os.system {}\n", ["python/object", "oba.yaml"]),
    ],
)
def test_bad_config_is_named_before_anything_runs(exports, tmp_path, capsys, config, expected):
    (exports / "oba.yaml").write_text(config, encoding="utf-8")
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(tmp_path / "out"))
    assert code == 2
    for word in expected:
        assert word in text
    assert "DagsterExecutionStepExecutionError" not in text and "Traceback" not in text
    assert not (tmp_path / "out" / "warehouse.duckdb").exists()


def test_full_disk_during_a_step_names_errno_and_remedy(exports, tmp_path, capsys, monkeypatch):
    from pipelines.defs import publish

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "out" / "published"))

    monkeypatch.setattr(publish, "write_downloads", full)
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "No space left on device" in text and "free space" in text
    assert "DagsterExecutionStepExecutionError" not in text and "Traceback" not in text


def test_real_full_disk_keeps_previous_outputs(exports, tmp_path, capsys):
    """--out on a 2 MB file system: the run fails naming the full disk; nothing half-written."""
    import subprocess

    disk = tmp_path / "small-disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        out = disk / "out"
        code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
        assert code == 1
        assert "No space left on device" in text and "free space" in text
        assert str(out) in text
        assert "Traceback" not in text and "DagsterExecutionStepExecutionError" not in text
        assert not (out / "site").exists() and not (out / "warehouse.duckdb").exists()
        assert not list(out.glob(".run-*"))
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_unwritable_out_is_a_clear_refusal(exports, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(blocker / "out"))
    assert code == 2
    assert "output folder" in text and str(blocker / "out") in text
    assert "Traceback" not in text


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_out_is_a_clear_refusal(exports, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    finally:
        out.chmod(0o700)
    assert code == 2 and "Permission denied" in text and "Traceback" not in text


def test_unexpected_error_outside_dagster_has_no_traceback(exports, tmp_path, capsys, monkeypatch):
    from pipelines import cli

    def broken(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "out"))

    monkeypatch.setattr(cli.outfolder, "writable", broken)
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "Read-only file system" in text and "read-only" in text and "Traceback" not in text


# -- user text is never console markup; a run's outputs and exports stay as they should -----


def test_markup_in_file_names_and_stories_is_plain_text(exports, tmp_path, capsys):
    (exports / "notes [").mkdir()
    (exports / "notes [" / "x] draft.doc").write_text("meeting notes")  # relative: notes [/x] draft.doc
    story = (exports / "stories" / "cla_count.yml").read_text(encoding="utf-8")
    (exports / "stories" / "cla_count.yml").write_text(
        story.replace("measure: cla_count", 'measure: cla_count\nowner: "[/b] [bold]lead"', 1),
        encoding="utf-8",
    )
    (exports / "stories" / "typo.yml").write_text("measure: cla_cuont\npartners: [Schools]\n")
    before = _files(exports)
    out = tmp_path / "out"
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 0, text
    assert "notes [/x] draft.doc" in text  # listed as ignored, verbatim
    flat = " ".join(text.split())
    assert "cla_cuont" in flat and "stories/typo.yml" in flat  # a story no page would show
    assert (out / "site" / "index.html").is_file() and (out / "board_pack.pdf").is_file()
    # baseline locks live in the output folder; the exports folder is only read
    assert _files(exports) == before
    assert (out / "baselines").is_dir() or not list((exports / "stories").glob("baselines/*"))

    # the warehouse holds identifiers as exported: its owner's alone
    assert stat.S_IMODE((out / "warehouse.duckdb").stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    key = Path(os.environ["OBA_PSEUDONYM_KEY"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_out_folder_with_other_files_is_refused_then_kept_with_force(exports, tmp_path, capsys):
    out = tmp_path / "shared-drive"
    (out / "site").mkdir(parents=True)
    (out / "published").mkdir()
    (out / "site" / "precious.html").write_text("<p>mine</p>")
    (out / "published" / "q3_report.docx").write_bytes(b"PK\x03\x04 report")
    (out / "minutes.txt").write_text("keep me")
    before = _files(out)

    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 2 and "--force" in text and "did not write" in text
    assert _files(out) == before

    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out), "--force")
    assert code == 0, text
    after = _files(out)
    for name, body in before.items():
        assert after[name] == body, f"{name} was changed or removed"
    assert (out / "site" / "index.html").is_file()

    # a second run keeps them too (the marker knows which files are the project's)
    (out / "site" / "later.html").write_text("added after the first run")
    code, text = _run(capsys, "run", "--exports", str(exports), "--out", str(out))
    assert code == 0, text
    assert (out / "site" / "precious.html").read_text() == "<p>mine</p>"
    assert (out / "site" / "later.html").read_text() == "added after the first run"
    assert (out / "published" / "q3_report.docx").read_bytes() == b"PK\x03\x04 report"


def test_demo_refuses_a_folder_of_other_files(tmp_path, capsys):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "budget.xlsx").write_bytes(b"PK")
    code, text = _run(capsys, "demo", "--out", str(out), "--scale", "tiny")
    assert code == 2 and "budget.xlsx" in text
    assert sorted(p.name for p in out.iterdir()) == ["budget.xlsx"]


# -- personal values are masked wherever quality output shows them ---------------------------


def test_malformed_dates_of_birth_are_masked(exports, tmp_path, capsys):
    header = exports / "ssda903" / "2023-24" / "header.csv"
    lines = header.read_text(encoding="utf-8").splitlines()
    first = lines[1].split(",")
    first[2] = "1987-13-45"  # not a date in either format
    lines[1] = ",".join(first)
    header.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "checked"
    code, text = _run(capsys, "validate", "--exports", str(exports), "--out", str(out))
    assert "1987-13-45" not in text
    values = query(out, "select value, message from quality.quarantine where column_name = 'DOB'")
    assert len(values) >= 1
    assert "19**-**-**" in set(values["value"])
    assert not values["message"].str.contains("1987-13-45").any()
    page = (out / "site" / "data-quality.html").read_text(encoding="utf-8")
    assert "1987-13-45" not in page


def test_key_file_is_private_and_a_shared_folder_is_left_as_it_is(tmp_path):
    from pipelines.pseudonym import load_or_create_key

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    load_or_create_key(shared / "pseudonym.key")
    assert stat.S_IMODE((shared / "pseudonym.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777

    made = tmp_path / "new" / "keys"
    load_or_create_key(made / "pseudonym.key")
    assert stat.S_IMODE(made.stat().st_mode) == 0o700

    loose = tmp_path / "loose.key"
    loose.write_text("00" * 32 + "\n")
    loose.chmod(0o644)
    load_or_create_key(loose)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
