"""Order states and the moves allowed between them.

Every status change goes through ``shop.services.transition`` (in shop/models.py's neighbour
``shop.services``), which refuses a move that is not in ``ALLOWED`` and writes a ``StateChange``
row in the same transaction, so the history on the order page is complete by construction.

    pending ──claim──▶ approving ──▶ paid ──▶ partially_refunded ──▶ refunded
       │                  │ │ │ │     │  ▲            │
       ▼                  │ │ │ │     ▼  │ op_cd 13   ▼
    incomplete ◀──────────┘ │ │ └▶ awaiting_deposit   cancelled
       (claim again)        │ └──▶ unknown (timeout: settle by inquiry)
                            └────▶ auto_cancelled (amount mismatch / DB failure, STSC sent)
    any state that holds or may hold money ──▶ needs_attention (staff must look)

Payable states (``PAYABLE``): an order can be claimed for an approval only from ``pending`` or
``incomplete``. A failed attempt that moved no money never closes an order, because anyone who
knows an order number (it is in /orders/<id> URLs) can post a failure for it: a window result
other than 0000 (3001 "user cancelled", or a closed window), or a forged 0000 whose enc_data KCP
refuses. Such an attempt moves the order to ``incomplete``: the buyer who cancelled sees why, and
the buyer's real result, arriving before or after, is still approved. ``incomplete`` is also where
an approval goes back when KCP approved it for ANOTHER order (recorded nowhere, flagged for staff,
see shop.services.checkout). ``failed`` stays final: only staff and reconcile set it, for orders
that must not be paid again.
"""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class OrderStatus(StrEnum):
    """The states of an order (stored as these strings)."""

    PENDING = "pending"                        # created by its first /pp_ax_hub post (or trade registration)
    APPROVING = "approving"                    # one pp_ax_hub request claimed it and is calling KCP
    PAID = "paid"                              # money captured (card, transfer, mobile, or deposit arrived)
    AWAITING_DEPOSIT = "awaiting_deposit"      # virtual account issued, deposit due
    PARTIALLY_REFUNDED = "partially_refunded"  # STPC done, a balance remains
    REFUNDED = "refunded"                      # partial refunds brought the balance to 0
    CANCELLED = "cancelled"                    # full cancel (STSC) by staff
    INCOMPLETE = "incomplete"                  # an attempt failed (window, KCP refusal); no money moved; payable
    FAILED = "failed"                          # closed without payment by staff or reconcile; not payable
    UNKNOWN = "unknown"                        # KCP outcome unknown (timeout): settle by inquiry
    AUTO_CANCELLED = "auto_cancelled"          # approved, then cancelled by us (amount mismatch, DB failure)
    NEEDS_ATTENTION = "needs_attention"        # auto-cancel failed, deposit mismatch, conflicting notification


S = OrderStatus

# The states an approval may claim (pending -> approving): see the module docstring.
PAYABLE = frozenset({S.PENDING, S.INCOMPLETE})

# Where staff may need to step in: anything that holds, held or may hold money.
_FLAGGABLE = (S.INCOMPLETE, S.APPROVING, S.PAID, S.AWAITING_DEPOSIT, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CANCELLED,
              S.UNKNOWN, S.AUTO_CANCELLED, S.FAILED)

ALLOWED: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PENDING: frozenset({S.APPROVING, S.INCOMPLETE, S.FAILED}),
    # Another failed attempt keeps it incomplete (the history row records each one).
    S.INCOMPLETE: frozenset({S.APPROVING, S.INCOMPLETE, S.FAILED, S.NEEDS_ATTENTION}),
    S.APPROVING: frozenset({S.PAID, S.AWAITING_DEPOSIT, S.INCOMPLETE, S.FAILED, S.UNKNOWN, S.AUTO_CANCELLED,
                            S.NEEDS_ATTENTION}),
    S.AWAITING_DEPOSIT: frozenset({S.PAID, S.CANCELLED, S.NEEDS_ATTENTION}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.CANCELLED, S.AWAITING_DEPOSIT, S.NEEDS_ATTENTION}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED, S.NEEDS_ATTENTION}),
    # Settled later by inquiry (flask reconcile / admin): whatever KCP says happened.
    S.UNKNOWN: frozenset({S.PAID, S.AWAITING_DEPOSIT, S.FAILED, S.CANCELLED, S.NEEDS_ATTENTION}),
    # Staff resolve a flagged order to what it really is.
    S.NEEDS_ATTENTION: frozenset({S.PAID, S.AWAITING_DEPOSIT, S.PARTIALLY_REFUNDED, S.REFUNDED, S.CANCELLED,
                                  S.AUTO_CANCELLED, S.FAILED}),
    S.REFUNDED: frozenset({S.NEEDS_ATTENTION}),
    S.CANCELLED: frozenset({S.NEEDS_ATTENTION}),
    S.AUTO_CANCELLED: frozenset({S.NEEDS_ATTENTION}),
    S.FAILED: frozenset({S.NEEDS_ATTENTION}),
}
assert all(S.NEEDS_ATTENTION in ALLOWED[state] for state in _FLAGGABLE)

# Shown to people (every page: shop.formatting.status_label and templates/_macros.html status_badge);
# the stored value stays the English identifier.
LABELS = {
    S.PENDING: _l("Waiting for payment"),
    S.INCOMPLETE: _l("Payment not completed"),
    S.APPROVING: _l("Approving"),
    S.PAID: _l("Paid"),
    S.AWAITING_DEPOSIT: _l("Awaiting deposit"),
    S.PARTIALLY_REFUNDED: _l("Partially refunded"),
    S.REFUNDED: _l("Refunded"),
    S.CANCELLED: _l("Cancelled"),
    S.FAILED: _l("Failed"),
    S.UNKNOWN: _l("Outcome unknown"),
    S.AUTO_CANCELLED: _l("Cancelled automatically"),
    S.NEEDS_ATTENTION: _l("Needs attention"),
}

# The badge colour of each state (CSS classes badge--<tone> in static/css/site.css).
TONES = {
    S.PENDING: "info", S.INCOMPLETE: "warning", S.APPROVING: "info", S.PAID: "success", S.AWAITING_DEPOSIT: "warning",
    S.PARTIALLY_REFUNDED: "info", S.REFUNDED: "neutral", S.CANCELLED: "neutral", S.FAILED: "danger",
    S.UNKNOWN: "warning", S.AUTO_CANCELLED: "neutral", S.NEEDS_ATTENTION: "danger",
}


class TransitionError(Exception):
    """A status change that the table does not allow."""

    def __init__(self, current: str, target: str):
        super().__init__(f"order status cannot move from {current} to {target}")
        self.current = current
        self.target = target


# --- a reviewed refund (shop.models.RefundIntent) ----------------------------------------------------


class IntentStatus(StrEnum):
    """Where a reviewed refund is (stored as these strings); see shop.services.refunds.

        pending ──claim (compare-and-set under the order's lock)──▶ sending ──▶ done
           │                                                          │  ├──▶ failed  (KCP refused it)
           │                                                          │  └──▶ unknown (no usable answer) ──▶ done / failed
           │                                                          │         (sending or unknown: settled by inquiry)
           └──▶ refused (checked again when claimed: nothing sent) ◀──┘ (checked again before the call)
    """

    PENDING = "pending"    # reviewed on the confirmation page; nothing sent
    SENDING = "sending"    # claimed by one request, which sends it to KCP; blocks every other refund of the order
    DONE = "done"          # KCP accepted it (the Refund row holds KCP's answer)
    FAILED = "failed"      # KCP refused it; nothing refunded
    UNKNOWN = "unknown"    # sent, no usable answer; the order needs attention (settle by inquiry)
    REFUSED = "refused"    # refused by the shop when confirmed (balance changed, order closed ...); nothing sent


INTENT_ALLOWED: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.PENDING: frozenset({IntentStatus.SENDING, IntentStatus.REFUSED}),
    IntentStatus.SENDING: frozenset({IntentStatus.DONE, IntentStatus.FAILED, IntentStatus.UNKNOWN, IntentStatus.REFUSED}),
    IntentStatus.DONE: frozenset(),
    IntentStatus.FAILED: frozenset(),
    # Settled later by inquiry (shop.services.refunds.settle_by_inquiry): what KCP's balance says happened.
    IntentStatus.UNKNOWN: frozenset({IntentStatus.DONE, IntentStatus.FAILED}),
    IntentStatus.REFUSED: frozenset(),
}


def can_move(current: str, target: str) -> bool:
    """True when ``current -> target`` is in the table."""
    return OrderStatus(target) in ALLOWED.get(OrderStatus(current), frozenset())


def label(status: str) -> str:
    """The human label of a stored status."""
    try:
        return str(LABELS[OrderStatus(status)])
    except ValueError:
        return status
