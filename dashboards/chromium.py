"""Headless Chromium driven over its DevTools pipe, so it can be started before it is needed.

``chromium --headless --print-to-pdf URL`` starts the browser (about 1.5 s), loads the page,
lets it run on virtual time and prints. :class:`Browser` does the same steps over the DevTools
protocol (``--remote-debugging-pipe``: commands on the browser's fd 3, replies on its fd 4,
each a JSON message ending in a NUL byte), with the same settings as the ``--print-to-pdf``
switch uses (Chromium's headless_command.js), so the browser can start while other work goes
on: :func:`prestart` launches one, and the board pack takes it when it prints.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

_TRAMPOLINE = (
    "import os, sys; a, b = int(sys.argv[1]), int(sys.argv[2]); os.dup2(a, 3); os.dup2(b, 4); "
    "os.close(a); os.close(b); os.execvp(sys.argv[3], sys.argv[3:])"
)


class BrowserError(RuntimeError):
    """The browser failed, closed or did not answer in time."""


class Browser:
    """One headless Chromium, its own throw-away profile, printing pages to PDF on request."""

    def __init__(self, chromium: str, flags: tuple[str, ...]):
        self.chromium = chromium
        self.profile = tempfile.mkdtemp(prefix="oba-chromium-")
        self.log_path = Path(self.profile) / "stderr.log"
        commands_r, commands_w = os.pipe()
        replies_r, replies_w = os.pipe()
        # The browser's ends become its fds 3 and 4 (moved there by a small Python trampoline
        # that then execs the browser); first moved above 10, so that neither can be
        # overwritten by the other's move.
        child_in = fcntl.fcntl(commands_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(replies_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(commands_r)
        os.close(replies_w)
        env = dict(os.environ, HOME=self.profile, XDG_CONFIG_HOME=self.profile, XDG_CACHE_HOME=self.profile)
        command = [
            sys.executable, "-S", "-c", _TRAMPOLINE, str(child_in), str(child_out),
            chromium, *flags, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank",
        ]
        try:
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    pass_fds=(child_in, child_out), env=env, start_new_session=True,
                )
        except BaseException:
            for fd in (commands_w, replies_r):
                os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        finally:
            os.close(child_in)
            os.close(child_out)
        self._commands = commands_w
        self._replies = replies_r
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        self._results: dict[int, dict] = {}

    # --- protocol ------------------------------------------------------------------------------

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            try:
                written = os.write(self._commands, data)
            except OSError as exc:
                raise BrowserError(f"the browser closed its DevTools pipe ({exc})") from exc
            data = data[written:]
        return self._next_id

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the browser did not answer in time")
            ready, _, _ = select.select([self._replies], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise BrowserError("the browser closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None, *,
             deadline: float) -> dict:
        """Send a command and return its result (events that arrive meanwhile are kept)."""
        request = self._send(method, params, session)
        while request not in self._results:
            message = self._read(deadline)
            if "id" in message:
                self._results[message["id"]] = message
            else:
                self._events.append(message)
        reply = self._results.pop(request)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str | None, match, *, deadline: float) -> dict:
        """The first event ``method`` of ``session`` whose params satisfy ``match``."""
        while True:
            for index, event in enumerate(self._events):
                if (event.get("method") == method and event.get("sessionId") == session
                        and match(event.get("params", {}))):
                    del self._events[index]
                    return event.get("params", {})
            self._events.clear()
            message = self._read(deadline)
            if "id" in message:
                self._results[message["id"]] = message
            else:
                self._events.append(message)

    # --- printing ------------------------------------------------------------------------------

    def print_to_pdf(self, url: str, pdf: Path, *, budget_ms: int, timeout: float) -> None:
        """Load ``url`` in a new tab, let it run ``budget_ms`` of virtual time, print to ``pdf``
        (what ``--print-to-pdf --virtual-time-budget --no-pdf-header-footer`` does)."""
        deadline = time.monotonic() + timeout
        target = self.call("Target.createTarget", {"url": "about:blank"}, deadline=deadline)["targetId"]
        session = self.call(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, deadline=deadline
        )["sessionId"]
        self.call("Page.enable", session=session, deadline=deadline)
        self.call("Page.setLifecycleEventsEnabled", {"enabled": True}, session, deadline=deadline)
        self._events.clear()
        navigated = self.call("Page.navigate", {"url": url}, session, deadline=deadline)
        if navigated.get("errorText"):
            raise BrowserError(f"could not load {url}: {navigated['errorText']}")
        frame, loader = navigated["frameId"], navigated.get("loaderId")
        self.wait_event(
            "Page.lifecycleEvent", session,
            lambda p: p.get("name") == "load" and p.get("frameId") == frame
            and (loader is None or p.get("loaderId") == loader),
            deadline=deadline,
        )
        self.call(
            "Emulation.setVirtualTimePolicy",
            {"budget": budget_ms, "maxVirtualTimeTaskStarvationCount": 9999,
             "policy": "pauseIfNetworkFetchesPending"},
            session, deadline=deadline,
        )
        self.wait_event("Emulation.virtualTimeBudgetExpired", session, lambda p: True, deadline=deadline)
        printed = self.call(
            "Page.printToPDF",
            {"displayHeaderFooter": False, "generateTaggedPDF": True, "printBackground": True,
             "preferCSSPageSize": True},
            session, deadline=deadline,
        )
        pdf.write_bytes(base64.b64decode(printed["data"]))
        self.call("Target.closeTarget", {"targetId": target}, deadline=deadline)

    def stderr_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def close(self) -> None:
        """Ask the browser to close; it shuts down (or is killed after 5 s) and its profile is
        removed in the background, waited for at exit."""
        if self.process.poll() is None:
            try:
                self._send("Browser.close")
            except BrowserError:
                pass
        for fd in (self._commands, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        closer = threading.Thread(target=self._finish, name="chromium-close", daemon=True)
        closer.start()
        with _LOCK:
            _CLOSING.append(closer)
            _at_exit()

    def _finish(self) -> None:
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


_PRESTARTED: dict[str, Browser] = {}
_CLOSING: list[threading.Thread] = []
_LOCK = threading.Lock()
_AT_EXIT: list[bool] = []


def _at_exit() -> None:
    """At exit, close what was started and wait for browsers to finish closing (under _LOCK)."""
    if not _AT_EXIT:
        atexit.register(_close_all)
        _AT_EXIT.append(True)


def prestart(chromium: str, flags: tuple[str, ...]) -> None:
    """Start a browser now for the next :func:`take` (it starts while other work goes on)."""
    with _LOCK:
        if chromium in _PRESTARTED:
            return
        try:
            _PRESTARTED[chromium] = Browser(chromium, flags)
        except OSError:
            return
        _at_exit()


def take(chromium: str) -> Browser | None:
    """The browser :func:`prestart` started for ``chromium``, if it is still running."""
    with _LOCK:
        browser = _PRESTARTED.pop(chromium, None)
    if browser is not None and browser.process.poll() is not None:
        browser.close()
        return None
    return browser


def close_unused() -> None:
    """Close browsers started ahead that nothing took (say, the run failed before printing)."""
    with _LOCK:
        browsers = list(_PRESTARTED.values())
        _PRESTARTED.clear()
    for browser in browsers:
        browser.close()


def _close_all() -> None:
    with _LOCK:
        browsers = list(_PRESTARTED.values())
        _PRESTARTED.clear()
    for browser in browsers:
        browser.close()
    with _LOCK:
        closing = list(_CLOSING)
        _CLOSING.clear()
    for closer in closing:
        closer.join(timeout=10)


__all__ = ["Browser", "BrowserError", "close_unused", "prestart", "take"]
