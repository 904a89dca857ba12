"""Security headers of the sandbox's own pages, set by the blueprint so they hold in the shop and standalone.

KCP's payment window is framed by the merchant's page, whatever its origin, so the window's pages
allow any frame ancestor and send no ``X-Frame-Options`` (the shop's headers would otherwise make
them ``SAMEORIGIN``: a merchant on another host or port would get an overlay that never closes).
They also show the merchant's ``site_logo`` from the merchant's host. The sandbox's console pages
(deposits, faults ...) are framed by nobody else, like the shop's own pages.

The shop's ``after_request`` (shop/security.py) only fills in headers a view did not set, and leaves
``X-Frame-Options`` out when a response's own policy already decides its framing.
"""

from __future__ import annotations

from flask import Response, request

from . import bp

# The window family: the script, the window, and the pages its buttons post to.
FRAMEABLE = {"kcp_sandbox.payplus_script", "kcp_sandbox.window", "kcp_sandbox.authorize", "kcp_sandbox.buyer_cancel"}
# The sandbox's own pages for the developer.
CONSOLE = {"kcp_sandbox.home", "kcp_sandbox.log", "kcp_sandbox.deposits", "kcp_sandbox.faults_page",
           "kcp_sandbox.ledger_page", "kcp_sandbox.test_data", "kcp_sandbox.trigger_page", "kcp_sandbox.openapi_page"}

WINDOW_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
              "img-src * data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors *; "
              "object-src 'none'; base-uri 'self'")
CONSOLE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
               "frame-ancestors 'self'; object-src 'none'; base-uri 'self'")


def frameable(endpoint: str) -> None:
    """Let any merchant page frame the sandbox page served by ``endpoint`` (e.g. ``kcp_sandbox.window``)."""
    FRAMEABLE.add(endpoint)


@bp.after_request
def sandbox_headers(response: Response) -> Response:
    """Framing policy of the window (any merchant origin) and of the console (same origin only)."""
    endpoint = request.endpoint or ""
    if endpoint in FRAMEABLE:
        response.headers["Content-Security-Policy"] = WINDOW_CSP
        response.headers.pop("X-Frame-Options", None)
    elif endpoint in CONSOLE:
        response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
