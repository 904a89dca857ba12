"""One-shot faults: the shop's client sees timeouts, dropped connections, HTTP 500 and non-JSON
answers, over real HTTP and over the in-process transport."""

from __future__ import annotations

import pytest
import requests
from sandbox_helpers import CHOICES, Window, order_form

from kcp.errors import KcpOutcomeUnknown, KcpTransportError
from kcp.sandbox import faults
from kcp.sandbox.transport import InProcessTransport


def approve(kcp, result):
    """The shop's approval call."""
    return kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"], ordr_mony=1004)


def test_drop_after_processing_over_http_then_settle_by_inquiry(server, window: Window, kcp) -> None:
    result = window.pay("card", form=order_form(ordr_idxx="DROP-1"))
    faults.inject(server.app, "approve", "drop")
    with pytest.raises(KcpOutcomeUnknown):
        approve(kcp, result)
    from kcp.sandbox import ledger  # the tno, as staff would find it in KCP's merchant admin (002 needs one)

    tno = ledger.transaction_by_order(server.app, "DROP-1")["tno"]
    by_order = kcp.inquire(tno, "PACA", mod_ordr_idxx="DROP-1")  # the money moved although no answer came
    assert by_order.shop_status == "STSR" and by_order.amount == 1004
    assert approve(kcp, window.pay("card")).res_cd == "0000"  # one shot only


def test_delay_after_processing_times_out(make_app, window_factory=None) -> None:
    from support import LiveServer

    server = LiveServer(poll_interval=0.02)
    app = make_app(KCP_API_BASE=f"{server.url}/_sandbox/kcp", KCP_TIMEOUT="0.3")
    server.start(app)
    try:
        kcp = app.extensions["kcp"].client
        approval = approve(kcp, Window(server.url).pay("card"))
        faults.inject(app, "cancel", "delay", seconds=0.8)
        with pytest.raises(KcpOutcomeUnknown):
            kcp.cancel(approval.tno)
        assert kcp.inquire(approval.tno, "PACA").shop_status == "STSC"
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["http500", "nonjson"])
def test_refused_before_processing(server, window: Window, kcp, mode) -> None:
    approval = approve(kcp, window.pay("card"))
    faults.inject(server.app, "cancel", mode)
    with pytest.raises(KcpTransportError) as caught:
        kcp.cancel(approval.tno)
    assert caught.value.status == (500 if mode == "http500" else 200)
    assert kcp.inquire(approval.tno, "PACA").shop_status == "STSR"  # nothing happened
    calls = server.app.test_client().get("/_sandbox/kcp/log").get_data(as_text=True)
    assert f'<span class="pill warn">{mode}</span>' in calls


def test_in_process_transport_drop_and_timeout(make_app) -> None:
    app = make_app()  # KCP_API_BASE is the in-process sandbox
    kcp = app.extensions["kcp"].client
    form = {**order_form(), **CHOICES["card"]}
    result = app.test_client().post("/_sandbox/kcp/window/authorize", data=form, headers={"Accept": "application/json"}).json
    faults.inject(app, "approve", "drop")
    with pytest.raises(KcpOutcomeUnknown):
        approve(kcp, result)
    session = requests.Session()
    session.mount("http://sandbox.test/", InProcessTransport(app))
    faults.inject(app, "inquire", "delay", seconds=0.5)
    with pytest.raises(requests.ReadTimeout):
        session.post("http://sandbox.test/_sandbox/kcp/std/inquery", json={}, timeout=0.1)
    reply = session.post("http://sandbox.test/_sandbox/kcp/std/inquery", json={}, timeout=2)
    assert reply.status_code == 200 and reply.json()["res_cd"] == "3014" and reply.headers["Content-Type"] == "application/json"


def test_faults_page_arms_and_clears(server) -> None:
    from support import input_values

    http = requests.Session()
    page = http.get(f"{server.url}/_sandbox/kcp/faults", timeout=5).text
    token = input_values(page, "csrf_token")
    extra = {"csrf_token": token[0]} if token else {}
    http.post(f"{server.url}/_sandbox/kcp/faults", data={"api": "inquire", "mode": "http500", "seconds": "0", **extra}, timeout=5)
    assert faults.pending(server.app) == [faults.Fault("inquire", "http500", 0.0)]
    http.post(f"{server.url}/_sandbox/kcp/faults", data={"action": "clear", "api": "inquire", **extra}, timeout=5)
    assert faults.pending(server.app) == []
    with pytest.raises(ValueError):
        faults.inject(server.app, "approve", "explode")


@pytest.mark.parametrize("seconds", ["nan", "NaN", "inf"])
def test_a_delay_that_is_not_a_number_of_seconds_is_refused_and_arms_nothing(server, seconds: str) -> None:
    """The faults page and the control API take 0 to 600 seconds; NaN passed both range checks, was stored as
    nothing and answered as "seconds": NaN, which is not JSON a merchant's parser reads."""
    reply = requests.post(f"{server.url}/_sandbox/kcp/control/faults", timeout=5,
                          data=f'{{"api": "approve", "mode": "delay", "seconds": {seconds.replace("inf", "Infinity")}}}',
                          headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["ok"] is False
    with pytest.raises(ValueError):
        faults.inject(server.app, "approve", "delay", seconds=float(seconds))
    assert faults.pending(server.app) == []
