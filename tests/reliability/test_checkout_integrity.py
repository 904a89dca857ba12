"""What a clumsy or hostile client can post to /pp_ax_hub, over real HTTP to a threaded server with
the sandbox reached over HTTP too (issue 14, items 4, 5, 6, 10; issue 16, item 4):

* viewing the order page stores nothing; the first post of its form creates the order, once,
  however many copies arrive at once; a forged, expired or outdated form is refused before KCP;
* every post carries the form's order_token: without it (someone who knows only an order number)
  it is refused before KCP, whatever it says (issue 18);
* a window result posted under another order's number (by a buyer holding both forms) is recorded
  nowhere and never cancelled; a tno is never recorded twice;
* a forged failure (window 3001, or a 0000 whose enc_data KCP refuses) never stops the buyer's
  real payment;
* a currency other than the order's, or 004's forbidden characters in the buyer's fields, are
  refused before KCP.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text

from kcp.sandbox import ledger
from reliability.harness import LiveShop, run_at_once
from shop import catalog
from shop.audit import AuditLog
from shop.extensions import db
from shop.models import KcpExchange, Order, Payment
from shop.services.checkout import create_order


def _tables_with_rows(shop: LiveShop) -> dict[str, int]:
    """Every table of the shop's database that holds a row, with its count."""
    with shop.app.app_context():
        counts = {name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
                  for name, table in db.metadata.tables.items()}
    return {name: n for name, n in counts.items() if n}


def _apis(shop: LiveShop, ordr_idxx: str) -> list[str]:
    """The KCP exchanges recorded for the order, in order (window, approve, inquire, cancel ...)."""
    with shop.app.app_context():
        return list(db.session.execute(select(KcpExchange.api).join(Order).where(Order.ordr_idxx == ordr_idxx)
                                       .order_by(KcpExchange.id)).scalars())


def _authorization_used(shop: LiveShop, ordr_idxx: str) -> list[Any]:
    """The sandbox window's authorizations of the order: when each was used at KCP (None: never)."""
    return [row["used_at"] for row in ledger.read(shop.app, "SELECT used_at FROM authorizations WHERE ordr_idxx = ?",
                                                  (ordr_idxx,))]


def _in_english(shop: LiveShop) -> LiveShop:
    """The buyer's browser picks English (the assertions read the English sentences)."""
    shop.http.get(f"{shop.url}/", params={"lang": "en"}, timeout=10)
    return shop


def _without_token(form: dict[str, str]) -> dict[str, str]:
    """The form as someone who knows only the order number (it is in /orders/<id> URLs) would post it."""
    return {k: v for k, v in form.items() if k != "order_token"}


def _strip_order_number_from_approvals(shop: LiveShop) -> None:
    """Make the sandbox's approval answers look like 000 documents them: no ordr_idxx in them.

    A response hook on the shop's own HTTP session to KCP: the answer still travels over HTTP, the
    shop just no longer finds the (undocumented) field the sandbox adds."""

    def strip(response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        if response.request.url.endswith("/gw/enc/v1/payment") and response.content:
            body = json.loads(response.content)
            body.pop("ordr_idxx", None)
            response._content = json.dumps(body).encode()  # noqa: SLF001 - what a hook may do
        return response

    shop.app.extensions["kcp"].client.session.hooks["response"].append(strip)


# --- issue 16.4: no row for a view; the first post creates the order ----------------------------------


def test_viewing_the_order_page_stores_nothing(shop_db: LiveShop) -> None:
    """A refresh, a prefetch, a crawler: GET (and HEAD) /order many times leave no row in any table."""
    browser = requests.Session()
    numbers = set()
    for product in ("test", "speaker", "test", "book"):
        numbers.add(shop_db.order_page(product, browser)["ordr_idxx"])
    assert requests.head(f"{shop_db.url}/order", params={"product": "mug"}, timeout=10).status_code == 200
    assert len(numbers) == 4  # every view draws its own number ...
    assert _tables_with_rows(shop_db) == {}  # ... and stores none of them


def test_the_rendered_form_posted_ten_times_at_once_creates_one_order_and_one_payment(shop_db: LiveShop) -> None:
    """The first /pp_ax_hub post of a never-seen order, the same form 10 times at once (a double
    click, a resend): one order row, one approval at KCP, one payment."""
    ordr_idxx, data = shop_db.prepared()
    assert shop_db.find_order(ordr_idxx) is None

    def submit(_i: int) -> requests.Response:
        http = requests.Session()
        http.cookies.update(shop_db.http.cookies)  # the same browser's session (CSRF token) on its own connection
        return shop_db.submit(data, http)

    responses = run_at_once(10, submit)
    assert [getattr(r, "status_code", r) for r in responses] == [303] * 10
    assert {r.headers["Location"] for r in responses} == {f"/orders/{ordr_idxx}"}
    with shop_db.app.app_context():
        assert db.session.execute(select(func.count()).select_from(Order).where(Order.ordr_idxx == ordr_idxx)).scalar_one() == 1
    assert len(shop_db.ledger_all(ordr_idxx)) == 1  # one approval at KCP
    assert _apis(shop_db, ordr_idxx).count("approve") == 1
    order = shop_db.order(ordr_idxx)
    assert (order["status"], order["paid_amount"], order["amount"], order["product_id"]) == ("paid", 1004, 1004, "test")


def test_the_browser_that_posted_the_form_sees_its_order_as_its_own(serve_sqlite: Callable[..., LiveShop]) -> None:
    """'My orders' follow the form: the buyer's session sees its details, a stranger's does not."""
    shop = serve_sqlite()
    ordr_idxx = shop.pay()
    assert "buyer@example.com" in shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text
    assert "buyer@example.com" not in requests.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text


@pytest.mark.parametrize("tamper", ["forged", "another_pages_token", "expired", "price_changed"])
def test_a_forged_expired_or_outdated_order_form_is_refused_before_kcp(serve_sqlite: Callable[..., LiveShop],
                                                                      monkeypatch: pytest.MonkeyPatch, tamper: str) -> None:
    """The order is created only from a form the shop signed, recently, at today's price: otherwise
    400 with a sentence, no row, nothing sent to KCP (the window's authorization stays unused)."""
    shop = _in_english(serve_sqlite(ORDER_FORM_MAX_AGE=1) if tamper == "expired" else serve_sqlite())
    ordr_idxx, data = shop.prepared()
    expected = "not issued by this shop"
    if tamper == "forged":
        token = data["order_token"]
        data["order_token"] = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    elif tamper == "another_pages_token":
        data["order_token"] = shop.order_page()["order_token"]
    elif tamper == "expired":
        time.sleep(2.1)
        expected = "expired"
    else:
        product = catalog.get_product("test")
        monkeypatch.setitem(catalog._BY_ID, "test", dataclasses.replace(product, price=2_000))  # noqa: SLF001
        expected = "price of this product has changed"
    response = shop.submit(data)
    assert response.status_code == 400 and expected in response.text
    assert shop.find_order(ordr_idxx) is None
    assert _authorization_used(shop, ordr_idxx) == [None] and shop.ledger_tx(ordr_idxx) is None


# --- issue 14.4: an approval is recorded only on the order KCP approved it for ------------------------


@pytest.mark.parametrize("answer_names_the_order", [True, False], ids=["answer-has-ordr_idxx", "000-answer"])
def test_a_result_posted_under_another_orders_number_is_recorded_nowhere_and_not_cancelled(
        serve_db: Callable[..., LiveShop], answer_names_the_order: bool) -> None:
    """One buyer holds two order forms of the same price: the window paid for A, its result posted with
    B's form (B's number and order_token), so ordr_mony matches and KCP approves it, for A. Used to mark
    B paid with A's tno. Now: B not paid and still payable, A's transaction neither recorded on B nor
    cancelled (it is A's money, at KCP under A's number), staff told. Without KCP's order number in the
    answer (000), the documented inquiry (tno + mod_ordr_idxx) is what finds it out."""
    shop = serve_db()
    if not answer_names_the_order:
        _strip_order_number_from_approvals(shop)
    victim, victim_form = shop.placed("test")  # B: unpaid (its window was closed once)
    first, data = shop.prepared("test")  # A: the window was completed for it
    response = shop.submit({**data, "ordr_idxx": victim, "order_token": victim_form["order_token"]})
    assert response.status_code == 303

    order = shop.order(victim)
    assert (order["status"], order["paid_amount"], order["tno"]) == ("incomplete", 0, None)
    (tx,) = shop.ledger_all(first)
    assert tx["shop_status"] == "STSR"  # A's approval stands at KCP: not cancelled
    with shop.app.app_context():
        assert db.session.execute(select(Payment).where(Payment.tno == tx["tno"])).first() is None
        (flag,) = db.session.execute(select(AuditLog).where(AuditLog.action == "stray_approval")).scalars()
        assert (flag.ordr_idxx, flag.tno, flag.result) == (victim, tx["tno"], "flagged")
    assert ("approving", "incomplete") in shop.history(victim)
    apis = _apis(shop, victim)
    # 000's answer: asked with B's number (refused), by tno alone (known), with B's number again (refused).
    expected = ["window", "approve"] if answer_names_the_order else ["approve", "inquire", "inquire", "inquire"]
    assert apis[-len(expected):] == expected
    assert "cancel" not in apis

    # B can still be paid, from B's order page.
    result = shop.window(victim_form, "card")
    assert shop.submit(shop.completed_form(victim_form, result)).status_code == 303
    order = shop.order(victim)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004) and order["tno"] != tx["tno"]


@pytest.mark.parametrize("posted", ["approval", "window_failure"])
def test_a_post_without_the_forms_order_token_is_refused_before_kcp(serve_db: Callable[..., LiveShop],
                                                                    posted: str) -> None:
    """Someone who knows an existing PC order's number (it is in /orders/<id> URLs) posts a result for
    it with a window result of their own, or a failure, and their own valid CSRF token, but without
    that order's form: a clear 400 before KCP. The order is untouched; its buyer pays it."""
    shop = _in_english(serve_db())
    victim, victim_form = shop.placed("test")
    before = shop.order(victim)
    mine, data = shop.prepared("test")  # a window result the stranger really completed (for their own page)
    if posted == "approval":
        response = shop.submit({**_without_token(data), "ordr_idxx": victim})
    else:
        response = _stranger_posts(shop, victim, res_cd="3001", res_msg="사용자 취소")
    assert response.status_code == 400 and "order_token" in response.text
    if posted == "approval":  # the buyer's browser reads English here; the stranger's page is in Korean
        assert "did not come with the order form this shop issued" in response.text and "Nothing was charged" in response.text
    else:
        assert "주문서가 함께 오지 않았습니다" in response.text
    assert shop.order(victim) == before
    assert _authorization_used(shop, mine) == [None] and shop.ledger_all(mine) == []  # KCP never called
    assert shop.find_order(mine) is None
    result = shop.window(victim_form, "card")
    assert shop.submit(shop.completed_form(victim_form, result)).status_code == 303
    assert shop.order(victim)["status"] == "paid"


@pytest.mark.parametrize("answer_names_the_order", [True, False], ids=["answer-has-ordr_idxx", "000-answer"])
def test_the_normal_approval_asks_kcp_again_only_when_its_answer_does_not_name_the_order(
        serve_sqlite: Callable[..., LiveShop], answer_names_the_order: bool) -> None:
    """One approval call when KCP's answer names the order; with 000's answer (no order number), one
    documented inquiry (tno + mod_ordr_idxx) confirms it before anything is recorded."""
    shop = serve_sqlite()
    if not answer_names_the_order:
        _strip_order_number_from_approvals(shop)
    ordr_idxx = shop.pay()
    assert shop.order(ordr_idxx)["status"] == "paid"
    assert _apis(shop, ordr_idxx) == ["window", "approve"] + ([] if answer_names_the_order else ["inquire"])


def test_a_tno_already_recorded_on_another_order_is_not_recorded_twice_nor_cancelled(
        serve_db: Callable[..., LiveShop]) -> None:
    """The unique key on payments.tno refuses a second record: that used to cancel the approval (the
    other order's payment) and could raise a 500. Now: no 500, nothing cancelled, staff told."""
    shop = serve_db()
    with shop.app.app_context():
        other = create_order(catalog.get_product("test"))
        other_id, other_number = other.id, other.ordr_idxx
    ordr_idxx, data = shop.prepared()

    def recorded_elsewhere_meanwhile(exchange: Any) -> None:
        """As KCP answers, the same tno is already on another order's payment (another writer)."""
        if exchange.api == "approve" and exchange.response and exchange.response.get("tno"):
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO payments (order_id, tno, pay_method, amount, res_cd, res_msg, res_en_msg,"
                                  " raw, created_at) VALUES (:o, :t, 'card', 1004, '0000', '', '', '{}', CURRENT_TIMESTAMP)"),
                             {"o": other_id, "t": exchange.response["tno"]})

    shop.app.extensions["kcp"].listeners.append(recorded_elsewhere_meanwhile)
    response = shop.submit(data)
    assert response.status_code == 303
    (tx,) = shop.ledger_all(ordr_idxx)
    assert tx["shop_status"] == "STSR"  # not cancelled
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("incomplete", 0)
    with shop.app.app_context():
        payments = db.session.execute(select(Payment.order_id).where(Payment.tno == tx["tno"])).scalars().all()
        assert payments == [other_id]
        flag = db.session.execute(select(AuditLog).where(AuditLog.action == "stray_approval")).scalar_one()
        assert flag.tno == tx["tno"] and other_number in flag.detail


# --- issue 14.5: a forged failure never stops the real payment ---------------------------------------


def _stranger_posts(shop: LiveShop, ordr_idxx: str, **fields: str) -> requests.Response:
    """Someone else (own session, own valid CSRF token) posts a result for a known order number."""
    stranger = requests.Session()
    own = shop.order_page("test", stranger)  # a page of their own: a CSRF token that is valid for them
    data = {"csrf_token": own["csrf_token"], "site_cd": own["site_cd"], "ordr_idxx": ordr_idxx, **fields}
    return stranger.post(f"{shop.url}/pp_ax_hub", data=data, allow_redirects=False, timeout=30)


def test_a_forged_window_failure_before_the_buyers_result_does_not_stop_the_payment(
        serve_sqlite: Callable[..., LiveShop]) -> None:
    """res_cd 3001 posted for the buyer's order number before the buyer's result arrives: used to fail
    the order, and the buyer's real result was then ignored. Now refused (no order_token) and no row made."""
    shop = serve_sqlite()
    ordr_idxx, data = shop.prepared()
    forged = _stranger_posts(shop, ordr_idxx, res_cd="3001", res_msg="사용자 취소")
    assert forged.status_code == 400 and shop.find_order(ordr_idxx) is None
    assert shop.submit(data).status_code == 303
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)


@pytest.mark.parametrize("forgery", ["window_3001", "refused_enc_data"])
def test_forged_failures_on_an_existing_order_leave_it_payable(serve_sqlite: Callable[..., LiveShop], forgery: str) -> None:
    """The order exists (its buyer closed the window once). A stranger posts a window failure, or a
    0000 whose enc_data KCP refuses: refused without its order_token (the order is unchanged); the
    same posted with the form's token (the buyer's own tab) is shown but leaves the order payable.
    Either way the buyer's next attempt is approved."""
    shop = serve_sqlite()
    ordr_idxx, fields = shop.placed("test")
    if forgery == "window_3001":
        forged = {"res_cd": "3001", "res_msg": "사용자 취소"}
    else:
        forged = {"res_cd": "0000", "tran_cd": "00100000", "enc_data": "x" * 40, "enc_info": "y" * 12}
    assert _stranger_posts(shop, ordr_idxx, **forged).status_code == 400
    assert shop.order(ordr_idxx)["status"] == "incomplete"
    assert shop.submit({**fields, **forged}).status_code == 303
    assert shop.order(ordr_idxx)["status"] == "incomplete"
    result = shop.window(fields, "card")  # the buyer opens the window again on the same order page
    assert shop.submit(shop.completed_form(fields, result)).status_code == 303
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    page = shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text
    assert 'data-status="paid"' in page


# --- issue 14.6: the order's currency --------------------------------------------------------------------


@pytest.mark.parametrize("currency, accepted", [("840", False), ("USD", False), ("999", False),
                                                ("410", True), ("WON", True), (None, True)])
def test_a_currency_other_than_the_orders_is_refused_before_kcp(serve_sqlite: Callable[..., LiveShop],
                                                                currency: str | None, accepted: bool) -> None:
    """currency=840 for a won order used to be approved and marked paid. Refused before KCP; a post
    without currency (the smartphone return may carry none) is no mismatch."""
    shop = _in_english(serve_sqlite())
    ordr_idxx, data = shop.prepared()
    if currency is None:
        del data["currency"]
    else:
        data["currency"] = currency
    response = shop.submit(data)
    if accepted:
        assert response.status_code == 303 and shop.order(ordr_idxx)["status"] == "paid"
        return
    assert response.status_code == 400 and "another currency" in response.text
    assert shop.find_order(ordr_idxx) is None
    assert _authorization_used(shop, ordr_idxx) == [None]


# --- issue 14.10: buyer fields, tax ------------------------------------------------------------------------


@pytest.mark.parametrize("field, value", [("buyr_name", "홍길동, 부장"), ("buyr_name", "O'Neil"), ("buyr_name", "a\nb"),
                                          ("buyr_mail", "a;b@example.com"), ("buyr_tel2", "010|1234|5678"),
                                          ("buyr_tel1", "02\\123"), ("buyr_name", 'say "hi"'), ("buyr_name", "A&B")])
def test_forbidden_characters_in_the_buyers_fields_are_refused_before_kcp(serve_sqlite: Callable[..., LiveShop],
                                                                          field: str, value: str) -> None:
    """004 forbids , & ; newline \\ | ' " in what the buyer types: a clear 400, KCP never called."""
    shop = _in_english(serve_sqlite())
    ordr_idxx, data = shop.prepared()
    response = shop.submit({**data, field: value})
    assert response.status_code == 400 and "does not accept" in response.text
    assert shop.find_order(ordr_idxx) is None and _authorization_used(shop, ordr_idxx) == [None]
    assert shop.submit(data).status_code == 303 and shop.order(ordr_idxx)["status"] == "paid"  # corrected: paid


def test_the_order_page_keeps_forbidden_characters_out_of_the_buyers_fields(serve_sqlite: Callable[..., LiveShop]) -> None:
    """The page's own check: each typed buyer field carries a pattern that refuses 004's characters."""
    import re

    from support import parse

    shop = serve_sqlite()
    page = parse(requests.get(f"{shop.url}/order", params={"product": "test"}, timeout=10).text)
    for name in ("buyr_name", "buyr_mail"):
        compiled = re.compile(page.find("input", attrs={"name": name})["pattern"])
        assert compiled.fullmatch("홍길동") and compiled.fullmatch("buyer@example.com")
        for bad in (",", "&", ";", "\\", "|", "'", '"'):
            assert not compiled.fullmatch(f"a{bad}b"), (name, bad)


def test_tg03_in_the_merchants_defaults_gives_a_complete_order_page(serve_sqlite: Callable[..., LiveShop]) -> None:
    """tax_flag TG03 in KCP_ORDER_DEFAULTS made every /order a 500; now the split is computed (004:
    supply = amount / 1.1, VAT = the rest) and the order is paid."""
    shop = serve_sqlite(KCP_ORDER_DEFAULTS={"tax_flag": "TG03"})
    fields = shop.order_page("test")
    assert (fields["tax_flag"], fields["comm_tax_mny"], fields["comm_vat_mny"], fields["comm_free_mny"]) == \
        ("TG03", "913", "91", "0")
    result = shop.window(fields, "card")
    assert shop.submit(shop.completed_form(fields, result)).status_code == 303
    assert shop.order(fields["ordr_idxx"])["status"] == "paid"


def test_a_tax_free_product_is_sold_with_its_split(serve_sqlite: Callable[..., LiveShop]) -> None:
    """A book (no VAT in Korea): tax_flag TG03 with everything in comm_free_mny, without any setting."""
    shop = serve_sqlite()
    fields = shop.order_page("book")
    assert (fields["good_mny"], fields["tax_flag"], fields["comm_tax_mny"], fields["comm_vat_mny"],
            fields["comm_free_mny"]) == ("15000", "TG03", "0", "0", "15000")
    assert "tax_flag" not in shop.order_page("mug")  # a taxable product sends no split of its own
