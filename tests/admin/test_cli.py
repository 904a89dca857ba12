"""``flask kcp sign|inquire|cancel`` and ``flask reconcile`` against the sandbox over real HTTP."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest
import requests
from admin_helpers import Admin, text_of
from support import order_form, window_authorize

from kcp.sandbox import faults
from kcp.signing import load_certificate, verify_text
from shop.catalog import get_product
from shop.messages import render
from shop.services.checkout import create_order


@pytest.fixture
def app_config(app_config):
    """KCP calls give up after one second here, so a delayed answer leaves an order unknown."""
    return {**app_config, "KCP_TIMEOUT": "1"}


def buyer_pays(url: str) -> tuple[str, requests.Response]:
    """A buyer's checkout: order page, sandbox window (card), then the form posted to /pp_ax_hub."""
    http = requests.Session()
    page = http.get(f"{url}/order", params={"product": "test"}, timeout=10)
    fields = {**order_form(page.text).fields, "buyr_name": "홍길동", "buyr_mail": "buyer@example.com", "buyr_tel2": "01012345678",
              "pay_method": "100000000000"}
    window = window_authorize(url, {**fields, "sb_method": "card", "sb_card_cd": "CCBC", "sb_quota": "0"}, timeout=10).json()
    assert window["res_cd"] == "0000", window
    fields.update({k: v for k, v in window.items() if k in fields})
    return fields["ordr_idxx"], http.post(f"{url}/pp_ax_hub", data=fields, allow_redirects=False, timeout=15)


def run(app, *args: str, input: str | None = None):
    """Invoke a flask CLI command of ``app``."""
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_sign_prints_kcp_sign_data_that_verifies(app, kcp_credentials):
    result = run(app, "kcp", "sign", "T0000^22284971100001^STSC")
    assert result.exit_code == 0
    certificate = load_certificate(kcp_credentials[0].read_bytes())
    assert verify_text(certificate, "T0000^22284971100001^STSC", result.output.strip())


def test_inquire_compares_with_the_shop(admin):
    order = admin.paid_order(10_000)
    tno = admin.order(order)["tno"]
    result = run(admin.app, "kcp", "inquire", "--tno", tno, "--pay-type", "PACA")
    assert result.exit_code == 0, result.output
    assert f"tno {tno}  res_cd 0000" in result.output
    assert "KCP and the shop agree." in result.output
    by_order = run(admin.app, "kcp", "inquire", "--order-id", order)
    assert "KCP and the shop agree." in by_order.output
    unknown = run(admin.app, "kcp", "inquire", "--tno", "99999999999999", "--pay-type", "PACA")
    assert unknown.exit_code == 1 and "SB08" in unknown.output


def test_cancel_partial_then_full_with_confirmation(admin):
    order = admin.paid_order(10_000)
    tno = admin.order(order)["tno"]
    declined = run(admin.app, "kcp", "cancel", "--tno", tno, "--amount", "4000", "--reason", "cli", input="n\n")
    assert declined.exit_code == 1 and "partial refund (STPC) of ₩4,000" in declined.output
    assert admin.order(order)["refunded_amount"] == 0
    partial = run(admin.app, "kcp", "cancel", "--tno", tno, "--amount", "4000", "--reason", "cli", "--yes")
    assert partial.exit_code == 0, partial.output
    assert "STPC done: ₩4,000 refunded, balance ₩6,000" in partial.output
    too_much = run(admin.app, "kcp", "cancel", "--tno", tno, "--amount", "6001", "--yes")
    assert too_much.exit_code == 1 and "more than the balance" in too_much.output
    rest = run(admin.app, "kcp", "cancel", "--tno", tno, "--amount", "6000", "--yes")
    assert "STPC done" in rest.output
    assert admin.order(order)["status"] == "refunded"
    actors = {r["actor"] for r in admin.db("SELECT actor FROM audit_log WHERE action = 'refund'")}
    assert actors == {"cli"}


def test_reconcile_cannot_ask_kcp_without_a_tno_so_staff_settle_it_with_the_tno_kcp_shows(live_server):
    """002 looks a transaction up by tno only. A timed-out approval (no tno known) is flagged for staff, never
    guessed; staff find the tno in KCP's merchant admin (here: the sandbox's ledger) and settle the order with it."""
    # KCP approves, but its answer comes after the shop's one-second timeout.
    faults.inject(live_server.app, "approve", "delay", seconds=2)
    ordr_idxx, response = buyer_pays(live_server.url)
    assert response.status_code in (302, 303)
    staff = Admin(live_server.url, live_server.app)
    order = staff.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("unknown", None, 0)
    charged = staff.ledger("SELECT tno, amount FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))[0]

    result = run(live_server.app, "reconcile")
    assert result.exit_code == 0, result.output
    assert f"[1/1] {ordr_idxx}: unknown -> needs_attention (KCP's answer to the approval never arrived" in result.output
    assert f"Look order {ordr_idxx} up in KCP's merchant admin" in result.output
    order = staff.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("needs_attention", None, 0)
    assert "inquire" not in staff.exchanges(ordr_idxx)  # nothing asked of KCP without a tno
    # Safe to run again (cron): the order waits for staff, nothing changes.
    assert "Nothing to reconcile." in run(live_server.app, "reconcile").output

    staff.login()
    page = text_of(staff.get(f"/admin/orders/{ordr_idxx}").text)
    assert "Settle this order" in page and f"Look order {ordr_idxx} up in KCP's merchant admin" in page
    settled = staff.post(f"/admin/orders/{ordr_idxx}/settle", {"tno": charged["tno"], "pay_type": "PACA"})
    assert "Settled by inquiry: the order is now Paid." in text_of(settled.text)
    order = staff.order(ordr_idxx)
    assert (order["status"], order["tno"], order["paid_amount"]) == ("paid", charged["tno"], charged["amount"])
    payment = staff.db("SELECT tno, pay_method, amount FROM payments WHERE order_id = ?", (order["id"],))[0]
    assert (payment["tno"], payment["pay_method"], payment["amount"]) == (charged["tno"], "card", charged["amount"])
    causes = [render(h["cause"], json.loads(h["cause_params"]) if h["cause_params"] else None)
              for h in staff.db("SELECT cause, cause_params FROM state_changes WHERE order_id = ? ORDER BY id",
                                (order["id"],))]
    assert causes[-1].startswith(f"reconcile: KCP reports tno {charged['tno']} approved")
    # The one inquiry sent: by tno, with the order number beside it (002's second example).
    [sent] = [json.loads(r["request"]) for r in staff.db("SELECT request FROM kcp_exchanges WHERE api = 'inquire'")]
    assert (sent["tno"], sent["mod_ordr_idxx"], sent["pay_type"]) == (charged["tno"], ordr_idxx, "PACA")


def test_reconcile_fails_abandoned_orders_and_leaves_fresh_ones(live_server):
    # Pending orders as a flow that stores its order before KCP sees it leaves them (the order page
    # itself stores nothing until its form is posted, so viewing it leaves nothing to reconcile).
    with live_server.app.app_context():
        old, fresh = (create_order(get_product(product)).ordr_idxx for product in ("tea", "mug"))
    staff = Admin(live_server.url, live_server.app)
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(staff.db_path, timeout=30)
    with conn:
        conn.execute("UPDATE orders SET updated_at = ? WHERE ordr_idxx = ?", (an_hour_ago, old))
    conn.close()

    result = run(live_server.app, "reconcile", "--older-than", "30")
    assert result.exit_code == 0, result.output
    assert f"[1/1] {old}: pending -> failed (the payment window was not completed in time: no approval was " \
           "requested from KCP, so nothing was charged)" in result.output
    assert staff.order(old)["status"] == "failed"
    assert staff.order(fresh)["status"] == "pending"
    assert "Nothing to reconcile." in run(live_server.app, "reconcile").output
