"""The benchmark's building blocks work (tests/perf/bench.py): the peer approves against the KCP
stand-in in its own process, the load generator counts what it sent and what failed, the CPU
accounting sees a busy process, the shop's counting wrapper counts, and the integrity checks catch
a doubled deposit and an approval the shop did not record. No timing is asserted: figures are the
benchmark's business, these tests check that what produces them is right."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from tests.perf import bench, loadgen, procstat
from tests.perf.loadgen import Request
from tests.perf.servers import Server, base_env, free_port, gunicorn_command, http_ready
from tests.perf.standin import StandIn, ledger_transactions, start_standin

pytestmark = pytest.mark.perf


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandIn]:
    """The benchmark's KCP stand-in, in its own gunicorn, with a certificate made for this module."""
    from kcp.signing import generate_credentials

    work = tmp_path_factory.mktemp("standin")
    cert, key = generate_credentials(work / "credentials", "smoke-key-password")
    running = start_standin(work, cert, key, "smoke-key-password", "gunicorn")
    yield running
    running.stop()


def window_form(ordr_idxx: str, amount: int = bench.AMOUNT) -> dict[str, str]:
    """An order form as a merchant page posts it to the window (card, one product)."""
    return {"site_cd": "T0000", "ordr_idxx": ordr_idxx, "good_name": "테스트 상품", "good_mny": str(amount),
            "currency": "410", "quotaopt": "12"}


def test_peer_approves_once_against_the_standin(standin: StandIn, tmp_path: Path) -> None:
    """One window result: approved once (0000, one transaction at the stand-in); the same result again is refused."""
    port = free_port()
    env = base_env(PEER_KCP_API_BASE=standin.api_base, PEER_CERT_FILE=standin.settings["KCP_CERT_FILE"],
                   PEER_AMOUNT=str(bench.AMOUNT))
    with Server("peer", gunicorn_command("tests.perf.peer:from_env()", port), port, env, tmp_path / "peer.log"
                ).start(http_ready(port, "POST", "/kcp_api_pay")):
        payment = bench.peer_payment(window_form("SMOKE-PEER-1"), standin.window_base, "SMOKE-PEER-1")
        twice = [payment.request("/kcp_api_pay")] * 2
        result = loadgen.run("peer", "127.0.0.1", port, 1, twice, bench.ACCEPT_PEER)
    assert (result.sent, result.ok, result.errors) == (2, 1, 1)
    assert "SB03" in result.error_samples[0]  # the stand-in refuses a reused enc_data, as KCP does
    assert result.timing["X-Kcp-Time-Ms"] and result.timing["X-Shop-Time-Ms"]
    assert standin.ledger is not None
    held = ledger_transactions(standin.ledger, ["SMOKE-PEER-1"])["SMOKE-PEER-1"]
    assert len(held) == 1 and held[0][1] == "STSR"


def test_peer_amount_is_the_servers(standin: StandIn, tmp_path: Path) -> None:
    """A window opened for another amount is refused by the stand-in (8059): the peer sends its own amount."""
    port = free_port()
    env = base_env(PEER_KCP_API_BASE=standin.api_base, PEER_CERT_FILE=standin.settings["KCP_CERT_FILE"],
                   PEER_AMOUNT=str(bench.AMOUNT), PEER_HTTP="session")
    form = window_form("SMOKE-PEER-2", amount=bench.AMOUNT + 1)
    window = bench.authorize(standin.window_base, form, bench.CARD)
    body = urlencode({**form, **window}).encode()
    with Server("peer", gunicorn_command("tests.perf.peer:from_env()", port), port, env, tmp_path / "peer.log"
                ).start(http_ready(port, "POST", "/kcp_api_pay")):
        refused = loadgen.run("peer", "127.0.0.1", port, 1, [Request("POST", "/kcp_api_pay", body, bench.FORM)],
                              lambda status, _h, page: status == 200 and b'data-res-cd="8059"' in page)
    assert (refused.sent, refused.ok) == (1, 1)
    assert standin.ledger is not None
    assert ledger_transactions(standin.ledger, ["SMOKE-PEER-2"])["SMOKE-PEER-2"] == []


class _Counting:
    """A WSGI app that counts each request path; '/fail' answers 500, '/drop' closes the connection unanswered."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        with self.lock:
            self.seen[path] += 1
        if path == "/drop":
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return []
        status = "500 INTERNAL SERVER ERROR" if path == "/fail" else "200 OK"
        start_response(status, [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


class _KeepAlive(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"


def test_load_generator_counts_requests_and_errors() -> None:
    """Each prepared request is sent exactly once (no retry); 500s and dropped connections are errors; the
    clients reconnect after a drop and go on."""
    app = _Counting()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_KeepAlive)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        plan = (["/ok"] * 10 + ["/fail"] + ["/ok"] * 5 + ["/drop"]) * 6
        result = loadgen.run("counting", "127.0.0.1", server.server_port, 4, [Request("GET", p) for p in plan],
                             loadgen.status_is(200))
    finally:
        server.shutdown()
        server.server_close()
    assert result.sent == len(plan)
    assert result.ok == plan.count("/ok") == len(result.latencies_ms)
    assert result.errors == plan.count("/fail") + plan.count("/drop")
    assert app.seen == Counter(plan)  # the server saw every request once: nothing retried, nothing lost
    assert result.rps > 0 and result.generator_cpu > 0


def test_cpu_accounting_sees_a_busy_child() -> None:
    """A child that burns ~0.4 s of CPU shows up in its parent's tree with about that much."""
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.process_time() + 0.4\n"
                              "while time.process_time() < end: pass\ntime.sleep(30)"])
    try:
        before = procstat.tree_cpu(os.getpid())
        deadline = time.monotonic() + 20
        while (procstat.process_cpu(child.pid) or 0) < 0.4 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = procstat.tree_cpu(os.getpid())
        spent, gone = procstat.tree_delta(before, after)
        assert child.pid in procstat.descendants(os.getpid())
        assert child.pid in after.cpu and not gone
        assert 0.3 <= after.cpu[child.pid] - before.cpu.get(child.pid, 0.0) <= spent
    finally:
        child.kill()
        child.wait()


def test_timing_wrapper_counts_statements(make_app: Any) -> None:
    """The shop's timing wrapper: the order page and the catalog write nothing; the order form posted back
    (the buyer closed the window) creates its order: statements and commits counted."""
    from support import BUYER, order_form

    from tests.perf.wsgi import add_timing

    client = add_timing(make_app()).test_client()
    page = client.get("/order?product=test")
    catalog = client.get("/")
    assert page.status_code == 200 and catalog.status_code == 200
    assert (page.headers["X-Shop-Commits"], catalog.headers["X-Shop-Statements"]) == ("0", "0")
    assert float(page.headers["X-Shop-Time-Ms"]) > 0 and page.headers["X-Kcp-Time-Ms"] == "0.00"
    closed = client.post("/pp_ax_hub", data={**order_form(page.get_data(as_text=True)).fields, **BUYER,
                                             "res_cd": "3001", "res_msg": "closed"})
    assert closed.status_code == 303
    assert int(closed.headers["X-Shop-Commits"]) >= 1 and int(closed.headers["X-Shop-Statements"]) >= 2


def test_checks_catch_doubles_and_unrecorded_approvals(app: Any) -> None:
    """The benchmark's checks: a deposit applied twice, and an approval KCP holds that the shop did not record."""
    from shop.extensions import db
    from shop.models import NotificationDelivery, NotificationRecord, Order, Payment, StateChange

    with app.app_context():
        for ordr_idxx, notes in (("SMOKE-OK", 1), ("SMOKE-DOUBLE", 2)):
            order = Order(ordr_idxx=ordr_idxx, product_id="test", good_name="x", amount=1004, status="paid",
                          paid_amount=1004, pay_method="vbank", tno=f"T{ordr_idxx[-2:]}")
            db.session.add(order)
            db.session.flush()
            db.session.add(StateChange(order_id=order.id, from_status="awaiting_deposit", to_status="paid"))
            for n in range(notes):
                db.session.add(NotificationRecord(noti_id=f"{ordr_idxx}-{n}", order_id=order.id, ordr_no=ordr_idxx,
                                                  kind="deposit", status="applied"))
                db.session.add(NotificationDelivery(ordr_no=ordr_idxx, outcome="stored", reply="0000", http_status=200))
        order = Order(ordr_idxx="SMOKE-CARD", product_id="test", good_name="x", amount=1004, status="paid",
                      paid_amount=1004, pay_method="card", tno="111")
        db.session.add(order)
        db.session.flush()
        db.session.add(Payment(order_id=order.id, tno="111", pay_method="card", amount=1004, res_cd="0000"))
        db.session.add(StateChange(order_id=order.id, from_status="approving", to_status="paid"))
        db.session.commit()
        url = app.config["SQLALCHEMY_DATABASE_URI"]
    assert bench.check_deposits(url, {"SMOKE-OK": 1}) == []
    doubled = bench.check_deposits(url, {"SMOKE-DOUBLE": 2})
    assert len(doubled) == 1 and "['applied', 'applied']" in doubled[0]
    assert bench.check_approvals(url, ["SMOKE-CARD"], {"SMOKE-CARD": [("111", "STSR")]}) == []
    unrecorded = bench.check_approvals(url, ["SMOKE-CARD"], {"SMOKE-CARD": [("111", "STSR"), ("222", "STSR")]})
    assert len(unrecorded) == 1 and "222" in unrecorded[0]
