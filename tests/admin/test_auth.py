"""Admin sign-in: wrong password, rate limit, CSRF, hardened cookie, rotation, logout, idle timeout."""

from __future__ import annotations

from admin_helpers import ADMIN_PASSWORD, Admin, csrf_token, text_of


def login_via(client, password: str, ip: str = "10.0.0.7"):
    """Post the login form from ``ip`` with the test client."""
    page = client.get("/admin/login?lang=en", environ_base={"REMOTE_ADDR": ip})
    return client.post("/admin/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_pages_need_a_signed_in_admin(live_server):
    staff = Admin(live_server.url, live_server.app)
    response = staff.http.get(live_server.url + "/admin/orders?state=paid", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    assert "/admin/login?next=/admin/orders?state%3Dpaid" in response.headers["Location"]


def test_wrong_password_is_refused_and_audited(live_server):
    staff = Admin(live_server.url, live_server.app)
    response = staff.login("not-the-password")
    assert response.status_code == 401
    assert "Wrong password." in text_of(response.text)
    assert staff.http.get(live_server.url + "/admin/orders", allow_redirects=False, timeout=10).status_code == 302
    rows = staff.db("SELECT actor, ip, action, result FROM audit_log")
    assert [(r["action"], r["result"], r["ip"]) for r in rows] == [("login", "failed", "127.0.0.1")]


def test_right_password_signs_in_and_rotates_the_session(live_server):
    staff = Admin(live_server.url, live_server.app)
    staff.get("/admin/login", params={"lang": "en"})
    before = staff.http.cookies.get("session")
    response = staff.login()
    assert response.url.endswith("/admin/orders")
    assert staff.http.cookies.get("session") != before
    raw = requests_login_set_cookie(live_server.url)
    assert "HttpOnly" in raw and "SameSite=Lax" in raw
    assert "Secure" not in raw  # sandbox runs on plain http://127.0.0.1; test/live set Secure


def requests_login_set_cookie(url: str) -> str:
    """The Set-Cookie header of a successful login."""
    import requests

    http = requests.Session()
    token = csrf_token(http.get(url + "/admin/login", timeout=10).text)
    response = http.post(url + "/admin/login", data={"csrf_token": token, "password": ADMIN_PASSWORD},
                         allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return response.headers["Set-Cookie"]


def test_secure_cookie_outside_the_sandbox(make_app, kcp_credentials):
    app = make_app()
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not app.config.get("SESSION_COOKIE_SECURE")


def test_failed_logins_are_rate_limited_per_ip(app):
    client = app.test_client()
    for _ in range(5):
        assert login_via(client, "guess", ip="10.0.0.7").status_code == 401
    blocked = login_via(client, ADMIN_PASSWORD, ip="10.0.0.7")
    assert blocked.status_code == 429
    assert "Too many failed attempts" in text_of(blocked.get_data(as_text=True))
    # Another address is not punished for it.
    other = app.test_client()
    assert login_via(other, ADMIN_PASSWORD, ip="10.0.0.8").status_code == 302


def test_rate_limit_is_shared_through_the_database(make_app):
    """Two app instances (two gunicorn workers) count the same failures."""
    first, second = make_app(), make_app()
    for _ in range(3):
        login_via(first.test_client(), "guess")
    for _ in range(2):
        login_via(second.test_client(), "guess")
    assert login_via(first.test_client(), ADMIN_PASSWORD).status_code == 429


def test_post_without_csrf_token_is_400(admin):
    order = admin.paid_order(5_000)
    response = admin.post(f"/admin/orders/{order}/refund", {"kind": "partial", "amount": "1000"}, csrf=False)
    assert response.status_code == 400
    assert admin.order(order)["refunded_amount"] == 0
    login = admin.http.post(admin.url + "/admin/login", data={"password": ADMIN_PASSWORD}, timeout=10)
    assert login.status_code == 400


def test_logout_ends_the_session_even_for_a_copied_cookie(admin):
    copied = dict(admin.http.cookies)
    response = admin.post("/admin/logout", {})
    assert response.url.endswith("/admin/login")
    assert "You are signed out." in text_of(response.text)
    import requests

    replay = requests.get(admin.url + "/admin/orders", cookies=copied, allow_redirects=False, timeout=10)
    assert replay.status_code == 302 and "/admin/login" in replay.headers["Location"]


def test_logout_needs_post_with_csrf(admin):
    assert admin.get("/admin/logout").status_code == 405
    assert admin.post("/admin/logout", {}, csrf=False).status_code == 400
    assert admin.get("/admin/orders").url.endswith("/admin/orders")


def test_idle_session_expires(make_app):
    app = make_app(ADMIN_IDLE_MINUTES=0)
    client = app.test_client()
    assert login_via(client, ADMIN_PASSWORD).status_code == 302
    response = client.get("/admin/orders")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
