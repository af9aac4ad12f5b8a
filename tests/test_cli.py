"""The oba command line: serve, validate on clean synthetic exports, usage errors."""

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

OBA = Path(sys.executable).parent / "oba"


def test_serve_binds_loopback_and_serves_the_site(tmp_path):
    site = tmp_path / "out" / "site"
    site.mkdir(parents=True)
    (site / "index.html").write_text("<!DOCTYPE html><title>Report card</title><h1>Report card</h1>")
    proc = subprocess.Popen(
        [str(OBA), "serve", "--out", str(tmp_path / "out"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 60
        while "http://127.0.0.1:" not in line and time.monotonic() < deadline:
            line += proc.stdout.readline()
        url = line[line.index("http://127.0.0.1:"):].split()[0].rstrip("/")
        with urllib.request.urlopen(url + "/index.html", timeout=10) as response:
            assert response.status == 200
            assert b"Report card" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_stops_on_sigterm_even_when_started_with_it_ignored(tmp_path):
    (tmp_path / "out" / "site").mkdir(parents=True)
    (tmp_path / "out" / "site" / "index.html").write_text("<h1>Report card</h1>")
    proc = subprocess.Popen(
        [str(OBA), "serve", "--out", str(tmp_path / "out"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A service manager or a background shell may start it with SIGTERM ignored.
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN),
    )
    try:
        line, deadline = "", time.monotonic() + 60
        while "http://127.0.0.1:" not in line and time.monotonic() < deadline:
            line += proc.stdout.readline()
        assert "http://127.0.0.1:" in line
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_without_a_site_is_a_usage_error(tmp_path):
    completed = subprocess.run([str(OBA), "serve", "--out", str(tmp_path)], capture_output=True, text=True)
    assert completed.returncode == 2
    assert "no site at" in completed.stderr


def test_validate_clean_synthetic_exports_exits_0(tmp_path):
    from pipelines.synth import generate

    generate(tmp_path / "exports", scale="tiny", seed=7)
    completed = subprocess.run(
        [str(OBA), "validate", "--exports", str(tmp_path / "exports")],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No blocking problems" in completed.stderr
