"""Fixtures of the contract tests: the shop in KCP_ENV=test against a KCP stand-in that is not the project's
sandbox (kcp_fake.FakeKcp), and Chromium with phone emulation (helpers in contract_support.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kcp_fake import FakeKcp
from support import LiveServer


@pytest.fixture
def fake_kcp(kcp_credentials) -> Iterator[FakeKcp]:
    """The stand-in, knowing the test certificate as T0000's."""
    fake = FakeKcp(kcp_credentials[0])
    yield fake
    fake.close()


@pytest.fixture
def shop_on_fake(make_app, fake_kcp, kcp_credentials) -> Iterator[Callable[..., LiveServer]]:
    """Start the shop (KCP_ENV=test) against the stand-in, with config overrides; stopped at the end."""
    made: list[LiveServer] = []

    def start(**overrides: Any) -> LiveServer:
        server = LiveServer(poll_interval=0.05, name="shop-on-fake")
        server.start(make_app(**{**fake_kcp.shop_config(*kcp_credentials), **overrides}))
        assert server.app.extensions["kcp"].config.env == "test"
        made.append(server)
        return server

    yield start
    for server in made:
        server.stop()


@pytest.fixture
def kcp_browser(playwright, browser) -> tuple[Any, Any]:
    """Playwright and the session's Debian Chromium (tests/browser_support.py; never downloaded): (playwright, browser)."""
    return playwright, browser


@pytest.fixture
def phone_page(kcp_browser) -> Iterator[Any]:
    """A phone in Chromium: iPhone 13 emulation (390x844 screen, phone User-Agent, touch, scale factor 3)."""
    playwright, browser = kcp_browser
    context = browser.new_context(**playwright.devices["iPhone 13"], locale="ko-KR")
    page = context.new_page()
    page.set_default_timeout(15_000)
    assert page.evaluate("navigator.maxTouchPoints") > 0 and page.evaluate("devicePixelRatio") == 3
    yield page
    context.close()
