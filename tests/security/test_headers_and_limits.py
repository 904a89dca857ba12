"""Security headers on every page, a CSP that lets KCP's real script and window work, secure
cookies outside the sandbox, and rate limits that never drop a genuine KCP notification."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import requests
from support import csrf_token

from kcp.notify import reply
from shop.security import SlidingWindowLimiter, content_security_policy

OK = reply(True).strip()
# The sandbox's console is protected like the shop; its payment window (and script) may be framed by any
# merchant origin, as KCP's: tests/sandbox/test_sandbox_for_merchants.py.
PAGES = ["/", "/order?product=test", "/admin/login", "/no-such-page", "/_sandbox/kcp/"]


def _csp(header: str) -> dict[str, list[str]]:
    """A CSP header as directive -> sources."""
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _allowed(sources: list[str], url: str, page_origin: str) -> bool:
    """Would a CSP source list allow ``url`` (simplified matcher: 'self', exact origin, *.host)."""
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else page_origin
    if origin == page_origin and "'self'" in sources:
        return True
    for src in sources:
        if src == origin:
            return True
        if src.startswith("https://*.") and parts.scheme == "https" and parts.netloc.endswith(src[len("https://*"):]):
            return True
    return False


class _Scripts(HTMLParser):
    """Collects <script src> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.srcs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        src = dict(attrs).get("src")
        if tag == "script" and src:
            self.srcs.append(src)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_carries_the_security_headers(client, path: str) -> None:
    """Shop pages, error pages, admin and sandbox pages alike."""
    response = client.get(path)
    h = response.headers
    csp = _csp(h["Content-Security-Policy"])
    assert csp["frame-ancestors"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] in ("SAMEORIGIN", "DENY")  # the admin pages choose DENY
    assert h["Referrer-Policy"] in ("strict-origin-when-cross-origin", "same-origin")  # admin: same-origin
    assert "camera=()" in h["Permissions-Policy"]


def test_common_return_reply_carries_the_headers_too(client) -> None:
    """Even KCP's reply page (and a refused one)."""
    response = client.post("/common_return", data={}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(("env", "host"), [("test", "https://testpay.kcp.co.kr"), ("live", "https://pay.kcp.co.kr")])
def test_csp_allows_kcps_real_script_and_window_hosts(make_app, env: str, host: str) -> None:
    """The order page's script src (KCP_JS_URL) and KCP's window/iframe hosts are allowed, nothing else."""
    overrides = {"KCP_ENV": env, "KCP_SITE_CD": "T0000" if env == "test" else "A52Q7"}
    if env == "live":
        overrides |= {"KCP_NOTIFY_IPS": "203.238.36.173"}
    app = make_app(**overrides)
    response = app.test_client().get("/order?product=test")
    assert response.status_code == 200
    csp = _csp(response.headers["Content-Security-Policy"])
    parser = _Scripts()
    parser.feed(response.get_data(as_text=True))
    kcp_scripts = [s for s in parser.srcs if "payplus_web" in s]
    assert kcp_scripts and all(s.startswith(host) for s in kcp_scripts)
    page = "http://localhost"
    for src in parser.srcs:
        assert _allowed(csp["script-src"], src, page), src
    for directive in ("frame-src", "connect-src", "form-action"):
        assert _allowed(csp[directive], f"{host}/plugin/window.jsp", page)
        assert _allowed(csp[directive], "https://testsmpay.kcp.co.kr/x", page)  # KCP's other window hosts
        assert not _allowed(csp[directive], "https://evil.example/x", page)
    assert not _allowed(csp["script-src"], "https://cdn.example/x.js", page)


def test_sandbox_csp_names_no_outside_host(client) -> None:
    """Offline: the sandbox's script and window are ours, so the policy is 'self' only."""
    header = client.get("/").headers["Content-Security-Policy"]
    assert "kcp.co.kr" not in header and "http" not in header
    assert content_security_policy("/_sandbox/kcp/plugin/payplus_web.jsp", sandbox=True) == header


def test_session_cookie_is_secure_outside_the_sandbox_only(make_app, client) -> None:
    """KCP test/live: Secure, HttpOnly, SameSite=Lax; sandbox on plain http://127.0.0.1: not Secure."""
    test_app = make_app(KCP_ENV="test")
    cookie = test_app.test_client().get("/order?product=test", base_url="http://shop.example").headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    over_https = test_app.test_client().get("/order?product=test", base_url="https://127.0.0.1").headers["Set-Cookie"]
    assert "Secure" in over_https
    sandbox_cookie = client.get("/order?product=test").headers.get("Set-Cookie", "")
    assert "HttpOnly" in sandbox_cookie and "Secure" not in sandbox_cookie


def test_test_mode_on_plain_http_to_this_machine_keeps_its_session(make_app) -> None:
    """KCP_ENV=test on http://127.0.0.1 against a local sandbox: a Secure cookie would never come back
    over http (no session, no CSRF token, no admin login), so it is not Secure there; live always is."""
    test_app = make_app(KCP_ENV="test", KCP_API_BASE="http://127.0.0.1:9/_sandbox/kcp",
                        KCP_JS_URL="http://127.0.0.1:9/_sandbox/kcp/plugin/payplus_web.jsp",
                        KCP_RECEIPT_BASE="http://127.0.0.1:9/_sandbox/kcp")
    for host in ("http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"):
        cookie = test_app.test_client().get("/order?product=test", base_url=host).headers["Set-Cookie"]
        assert "Secure" not in cookie and "HttpOnly" in cookie, host
    live = make_app(KCP_ENV="live", KCP_SITE_CD="A52Q7", KCP_NOTIFY_IPS="203.238.36.173")
    assert "Secure" in live.test_client().get("/order?product=test", base_url="http://127.0.0.1").headers["Set-Cookie"]


def test_hsts_only_over_https_outside_the_sandbox(make_app, client) -> None:
    """HSTS pins HTTPS only where the shop is served over it."""
    test_client = make_app(KCP_ENV="test").test_client()
    assert "Strict-Transport-Security" in test_client.get("/", base_url="https://shop.example").headers
    assert "Strict-Transport-Security" not in test_client.get("/").headers
    assert "Strict-Transport-Security" not in client.get("/", base_url="https://shop.example").headers


# --- rate limits --------------------------------------------------------------------------------------


def test_common_return_never_limits_kcps_own_addresses(make_app) -> None:
    """A burst of 200 notifications from an allowed address: each one answered (here: malformed ones,
    so nothing is stored), none is refused by the limiter, whatever the limit is set to."""
    app = make_app(COMMON_RETURN_LIMIT=3)
    client = app.test_client()
    statuses = {client.post("/common_return", data={"tx_cd": "TX00"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
                for _ in range(200)}
    assert 429 not in statuses


def test_common_return_limits_other_senders_with_a_non_0000_reply(make_app) -> None:
    """Unknown senders are refused (403) and, past the limit, throttled (429) before any database work."""
    app = make_app(COMMON_RETURN_LIMIT=5)
    client = app.test_client()
    codes = [client.post("/common_return", data={"tx_cd": "TX00"}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
             for _ in range(8)]
    assert [r.status_code for r in codes] == [403] * 5 + [429] * 3
    assert all('value="0000"' not in r.get_data(as_text=True) for r in codes)
    assert codes[-1].headers["Retry-After"] == "60"
    other = client.post("/common_return", data={}, environ_base={"REMOTE_ADDR": "198.51.100.8"})
    assert other.status_code == 403  # counted per address


def test_ten_kcp_retries_always_pass_even_with_a_flood_from_elsewhere(make_app, kcp_credentials) -> None:
    """While an attacker floods, KCP's tenth retry of a notification still reaches the view."""
    app = make_app(COMMON_RETURN_LIMIT=2, KCP_NOTIFY_IPS="203.238.36.17,127.0.0.1")
    client = app.test_client()
    for _ in range(20):
        client.post("/common_return", data={}, environ_base={"REMOTE_ADDR": "198.51.100.9"})
    for _ in range(10):
        response = client.post("/common_return", data={"tx_cd": "TX00"}, environ_base={"REMOTE_ADDR": "203.238.36.17"})
        assert response.status_code == 400  # malformed (no noti_id): the view answered, not the limiter


def test_limiter_window_slides_and_memory_is_bounded() -> None:
    """Old events expire; the number of remembered addresses is capped."""
    limiter = SlidingWindowLimiter(2, 10, max_keys=3)
    assert [limiter.hit("a", now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.hit("a", now=10.5)  # the event at 0 has left the window
    for key in "bcdef":
        limiter.hit(key, now=11)
    assert len(limiter._events) == 3


def test_admin_login_is_rate_limited(client) -> None:
    """The admin login's own limit (shop/admin): after 5 failures from one address, 429."""
    page = client.get("/admin/login").get_data(as_text=True)
    token = csrf_token(page)
    statuses = [client.post("/admin/login", data={"csrf_token": token, "password": f"wrong-{i}"}).status_code
                for i in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]


def test_a_host_header_whose_port_no_url_can_hold_is_served_never_a_500(serve) -> None:
    """KCP_ENV=test decides the session cookie's Secure flag from the request's address: a Host header with a
    port past 65535 (a scanner's, a broken client's) names no address of this machine, so the cookie stays
    Secure and the page is served, not a 500 (every page, the error pages included, saves the session)."""
    server = serve(KCP_ENV="test", KCP_API_BASE="http://127.0.0.1:9/_sandbox/kcp",
                   KCP_JS_URL="http://127.0.0.1:9/_sandbox/kcp/plugin/payplus_web.jsp",
                   KCP_RECEIPT_BASE="http://127.0.0.1:9/_sandbox/kcp")
    for path, status in (("/", 200), ("/order?product=test", 200), ("/admin/login", 200), ("/orders/KRS0", 404)):
        reply = requests.get(server.url + path, headers={"Host": "shop.example:99999"}, timeout=10)
        assert reply.status_code == status, (path, reply.status_code)
        assert "Secure" in reply.headers.get("Set-Cookie", "Secure"), path


@pytest.mark.parametrize(("lang", "wrong_method", "too_large"), [
    ("ko", "이 주소는 이렇게 열 수 없습니다", "보낸 내용이 너무 큽니다"),
    ("en", "This address cannot be opened this way", "The form was too large"),
])
def test_a_wrong_method_and_an_oversized_form_get_the_shops_page_in_the_readers_language(
        serve, lang: str, wrong_method: str, too_large: str) -> None:
    """A bookmarked /pp_ax_hub (POST only) and a form over MAX_CONTENT_LENGTH: the shop's own page (its look,
    the reader's language, the security headers), not Werkzeug's English one; nothing is stored. A body too
    large for /common_return is still no ``result=0000``, so KCP sends it again."""
    server = serve()
    headers = {"Accept-Language": "ko-KR" if lang == "ko" else "en-US"}
    opened = requests.get(f"{server.url}/pp_ax_hub", headers=headers, timeout=10)
    assert opened.status_code == 405 and "POST" in opened.headers["Allow"]
    assert wrong_method in opened.text and 'class="error-page"' in opened.text
    assert opened.headers.get("Content-Security-Policy")
    big = {"ordr_idxx": "KRS1", "buyr_name": "x" * (300 * 1024)}
    refused = requests.post(f"{server.url}/pp_ax_hub", data=big, headers=headers, timeout=10)
    assert refused.status_code == 413 and too_large in refused.text
    notified = requests.post(f"{server.url}/common_return", data=big, timeout=10)
    assert notified.status_code == 413 and "result=0000" not in notified.text.replace(" ", "")
    with server.app.app_context():
        from shop.extensions import db
        from shop.models import NotificationRecord, Order

        assert db.session.query(Order).count() == 0 and db.session.query(NotificationRecord).count() == 0
