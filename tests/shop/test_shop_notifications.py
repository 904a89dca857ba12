"""/common_return over real HTTP: deposits from the sandbox notifier, and hand-made posts."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from kcp.sandbox import faults, notifier
from shop.messages import render

OK = '<input type="hidden" name="result" value="0000">'


def _vbank_order(checkout, product: str = "tea"):
    page, response = checkout.pay(product, "vbank")
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "awaiting_deposit"
    return order


def _notes(checkout, order_id: int):
    return checkout.db_all("SELECT * FROM notifications WHERE order_id = ? ORDER BY id", (order_id,))


def _post(url: str, form: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/common_return", data=form, timeout=10)


def _form(order, *, noti_id: str, amount: int, op_cd: str = "50", tx_cd: str = "TX00") -> dict[str, str]:
    return {"site_cd": "T0000", "tno": order["tno"], "ordr_no": order["ordr_idxx"], "tx_cd": tx_cd,
            "tx_tm": "20260101120000", "ipgm_name": "홍길동", "ipgm_mnyx": str(amount), "totl_mnyx": str(amount),
            "ipgm_time": "20260101120000", "bank_code": "04", "account": "12345678901234", "noti_id": noti_id,
            "op_cd": op_cd, "remitter": "홍길동", "cash_a_no": ""}


def test_deposit_notification_makes_the_order_paid(checkout):
    order = _vbank_order(checkout)
    notifier.deposit(checkout.app, order["ordr_idxx"])
    assert notifier.wait_idle(checkout.app, 10)
    after = checkout.order_row(order["ordr_idxx"])
    assert after["status"] == "paid" and after["paid_amount"] == 12000
    [note] = _notes(checkout, order["id"])
    assert note["status"] == "applied" and note["ipgm_mnyx"] == 12000 and note["sender_ip"] == "127.0.0.1"
    assert note["raw"] and '"noti_id"' in note["raw"]
    # KCP's side saw the 0000 reply and stopped.
    [sent] = checkout.ledger("SELECT state FROM notifications WHERE ordr_no = ?", (order["ordr_idxx"],))
    assert sent["state"] == "delivered"
    assert "Payment complete" in checkout.result_page(order["ordr_idxx"]).text


def test_duplicate_noti_id_changes_nothing_and_answers_0000(checkout):
    order = _vbank_order(checkout)
    nid = notifier.deposit(checkout.app, order["ordr_idxx"])
    assert notifier.wait_idle(checkout.app, 10)
    notifier.resend(checkout.app, nid)  # KCP sends the same noti_id again
    assert notifier.wait_idle(checkout.app, 10)
    form = _form(order, noti_id=_notes(checkout, order["id"])[0]["noti_id"], amount=12000)
    response = _post(checkout.url, form)
    assert response.status_code == 200 and OK in response.text
    after = checkout.order_row(order["ordr_idxx"])
    assert after["status"] == "paid" and after["paid_amount"] == 12000
    assert len(_notes(checkout, order["id"])) == 1
    changes = checkout.db_all("SELECT to_status FROM state_changes WHERE order_id = ?", (order["id"],))
    assert [c["to_status"] for c in changes] == ["approving", "awaiting_deposit", "paid"]


def test_short_deposit_is_kept_and_flagged_never_paid(checkout):
    order = _vbank_order(checkout)
    notifier.deposit(checkout.app, order["ordr_idxx"], amount=9000)
    assert notifier.wait_idle(checkout.app, 10)
    after = checkout.order_row(order["ordr_idxx"])
    assert after["status"] == "needs_attention"
    assert after["paid_amount"] == 9000  # the money is real: kept
    assert after["status_reason"] == "notification %(noti_id)s: %(why)s"
    why = json.loads(after["status_reason_params"])["why"]
    assert why["_params"] == {"amount": 9000, "order_amount": 12000}
    assert "deposit of 9000 differs from the order amount 12000" in render(after["status_reason"],
                                                                           json.loads(after["status_reason_params"]))
    [note] = _notes(checkout, order["id"])
    assert note["status"] == "flagged"
    html = checkout.result_page(order["ordr_idxx"]).text
    assert "Payment complete" not in html and "needs a member of staff" in html


def test_second_deposit_for_the_same_tno_is_not_applied(checkout):
    order = _vbank_order(checkout)
    assert OK in _post(checkout.url, _form(order, noti_id="N0000000000000000001", amount=12000)).text
    assert OK in _post(checkout.url, _form(order, noti_id="N0000000000000000002", amount=5000)).text
    after = checkout.order_row(order["ordr_idxx"])
    assert after["paid_amount"] == 12000 and after["status"] == "needs_attention"
    assert [n["status"] for n in _notes(checkout, order["id"])] == ["applied", "flagged"]


def test_op_cd_13_reverses_the_deposit(checkout):
    order = _vbank_order(checkout)
    notifier.deposit(checkout.app, order["ordr_idxx"])
    assert notifier.wait_idle(checkout.app, 10)
    notifier.cancel_deposit(checkout.app, order["ordr_idxx"])
    assert notifier.wait_idle(checkout.app, 10)
    after = checkout.order_row(order["ordr_idxx"])
    assert after["status"] == "awaiting_deposit" and after["paid_amount"] == 0
    assert [n["kind"] for n in _notes(checkout, order["id"])] == ["deposit", "deposit_cancel"]
    assert all(n["status"] == "applied" for n in _notes(checkout, order["id"]))


def test_op_cd_13_before_any_deposit_is_flagged(checkout):
    order = _vbank_order(checkout)
    response = _post(checkout.url, _form(order, noti_id="C0000000000000000001", amount=12000, op_cd="13"))
    assert OK in response.text
    after = checkout.order_row(order["ordr_idxx"])
    assert after["status"] == "needs_attention" and after["paid_amount"] == 0
    assert _notes(checkout, order["id"])[0]["status"] == "flagged"


def test_unknown_tx_cd_is_stored_not_applied(checkout):
    order = _vbank_order(checkout)
    response = _post(checkout.url, _form(order, noti_id="U0000000000000000001", amount=12000, tx_cd="TX99"))
    assert OK in response.text
    assert checkout.order_row(order["ordr_idxx"])["status"] == "awaiting_deposit"
    [note] = _notes(checkout, order["id"])
    assert note["status"] == "unknown" and note["kind"] == "unknown"


def test_wrong_sender_is_refused_with_403(serve, checkout_for):
    server = serve(KCP_NOTIFY_IPS="203.238.36.17")
    checkout = checkout_for(server)
    order = _vbank_order(checkout)
    response = _post(server.url, _form(order, noti_id="W0000000000000000001", amount=12000))
    assert response.status_code == 403
    assert OK not in response.text and 'name="result"' in response.text
    assert checkout.order_row(order["ordr_idxx"])["status"] == "awaiting_deposit"
    assert _notes(checkout, order["id"]) == []


def test_malformed_notification_asks_kcp_to_retry(checkout):
    order = _vbank_order(checkout)
    form = _form(order, noti_id="M0000000000000000001", amount=12000)
    del form["noti_id"]
    response = _post(checkout.url, form)
    assert response.status_code == 400 and OK not in response.text
    bad_amount = _form(order, noti_id="M0000000000000000002", amount=12000)
    bad_amount["ipgm_mnyx"] = "12,000"
    assert OK not in _post(checkout.url, bad_amount).text
    assert _notes(checkout, order["id"]) == []
    assert checkout.order_row(order["ordr_idxx"])["status"] == "awaiting_deposit"


def test_notification_for_an_unknown_order_is_stored(checkout):
    fake = {"tno": "20260101000000", "ordr_idxx": "KRSNOPE"}
    response = _post(checkout.url, _form(fake, noti_id="X0000000000000000001", amount=1000))
    assert OK in response.text
    [note] = checkout.db_all("SELECT * FROM notifications WHERE noti_id = 'X0000000000000000001'")
    assert note["status"] == "unmatched" and note["order_id"] is None


def test_approval_racing_its_deposit_notification_ends_paid(checkout):
    """The deposit notification arrives while pp_ax_hub is still waiting for KCP's answer."""
    page = checkout.order_page("tea")
    result = checkout.window(page, "vbank")
    faults.inject(checkout.app, "approve", "delay", seconds=1.5)  # KCP approved, its answer is slow
    deposited = threading.Event()

    def deposit_as_soon_as_issued() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if checkout.ledger("SELECT tno FROM transactions WHERE ordr_idxx = ?", (page.ordr_idxx,)):
                notifier.deposit(checkout.app, page.ordr_idxx)
                notifier.wait_idle(checkout.app, 10)
                deposited.set()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=deposit_as_soon_as_issued)
    thread.start()
    response = checkout.submit(checkout.form_for(page, result, "vbank"))
    thread.join(15)
    assert deposited.is_set()
    assert response.status_code == 303
    order = checkout.order_row(page.ordr_idxx)
    assert order["status"] == "paid" and order["paid_amount"] == 12000
    [note] = _notes(checkout, order["id"])
    assert note["status"] == "applied"
    assert "still being approved" in note["note"]  # it really arrived first, and was deferred
    changes = checkout.db_all("SELECT to_status FROM state_changes WHERE order_id = ? ORDER BY id", (order["id"],))
    assert [c["to_status"] for c in changes] == ["approving", "awaiting_deposit", "paid"]


def test_forwarded_sender_is_believed_only_behind_a_configured_proxy(serve, checkout_for):
    kcp_ip = {"X-Forwarded-For": "203.238.36.17"}
    plain = serve(KCP_NOTIFY_IPS="203.238.36.17")
    order = _vbank_order(checkout_for(plain))
    form = _form(order, noti_id="P0000000000000000001", amount=12000)
    # Without KCP_TRUST_PROXY a forged header changes nothing: the socket peer (127.0.0.1) is checked.
    assert requests.post(f"{plain.url}/common_return", data=form, headers=kcp_ip, timeout=10).status_code == 403
    proxied = serve(KCP_NOTIFY_IPS="203.238.36.17", KCP_TRUST_PROXY="1")
    checkout = checkout_for(proxied)
    order = _vbank_order(checkout)
    form = _form(order, noti_id="P0000000000000000002", amount=12000)
    response = requests.post(f"{proxied.url}/common_return", data=form, headers=kcp_ip, timeout=10)
    assert response.status_code == 200 and OK in response.text
    assert checkout.order_row(order["ordr_idxx"])["status"] == "paid"
    assert _notes(checkout, order["id"])[0]["sender_ip"] == "203.238.36.17"


def test_shop_database_runs_in_wal_mode(checkout):
    assert checkout.db_one("PRAGMA journal_mode")[0] == "wal"


@pytest.mark.parametrize("setting, level", [(None, 2), ("FULL", 2), ("normal", 1), ("EXTRA", 3)])
def test_sqlite_durability_is_set_on_every_connection(make_app, setting, level):
    """synchronous FULL (2) unless SQLITE_SYNCHRONOUS says otherwise, whatever SQLite was built with;
    the pool keeps a connection per worker thread."""
    from shop.extensions import db

    app = make_app(**({"SQLITE_SYNCHRONOUS": setting} if setting else {}))
    with app.app_context():
        connections = [db.engine.raw_connection() for _ in range(3)]  # each a connection of its own
        try:
            assert [c.driver_connection.execute("PRAGMA synchronous").fetchone()[0] for c in connections] == [level] * 3
        finally:
            for c in connections:
                c.close()
        assert db.engine.pool.size() >= 8


def test_sqlite_without_durability_is_refused_at_start(make_app):
    with pytest.raises(ValueError, match="SQLITE_SYNCHRONOUS must be FULL"):
        make_app(SQLITE_SYNCHRONOUS="OFF")


def test_a_refused_sender_is_answered_9999_and_logged_for_staff(make_app):
    """A POST from outside KCP_NOTIFY_IPS changes nothing, is told to retry, and staff can see it."""
    from shop.extensions import db
    from shop.models import NotificationDelivery, NotificationRecord

    app = make_app(KCP_NOTIFY_IPS="203.0.113.9")
    response = app.test_client().post("/common_return", data={
        "site_cd": "T0000", "tno": "20261122000001", "ordr_no": "KRS-SPOOF", "tx_cd": "TX00", "noti_id": "N-SPOOF-1",
        "ipgm_mnyx": "1000", "op_cd": "50", "card_no": "4111111111111111"}, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403 and 'value="9999"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(NotificationRecord).count() == 0
        (delivery,) = db.session.query(NotificationDelivery).all()
        seen = (delivery.outcome, delivery.reply, delivery.sender_ip, delivery.noti_id)
        assert seen == ("rejected", "9999", "127.0.0.1", "N-SPOOF-1")
        assert "card_no" not in delivery.fields  # only 004's fields are kept from a refused body
