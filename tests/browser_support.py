"""Chromium for the browser tests: a pytest plugin (tests/conftest.py loads it) with the fixtures
``chromium`` (session), ``browser``, ``page`` and ``playwright``.

One Debian Chromium (``/usr/bin/chromium``) is launched per test session — per pytest-xdist worker —
and never downloaded: where it is missing the browser tests skip. Each test gets fresh contexts (its
own cookies and storage), closed after it; ``browser.new_context(device="iPhone 13")`` starts from
Playwright's device descriptor. When a test fails, what its pages showed is kept under
test-artifacts/failures/<test>/: a screenshot and the HTML of every page, and with ``--browser-trace``
a Playwright trace (``python -m playwright show-trace trace.zip``).

Why not the pytest-playwright plugin: where Chromium is missing it fails asking for a browser download
(here a test must skip, never fetch a browser); its ``page``/``browser`` fixtures and its CLI options
would collide with this suite's fixtures of the same names in several folders; and what we need from
it — one browser, a context per test, artifacts on failure, device descriptors — is this module.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
# shop.lan: a name for this machine that is not "localhost", as a LAN address would be (tests/shop/test_demo_browser.py).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--host-resolver-rules=MAP shop.lan 127.0.0.1"]
SHOTS = ROOT / "test-artifacts" / "screenshots"
FAILURES = ROOT / "test-artifacts" / "failures"


class BrowserSession:
    """Playwright and one Chromium, started on first use and kept for the session (relaunched if it died)."""

    def __init__(self) -> None:
        """Nothing starts until a test asks for the browser."""
        self._manager: Any = None
        self._playwright: Any = None
        self._browser: Any = None
        self.launches = 0

    @property
    def playwright(self) -> Any:
        """The sync Playwright (its ``devices`` are the device descriptors)."""
        if self._playwright is None:
            from playwright.sync_api import sync_playwright

            self._manager = sync_playwright()
            self._playwright = self._manager.start()
        return self._playwright

    @property
    def browser(self) -> Any:
        """The session's Chromium; launched again if a test crashed it."""
        if self._browser is None or not self._browser.is_connected():
            self._browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            self.launches += 1
        return self._browser

    def close(self) -> None:
        """Close Chromium and stop Playwright."""
        if self._browser is not None and self._browser.is_connected():
            self._browser.close()
        if self._manager is not None:
            self._manager.__exit__(None, None, None)


class TestBrowser:
    """The session's Chromium as one test sees it: ``new_context``/``new_page`` as on a Playwright Browser
    (plus ``device="iPhone 13"``, any name of ``playwright.devices``); every context is recorded, so that
    a failure keeps what its pages show, and closed after the test. Anything else is the real Browser's."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, session: BrowserSession, trace: bool = False) -> None:
        """Contexts are made on ``session``'s browser; ``trace`` records a Playwright trace of each."""
        self.session = session
        self._trace = trace
        self._contexts: list[Any] = []
        self._scratch = Path(tempfile.mkdtemp(prefix="kcp-browser-"))
        self._captured: list[Path] = []

    def __getattr__(self, name: str) -> Any:
        """Everything else is the real Browser's (version, is_connected, ...)."""
        return getattr(self.session.browser, name)

    @property
    def playwright(self) -> Any:
        """The session's Playwright."""
        return self.session.playwright

    def new_context(self, device: str | None = None, **options: Any) -> Any:
        """A fresh context; ``device`` starts from Playwright's descriptor of that device (viewport,
        User-Agent, touch, scale factor), ``options`` override it."""
        if device is not None:
            options = {**self.playwright.devices[device], **options}
        options.pop("default_browser_type", None)  # a descriptor's hint, not a context option
        context = self.session.browser.new_context(**options)
        if self._trace:
            context.tracing.start(snapshots=True, screenshots=True)
        real_close = context.close

        def close(*args: Any, **kwargs: Any) -> None:
            """Close it; if an exception is on its way out of the test, keep what its pages show first."""
            if context in self._contexts:
                if sys.exc_info()[1] is not None:
                    self._capture(context)
                self._forget(context)
            real_close(*args, **kwargs)

        context.close = close
        self._contexts.append(context)
        return context

    def new_page(self, device: str | None = None, **options: Any) -> Any:
        """A page in a context of its own (closing the page closes that context, as Browser.new_page does)."""
        context = self.new_context(device, **options)
        page = context.new_page()
        real_close = page.close

        def close(*args: Any, **kwargs: Any) -> None:
            """Close the page and its context."""
            real_close(*args, **kwargs)
            context.close()

        page.close = close
        return page

    def _forget(self, context: Any) -> None:
        """The context is closing: stop recording it (its trace is dropped unless _capture kept it)."""
        self._contexts.remove(context)
        if self._trace:
            context.tracing.stop()

    def _capture(self, context: Any) -> None:
        """A screenshot and the HTML of each of the context's pages, and its trace, into the scratch folder."""
        n = len({path.name.split("-")[0] for path in self._captured})
        for i, page in enumerate(context.pages):
            stem = self._scratch / f"context{n}-page{i}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True, timeout=10_000)
                self._captured.append(Path(f"{stem}.png"))
                Path(f"{stem}.html").write_text(f"<!-- {page.url} -->\n{page.content()}", encoding="utf-8")
                self._captured.append(Path(f"{stem}.html"))
            except Exception as exc:  # noqa: BLE001 - a page that cannot be captured must not hide the test's own failure
                Path(f"{stem}.txt").write_text(f"{page.url}: not captured: {exc!r}\n", encoding="utf-8")
                self._captured.append(Path(f"{stem}.txt"))
        if self._trace:
            context.tracing.stop(path=str(self._scratch / f"context{n}-trace.zip"))
            context.tracing.start(snapshots=True, screenshots=True)  # _forget stops it again
            self._captured.append(self._scratch / f"context{n}-trace.zip")

    def finish(self, failed: bool, target: Path) -> list[Path]:
        """After the test: close its contexts; if it failed, move what was captured to ``target``. The files kept."""
        kept: list[Path] = []
        try:
            for context in list(self._contexts):
                if failed:
                    self._capture(context)
                context.close()
            if failed and self._captured:
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                kept = [Path(shutil.move(str(path), target / path.name)) for path in self._captured]
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)
        return kept


# --- the pytest side ---------------------------------------------------------------------------------

_PHASE_REPORTS: pytest.StashKey[dict[str, pytest.TestReport]] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--browser-trace`` and ``--browser-artifacts``."""
    group = parser.getgroup("browser", "browser tests (tests/browser_support.py)")
    group.addoption("--browser-trace", action="store_true",
                    help="record a Playwright trace of every browser context; a failed test's traces are kept "
                         "beside its screenshots (open one with `python -m playwright show-trace FILE`)")
    group.addoption("--browser-artifacts", default=str(FAILURES), metavar="DIR",
                    help="where failed browser tests leave screenshots, HTML and traces, one folder per test "
                         "(emptied when a run starts; default: test-artifacts/failures)")


def _artifacts(config: pytest.Config) -> Path:
    """The folder of failure artifacts."""
    return Path(config.getoption("--browser-artifacts"))


def pytest_configure(config: pytest.Config) -> None:
    """A run starts without the failure artifacts of an older one (once: not again in each xdist worker)."""
    if not hasattr(config, "workerinput"):
        shutil.rmtree(_artifacts(config), ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the browser (directly or through a fixture) is marked ``browser``: ``-m "not browser"``
    leaves them out."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()) and item.get_closest_marker("browser") is None:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test, so that the browser's teardown knows whether the test failed."""
    report = yield
    item.stash.setdefault(_PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def chromium() -> Iterator[BrowserSession]:
    """Debian's Chromium driven by Playwright, started on first use and kept for the session (each xdist
    worker has its own); never downloaded: the browser tests skip where it is missing.

    Playwright's sync API runs an asyncio loop in the main thread from then on: a test that needs
    ``asyncio.run`` must use a thread or a process of its own."""
    pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian: apt-get install chromium)")
    session = BrowserSession()
    yield session
    session.close()


@pytest.fixture
def playwright(chromium: BrowserSession) -> Any:
    """The session's Playwright (``playwright.devices["iPhone 13"]`` is a device descriptor)."""
    return chromium.playwright


@pytest.fixture
def browser(request: pytest.FixtureRequest, chromium: BrowserSession) -> Iterator[TestBrowser]:
    """The session's Chromium for this test: ``browser.new_context(device="iPhone 13", locale="ko-KR")``,
    ``browser.new_page(viewport=...)``. Its contexts are closed after the test; if the test failed, a
    screenshot and the HTML of each page (and traces, with --browser-trace) are kept in
    test-artifacts/failures/<test>/."""
    view = TestBrowser(chromium, trace=request.config.getoption("--browser-trace"))
    yield view
    failed = any(report.failed for report in request.node.stash.get(_PHASE_REPORTS, {}).values())
    folder = re.sub(r"[^\w.-]+", "_", request.node.nodeid).strip("_")[:180]
    view.finish(failed, _artifacts(request.config) / folder)


@pytest.fixture
def page(browser: TestBrowser) -> Any:
    """A desktop page (1280x900, Korean) in a fresh context of its own."""
    return browser.new_page(viewport={"width": 1280, "height": 900}, locale="ko-KR")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Name the folders where failed browser tests left their screenshots and traces (also under xdist)."""
    folder = _artifacts(config)
    if hasattr(config, "workerinput") or not folder.is_dir():
        return
    failed = sorted(p for p in folder.iterdir() if p.is_dir())
    if failed:
        terminalreporter.write_sep("=", f"browser artifacts of {len(failed)} failed test(s) in {folder}", yellow=True)
        for test in failed:
            terminalreporter.write_line(f"{test.name}/: " + ", ".join(sorted(f.name for f in test.iterdir())))
