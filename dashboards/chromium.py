"""Headless Chromium for the board pack, started before it is needed.

``chromium --headless --print-to-pdf URL`` starts the browser (about 1.5 s), loads the page,
lets it run on virtual time and prints. :class:`Browser` does the same steps through
Playwright (Debian's Chromium by ``executable_path``; no browser is ever downloaded), with the
same settings as the ``--print-to-pdf`` switch, so that the browser can start while other work
goes on: :func:`prestart` launches one, and the board pack takes it when it prints. After a
good print the board pack hands it back (:func:`release`), so the next run in the same process
(the authorities of ``oba run --authorities``) prints with a browser already up; a browser
nobody asks for closes itself after :data:`IDLE_CLOSE_S` seconds, and every one closes at exit.

Playwright's synchronous API belongs to the thread that started it, so each :class:`Browser`
is one thread that owns Playwright and the browser and prints the pages it is handed.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as futures_wait
from pathlib import Path

LAUNCH_TIMEOUT_S = 60
# A browser waiting for its next page this long closes itself (a long-lived process keeps no
# idle Chromium).
IDLE_CLOSE_S = 120.0


class BrowserError(RuntimeError):
    """The browser failed, closed or did not answer in time."""


class Browser:
    """One headless Chromium in its own thread, printing pages to PDF on request."""

    def __init__(self, chromium: str, flags: tuple[str, ...]):
        self.chromium = chromium
        # --headless is Playwright's to set (headless=True); the rest are passed as they are.
        self.flags = [f for f in flags if f != "--headless"]
        self._requests: queue.Queue = queue.Queue()
        self._launched: Future = Future()
        self._errors: list[str] = []
        self._closing = False
        self._thread = threading.Thread(target=self._serve, name="oba-chromium", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=self.chromium,
                    args=self.flags,
                    headless=True,
                    timeout=LAUNCH_TIMEOUT_S * 1000,
                )
                self._launched.set_result(True)
                try:
                    while (request := self._next_request()) is not None:
                        future, job = request
                        try:
                            self._print(browser, *job)
                        except BaseException as exc:  # handed to the caller
                            future.set_exception(exc)
                        else:
                            future.set_result(None)
                finally:
                    browser.close()
        except BaseException as exc:
            self._errors.append(f"{type(exc).__name__}: {exc}")
            if not self._launched.done():
                self._launched.set_exception(BrowserError(f"Chromium did not start: {exc}"))
        finally:
            self._fail_pending()

    def _next_request(self):
        try:
            return self._requests.get(timeout=IDLE_CLOSE_S)
        except queue.Empty:  # idle: close (callers see alive() false and start another)
            self._closing = True
            return None

    def _fail_pending(self) -> None:
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            if request is not None:
                request[0].set_exception(BrowserError("the browser closed"))

    def _print(self, browser, url: str, pdf: Path, budget_ms: int, timeout: float) -> None:
        """Load ``url``, let it run ``budget_ms`` of virtual time and print it (what
        ``--print-to-pdf --virtual-time-budget --no-pdf-header-footer`` does)."""
        deadline = time.monotonic() + timeout
        page = browser.new_page()
        try:
            page.set_default_timeout(timeout * 1000)
            page.goto(url, wait_until="load")
            session = page.context.new_cdp_session(page)
            expired: list[bool] = []
            session.on("Emulation.virtualTimeBudgetExpired", lambda _params: expired.append(True))
            session.send(
                "Emulation.setVirtualTimePolicy",
                {"budget": budget_ms, "maxVirtualTimeTaskStarvationCount": 9999,
                 "policy": "pauseIfNetworkFetchesPending"},
            )
            while not expired:  # Playwright delivers the event while it waits
                if time.monotonic() > deadline:
                    raise TimeoutError("the page did not settle")
                page.wait_for_timeout(10)
            page.pdf(
                path=pdf,
                display_header_footer=False,
                tagged=True,
                print_background=True,
                prefer_css_page_size=True,
            )
        finally:
            page.close()

    def print_to_pdf(self, url: str, pdf: Path, *, budget_ms: int, timeout: float) -> None:
        """Print ``url`` to ``pdf``; BrowserError if the browser cannot, TimeoutError if slow."""
        self.submit_print(url, pdf, budget_ms=budget_ms, timeout=timeout)()

    def submit_print(self, url: str, pdf: Path, *, budget_ms: int, timeout: float) -> Callable[[], None]:
        """Hand the browser ``url`` to print to ``pdf`` now (it prints as soon as it is up, while
        the caller goes on) and return the wait for it: a call that returns once the PDF is
        written, raising as :meth:`print_to_pdf` does. BrowserError at once if the browser has
        stopped."""
        started = time.monotonic()
        if not self.alive():
            raise BrowserError("the browser closed")
        future: Future = Future()
        self._requests.put((future, (url, Path(pdf), budget_ms, timeout)))

        def left() -> float:
            return max(timeout - (time.monotonic() - started), 1.0)

        def wait() -> None:
            try:
                self._launched.result(timeout=left())
            except FutureTimeout as exc:
                raise TimeoutError("Chromium did not start in time") from exc
            deadline = time.monotonic() + left() + 5
            while not future.done():
                if not self._thread.is_alive() and not future.done():  # closed before taking it
                    raise BrowserError("the browser closed")
                if time.monotonic() > deadline:
                    raise TimeoutError("Chromium did not finish printing")
                futures_wait([future], timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            exception = future.exception()
            if exception is None:
                return
            if isinstance(exception, (TimeoutError, BrowserError)):
                raise exception
            text = str(exception).strip()  # Playwright's own errors
            raise BrowserError(text.splitlines()[0] if text else repr(exception)) from exception

        return wait

    def launched(self) -> bool:
        """The browser is up (its launch finished without error)."""
        return self._launched.done() and self._launched.exception() is None

    def alive(self) -> bool:
        return (
            self._thread.is_alive()
            and not self._closing
            and not (self._launched.done() and self._launched.exception())
        )

    def stderr_tail(self, lines: int = 8) -> str:
        return "\n".join(self._errors[-lines:])

    def close(self, wait: float = 0) -> None:
        """Ask the browser to close (its thread shuts it down); wait up to ``wait`` seconds."""
        self._closing = True
        self._requests.put(None)
        if wait:
            self._thread.join(timeout=wait)


_PRESTARTED: dict[str, Browser] = {}
_STARTED: list[Browser] = []
_LOCK = threading.Lock()


def prestart(chromium: str, flags: tuple[str, ...]) -> None:
    """Start a browser now for the next :func:`take` (it starts while other work goes on)."""
    with _LOCK:
        if chromium in _PRESTARTED:
            return
        _PRESTARTED[chromium] = _started(Browser(chromium, flags))


def start(chromium: str, flags: tuple[str, ...]) -> Browser:
    """A browser started now, closed at exit if still open."""
    with _LOCK:
        return _started(Browser(chromium, flags))


def _started(browser: Browser) -> Browser:
    if not _STARTED:
        atexit.register(_close_all)
    _STARTED.append(browser)
    return browser


def take(chromium: str) -> Browser | None:
    """The browser :func:`prestart` started for ``chromium``, if it is still running."""
    with _LOCK:
        browser = _PRESTARTED.pop(chromium, None)
    if browser is not None and not browser.alive():
        browser.close()
        return None
    return browser


def release(chromium: str, browser: Browser) -> None:
    """Hand back a browser that printed well: the next :func:`take` for ``chromium`` gets it
    (unless another is already waiting, or it has stopped: then it is closed)."""
    with _LOCK:
        if browser.alive() and chromium not in _PRESTARTED:
            _PRESTARTED[chromium] = browser
            return
    browser.close()


def _close_all() -> None:
    with _LOCK:
        browsers = list(_STARTED)
        _STARTED.clear()
        _PRESTARTED.clear()
    for browser in browsers:
        # one that is up closes cleanly first; one still starting is not waited for (a stopped
        # run would otherwise wait out Chromium's start): Playwright's driver, and the browser
        # it was starting, end with this process
        browser.close(wait=10 if browser.launched() else 0)


__all__ = ["Browser", "BrowserError", "prestart", "release", "start", "take"]
