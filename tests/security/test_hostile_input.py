"""Hostile input (issue 6), property-based: every POST route of the app (shop, admin, reference,
sandbox) with random field names and values, with and without a valid CSRF token; /pp_ax_hub
and /common_return with KCP's own field names and random values. Never a 500; a refused
request changes nothing and says why in a page a person can read; a notification that was not
stored is never answered 0000."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support import csrf_token, order_form

from kcp.sandbox import ledger
from shop.extensions import db
from shop.models import NotificationRecord, Order

# HOSTILE_EXAMPLES=400 for a longer hunt (40 keeps the suite fast).
SETTINGS = settings(max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=list(HealthCheck))
FIELD_NAMES = [
    # KCP's order form and window result
    "ordr_idxx", "good_name", "good_mny", "site_cd", "res_cd", "res_msg", "enc_data", "enc_info", "tran_cd",
    "pay_method", "buyr_name", "buyr_mail", "buyr_tel2", "currency", "ret_pay_method", "use_pay_method",
    # common_return
    "tno", "ordr_no", "tx_cd", "tx_tm", "noti_id", "op_cd", "ipgm_name", "ipgm_mnyx", "totl_mnyx", "ipgm_time",
    "bank_code", "account", "remitter", "cash_a_no",
    # admin and panel forms
    "password", "next", "q", "state", "method", "kind", "amount", "reason", "balance", "quota", "card_no",
    "card_expiry", "card_tx_type", "card_taxno", "card_pwd", "product", "reset", "save", "api", "mode", "seconds",
]
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789-", max_size=25),
    st.sampled_from(["", "0000", "-1", "0", "99999999999999999999", "TX00", "13", "T0000", "t0000", "' OR 1=1 --",
                     "<script>alert(1)</script>", "../../instance/secret-key", "\x00", "９９９", "1e9", "NaN"]),
    st.text(min_size=300, max_size=2000),
)
FORMS = st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=12)), TEXT, max_size=12)


def _token(client, path: str = "/order?product=test") -> str:
    """A valid CSRF token of the client's session."""
    return csrf_token(client.get(path).get_data(as_text=True))


def _signed_in(app) -> Any:
    """A test client signed in to /admin (so admin routes are exercised past the login)."""
    client = app.test_client()
    # A fresh address each time: random posts to /admin/login may have used up 127.0.0.1's login limit.
    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    response = client.post("/admin/login", data={"csrf_token": _token(client, "/admin/login"), "password": "test-admin-password"},
                           environ_base={"REMOTE_ADDR": address})
    assert response.status_code in (302, 303), response.status_code
    return client


def _post_routes(app) -> list[str]:
    """Every rule accepting POST, with its variables filled by an order number or junk."""
    rules = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or set()) or rule.endpoint == "static":
            continue
        rules.append(re.sub(r"<[^>]+>", "KRS00000000000000000000", rule.rule))
    return sorted(set(rules))


def _readable(body: str) -> bool:
    """An error page a person can read: text, no traceback, no raw exception."""
    return bool(body.strip()) and "Traceback" not in body and "Exception" not in body


def _state(app) -> tuple[Any, ...]:
    """Everything money-relevant: orders, notifications and KCP's transactions."""
    with app.app_context():
        orders = tuple(db.session.execute(select(Order.ordr_idxx, Order.status, Order.paid_amount, Order.refunded_amount)
                                          .order_by(Order.id)).all())
        notes = db.session.execute(select(func.count()).select_from(NotificationRecord)).scalar_one()
    txs = tuple(tuple(r) for r in ledger.read(app, "SELECT tno, shop_status, balance FROM transactions ORDER BY tno"))
    return orders, notes, txs


@pytest.fixture
def hostile_app(make_app):
    """An app with a pending and a paid order to aim at."""
    app = make_app()
    client = app.test_client()
    page = client.get("/order?product=test").get_data(as_text=True)
    app.config["_pending"] = order_form(page).fields["ordr_idxx"]
    return app


def test_the_route_list_covers_the_forms(hostile_app) -> None:
    """The generic test below really reaches the shop's, admin's and sandbox's forms."""
    routes = _post_routes(hostile_app)
    for expected in ("/pp_ax_hub", "/common_return", "/order/options", "/admin/login", "/admin/manual-card"):
        assert expected in routes


@SETTINGS
@given(data=st.data())
def test_every_post_route_survives_random_forms(hostile_app, data) -> None:
    """Random forms with a valid CSRF token (signed-in admin) and without: no 500, readable refusals."""
    app = hostile_app
    routes = _post_routes(app)
    route = data.draw(st.sampled_from(routes))
    form = data.draw(FORMS)
    client = _signed_in(app) if data.draw(st.booleans()) else app.test_client()
    if data.draw(st.booleans()):
        form = {**form, "csrf_token": _token(client)}
    sender = data.draw(st.sampled_from(["127.0.0.1", "198.51.100.1"]))
    response = client.post(route, data=form, environ_base={"REMOTE_ADDR": sender})
    # The sandbox's phone payment page answers in EUC-KR, as KCP's pages do: read the declared charset.
    body = response.get_data().decode(response.mimetype_params.get("charset", "utf-8"))
    assert response.status_code < 500, (route, response.status_code, body[:300])
    if response.status_code >= 400 and response.mimetype == "text/html":
        assert _readable(body), (route, body[:300])


@SETTINGS
@given(form=FORMS, res_cd=st.sampled_from(["0000", "", "3001", "9999"]), keep_order=st.booleans(),
       keep_site=st.booleans())
def test_pp_ax_hub_with_random_window_results_moves_no_money(hostile_app, form, res_cd, keep_order, keep_site) -> None:
    """Forged window results for a real pending order: never paid, KCP holds nothing, refusals change nothing."""
    app = hostile_app
    client = app.test_client()
    token = _token(client, "/order?product=test")
    pending = app.config["_pending"]
    before = _state(app)
    posted = {**form, "csrf_token": token, "res_cd": res_cd}
    if keep_order:
        posted["ordr_idxx"] = pending
    if keep_site:
        posted["site_cd"] = "T0000"
    response = client.post("/pp_ax_hub", data=posted)
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:300]
    after = _state(app)
    if response.status_code >= 400:
        assert _readable(body)
        assert after == before or after[0][:-1] == before[0][:-1] and after[1:] == before[1:]  # only the new order page
    assert all(status != "paid" for _, status, _, _ in after[0])
    assert all(shop_status == "STSC" for _, shop_status, _ in after[2])  # nothing approved and kept


@SETTINGS
@given(form=FORMS, sender=st.sampled_from(["127.0.0.1", "::1", "198.51.100.1"]))
def test_common_return_answers_0000_only_for_a_stored_notification(hostile_app, form, sender) -> None:
    """Random notifications: stored -> 0000 and the row exists; otherwise non-0000 and nothing changed."""
    app = hostile_app
    before = _state(app)
    response = app.test_client().post("/common_return", data=form, environ_base={"REMOTE_ADDR": sender})
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:300]
    assert body.count('name="result"') == 1
    stored = 'value="0000"' in body
    with app.app_context():
        noti_id = (form.get("noti_id") or "").strip()
        row = db.session.execute(select(NotificationRecord).where(NotificationRecord.noti_id == noti_id)).scalar_one_or_none()
    if stored:
        assert row is not None and sender != "198.51.100.1"
    else:
        assert _state(app) == before
    assert all(status != "paid" for _, status, _, _ in _state(app)[0])
