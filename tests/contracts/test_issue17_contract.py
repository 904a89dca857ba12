"""Issue 17 (the sandbox and kcp/ for every KCP merchant), "Interface details a checker relies on", checked from the
outside, each bullet read literally: ``python -m kcp.sandbox`` started as a separate process and used over HTTP the
way a shop in another language would, its command lines run as commands.

The wheel bullet (``pip wheel . --no-deps``, a fresh venv, ``import kcp`` without Flask, ``[sandbox]`` serving from
the installed package, the version and the long description) is tests/standalone/test_wheel.py: not repeated here.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from contract_support import shot
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from standalone_support import ROOT, SandboxProcess, free_port

from kcp import codes

KCP_PATHS = ("/gw/enc/v1/payment", "/gw/hub/v1/payment", "/gw/mod/v1/cancel", "/std/inquery", "/std/tradeReg/register")


# -- bullet 1: the command, what it prints, refusals ----------------------------------------------------------------


def test_help_lists_host_port_and_the_instance_folder_option() -> None:
    shown = subprocess.run([sys.executable, "-m", "kcp.sandbox", "--help"], capture_output=True, text=True, cwd=ROOT,
                           timeout=60, check=True).stdout
    for option in ("--host", "--port", "--instance"):
        assert re.search(rf"^\s+{option}\b", shown, re.MULTILINE), option


@pytest.fixture
def bare_sandbox(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, dict[str, str], float]]:
    """``python -m kcp.sandbox --host 127.0.0.1 --port P`` exactly (no other option), started in an empty folder:
    (process, P, NAME=value lines of stdout, seconds until the last of them)."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kcp.sandbox", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=tmp_path, env=env)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    values: dict[str, str] = {}
    elapsed = 0.0
    deadline = started + 10
    printed = {"KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE", "KCP_CERT_FILE", "KCP_KEY_FILE", "KCP_KEY_PASSWORD"}
    while not printed <= set(values):
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        name, sep, value = line.partition("=")
        if sep:
            values[name] = value
            elapsed = time.monotonic() - started
    try:
        yield proc, port, values, elapsed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_it_prints_the_three_urls_and_the_credentials_on_stdout_within_seconds(bare_sandbox) -> None:
    _, port, values, elapsed = bare_sandbox
    assert elapsed < 10, values
    for name in ("KCP_API_BASE", "KCP_JS_URL", "KCP_RECEIPT_BASE"):
        parts = urlsplit(values[name])
        assert parts.scheme == "http" and parts.hostname == "127.0.0.1" and parts.port == port, (name, values[name])
    # KCP_API_BASE is the base KCP's paths are appended to: each answers as KCP's API, not as an unknown path.
    for path in KCP_PATHS:
        answer = requests.post(values["KCP_API_BASE"] + path, json={}, timeout=10).json()
        code = answer.get("res_cd", answer.get("Code"))
        assert code and code not in ("0000", "SB30"), (path, answer)
    # KCP_JS_URL is the full script URL.
    script = requests.get(values["KCP_JS_URL"], timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"] and "KCP_Pay_Execute" in script.text
    # The certificate and the key a shop signs with.
    cert = Path(values["KCP_CERT_FILE"])
    x509.load_pem_x509_certificate(cert.read_bytes())
    # An encrypted PKCS#8 key that opens with the printed password and belongs to the printed certificate.
    key_pem = Path(values["KCP_KEY_FILE"]).read_bytes()
    with pytest.raises(TypeError):  # encrypted: refused without a password
        serialization.load_pem_private_key(key_pem, password=None)
    key = serialization.load_pem_private_key(key_pem, password=values["KCP_KEY_PASSWORD"].encode())
    assert key.public_key().public_numbers() == x509.load_pem_x509_certificate(cert.read_bytes()).public_key().public_numbers()


def _cert_info(sandbox: SandboxProcess) -> str:
    """The printed certificate, serialized on one line."""
    return Path(sandbox.values["KCP_CERT_FILE"]).read_text(encoding="ascii").strip().replace("\n", "")


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[SandboxProcess]:
    """``python -m kcp.sandbox`` as a separate process (its own instance folder)."""
    process = SandboxProcess([], tmp_path / "sandbox", free_port(), tmp_path / "sandbox.log")
    yield process
    process.stop()


def test_refusals_are_http_200_kcp_shaped_json(standalone) -> None:
    api = standalone.values["KCP_API_BASE"]
    cert = _cert_info(standalone)
    bodies: list[tuple[str, Any]] = [
        ("application/json", {}),
        ("application/json", "{not json"),
        ("application/x-www-form-urlencoded", "site_cd=T0000"),
        ("application/json", {"site_cd": "t0000", "kcp_cert_info": cert}),
        ("application/json", {"site_cd": "T0000", "kcp_cert_info": "-----BEGIN CERTIFICATE-----x-----END CERTIFICATE-----"}),
        ("application/json", {"site_cd": "T0000", "kcp_cert_info": cert, "tno": "1", "ordr_mony": "1,000", "good_mny": "-5"}),
    ]
    for path in KCP_PATHS:
        for content_type, body in bodies:
            data = json.dumps(body) if isinstance(body, dict) else body
            reply = requests.post(api + path, data=data.encode(), headers={"Content-Type": content_type}, timeout=10)
            assert reply.status_code == 200, (path, body, reply.status_code)
            assert reply.headers["Content-Type"].startswith("application/json"), (path, reply.headers["Content-Type"])
            answer = reply.json()
            keys = ("Code", "Message") if path == "/std/tradeReg/register" else ("res_cd", "res_msg")
            assert all(answer.get(k) for k in keys) and answer[keys[0]] != "0000", (path, body, answer)
        wrong_method = requests.get(api + path, timeout=10)
        assert wrong_method.status_code == 200 and wrong_method.json()["res_cd"] != "0000"
    unknown = requests.post(api + "/gw/enc/v2/payment", json={}, timeout=10)
    assert unknown.status_code == 200 and unknown.json()["res_cd"] != "0000"
    too_big = requests.post(api + "/gw/enc/v1/payment", json={"site_cd": "T0000", "enc_data": "A" * 300_000}, timeout=10)
    assert too_big.status_code == 200 and too_big.json()["res_cd"] not in ("", "0000"), too_big.status_code


# -- bullet 2: the OpenAPI description ------------------------------------------------------------------------------


class _Links(HTMLParser):
    """Every href and src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.loads: list[str] = []  # what the page loads by itself (scripts, styles, images, frames)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag in ("script", "img", "iframe", "source", "embed") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href"):
            self.loads.append(a["href"])


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _openapi(standalone: SandboxProcess) -> tuple[dict[str, Any], str, str]:
    """(the JSON document, the readable page's URL, its HTML), found by following hrefs containing 'openapi'."""
    home_url = standalone.values["KCP_API_BASE"] + "/"
    home = requests.get(home_url, timeout=10)
    linked = [urljoin(home.url, h) for h in _links(home.text).hrefs if "openapi" in h]
    assert linked, "the sandbox's home page links to no href containing 'openapi'"
    document, page_url, page = None, "", ""
    for url in linked:
        reply = requests.get(url, timeout=10)
        assert reply.status_code == 200, url
        if reply.headers["Content-Type"].startswith("application/json"):
            document = reply.json()
        else:
            page_url, page = reply.url, reply.text
            for inner in (urljoin(reply.url, h) for h in _links(reply.text).hrefs if "openapi" in h):
                inner_reply = requests.get(inner, timeout=10)
                if inner_reply.headers["Content-Type"].startswith("application/json"):
                    document = inner_reply.json()
    assert document is not None and page, linked
    return document, page_url, page


def _refs(node: Any) -> Iterator[str]:
    """Every $ref in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_the_openapi_document_linked_from_home(standalone) -> None:
    document, _, _ = _openapi(standalone)
    assert str(document["openapi"]).startswith("3.1")
    refs = list(_refs(document))
    assert refs and all(ref.startswith("#/") for ref in refs), [r for r in refs if not r.startswith("#/")]
    assert set(document["paths"]) == set(KCP_PATHS)
    for path, item in document["paths"].items():
        operations = set(item) & {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
        assert operations == {"post"}, (path, sorted(item))  # one post per KCP path
    ((name, webhook),) = [(k, v) for k, v in document["webhooks"].items() if "common_return" in k]
    body = webhook["post"]["requestBody"]
    assert "application/x-www-form-urlencoded" in body["content"]
    media = body["content"]["application/x-www-form-urlencoded"]
    described = " ".join(str(x) for x in (body.get("description"), media.get("description"),
                                          media.get("schema", {}).get("description")) if x)
    assert "EUC-KR" in described.upper(), (name, described)


def test_the_readable_page_is_rendered_on_the_server_and_loads_nothing_from_another_host(standalone, kcp_browser) -> None:
    document, page_url, page = _openapi(standalone)
    text = re.sub(r"<[^>]+>", " ", page)
    for path in KCP_PATHS:
        assert path in text, path
    assert "common_return" in text
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page_url))
    for load in _links(page).loads:
        assert not urlsplit(urljoin(page_url, load)).netloc or urljoin(page_url, load).startswith(origin), load
    # In a browser, without JavaScript too: every request the page makes stays on the sandbox's origin.
    playwright, browser = kcp_browser
    for javascript in (True, False):
        context = browser.new_context(java_script_enabled=javascript)
        try:
            tab = context.new_page()
            requested: list[str] = []
            tab.on("request", lambda r, seen=requested: seen.append(r.url))
            tab.goto(page_url)
            tab.wait_for_load_state("networkidle")
            assert all(url.startswith(origin) or url.startswith("data:") for url in requested), requested
            body = tab.inner_text("body")
            assert all(path in body for path in KCP_PATHS) and "common_return" in body
            if javascript:
                shot(tab, "contract-17-openapi-page")
        finally:
            context.close()


# -- bullet 3: the trigger, from both command lines -------------------------------------------------------------------


class Target:
    """A common_return URL that records each POST (raw bytes) and answers ``reply`` (status, body) in turn."""

    def __init__(self, replies: list[tuple[int, str]]) -> None:
        self.replies, self.bodies = list(replies), []
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                target.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                status, text = target.replies[min(len(target.bodies), len(target.replies)) - 1]
                page = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet."""

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/common_return"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def form(self, index: int, charset: str) -> dict[str, str]:
        """The index-th POST as name -> value, read as ``charset``."""
        return dict(parse_qsl(self.bodies[index].decode("ascii"), keep_blank_values=True, encoding=charset))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


ACCEPTED = '<html><body><input type="hidden" name="result" value="0000"></body></html>'


@pytest.fixture
def targets() -> Iterator[Callable[[list[tuple[int, str]]], Target]]:
    made: list[Target] = []

    def make(replies: list[tuple[int, str]]) -> Target:
        made.append(Target(replies))
        return made[-1]

    yield make
    for target in made:
        target.close()


@pytest.fixture(params=["python -m kcp.sandbox", "flask"])
def trigger(request, tmp_path: Path, make_app) -> Callable[..., tuple[int, str]]:
    """Run the trigger from one of the two command lines: (exit code, everything it printed)."""
    if request.param == "flask":
        app = make_app()

        def run_flask(*args: str) -> tuple[int, str]:
            result = app.test_cli_runner().invoke(args=["sandbox", "trigger", *args])
            return result.exit_code, result.output

        return run_flask

    def run_module(*args: str) -> tuple[int, str]:
        done = subprocess.run([sys.executable, "-m", "kcp.sandbox", "--instance", str(tmp_path / "instance"), "trigger",
                               *args], capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
        return done.returncode, done.stdout + done.stderr

    return run_module


def test_the_trigger_takes_the_url_as_argument_or_option_any_field_and_both_charsets(trigger, targets) -> None:
    target = targets([(200, ACCEPTED)])
    code, printed = trigger("deposit", target.url, "--depositor", "김철수")
    assert code == 0, printed
    sent = target.form(0, "cp949")  # EUC-KR by default
    assert sent["remitter"] == "김철수" and "%B1%E8%C3%B6%BC%F6" in target.bodies[0].decode("ascii")
    assert sent["tno"] and sent["ordr_no"] and sent["noti_id"] and sent["ipgm_mnyx"]  # made up: no order needed
    assert 'name="result" value="0000"' in printed and "0000" in printed  # the reply, and the verdict
    code, printed = trigger("reversal", "--url", target.url, "--charset", "utf-8", "--depositor", "홍길동",
                            "--ordr-no", "ANY-ORDER", "--field", "custom_x=값")
    assert code == 0, printed
    sent = target.form(1, "utf-8")
    assert (sent["remitter"], sent["ordr_no"], sent["custom_x"], sent["op_cd"]) == ("홍길동", "ANY-ORDER", "값", "13")
    assert "%ED%99%8D" in target.bodies[1].decode("ascii")


@pytest.mark.parametrize("reply", [
    (200, '<input type="hidden" name="result" value="9999">'),
    (200, "<html><body>result=0000</body></html>"),  # 0000 in the text, not as the result input
    (200, ""),
])
def test_the_trigger_exits_non_zero_when_the_reply_does_not_count_as_0000(trigger, targets, reply) -> None:
    target = targets([reply])
    code, printed = trigger("deposit", target.url)
    assert code != 0, printed
    assert "NOT" in printed or "not" in printed  # a clear verdict
    assert len(target.bodies) == 1


def test_the_trigger_exits_non_zero_when_nobody_answers(trigger) -> None:
    code, printed = trigger("deposit", f"http://127.0.0.1:{free_port()}/common_return", "--timeout", "2")
    assert code != 0 and printed


# -- bullet 5: the test-data table ---------------------------------------------------------------------------------


def codes_the_sandbox_answers() -> set[str]:
    """Every res_cd the sandbox's source can answer (a refusal's code names a kcp.codes constant or is a literal)."""
    found: set[str] = set()
    for source in (ROOT / "kcp" / "sandbox").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for name in re.findall(r"(?:SandboxError|answer_payload|_refusal_after_write)\(\s*codes\.([A-Z_]+)", text):
            found.add(getattr(codes, name))
        found.update(re.findall(r"(?:SandboxError|answer_payload)\(\s*\"(\d{4}|SB\d{2})\"", text))
    return found


def test_the_test_data_table_is_in_the_readme_and_one_link_from_the_console_home(standalone) -> None:
    readme = (ROOT / "kcp" / "sandbox" / "README.md").read_text(encoding="utf-8")
    answered = codes_the_sandbox_answers()
    cards = ("4000123456780002", "4000123456780003")
    for value in (*cards, *answered):
        assert re.search(rf"`{re.escape(value)}`|\b{re.escape(value)}\b", readme), value
    home_url = standalone.values["KCP_API_BASE"] + "/"
    home = requests.get(home_url, timeout=10)
    pages = []
    for href in _links(home.text).hrefs:
        url = urljoin(home.url, href)
        if urlsplit(url).netloc == urlsplit(home.url).netloc:
            reply = requests.get(url, timeout=10)
            if reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/html"):
                pages.append((url, re.sub(r"<[^>]+>", " ", reply.text)))
    showing = [url for url, text in pages if all(card in text for card in cards)
               and all(re.search(rf"\b{re.escape(code)}\b", text) for code in answered)]
    assert showing, f"no page one link from {home_url} shows every card and code"
