"""The peer: the least a merchant's approval route can do, the floor ``/pp_ax_hub`` is compared with.

Served by the benchmark as ``tests.perf.peer:from_env()`` under the same gunicorn settings as the
shop, against the same KCP stand-in. Written for this project after reading what KCP's public
Python sample does in its approval route (``kcp_api_pay``): read the fields the payment window
put into the form, POST them once to the approval API (``/gw/enc/v1/payment``: ``tran_cd``,
``site_cd``, ``kcp_cert_info``, ``enc_data``, ``enc_info``, ``ordr_mony``) with ``requests``, look
at ``res_cd`` and answer a small page. Nothing else: no database, no session, no CSRF token, no
record of the approval, no auto-cancel, no log. It is a floor, not a model to copy: a route
like this charges a buyer and forgets it (see docs/PERFORMANCE.md for what the shop keeps instead).

Where the sample puts a placeholder amount for the merchant to replace by the order's real
amount, the peer sends ``PEER_AMOUNT``, a constant known to the server (it does not trust a posted
amount either; the stand-in answers 8059 to a wrong one).

Configuration (environment):

* ``PEER_KCP_API_BASE``: the stand-in's ``KCP_API_BASE`` (the API path is appended);
* ``PEER_CERT_FILE``: the PEM certificate sent as ``kcp_cert_info`` (serialized once, at start);
* ``PEER_AMOUNT``: ``ordr_mony`` in won;
* ``PEER_HTTP``: ``sample`` (default) sends each call with ``requests.post``, a new connection
  every time, exactly as the sample does; ``session`` keeps one ``requests.Session`` per process
  whose pool holds a connection per worker thread (``PEER_POOL``, default 8), with keep-alive to
  KCP: the floor the shop can reach with the same reuse.

Timing headers as the shop's (tests/perf/wsgi.py): ``X-Shop-Time-Ms`` is the request in the worker
minus the KCP call, ``X-Kcp-Time-Ms`` the KCP call.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import requests
from flask import Flask, request
from requests.adapters import HTTPAdapter

from kcp.signing import serialize_cert

APPROVE_PATH = "/gw/enc/v1/payment"
TRAN_CD = "00100000"
HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# The small result page (compiled once, like a template file Flask caches).
PAGE = """<!doctype html><meta charset="utf-8"><title>결제 결과</title>
<p data-res-cd="{{ res_cd }}">{{ res_cd }} {{ res_msg }}</p>
{% if tno %}<p>tno {{ tno }}, {{ amount }}원</p>{% endif %}
"""


def create_peer(config: Mapping[str, str]) -> Flask:
    """The peer app for one stand-in, certificate and amount."""
    app = Flask("kcp-peer")
    url = config["PEER_KCP_API_BASE"].rstrip("/") + APPROVE_PATH
    cert_info = serialize_cert(Path(config["PEER_CERT_FILE"]).read_bytes())
    amount = str(int(config["PEER_AMOUNT"]))
    timeout = float(config.get("PEER_TIMEOUT") or 30)
    page = app.jinja_env.from_string(PAGE)
    post: Callable[..., requests.Response] = requests.post
    if (config.get("PEER_HTTP") or "sample") == "session":
        pool = int(config.get("PEER_POOL") or 8)
        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0))
        post = session.post
    clock = threading.local()  # the KCP time of the request this thread serves

    @app.post("/kcp_api_pay")
    def kcp_api_pay() -> tuple[str, int]:
        """Approve the window's result once; show res_cd."""
        form = request.form
        if form.get("res_cd", "") != "0000":
            return page.render(res_cd=form.get("res_cd", ""), res_msg=form.get("res_msg", ""), tno=""), 200
        body = {"tran_cd": form.get("tran_cd", "") or TRAN_CD, "site_cd": form.get("site_cd", ""),
                "kcp_cert_info": cert_info, "enc_data": form.get("enc_data", ""), "enc_info": form.get("enc_info", ""),
                "ordr_mony": amount}
        started = time.perf_counter()
        try:
            answer = post(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=HEADERS,
                          timeout=timeout).json()
        except (requests.RequestException, ValueError) as exc:
            answer = {"res_cd": "9999", "res_msg": type(exc).__name__}
        finally:
            clock.kcp_ms = (time.perf_counter() - started) * 1000
        return page.render(res_cd=answer.get("res_cd", ""), res_msg=answer.get("res_msg", ""),
                           tno=answer.get("tno", ""), amount=answer.get("amount", "")), 200

    inner = app.wsgi_app

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Add X-Shop-Time-Ms / X-Kcp-Time-Ms like the shop's timing wrapper."""
        started = time.perf_counter()
        clock.kcp_ms = 0.0

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            total = (time.perf_counter() - started) * 1000
            headers = [*headers, ("X-Shop-Time-Ms", f"{total - clock.kcp_ms:.2f}"), ("X-Kcp-Time-Ms", f"{clock.kcp_ms:.2f}")]
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        return inner(environ, start)

    app.wsgi_app = timed  # type: ignore[method-assign]
    return app


def from_env() -> Flask:
    """The peer configured from the environment (gunicorn target ``tests.perf.peer:from_env()``)."""
    return create_peer(os.environ)
