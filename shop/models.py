"""The shop's tables: orders, the KCP payment of each, refunds, notifications, state history and
the KCP exchanges behind them ("under the hood").

Amounts are integers in the order's currency unit (won, or cents for USD). The payment row keeps
every field KCP documents for the method as a column, plus the whole (masked) answer as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.extensions import db
from shop.messages import KCP_MESSAGE, KcpMessage, Reason
from shop.states import IntentStatus, OrderStatus


def utcnow() -> dt.datetime:
    """The current time in UTC (stored naive, as SQLite keeps it)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)

# Amounts a deposit decides (notified deposits, what was paid, refunded and refundable): 004 gives a
# deposit 12 digits, past PostgreSQL's 32-bit INTEGER. SQLite's INTEGER already holds 64 bits.
WON = BigInteger().with_variant(Integer(), "sqlite")


class Order(db.Model):
    """One purchase: made by the order page, moved through OrderStatus by the services."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    ordr_idxx: Mapped[str] = mapped_column(String(40), unique=True)
    product_id: Mapped[str] = mapped_column(String(40))
    good_name: Mapped[str] = mapped_column(String(100))
    amount: Mapped[int] = mapped_column(Integer)            # the one amount sent as ordr_mony and checked
    currency: Mapped[str] = mapped_column(String(3), default="410")
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.PENDING, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")   # message id, see shop.messages
    status_reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: text shown as stored
    pay_method: Mapped[str | None] = mapped_column(String(12))   # card / bank / vbank / mobile once known
    tno: Mapped[str | None] = mapped_column(String(20), index=True)
    result_code: Mapped[str | None] = mapped_column(String(10))  # last KCP/window res_cd worth showing
    result_msg: Mapped[str | None] = mapped_column(Text)         # KCP's message or one of ours (message id), or data
    result_msg_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: result_msg is data, shown as stored
    paid_amount: Mapped[int] = mapped_column(WON, default=0)       # money KCP captured for us
    refunded_amount: Mapped[int] = mapped_column(WON, default=0)   # money given back (done refunds)
    buyer_name: Mapped[str] = mapped_column(String(30), default="")
    buyer_email: Mapped[str] = mapped_column(String(100), default="")
    buyer_phone: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    payment: Mapped[Payment | None] = relationship(back_populates="order", uselist=False)
    refunds: Mapped[list[Refund]] = relationship(back_populates="order", order_by="Refund.id")
    history: Mapped[list[StateChange]] = relationship(back_populates="order", order_by="StateChange.id")
    notifications: Mapped[list[NotificationRecord]] = relationship(back_populates="order",
                                                                   order_by="NotificationRecord.id")
    exchanges: Mapped[list[KcpExchange]] = relationship(back_populates="order", order_by="KcpExchange.id")

    def set_result(self, code: str | None, message: str | Reason | KcpMessage | None) -> None:
        """The result worth showing: KCP's message in both its languages (a KcpMessage), one of our
        messages (a Reason), or text shown as it came (data: the window's res_msg)."""
        self.result_code = code
        if isinstance(message, KcpMessage):
            message = Reason(KCP_MESSAGE, res_msg=message)
        if isinstance(message, Reason):
            self.result_msg, self.result_msg_params = message.stored()
        else:
            self.result_msg, self.result_msg_params = message, None

    @property
    def balance(self) -> int:
        """What can still be refunded: captured minus refunded."""
        return self.paid_amount - self.refunded_amount

    def __repr__(self) -> str:
        """Short form for logs (no buyer data)."""
        return f"<Order {self.ordr_idxx} {self.status} {self.amount}>"


class Payment(db.Model):
    """The approved KCP transaction of an order, with every documented return field per method."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)  # one approval per order
    tno: Mapped[str] = mapped_column(String(20), unique=True)
    pay_method: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(Integer)
    res_cd: Mapped[str] = mapped_column(String(10))
    res_msg: Mapped[str] = mapped_column(Text, default="")
    res_en_msg: Mapped[str] = mapped_column(Text, default="")
    app_time: Mapped[str | None] = mapped_column(String(14))
    # card
    card_cd: Mapped[str | None] = mapped_column(String(8))
    card_name: Mapped[str | None] = mapped_column(String(40))
    card_no: Mapped[str | None] = mapped_column(String(32))    # masked, as KCP returns it
    app_no: Mapped[str | None] = mapped_column(String(16))
    quota: Mapped[int | None] = mapped_column(Integer)
    noinf: Mapped[str | None] = mapped_column(String(1))
    card_mny: Mapped[int | None] = mapped_column(Integer)
    coupon_mny: Mapped[int | None] = mapped_column(Integer)
    partcanc_yn: Mapped[str | None] = mapped_column(String(1))
    acqu_cd: Mapped[str | None] = mapped_column(String(8))
    acqu_name: Mapped[str | None] = mapped_column(String(40))
    # bank transfer and virtual account
    bankname: Mapped[str | None] = mapped_column(String(40))
    bankcode: Mapped[str | None] = mapped_column(String(8))
    bk_mny: Mapped[int | None] = mapped_column(Integer)
    cash_authno: Mapped[str | None] = mapped_column(String(20))
    cash_no: Mapped[str | None] = mapped_column(String(20))
    account: Mapped[str | None] = mapped_column(String(30))
    va_date: Mapped[str | None] = mapped_column(String(14))
    depositor: Mapped[str | None] = mapped_column(String(40))
    # mobile
    commid: Mapped[str | None] = mapped_column(String(8))
    mobile_no: Mapped[str | None] = mapped_column(String(20))
    van_cd: Mapped[str | None] = mapped_column(String(8))
    van_id: Mapped[str | None] = mapped_column(String(8))
    # everything else the method returned (masked), so no documented field is ever lost
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="payment")


class Refund(db.Model):
    """One full (STSC) or partial (STPC) cancel request and its KCP answer."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    mod_type: Mapped[str] = mapped_column(String(4))               # STSC or STPC
    amount: Mapped[int] = mapped_column(WON)                   # mod_mny (STSC: the whole balance)
    balance_before: Mapped[int] = mapped_column(WON)           # rem_mny sent: the balance BEFORE this refund
    balance_after: Mapped[int | None] = mapped_column(WON)     # KCP's rem_mny in the answer
    status: Mapped[str] = mapped_column(String(10))                # done / failed / unknown
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(60), default="")
    res_cd: Mapped[str | None] = mapped_column(String(10))
    res_msg: Mapped[str | None] = mapped_column(Text)
    mod_pacn_seq_no: Mapped[str | None] = mapped_column(String(30))
    canc_time: Mapped[str | None] = mapped_column(String(14))
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="refunds")

    @property
    def kcp_message(self) -> KcpMessage:
        """KCP's answer in both its languages: ``res_msg`` as stored, ``res_en_msg`` from the raw answer
        (refunds stored before this read the same way); an unknown outcome's error text stays as it is."""
        return KcpMessage(self.res_msg, str((self.raw or {}).get("res_en_msg") or ""))


class RefundIntent(db.Model):
    """A refund staff reviewed, and the one thing its confirmation form carries: ``token``.

    Made at review time (``shop.services.refunds.review``) with what the confirmation page shows:
    full cancel or partial, the amount (``mod_mny``) and the balance it was reviewed against
    (sent as ``rem_mny``). Confirming claims it by compare-and-set under the order's lock
    (pending -> sending, committed before KCP is called): however often and however concurrently
    one confirmation arrives, one request claims it and sends it; every other copy finds it
    claimed and is shown the result of the one that ran. The claim re-checks the balance under
    the lock, so a refund reviewed against a balance that has changed is refused, never sent.

    A ``sending`` intent blocks every other refund of the order until it ends (one refund at a
    time even across the claim's commit); one left ``sending`` by a crashed process stays visible
    to staff. ``refund_id``: the KCP request it produced (done / failed / unknown).
    ``refund()`` without a review makes one already claimed. States: shop.states.IntentStatus.
    """

    __tablename__ = "refund_intents"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)     # random; the confirmation form's only value
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    full: Mapped[bool] = mapped_column(default=False)              # staff asked for everything (full cancel)
    mod_type: Mapped[str] = mapped_column(String(4))               # STSC or STPC, as reviewed
    amount: Mapped[int] = mapped_column(WON)                   # mod_mny
    balance_before: Mapped[int] = mapped_column(WON)           # the reviewed balance (rem_mny of an STPC)
    reason: Mapped[str] = mapped_column(Text, default="")          # mod_desc, as staff typed it
    actor: Mapped[str] = mapped_column(String(60), default="")     # who reviewed it
    status: Mapped[str] = mapped_column(String(10), default=IntentStatus.PENDING, index=True)
    note: Mapped[str] = mapped_column(Text, default="")            # why refused (message id, see shop.messages)
    note_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"))
    confirmed_by: Mapped[str] = mapped_column(String(60), default="")  # who confirmed (claimed) it
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship()
    refund: Mapped[Refund | None] = relationship()


class NotificationRecord(db.Model):
    """A common_return POST from KCP, stored raw and parsed, keyed by its noti_id.

    The text fields are decoded from KCP's bytes (EUC-KR by default, kcp.notify.decode_form) and
    cut to their columns if need be; ``raw_body`` keeps the bytes exactly as received, so the
    original can always be read again, and ``text_flags`` says when a field was cut
    (``truncated``) or held bytes the charset could not read (``replaced``).
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("noti_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    noti_id: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    site_cd: Mapped[str] = mapped_column(String(10), default="")
    tno: Mapped[str] = mapped_column(String(20), default="")
    ordr_no: Mapped[str] = mapped_column(String(40), default="")
    tx_cd: Mapped[str] = mapped_column(String(8), default="")
    tx_tm: Mapped[str] = mapped_column(String(16), default="")
    op_cd: Mapped[str] = mapped_column(String(4), default="")
    kind: Mapped[str] = mapped_column(String(16))                  # deposit / deposit_cancel / unknown
    ipgm_name: Mapped[str] = mapped_column(String(40), default="")
    ipgm_mnyx: Mapped[int | None] = mapped_column(WON)
    totl_mnyx: Mapped[int | None] = mapped_column(WON)
    ipgm_time: Mapped[str] = mapped_column(String(14), default="")
    bank_code: Mapped[str] = mapped_column(String(8), default="")
    account: Mapped[str] = mapped_column(String(30), default="")
    remitter: Mapped[str] = mapped_column(String(40), default="")
    cash_a_no: Mapped[str] = mapped_column(String(20), default="")
    sender_ip: Mapped[str] = mapped_column(String(45), default="")
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raw_body: Mapped[bytes | None] = mapped_column(LargeBinary)     # the POST body, byte for byte
    charset: Mapped[str] = mapped_column(String(16), default="")     # what the text was read as (cp949, utf-8, ascii)
    text_flags: Mapped[str] = mapped_column(String(32), default="")  # "", truncated, replaced (comma-separated)
    # applied / deferred (order still approving) / flagged (staff) / unmatched / unknown
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(Text, default="")             # message id, see shop.messages
    note_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[dt.datetime | None] = mapped_column()

    order: Mapped[Order | None] = relationship(back_populates="notifications")


class NotificationDelivery(db.Model):
    """Every POST to /common_return, kept or not: who sent it, what we answered and why.

    ``NotificationRecord`` holds one row per noti_id (what gets applied); this log also keeps the
    duplicates KCP re-sends, the senders we refused and the bodies we could not parse or store, so
    staff can see every delivery and its reply.
    """

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sender_ip: Mapped[str] = mapped_column(String(45), default="")
    noti_id: Mapped[str] = mapped_column(String(40), default="")
    tno: Mapped[str] = mapped_column(String(40), default="")
    ordr_no: Mapped[str] = mapped_column(String(40), default="")
    # stored / duplicate / rejected (sender not allowed) / malformed / store_failed
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")           # message id, see shop.messages
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reply: Mapped[str] = mapped_column(String(4))          # the result value we answered: 0000 or 9999
    http_status: Mapped[int] = mapped_column(Integer)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # known 004 fields only, masked, truncated
    # A POST from a KCP address that could not be stored (malformed, store_failed): its body, so a
    # lost notification can be read again. Never kept for refused senders.
    raw_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # How many refused POSTs from this sender this row stands for (refusals are logged once per
    # sender per window, shop.views.notify); 1 for everything else.
    repeats: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    record: Mapped[NotificationRecord | None] = relationship()


class StateChange(db.Model):
    """One move of an order's status: from, to, why, who, when."""

    __tablename__ = "state_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    cause: Mapped[str] = mapped_column(Text, default="")            # message id, see shop.messages
    cause_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # None: text shown as stored
    actor: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="history")


class KcpExchange(db.Model):
    """A masked request/response with KCP (API call or what the payment window returned)."""

    __tablename__ = "kcp_exchanges"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))          # api / window
    api: Mapped[str] = mapped_column(String(30))
    url: Mapped[str] = mapped_column(Text, default="")
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    http_status: Mapped[int | None] = mapped_column(Integer)
    elapsed_ms: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    order: Mapped[Order | None] = relationship(back_populates="exchanges")

    def pretty(self, which: str) -> str:
        """The request or response as indented JSON for display."""
        value = self.request if which == "request" else self.response
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) if value is not None else ""
