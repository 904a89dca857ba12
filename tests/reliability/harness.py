"""Drive the shop the way a browser, KCP's window and KCP's notifier do, over real HTTP, and read
back both sides: the shop's database (through its own models, so SQLite and PostgreSQL alike)
and the sandbox's ledger (KCP's side).

Used by tests/reliability and tests/security (imported as ``reliability.harness``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import select
from support import BUYER, PAY_METHOD, LiveServer, order_form, window_authorize

from kcp.sandbox import engine, ledger
from kcp.sandbox import notifier as sandbox_notifier
from shop.extensions import db
from shop.models import NotificationRecord, Order, Refund

WINDOW_CHOICES = {
    "card": {"sb_card_cd": "CCBC", "sb_quota": "0", "sb_card_no": "4518421234567890"},
    "bank": {"sb_bank_cd": "04"},
    "vbank": {"sb_vbank_cd": "04"},
    "mobile": {"sb_commid": "SKT", "sb_mobile_no": "01012345678", "sb_auth_code": "123456"},
}
OK_REPLY = '<input type="hidden" name="result" value="0000">'
FINAL = ("cancelled", "refunded", "auto_cancelled", "failed")


class LiveShop(LiveServer):
    """The app on a threaded HTTP server at 127.0.0.1; its KCP client and the sandbox notifier
    go through the socket, as they would reach KCP and KCP would reach the shop."""

    # The PC order form is signed (order_token) and its first post creates the order; the phone
    # flow (reliability/test_mobile_channel.py MobileShop) creates it at trade registration instead.
    signs_order_form = True

    def __init__(self, make_app: Callable[..., Any], **overrides: Any) -> None:
        super().__init__(poll_interval=0.05, name="live-shop")
        self.start(make_app(**{**self.sandbox_config(), **overrides}))
        self.http = requests.Session()

    def stop(self) -> None:
        """Shut down, wait for the serving thread and the notifier, release database connections."""
        sandbox_notifier.wait_idle(self.app, 10)
        super().stop()
        with self.app.app_context():
            db.engine.dispose()

    # --- the buyer's side ------------------------------------------------------------------------

    def order_page(self, product: str = "test", http: requests.Session | None = None) -> dict[str, str]:
        """GET /order and return the fields of the KCP form order_info (no order row exists until it is posted)."""
        response = (http or self.http).get(f"{self.url}/order", params={"product": product}, timeout=15)
        assert response.status_code == 200, response.text[:300]
        return order_form(response.text).fields

    def window(self, fields: dict[str, str], method: str = "card", **choice: str) -> dict[str, str]:
        """What the sandbox window hands back when the buyer pays with ``method``."""
        data = {**fields, **BUYER, "pay_method": PAY_METHOD[method], "sb_method": method,
                **WINDOW_CHOICES[method], **choice}
        response = window_authorize(self.url, data, timeout=15)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    @staticmethod
    def completed_form(fields: dict[str, str], result: dict[str, str], method: str = "card") -> dict[str, str]:
        """order_info after GetField copied the window's result into it (what m_Completepayment submits)."""
        data = {**fields, **BUYER, "pay_method": PAY_METHOD[method]}
        data.update({k: v for k, v in result.items() if k in fields})
        return data

    def submit(self, data: dict[str, str], http: requests.Session | None = None) -> requests.Response:
        """POST order_info to /pp_ax_hub (the redirect is not followed)."""
        return (http or self.http).post(f"{self.url}/pp_ax_hub", data=data, allow_redirects=False, timeout=30)

    def prepared(self, product: str = "test", method: str = "card", **choice: str) -> tuple[str, dict[str, str]]:
        """An order page whose window was completed but not yet submitted: (ordr_idxx, form to submit).
        The order is stored by the first submit of that form, not before."""
        fields = self.order_page(product)
        result = self.window(fields, method, **choice)
        assert result["res_cd"] == "0000", result
        return fields["ordr_idxx"], self.completed_form(fields, result, method)

    def placed(self, product: str = "test", http: requests.Session | None = None) -> tuple[str, dict[str, str]]:
        """An order that exists but is unpaid (its buyer closed the window): (ordr_idxx, its order form)."""
        fields = self.order_page(product, http)
        closed = requests.post(f"{self.url}/_sandbox/kcp/window/cancel", data=fields,
                               headers={"Accept": "application/json"}, timeout=15).json()
        response = self.submit(self.completed_form(fields, closed), http)
        assert response.status_code == 303, response.text[:300]
        return fields["ordr_idxx"], fields

    def pay(self, product: str = "test", method: str = "card", **choice: str) -> str:
        """Order page, window, /pp_ax_hub: returns the ordr_idxx."""
        ordr_idxx, data = self.prepared(product, method, **choice)
        response = self.submit(data)
        assert response.status_code == 303, response.text[:300]
        return ordr_idxx

    # --- KCP's side --------------------------------------------------------------------------------

    def deposit_form(self, ordr_idxx: str, amount: int | None = None, op_cd: str = "50") -> dict[str, str]:
        """Record a deposit (or its reversal, op_cd 13) in the ledger; the common_return form KCP would send."""
        tx = engine.find_vbank(self.app, ordr_idxx)
        if op_cd == "13":
            deposited = tx["deposited"]
            tx = engine.record_deposit_cancel(self.app, tx["tno"])
            return sandbox_notifier.build_form(tx, op_cd=op_cd, amount=deposited)
        tx = engine.record_deposit(self.app, tx["tno"], amount if amount is not None else tx["amount"])
        return sandbox_notifier.build_form(tx, op_cd=op_cd, amount=tx["deposited"])

    def notify(self, form: dict[str, str], **headers: str) -> requests.Response:
        """POST a notification to /common_return as KCP does."""
        return requests.post(f"{self.url}/common_return", data=form, headers=headers, timeout=30)

    def ledger_tx(self, ordr_idxx: str) -> dict[str, Any] | None:
        """KCP's transaction of the order (the newest), or None."""
        return ledger.transaction_by_order(self.app, ordr_idxx)

    def ledger_all(self, ordr_idxx: str) -> list[dict[str, Any]]:
        """Every KCP transaction of the order."""
        return [ledger.row_to_transaction(r) for r in
                ledger.read(self.app, "SELECT * FROM transactions WHERE ordr_idxx = ?", (ordr_idxx,))]

    # --- the shop's records ------------------------------------------------------------------------

    def order(self, ordr_idxx: str) -> dict[str, Any]:
        """The stored order as a dict (read fresh); it must exist."""
        found = self.find_order(ordr_idxx)
        assert found is not None, f"no order {ordr_idxx}"
        return found

    def find_order(self, ordr_idxx: str) -> dict[str, Any] | None:
        """The stored order as a dict, or None: an order page's number has no row until its form is posted."""
        with self.app.app_context():
            row = db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one_or_none()
            return {c.name: getattr(row, c.name) for c in Order.__table__.columns} if row is not None else None

    def untouched(self, ordr_idxx: str) -> bool:
        """A refused first post left nothing behind: the order form's number has no row yet."""
        return self.find_order(ordr_idxx) is None

    def notifications(self, ordr_idxx: str) -> list[dict[str, Any]]:
        """The stored notifications of an order number, oldest first."""
        with self.app.app_context():
            rows = db.session.execute(select(NotificationRecord).where(NotificationRecord.ordr_no == ordr_idxx)
                                      .order_by(NotificationRecord.id)).scalars()
            return [{c.name: getattr(r, c.name) for c in NotificationRecord.__table__.columns} for r in rows]

    def refunds(self, ordr_idxx: str) -> list[dict[str, Any]]:
        """The stored refunds of an order."""
        with self.app.app_context():
            rows = db.session.execute(select(Refund).join(Order).where(Order.ordr_idxx == ordr_idxx)
                                      .order_by(Refund.id)).scalars()
            return [{c.name: getattr(r, c.name) for c in Refund.__table__.columns} for r in rows]

    def history(self, ordr_idxx: str) -> list[tuple[str, str]]:
        """(from, to) of every recorded state change of the order."""
        with self.app.app_context():
            order = db.session.execute(select(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one()
            return [(h.from_status, h.to_status) for h in order.history]

    def snapshot(self) -> dict[str, tuple[str, int, int]]:
        """Every order: ordr_idxx -> (status, paid_amount, refunded_amount)."""
        with self.app.app_context():
            return {o.ordr_idxx: (o.status, o.paid_amount, o.refunded_amount)
                    for o in db.session.execute(select(Order)).scalars()}


def run_at_once(count: int, action: Callable[[int], Any], timeout: float = 60) -> list[Any]:
    """Run ``action(i)`` on ``count`` threads released together by a barrier; results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(i: int) -> None:
        """Wait for every thread, then act."""
        barrier.wait(timeout)
        try:
            results[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - returned to the test, which asserts on it
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a concurrent request never finished"
    return results


@dataclass
class LedgerCheck:
    """Every KCP transaction of the shop's orders ends recorded or cancelled (nothing lost)."""

    problems: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, shop: LiveShop) -> LedgerCheck:
        """Compare every ledger transaction with the shop's order of the same number."""
        check = cls()
        snapshot = shop.snapshot()
        with shop.app.app_context():
            orders = {o.ordr_idxx: o for o in db.session.execute(select(Order)).scalars()}
            for row in ledger.read(shop.app, "SELECT * FROM transactions"):
                tx = ledger.row_to_transaction(row)
                order = orders.get(tx["ordr_idxx"])
                status = snapshot.get(tx["ordr_idxx"], ("-",))[0]
                if tx["shop_status"] == "STSC":
                    continue  # cancelled at KCP: no money held
                if order is None:
                    check.problems.append(f"tno {tx['tno']}: approved at KCP for an order the shop does not have")
                elif order.tno != tx["tno"] and status != "needs_attention":
                    check.problems.append(f"tno {tx['tno']}: approved at KCP but order {tx['ordr_idxx']} records "
                                          f"tno {order.tno} in state {status}")
                elif order.tno == tx["tno"] and status in ("failed", "auto_cancelled", "cancelled", "pending"):
                    check.problems.append(f"tno {tx['tno']}: live at KCP ({tx['shop_status']}) but the order is {status}")
        return check
