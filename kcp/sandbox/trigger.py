"""``trigger``: send any KCP notification (004 "6 공통통보 페이지", common_return) to any URL.

What ``stripe trigger`` is to Stripe users: no order or virtual account needs to exist, every field
the options leave out is made up, and the reply is judged exactly as KCP judges it (the body must
hold ``<input type="hidden" name="result" value="0000">``, or KCP tries again, up to 10 times).

Kinds (``KINDS``):

* ``deposit``         - the whole amount arrives (op_cd 50, same bank; ``--op-cd 18`` other bank);
* ``partial-deposit`` - less than the order's amount arrives (004: KCP notifies what was really paid);
* ``excess-deposit``  - more than the order's amount arrives;
* ``reversal``        - the bank cancels a deposit (op_cd 13);
* ``duplicate``       - the same deposit twice with the same ``noti_id`` (a KCP retry): both replies must be 0000.

The form is EUC-KR by default (KCP's default; written with code page 949) or UTF-8, with no charset
in the Content-Type unless ``declare_charset`` asks for one (004 says nothing about it). Used by
``flask sandbox trigger``, ``python -m kcp.sandbox trigger`` and the sandbox console's trigger page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import click
import requests

from . import ledger, notifier

KINDS = ("deposit", "partial-deposit", "excess-deposit", "reversal", "duplicate")
DEFAULT_ORDER_AMOUNT = 10_000
DEFAULT_DEPOSITOR = "홍길동"
FIELD_ORDER = ("site_cd", "tno", "ordr_no", "tx_cd", "tx_tm", "ipgm_name", "ipgm_mnyx", "totl_mnyx", "ipgm_time",
               "bank_code", "account", "noti_id", "op_cd", "remitter", "cash_a_no")


@dataclass(frozen=True)
class Reply:
    """One POST and how KCP would judge its reply."""

    status: int | None
    body: str
    accepted: bool
    outcome: str

    @property
    def verdict(self) -> str:
        """One line a person reads: does this reply count as 0000?"""
        if self.accepted:
            return "counts as 0000: KCP would mark the notification delivered and stop trying"
        return f"does NOT count as 0000 ({self.outcome}): KCP would send it again, up to 10 tries in 24 hours"


def amount_for(kind: str, order_amount: int, amount: int | None) -> int:
    """The deposited amount (ipgm_mnyx) of ``kind`` for an order of ``order_amount`` won."""
    if amount is not None:
        return amount
    if kind == "partial-deposit":
        return max(1, order_amount // 2)
    if kind == "excess-deposit":
        return order_amount + 1_000
    return order_amount


def build_form(kind: str, *, site_cd: str = "T0000", ordr_no: str = "", tno: str = "", order_amount: int = DEFAULT_ORDER_AMOUNT,
               amount: int | None = None, depositor: str = DEFAULT_DEPOSITOR, ipgm_name: str = "", op_cd: str = "",
               noti_id: str = "", bank_code: str = "11", account: str = "", cash_a_no: str = "",
               fields: Mapping[str, str] | None = None) -> dict[str, str]:
    """The common_return form of one notification: the given values, every other field made up.

    ``fields`` (any name, documented or not) overrides everything else, last.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if order_amount <= 0 or (amount is not None and amount <= 0):
        raise ValueError("amounts are whole won, more than 0")
    now = ledger.kcp_time()
    deposited = amount_for(kind, order_amount, amount)
    form = {
        "site_cd": site_cd, "tno": tno or ledger.now_kst().strftime("%y%m%d") + ledger.digits(8),
        "ordr_no": ordr_no or f"TRIGGER-{now}-{ledger.digits(4)}", "tx_cd": "TX00", "tx_tm": now,
        "ipgm_name": ipgm_name or depositor, "ipgm_mnyx": str(deposited), "totl_mnyx": str(deposited), "ipgm_time": now,
        "bank_code": bank_code, "account": account or ledger.digits(14), "noti_id": noti_id or notifier.new_noti_id(),
        "op_cd": op_cd or (notifier.OP_CANCEL if kind == "reversal" else notifier.OP_DEPOSIT_SAME_BANK),
        "remitter": depositor[:14], "cash_a_no": cash_a_no,
    }
    form.update({str(k): str(v) for k, v in (fields or {}).items()})
    return form


def send(url: str, form: Mapping[str, str], *, charset: str = "euc-kr", declare_charset: bool = False,
         timeout: float = 10.0) -> Reply:
    """POST the form once, encoded as ``charset``; the reply judged as KCP judges it."""
    body = notifier.encode_form(dict(form), charset, errors="strict")
    content_type = notifier.FORM_CONTENT_TYPE + (f"; charset={charset}" if declare_charset else "")
    try:
        reply = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=timeout,
                              allow_redirects=False)
    except requests.RequestException as exc:
        return Reply(None, "", False, f"no answer: {type(exc).__name__}")
    text = reply.text
    if notifier.reply_accepted(text):
        return Reply(reply.status_code, text, True, "result=0000")
    found = notifier.reply_result(text)
    return Reply(reply.status_code, text, False,
                 f"HTTP {reply.status_code}, " + (f"result={found}" if found is not None else "no result input in the reply"))


def send_with_retries(url: str, form: Mapping[str, str], *, charset: str, schedule: Iterable[float],
                      declare_charset: bool = False, timeout: float = 10.0,
                      on_try: Callable[[int, int, Reply], None] | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> list[Reply]:
    """Try on ``schedule`` (seconds to wait before each try, at most 10) until a reply counts as 0000."""
    waits = list(schedule)[:notifier.MAX_TRIES] or [0.0]
    replies: list[Reply] = []
    for try_no, wait in enumerate(waits, start=1):
        if wait:
            sleep(wait)
        reply = send(url, form, charset=charset, declare_charset=declare_charset, timeout=timeout)
        replies.append(reply)
        if on_try is not None:
            on_try(try_no, len(waits), reply)
        if reply.accepted:
            break
    return replies


def forms_of(kind: str, **options: object) -> list[dict[str, str]]:
    """The forms one trigger sends: one, or the same form twice for ``duplicate``."""
    form = build_form(kind, **options)  # type: ignore[arg-type]
    return [form, dict(form)] if kind == "duplicate" else [form]


# -- the command line (flask sandbox trigger, python -m kcp.sandbox trigger) -------------------------

def _field(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """--field NAME=VALUE (repeatable) as a dict."""
    out = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r}: expected NAME=VALUE", ctx=ctx, param=param)
        out[name.strip()] = text
    return out


def _schedule(ctx: click.Context, param: click.Parameter, value: str) -> list[float]:
    """--schedule 0,2,5,... as seconds."""
    try:
        waits = [max(0.0, float(part)) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r}: seconds separated by commas, e.g. 0,2,5,10", ctx=ctx, param=param) from None
    return waits[:notifier.MAX_TRIES] or [0.0]


def make_trigger_command(name: str = "trigger") -> click.Command:
    """The ``trigger`` command: the same options in ``flask sandbox`` and in ``python -m kcp.sandbox``."""

    @click.command(name, help="Send any KCP notification (common_return, 004) to URL and say whether the reply counts "
                              "as 0000, as KCP judges it (exit 1 when it does not). Every field the options leave out "
                              "is made up; no order needs to exist.\n\nKIND is one of: " + ", ".join(KINDS) + ".")
    @click.argument("kind", type=click.Choice(KINDS))
    @click.argument("url", required=False)
    @click.option("--url", "url_option", metavar="URL", help="The common_return URL (instead of the URL argument).")
    @click.option("--charset", type=click.Choice(notifier.CHARSETS), default="euc-kr", show_default=True,
                  help="How the form is encoded (KCP's default is EUC-KR; UTF-8 when the merchant chose it).")
    @click.option("--declare-charset", is_flag=True,
                  help="Add '; charset=...' to the Content-Type (KCP's documents say nothing).")
    @click.option("--depositor", default=DEFAULT_DEPOSITOR, show_default=True, help="remitter (and ipgm_name unless given).")
    @click.option("--ipgm-name", default="", help="ipgm_name, the orderer's name (default: the depositor).")
    @click.option("--site-cd", default="T0000", show_default=True, help="site_cd.")
    @click.option("--ordr-no", default="", help="ordr_no, the shop's order number (default: made up).")
    @click.option("--tno", default="", help="tno (default: made up).")
    @click.option("--order-amount", type=click.IntRange(min=1), default=DEFAULT_ORDER_AMOUNT, show_default=True,
                  help="The order's amount; partial and excess deposits are computed from it.")
    @click.option("--amount", type=click.IntRange(min=1), default=None, help="ipgm_mnyx/totl_mnyx (default: from the kind).")
    @click.option("--op-cd", type=click.Choice(["50", "18", "13"]), default=None,
                  help="op_cd (default: 50, or 13 for a reversal).")
    @click.option("--noti-id", default="", help="noti_id (default: a fresh 20-digit one).")
    @click.option("--bank-code", default="11", show_default=True, help="bank_code (004's bank table).")
    @click.option("--account", default="", help="account (default: made up).")
    @click.option("--cash-a-no", default="", help="cash_a_no, the cash receipt number.")
    @click.option("--field", "fields", multiple=True, callback=_field, metavar="NAME=VALUE",
                  help="Any field, documented or not (repeatable; wins over the options above).")
    @click.option("--retry", is_flag=True, help="Try again on KCP's schedule until a reply counts as 0000 (at most 10 tries).")
    @click.option("--schedule", default=",".join(f"{s:g}" for s in notifier.DEFAULT_SCHEDULE), callback=_schedule,
                  show_default=True, help="With --retry: seconds to wait before each try.")
    @click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for each reply.")
    def trigger(kind: str, url: str | None, url_option: str | None, **opts: Any) -> None:
        """Send one KCP notification and say whether the reply counts as 0000 (exit 1 when not)."""
        target = url_option or url
        if not target:
            raise click.UsageError("give the common_return URL as an argument or with --url")
        if not target.startswith(("http://", "https://")):
            raise click.BadParameter(f"{target!r} is not an http(s) URL", param_hint="URL")
        charset, declare_charset = opts.pop("charset"), opts.pop("declare_charset")
        retry, schedule, timeout = opts.pop("retry"), opts.pop("schedule"), opts.pop("timeout")
        opts["op_cd"] = opts["op_cd"] or ""
        try:
            forms = forms_of(kind, **opts)
            for form in forms:
                notifier.encode_form(form, charset, errors="strict")
        except UnicodeEncodeError as exc:
            raise click.ClickException(f"{exc.object[exc.start:exc.end]!r} cannot be written in {charset}; "
                                       "use --charset utf-8") from exc
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        all_accepted = True
        for number, form in enumerate(forms, start=1):
            label = f" (copy {number} of {len(forms)}, same noti_id)" if len(forms) > 1 else ""
            click.echo(f"POST {target}{label}  [{kind}, {charset}{', declared' if declare_charset else ''}]")
            for key in [*FIELD_ORDER, *(k for k in form if k not in FIELD_ORDER)]:
                if key in form:
                    click.echo(f"  {key} = {form[key]}")

            def show(try_no: int, total: int, reply: Reply) -> None:
                """Print one try."""
                status = reply.status if reply.status is not None else "-"
                excerpt = " ".join(reply.body.split())[:300]
                click.echo(f"  try {try_no}/{total}: HTTP {status}; reply: {excerpt or '(empty)'}")

            waits = schedule if retry else [0.0]
            replies = send_with_retries(target, form, charset=charset, schedule=waits, declare_charset=declare_charset,
                                        timeout=timeout, on_try=show)
            last = replies[-1]
            click.echo(f"VERDICT: {last.verdict}")
            all_accepted = all_accepted and last.accepted
        if not all_accepted:
            click.get_current_context().exit(1)

    return trigger
