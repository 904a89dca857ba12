"""The suite's own tools, run as a contributor meets them: an inner pytest (same configuration,
pyproject.toml) over a few small tests checks that one Chromium serves the whole session, a phone is
Playwright's device descriptor, a failed browser test leaves its screenshot, HTML and trace under the
artifacts folder (a passing one leaves nothing), and a hung test is stopped by the per-test timeout
while the run goes on."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

INNER_TESTS = '''
import time

import pytest

SEEN = []


def test_a_phone_is_a_device_descriptor(browser):
    phone = browser.new_context(device="iPhone 13", locale="ko-KR").new_page()
    phone.set_content("<p>폰</p>")
    assert phone.viewport_size["width"] == 390 and phone.evaluate("navigator.maxTouchPoints") > 0
    SEEN.append(browser.session.browser)


def test_a_failed_page_is_kept(page):
    page.set_content("<h1>결제 실패 화면</h1>")
    assert page.locator("h1").inner_text() == "something else"


def test_a_context_the_test_closed_itself_is_kept_too(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        tab = context.new_page()
        tab.set_content("<p id=x>closed by the test</p>")
        assert tab.locator("#x").inner_text() == "not this"
    finally:
        context.close()


@pytest.mark.timeout(2)
def test_hangs():
    time.sleep(60)


def test_the_run_goes_on_with_the_same_browser(browser):
    browser.new_page().set_content("<p>after the hang</p>")
    SEEN.append(browser.session.browser)
    assert SEEN[0] is SEEN[1] and browser.session.launches == 1
'''


def test_browser_fixture_artifacts_and_timeout(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    pytest.importorskip("pytest_timeout")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is not installed")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER_TESTS), encoding="utf-8")
    artifacts = tmp_path / "artifacts"
    run = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                          "-p", "browser_support", "-p", "no:cacheprovider", "-p", "no:randomly", "--browser-trace",
                          "--browser-artifacts", str(artifacts), "-v", str(tmp_path / "test_inner.py")],
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    out = run.stdout + run.stderr

    assert run.returncode == 1, out
    assert "3 failed, 2 passed" in out, out
    # The configured per-test timeout and its method (pyproject.toml), and the hung test stopped by it.
    assert "timeout: 120.0s" in out and "timeout method: signal" in out, out
    assert "test_hangs - Failed: Timeout (>2.0s) from pytest-timeout" in out, out
    kept = {folder.name: sorted(f.name for f in folder.iterdir()) for folder in artifacts.iterdir()}
    assert sorted(name.rsplit("test_inner.py_", 1)[-1] for name in kept) == [
        "test_a_context_the_test_closed_itself_is_kept_too", "test_a_failed_page_is_kept"], kept
    for files in kept.values():
        assert files == ["context0-page0.html", "context0-page0.png", "context0-trace.zip"], kept
    for folder in artifacts.iterdir():
        assert (folder / "context0-page0.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<h1>결제 실패 화면</h1>" in (folder / "context0-page0.html").read_text(encoding="utf-8") \
            or "closed by the test" in (folder / "context0-page0.html").read_text(encoding="utf-8")
    assert f"browser artifacts of 2 failed test(s) in {artifacts}" in out, out


LEAKING_TESTS = '''
import logging


def test_a_record_with_a_card_number():
    logging.getLogger("shop.deliberate-leak").warning("approved card %s", "4111111111111111")


def test_a_clean_record():
    logging.getLogger("shop.deliberate-leak").warning("approved card 411111******1111")
'''


def test_the_log_scan_sees_the_records_of_every_xdist_worker(tmp_path: Path) -> None:
    """tests/conftest.py's scan of every log record also fails a parallel run: here both workers run both
    tests (--dist each), so the run must report the leaking record once per worker."""
    pytest.importorskip("xdist")
    (tmp_path / "test_inner_logs.py").write_text(textwrap.dedent(LEAKING_TESTS), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                          "-p", "conftest", "-p", "no:cacheprovider", "-n", "2", "--dist", "each",
                          str(tmp_path / "test_inner_logs.py")],
                         cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    out = run.stdout + run.stderr

    assert "4 passed" in out, out
    assert run.returncode == 1, out
    assert "secrets in the logs: 2 finding(s)" in out, out
    assert "shop.deliberate-leak:WARNING: Luhn-valid 16-digit run 411111...1111" in out, out
    assert "4111111111111111" not in out, out  # the report never repeats the secret
