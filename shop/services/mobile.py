"""The smartphone checkout (shared/kcp-docs/005) around the one approval path.

* ``register_trade``: the buyer picked a method and pressed pay. The order is created here, with
  the catalog's amount, BEFORE KCP is first called; then KCP registers the trade for exactly that
  amount (``/std/tradeReg/register``). One call per payment attempt. A refusal or no answer fails
  this attempt's order (nothing can have been charged: without the registration's key there is
  no payment page) and says why.
* Back from KCP's page at ``Ret_URL`` (``POST /order_mobile``): a result with ``res_cd`` 0000 is
  approved by ``shop.services.checkout.approve_from_window``, the very function ``/pp_ax_hub``
  uses (amount from the stored order as ``ordr_mony``, the claim that approves once, the
  automatic cancel). Anything else (the buyer cancelled, 3001, or KCP's page failed) moves no
  money, so ``returned_without_payment`` changes nothing at all: the order stays as it was (a
  forged "failure" post can neither fail an order nor stop it being paid) and the buyer is shown
  KCP's code and message on the order's page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from kcp.errors import KcpApiError, KcpOutcomeUnknown, KcpTransportError
from kcp.mobile import MobileMethod
from kcp.results import TradeRegistration
from shop.catalog import Product
from shop.extensions import db
from shop.messages import N_, SYSTEM, KcpMessage, Reason, reason
from shop.models import Order
from shop.runtime import get_kcp
from shop.services import exchanges, lock_order, transition
from shop.services.checkout import OrderNotFound, create_order
from shop.states import OrderStatus

log = logging.getLogger("shop.mobile")


class RegistrationFailed(Exception):
    """KCP did not register the trade: the buyer is told why; nothing was charged."""

    def __init__(self, ordr_idxx: str, message: str, res_cd: str = ""):
        super().__init__(message)
        self.ordr_idxx = ordr_idxx
        self.message = message
        self.res_cd = res_cd


@dataclass(frozen=True)
class Registered:
    """A registered payment attempt: the order it belongs to and KCP's answer."""

    ordr_idxx: str
    amount: int
    trade: TradeRegistration
    ret_url: str


def _clip(value: str | None, length: int) -> str:
    """A text value trimmed and cut to the column's length."""
    return (value or "").strip()[:length]


def register_trade(product: Product, method: MobileMethod, buyer: Mapping[str, str], *, ret_url: str,
                   user_agent: str = "") -> Registered:
    """Create the order (server amount, the buyer's details), then register it with KCP once."""
    order = create_order(product)
    order_id, ordr_idxx, amount = order.id, order.ordr_idxx, order.amount
    order = lock_order(order_id)
    order.buyer_name = _clip(buyer.get("buyr_name"), 30)
    order.buyer_email = _clip(buyer.get("buyr_mail"), 100)
    order.buyer_phone = _clip(buyer.get("buyr_tel2"), 20)
    db.session.commit()

    kcp = get_kcp()
    with exchanges.for_order(order_id):
        try:
            trade = kcp.client.trade_register(ordr_idxx=ordr_idxx, good_mny=amount, good_name=product.name,
                                              pay_method=method.pay_method, ret_url=ret_url, user_agent=user_agent,
                                              site_cd=kcp.config.site_cd)
        except KcpApiError as exc:
            message = KcpMessage.of(exc)  # stored in both languages, shown in the reader's
            _fail(order_id, result=(exc.res_cd, message),
                  cause=Reason(N_("KCP refused the trade registration: [%(res_cd)s] %(res_msg)s"),
                               res_cd=exc.res_cd, res_msg=message))
            raise RegistrationFailed(ordr_idxx, _("KCP did not accept this payment: [%(res_cd)s] %(res_msg)s",
                                                  res_cd=exc.res_cd, res_msg=reason(message)), exc.res_cd) from exc
        except (KcpOutcomeUnknown, KcpTransportError) as exc:
            log.warning("order %s: trade registration without a usable answer (%s)", ordr_idxx, exc)
            _fail(order_id, result=("", str(exc)),
                  cause=Reason(N_("no usable answer to the trade registration (timeout or transport error); "
                                  "nothing was charged")))
            raise RegistrationFailed(ordr_idxx, _("KCP did not answer in time. Nothing was charged.")) from exc
        order = lock_order(order_id)
        exchanges.save_pending()
        db.session.commit()
    log.info("order %s: trade registered (%s, traceNo %s)", ordr_idxx, method.pay_method, trade.trace_no)
    return Registered(ordr_idxx=ordr_idxx, amount=amount, trade=trade, ret_url=ret_url)


def _fail(order_id: int, *, result: tuple[str, str | KcpMessage], cause: Reason) -> None:
    """This attempt's order ends failed (no payment page was ever opened for it)."""
    order = lock_order(order_id)
    order.set_result(*result)
    transition(order, OrderStatus.FAILED, actor=SYSTEM, cause=cause)
    exchanges.save_pending()
    db.session.commit()


def returned_without_payment(form: Mapping[str, str]) -> str:
    """KCP's page came back with a cancel or a failure: change nothing; the order number to show.

    Nothing is written on purpose: this post arrives without any proof that KCP sent it (no
    cookie, no CSRF token), and a result other than 0000 carries nothing to approve. Whatever
    state the order is in stays; a pending order can still be paid.
    """
    ordr_idxx = _clip(form.get("ordr_idxx"), 40)
    found = db.session.execute(select(Order.status).where(Order.ordr_idxx == ordr_idxx)).first()
    db.session.rollback()  # a read: end it, no transaction stays open
    if found is None:
        raise OrderNotFound(_("There is no order with this number."), status=404)
    log.info("order %s: KCP's payment page returned res_cd %s; nothing to approve, order stays %s",
             ordr_idxx, _clip(form.get("res_cd"), 10) or "-", found.status)
    return ordr_idxx
