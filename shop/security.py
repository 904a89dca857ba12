"""Security headers on every response, secure cookies outside the sandbox, and a rate limit on
``/common_return`` that can never cost a genuine KCP notification: ``init_security(app)``.

Content-Security-Policy, and why each part is what it is:

* ``script-src``: our own scripts plus the host of ``KCP_JS_URL`` (testpay.kcp.co.kr or
  pay.kcp.co.kr; in the sandbox the script is ours, so ``'self'``). ``'unsafe-inline'`` stays:
  the order page is the KCP-style template integrators copy (inline ``m_Completepayment`` and
  ``jsf__pay``, ``onclick`` handlers) and KCP's own script writes inline code into our page.
  What the policy still buys: no script from any other host, no plugins, no ``<base>`` hijack,
  forms post only to us and KCP, and nobody frames our pages (clickjacking of the pay button).
* ``frame-src`` / ``connect-src`` / ``img-src`` / ``form-action``: the payment window is an iframe
  KCP's script opens over our page, served from KCP's hosts (``*.kcp.co.kr``: the window,
  certification and receipt hosts all live there), so those are allowed next to ``'self'``.
  Card companies' authentication pages open inside KCP's iframe or as popups: KCP's own policy
  governs those, ours does not need to name them.
* ``frame-ancestors 'self'``: only our own pages may frame ours. The sandbox's payment window sets
  its own policy (any merchant page may frame it, as KCP's; kcp/sandbox/headers.py) and then gets
  no ``X-Frame-Options`` from here.
* The smartphone flow's page that sends the buyer to KCP (``/order/pay/<ordr_idxx>``) sets its own
  policy, this one plus the origin of the ``PayUrl`` KCP answered: its form posts there.

Referrer-Policy ``strict-origin-when-cross-origin``: KCP may check which site opened its window,
so it still gets our origin, but never a path or query (order numbers stay with us).

The ``/admin`` login has its own limit (shop/admin/auth.py: failed logins counted in the
database, so every gunicorn worker counts the same); it is reused, not duplicated here.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Response, has_request_context, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _

from kcp.config import is_local_url
from kcp.notify import reply, sender_allowed
from shop.runtime import get_kcp

KCP_HOSTS = "https://*.kcp.co.kr"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), usb=(), payment=(), interest-cohort=()"
NOTIFY_ENDPOINT = "notify.common_return"
# Views that read their body as bytes in KCP's charset (reading request.form first would empty it):
# they refuse a NUL themselves (kcp.notify.parse_notification, shop.views.mobile).
RAW_BODY_ENDPOINTS = frozenset({NOTIFY_ENDPOINT, "mobile.order_mobile"})


def js_origin(js_url: str) -> str | None:
    """The scheme://host[:port] of an absolute KCP_JS_URL (None for a relative, same-origin one)."""
    parts = urlsplit(js_url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(js_url: str, *, sandbox: bool, form_action: tuple[str, ...] = ()) -> str:
    """The CSP for a shop whose payment-window script is ``js_url``; ``form_action`` adds origins
    one page may post a form to (the smartphone flow's PayUrl, shop/views/mobile.py)."""
    kcp: list[str] = []
    if not sandbox:
        origin = js_origin(js_url)
        kcp = [origin, KCP_HOSTS] if origin else [KCP_HOSTS]
    extra = (" " + " ".join(kcp)) if kcp else ""
    forms = "".join(f" {origin}" for origin in form_action if origin and origin not in kcp)
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline'{extra}",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data:{extra}",
        "font-src 'self'",
        f"connect-src 'self'{extra}",
        f"frame-src 'self'{extra}",
        f"form-action 'self'{extra}{forms}",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "base-uri 'self'",
    ]
    return "; ".join(directives)


class SlidingWindowLimiter:
    """At most ``limit`` events per ``window`` seconds per key, in this process, for at most
    ``max_keys`` keys (the least recently seen are forgotten, so a flood of addresses cannot
    grow memory without bound)."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000):
        """Configure the limit; nothing is counted yet."""
        self.limit, self.window, self.max_keys = limit, window, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one event for ``key``; False when it is over the limit (and then it is not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.pop(key, None) or deque()
            while events and events[0] <= now - self.window:
                events.popleft()
            allowed = len(events) < self.limit
            if allowed:
                events.append(now)
            self._events[key] = events
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
            return allowed


HEADERS_KEY = "shop_security_headers"


def default_headers(app: Flask, *, secure: bool) -> list[tuple[str, str]]:
    """The security headers of a response that sets none of its own (the after_request hook, and the
    /common_return fast path in shop.views.notify that answers without Flask's request machinery)."""
    headers: list[tuple[str, str]] = app.extensions[HEADERS_KEY]
    if secure and not app.extensions["kcp"].config.is_sandbox:
        return [*headers, ("Strict-Transport-Security", "max-age=31536000")]
    return headers


def _set_headers(app: Flask, csp: str) -> None:
    """Add the security headers to every response (a view's own values win)."""
    app.extensions[HEADERS_KEY] = [
        ("Content-Security-Policy", csp), ("X-Frame-Options", "SAMEORIGIN"), ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"), ("Permissions-Policy", PERMISSIONS_POLICY)]

    @app.after_request
    def security_headers(response: Response) -> Response:
        """CSP, framing, sniffing, referrer and feature policies; HSTS over HTTPS outside the sandbox."""
        headers = response.headers
        # A view whose own policy decides its framing (the sandbox's payment window, which any
        # merchant page may frame, as KCP's) gets no contradicting X-Frame-Options.
        framed_by_own_policy = "frame-ancestors" in headers.get("Content-Security-Policy", "")
        for name, value in default_headers(app, secure=request.is_secure):
            if not (framed_by_own_policy and name == "X-Frame-Options"):
                headers.setdefault(name, value)
        return response


def _limit_common_return(app: Flask) -> None:
    """Rate-limit /common_return for senders NOT in KCP_NOTIFY_IPS; KCP's own addresses never.

    Why allowed senders are not limited at all: KCP gives a notification at most 10 tries within
    24 hours (004 section 6), and every refused try spends one; but KCP sends many different
    notifications from the same few addresses, in bursts (a day's deposits, or a retry wave after
    our own outage). Any per-address cap low enough to matter could refuse genuine tries in such a
    burst, and a notification refused ten times is lost. So the limit only applies to addresses
    that would be refused anyway (403 from the view): it stops a flood from reaching the database
    and the log, it never decides whether a real notification is stored.
    """
    # Both are whole numbers with their defaults by now (app.py check_tuning).
    limiter = SlidingWindowLimiter(app.config["COMMON_RETURN_LIMIT"], app.config["COMMON_RETURN_WINDOW_SECONDS"])
    app.extensions["common_return_limiter"] = limiter

    @app.before_request
    def limit_unknown_senders() -> Response | None:
        """429 (with KCP's non-0000 reply) for a non-KCP sender over the limit; everyone else passes."""
        if request.endpoint != NOTIFY_ENDPOINT:
            return None
        sender = request.remote_addr or ""
        if sender_allowed(sender, get_kcp().config.notify_ips):
            return None
        if limiter.hit(sender):
            return None  # the view refuses it (403) and logs it
        return Response(reply(False), status=429, mimetype="text/html", headers={"Retry-After": str(int(limiter.window))})


def _refuse_nul(app: Flask) -> None:
    """400 for a shop request whose path, query or form holds a NUL character (U+0000).

    No browser, KCP or staff member sends one, and PostgreSQL cannot even compare a text value
    holding it: the first query that used it (an order number in the URL, a search, a window
    result) failed with a 500. Refused here, before any view reads the database. The sandbox
    (KCP's stand-in, its own ledger) and the views that read their body as bytes are left to
    their own checks.
    """

    @app.before_request
    def refuse_nul_characters() -> tuple[str, int] | None:
        """A readable 400 page instead of a database error; nothing is read or stored."""
        if request.blueprint == "kcp_sandbox" or request.endpoint in RAW_BODY_ENDPOINTS:
            return None
        values = [request.path, *request.args.keys(), *request.args.values()]
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += [*request.form.keys(), *request.form.values()]
        return nul_refused() if holds_nul(values) else None


def holds_nul(texts: Iterable[str]) -> bool:
    """True when any of ``texts`` holds a NUL character (U+0000)."""
    return any("\x00" in text for text in texts)


def nul_refused() -> tuple[str, int]:
    """The 400 page for a request holding a NUL character (this hook's, and the raw-body views' own check)."""
    return render_template("message.html", title=_("The request could not be read"), tone="warning",
                           message=_("It contains a character the shop does not accept (a NUL character). "
                                     "Nothing was changed.")), 400


class LocalHttpSessionInterface(SecureCookieSessionInterface):
    """Secure session cookies, except for plain http to this very machine in KCP_ENV=test.

    A developer runs the shop on http://127.0.0.1 against a local KCP sandbox (python -m kcp.sandbox)
    in KCP_ENV=test: a Secure cookie would never come back over http (the session, its CSRF token and
    the admin login would all be lost). A browser names this machine in the Host header only when it
    talks to this machine, so no such cookie crosses a network (a client that lies about the Host
    only weakens its own cookie). Live always marks the cookie Secure.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        """SESSION_COOKIE_SECURE, relaxed only for http://localhost-style requests outside live."""
        secure = super().get_cookie_secure(app)
        if secure and has_request_context() and not request.is_secure and not app.extensions["kcp"].config.is_live:
            try:
                return not is_local_url(request.host_url)
            except ValueError:  # a Host header no URL can hold (a port past 65535): not this machine
                return secure
        return secure


def init_security(app: Flask) -> None:
    """Install headers, cookie flags and the /common_return limiter on ``app`` (once)."""
    if "shop_security" in app.extensions or "kcp" not in app.extensions:
        return
    app.extensions["shop_security"] = True
    config = app.extensions["kcp"].config
    if not config.is_sandbox:
        # Sandbox runs on plain http://127.0.0.1; anywhere else the session cookie is HTTPS-only.
        # Set, not setdefault: Flask's own default (False) is always present. Browsers accept Secure
        # cookies from http://localhost, so a developer trying KCP's test site locally still works.
        app.config["SESSION_COOKIE_SECURE"] = True
        app.session_interface = LocalHttpSessionInterface()
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    _set_headers(app, content_security_policy(config.js_url, sandbox=config.is_sandbox))
    _limit_common_return(app)
    _refuse_nul(app)
