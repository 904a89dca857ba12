"""A newcomer's first ten minutes and a merchant's demo (issue 16, items 2 and 9), without a browser:

* the sandbox can be found from every shop page, in sandbox mode only;
* the awaiting-deposit page's Deposit action goes through the sandbox, as KCP would notify the shop;
  it needs the page's CSRF token, goes back only to a page of this site, and does not exist outside
  the sandbox;
* the admin login says where the password is kept; the browser's language is used on a first visit;
  a Secure cookie over plain http is explained on the "form expired" page; /favicon.ico exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from reliability.harness import LiveShop
from support import csrf_token

from kcp.sandbox import ledger, notifier


@pytest.fixture
def shop(make_app: Any) -> Iterator[LiveShop]:
    """A live shop on SQLite, its sandbox reached over HTTP."""
    live = LiveShop(make_app)
    yield live
    live.stop()


def deposit_form(html: str) -> dict[str, str]:
    """The fields of the Deposit form of an order page (#sandbox-deposit)."""
    section = html[html.index('id="sandbox-deposit"'):]
    section = section[:section.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', section))


# --- the way to the sandbox ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/order?product=test", "/admin/login", "/kcp/codes"])
def test_every_shop_page_links_the_sandbox_console_in_sandbox_mode(client, path):
    html = client.get(path).get_data(as_text=True)
    link = re.search(r'<a class="env-ribbon__link" id="sandbox-console-link" href="([^"]+)">([^<]+)</a>', html)
    assert link and link.group(1) == "/_sandbox/kcp/" and "샌드박스 콘솔" in link.group(2)
    assert client.get(link.group(1)).status_code == 200


def test_outside_the_sandbox_there_is_no_link_and_no_deposit_action(make_app):
    app = make_app(KCP_ENV="test")
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert "sandbox-console-link" not in html and "/_sandbox/kcp" not in html
    assert client.get("/_sandbox/kcp/").status_code == 404
    assert client.post("/_sandbox/kcp/deposits", data={"action": "deposit", "tno": "1"}).status_code in (400, 404)


# --- the Deposit action -------------------------------------------------------------------------------

def test_the_deposit_button_deposits_through_the_sandbox_and_kcps_notification_pays_the_order(shop):
    ordr_idxx = shop.pay(method="vbank")
    page = shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text
    assert f"<code id=\"sandbox-deposit-cli\">flask sandbox deposit {ordr_idxx}</code>" in page
    form = deposit_form(page)
    assert form["next"] == f"/orders/{ordr_idxx}" and form["tno"] == shop.ledger_tx(ordr_idxx)["tno"]

    back = shop.http.post(f"{shop.url}/_sandbox/kcp/deposits", data=form, allow_redirects=False, timeout=10)

    assert back.status_code == 303 and back.headers["Location"] == f"/orders/{ordr_idxx}"
    assert notifier.wait_idle(shop.app, 10)
    [sent] = notifier.notifications(shop.app)
    assert (sent["ordr_no"], sent["state"], sent["target"]) == (ordr_idxx, "delivered", f"{shop.url}/common_return")
    [stored] = shop.notifications(ordr_idxx)  # the shop learned it from KCP's notification, as from KCP
    assert (stored["status"], stored["op_cd"], stored["ipgm_mnyx"]) == ("applied", "50", 1004)
    order = shop.order(ordr_idxx)
    assert (order["status"], order["paid_amount"]) == ("paid", 1004)
    after = shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text
    assert 'data-status="paid"' in after and 'id="sandbox-deposit"' not in after


def test_the_deposit_action_needs_the_pages_token(shop):
    ordr_idxx = shop.pay(method="vbank")
    form = deposit_form(shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text)
    forged = requests.post(f"{shop.url}/_sandbox/kcp/deposits", data={**form, "csrf_token": ""}, allow_redirects=False,
                           timeout=10)  # another site's page: no session, no token
    assert forged.status_code == 400
    assert ledger.read_one(shop.app, "SELECT COUNT(*) AS n FROM notifications")["n"] == 0
    assert shop.ledger_tx(ordr_idxx)["shop_status"] == "STIR"  # nothing deposited
    assert shop.order(ordr_idxx)["status"] == "awaiting_deposit"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "orders/1"])
def test_the_deposit_action_goes_back_only_to_this_site(shop, target):
    ordr_idxx = shop.pay(method="vbank")
    form = deposit_form(shop.http.get(f"{shop.url}/orders/{ordr_idxx}", timeout=10).text)
    back = shop.http.post(f"{shop.url}/_sandbox/kcp/deposits", data={**form, "next": target}, allow_redirects=False,
                          timeout=10)
    assert back.status_code == 303 and back.headers["Location"] == "/_sandbox/kcp/deposits"
    assert notifier.wait_idle(shop.app, 10)


def test_the_deposit_action_is_only_on_an_order_awaiting_its_deposit(shop):
    paid = shop.pay()
    assert 'id="sandbox-deposit"' not in shop.http.get(f"{shop.url}/orders/{paid}", timeout=10).text


# --- the admin password -------------------------------------------------------------------------------

def test_the_login_page_says_where_a_generated_password_is_kept(make_app, tmp_path):
    app = make_app(ADMIN_PASSWORD=None)
    html = app.test_client().get("/admin/login?lang=en").get_data(as_text=True)
    kept = Path(app.instance_path) / "admin-password"
    assert kept.is_file() and f"kept in the file {kept} on the server" in html
    assert app.config["ADMIN_PASSWORD"] not in html
    korean = app.test_client().get("/admin/login?lang=ko").get_data(as_text=True)
    assert f"서버의 {kept} 파일에 보관" in korean


def test_a_configured_password_is_the_setting(client):
    html = client.get("/admin/login?lang=en").get_data(as_text=True)
    assert "The password is the ADMIN_PASSWORD setting" in html and "admin-password" not in html
    assert "test-admin-password" not in html


# --- the browser's language ---------------------------------------------------------------------------

def test_a_first_visit_speaks_the_browsers_language_until_the_visitor_chooses(app):
    english = app.test_client()
    assert '<html lang="en">' in english.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="ko">' in english.get("/?lang=ko", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert '<html lang="ko">' in english.get("/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)  # chosen
    korean = app.test_client()
    assert '<html lang="ko">' in korean.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en">' in korean.get("/?lang=en", headers={"Accept-Language": "ko-KR"}).get_data(as_text=True)
    other = app.test_client()
    assert '<html lang="ko">' in other.get("/", headers={"Accept-Language": "fr-FR,de;q=0.5"}).get_data(as_text=True)
    assert '<html lang="ko">' in app.test_client().get("/").get_data(as_text=True)  # none said: Korean


# --- a Secure cookie over plain http ------------------------------------------------------------------

def test_the_form_expired_page_says_when_the_browser_kept_a_secure_cookie_to_itself(make_app):
    """KCP_ENV=test served over http from a LAN address: the session cookie is Secure, so a browser never sends it
    back and every form fails; the page says why. Over https, or with the cookie sent, it is an ordinary expiry."""
    app = make_app(KCP_ENV="test")
    lan = "http://192.168.0.10"
    page = app.test_client().get("/admin/login?lang=en", base_url=lan)
    assert "Secure" in page.headers["Set-Cookie"]
    token = csrf_token(page.get_data(as_text=True))

    browser = app.test_client()  # what the browser sends back: the form, without the Secure cookie
    refused = browser.post("/admin/login?lang=en", base_url=lan, data={"csrf_token": token, "password": "x"})

    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert 'id="secure-cookie-not-sent"' in html and "This browser did not send the session cookie." in html
    assert "came over plain http from 192.168.0.10" in html and "http://localhost" in html

    over_https = app.test_client().post("/admin/login?lang=en", base_url="https://192.168.0.10", data={"csrf_token": token})
    assert over_https.status_code == 400 and "secure-cookie-not-sent" not in over_https.get_data(as_text=True)
    with_cookie = app.test_client()
    with_cookie.get("/admin/login", base_url="https://192.168.0.10")  # a session cookie, sent back over https
    stale = with_cookie.post("/admin/login?lang=en", base_url="https://192.168.0.10", data={"csrf_token": "stale"})
    assert stale.status_code == 400 and "secure-cookie-not-sent" not in stale.get_data(as_text=True)


def test_the_sandbox_on_plain_http_gets_the_ordinary_expiry_page(client):
    expired = client.post("/admin/login", data={"csrf_token": "stale", "password": "x"})
    assert expired.status_code == 400 and "secure-cookie-not-sent" not in expired.get_data(as_text=True)


# --- favicons -----------------------------------------------------------------------------------------

def test_the_shop_serves_its_favicon_and_links_it(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/vnd.microsoft.icon"
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    html = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/favicon.ico"' in html
    console = client.get("/_sandbox/kcp/").get_data(as_text=True)
    linked = re.search(r'<link rel="icon" href="(/_sandbox/kcp/static/[^"]+)"', console)
    assert linked and client.get(linked.group(1)).status_code == 200
