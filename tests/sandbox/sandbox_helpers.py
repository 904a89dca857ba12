"""Helpers for the sandbox tests (imported as sandbox_helpers): drive the payment window the way KCP's script does (POST the
merchant's form into the window, then the buyer's choices to its authorize endpoint) and reach
the APIs through the shop's own KcpClient over a real local HTTP server."""

from __future__ import annotations

import http.server
import threading
from typing import Any

import requests

SANDBOX = "/_sandbox/kcp"


def order_form(**overrides: str) -> dict[str, str]:
    """A KCP-style order form (document 000's fields) with the empty result fields."""
    form = {
        "site_cd": "T0000", "site_name": "TEST SITE", "ordr_idxx": "TEST12345", "pay_method": "100000000000",
        "good_name": "테스트 상품", "good_mny": "1004", "currency": "410", "buyr_name": "홍길동",
        "buyr_tel1": "02-0000-0000", "buyr_tel2": "010-0000-0000", "buyr_mail": "test@test.co.kr", "shop_user_id": "",
        "res_cd": "", "res_msg": "", "enc_info": "", "enc_data": "", "ret_pay_method": "", "tran_cd": "",
        "use_pay_method": "",
    }
    form.update(overrides)
    return form


CHOICES = {
    "card": {"sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0"},
    "bank": {"sb_method": "bank", "sb_bank_cd": "04"},
    "vbank": {"sb_method": "vbank", "sb_vbank_cd": "03", "sb_depositor": "홍길동"},
    "mobile": {"sb_method": "mobile", "sb_commid": "SKT", "sb_mobile_no": "01012345678", "sb_auth_code": "123456"},
}
PAY_METHOD = {"card": "100000000000", "bank": "010000000000", "vbank": "001000000000", "mobile": "000010000000"}


class Window:
    """The sandbox payment window, driven over HTTP like the iframe does."""

    def __init__(self, base_url: str):
        """``base_url`` is the server's root URL (http://127.0.0.1:port)."""
        self.base_url = base_url
        self.http = requests.Session()

    def open(self, form: dict[str, str]) -> requests.Response:
        """POST the merchant's form into the window (what KCP_Pay_Execute does)."""
        return self.http.post(f"{self.base_url}{SANDBOX}/window", data=form, timeout=5)

    def pay(self, method: str = "card", *, form: dict[str, str] | None = None, **choice: str) -> dict[str, str]:
        """The buyer pays: the window's authorize POST, answered as JSON (what m_Completepayment receives)."""
        form = form or order_form(pay_method=PAY_METHOD[method])
        data = {**form, **CHOICES[method], "sb_agree": "Y", **choice}
        reply = self.http.post(f"{self.base_url}{SANDBOX}/window/authorize", data=data,
                               headers={"Accept": "application/json"}, timeout=5)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def cancel(self, form: dict[str, str] | None = None) -> dict[str, str]:
        """The buyer closes the window."""
        reply = self.http.post(f"{self.base_url}{SANDBOX}/window/cancel", data=form or order_form(),
                               headers={"Accept": "application/json"}, timeout=5)
        return reply.json()


def api_post(server: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST raw JSON to a sandbox API (for requests the client refuses to build)."""
    reply = requests.post(f"{server.url}{SANDBOX}{path}", json=body, timeout=5)
    assert reply.status_code == 200, reply.text
    return reply.json()


class ScriptedReceiver:
    """A tiny local HTTP server that answers common_return posts with scripted result codes."""

    def __init__(self, results: list[str], charset: str = "cp949"):
        """``results``: the result value of each reply in turn (the last one repeats); bodies are decoded
        as ``charset`` (KCP posts EUC-KR by default; cp949 is how Korean systems write it)."""
        self.results = list(results)
        self.charset = charset
        self.posts: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self.remote_addrs: list[str] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            """Records each POST and replies with the next scripted result."""

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                """Record the form, answer KCP's reply page."""
                from urllib.parse import parse_qsl

                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                receiver.bodies.append(raw)
                receiver.content_types.append(self.headers.get("Content-Type", ""))
                receiver.posts.append(dict(parse_qsl(raw.decode("ascii"), keep_blank_values=True,
                                                     encoding=receiver.charset, errors="strict")))
                receiver.remote_addrs.append(self.client_address[0])
                index = min(len(receiver.posts) - 1, len(receiver.results) - 1)
                result = receiver.results[index]
                page = f'<html><body><form><input type="hidden" name="result" value="{result}"></form></body></html>'
                data = page.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep test output quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/common_return"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()

