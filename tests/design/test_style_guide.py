"""The design system rendered for real: a minimal Flask app (the project's templates/ and static/,
Flask-Babel, no shop) serves a style guide that uses every macro and component; headless Chromium
checks that the vendored Korean font loads, that nothing is fetched from another host, that the
page fits a phone screen, and saves screenshots to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, abort, flash, render_template, request
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFError
from support import LiveServer
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form, HiddenField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Regexp

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
FONT_FAMILY = "Pretendard"

STATUSES = ["pending", "approving", "paid", "awaiting_deposit", "partially_refunded", "refunded",
            "cancelled", "auto_cancelled", "failed", "unknown", "needs_attention"]


class SampleOrderForm(Form):
    """An order form like the shop's, to exercise form_field() on every widget kind."""

    csrf = HiddenField(default="sample-token")
    buyr_name = StringField("주문자 이름", validators=[DataRequired()], description="결제창과 영수증에 표시됩니다.")
    buyr_tel2 = StringField("휴대폰 번호", validators=[DataRequired(), Length(min=10)])
    buyr_mail = StringField("이메일", validators=[
        DataRequired(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="올바른 이메일 주소를 입력하세요.")])
    pay_method = RadioField("결제수단", validators=[InputRequired()], default="card", choices=[
        SelectChoice("card", "신용카드"), SelectChoice("bank", "계좌이체"), SelectChoice("vbank", "가상계좌"),
        SelectChoice("mobile", "휴대폰")])
    quota = SelectField("할부 개월", choices=[SelectChoice("00", "일시불"), SelectChoice("02", "2개월"),
                                                SelectChoice("03", "3개월 (무이자)")])
    memo = TextAreaField("요청사항")
    agree = BooleanField("주문 내용을 확인했으며 결제에 동의합니다.", validators=[DataRequired()])
    submit = SubmitField("₩12,345 결제하기")


METHOD_DESCRIPTIONS = {
    "card": "국내 모든 카드, 할부 가능",
    "bank": "실시간 계좌이체",
    "vbank": "입금 기한 내 무통장 입금",
    "mobile": "SKT · KT · LG U+",
}

RESULT_CODES = [
    {"code": "8059", "ko": "승인 금액과 주문 금액이 다릅니다.", "en": "The approved amount differs from the order amount.",
     "cause_ko": "결제창에 전달된 금액(good_mny)과 승인 요청 금액(ordr_mony)이 일치하지 않습니다.",
     "cause_en": "good_mny sent to the window and ordr_mony sent for approval differ.",
     "fix_ko": "서버에 저장된 주문 금액으로 ordr_mony를 보내고, 금액을 브라우저에서 받지 마세요.",
     "fix_en": "Send ordr_mony from the order stored on the server; never trust a posted amount."},
    {"code": "0000", "ko": "정상 처리되었습니다.", "en": "Approved.", "cause_ko": "", "cause_en": "",
     "fix_ko": "", "fix_en": ""},
]

ORDERS = [
    ("20240521-000123", "제주 유기농 녹차 세트", "신용카드", 12345, "410", "paid"),
    ("20240521-000124", "핸드메이드 도자기 머그", "가상계좌", 28000, "410", "awaiting_deposit"),
    ("20240521-000125", "프리미엄 원두 1kg", "계좌이체", 54000, "410", "partially_refunded"),
    ("20240521-000126", "Gift card (USD)", "Card", 1055, "840", "unknown"),
    ("20240521-000127", "한지 노트 (3권)", "휴대폰", 9900, "410", "failed"),
    ("20240521-000128", "한지 노트 (3권)", "신용카드", 9900, "410", "needs_attention"),
]

SAMPLE_JSON = {
    "tran_cd": "00100000", "site_cd": "T0000", "kcp_cert_info": "<1,676 chars>",
    "enc_data": "<1,284 chars>", "enc_info": "<312 chars>", "ordr_mony": "12345",
}


def _compiled_catalogs() -> Path:
    """translations/*/LC_MESSAGES/messages.po compiled into a temporary folder (what Flask-Babel reads)."""
    target = Path(tempfile.mkdtemp(prefix="style-guide-translations-"))
    for po_path in (ROOT / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo_path = target / po_path.relative_to(ROOT / "translations").with_suffix(".mo")
        mo_path.parent.mkdir(parents=True)
        with po_path.open("rb") as po, mo_path.open("wb") as mo:
            write_mo(mo, read_po(po, locale=po_path.parent.parent.name))
    return target


def make_app() -> Flask:
    """Plain Flask with the project's templates/ and static/ plus the style guide; of the shop, only the
    formatting filters the macros use (shop/formatting.py: what an integrator copies with the templates)."""
    from shop import formatting

    app = Flask(__name__, root_path=str(ROOT), template_folder="templates", static_folder="static")
    # Only the .po catalogs are in git (the shop compiles them at start, shop/i18n.py): compiled here with babel.
    app.config.update(SECRET_KEY="style-guide", KCP_SITE_NAME="KCP 예제 상점", KCP_ENV="sandbox",
                      BABEL_DEFAULT_TIMEZONE="Asia/Seoul", BABEL_TRANSLATION_DIRECTORIES=str(_compiled_catalogs()))
    Babel(app, locale_selector=lambda: request.args.get("lang", "ko"))
    formatting.register(app)
    app.jinja_env.globals["get_locale"] = get_locale
    app.register_blueprint(Blueprint("design", __name__, template_folder=str(HERE)))

    @app.route("/")
    def style_guide() -> str:
        """The style guide, with a form that has been submitted with mistakes."""
        form = SampleOrderForm(MultiDict({"csrf": "sample-token", "buyr_name": "홍길동", "buyr_tel2": "0101",
                                          "buyr_mail": "hong@", "pay_method": "card", "quota": "00"}))
        form.validate()
        flash("장바구니에 상품을 담았습니다.", "success")
        return render_template("style_guide.html", form=form, method_descriptions=METHOD_DESCRIPTIONS,
                               result_codes=RESULT_CODES, orders=ORDERS, statuses=[*STATUSES, "mystery_state"],
                               sample_json=json.dumps(SAMPLE_JSON, indent=2, ensure_ascii=False),
                               kcp_env=request.args.get("env", "sandbox"))

    @app.route("/error/<int:code>")
    def error_page(code: int):
        """Each error template, as the shop's handlers render it."""
        if code == 400 and request.args.get("csrf"):
            error = CSRFError("The CSRF token has expired.")
            return render_template("errors/400.html", error=error), 400
        if code not in (400, 403, 404, 500):
            abort(404)
        return render_template(f"errors/{code}.html"), code

    return app


@pytest.fixture
def client():
    """Test client of the style-guide app."""
    return make_app().test_client()


def test_style_guide_renders_every_macro(client) -> None:
    """Money, badges, field tables, form fields and code explanations render as designed."""
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="ko">' in html
    assert "₩12,345" in html and "$10.55" in html and "-₩5,000" in html
    for status in STATUSES:
        assert f'data-status="{status}"' in html
    assert 'class="badge badge--success" data-status="paid"' in html
    assert 'class="badge badge--danger" data-status="needs_attention"' in html
    assert 'class="badge badge--neutral" data-status="mystery_state">Mystery state<' in html
    assert '<span class="field-key">ordr_idxx</span>' in html
    assert 'class="form-field form-field--error"' in html and 'aria-invalid="true"' in html
    assert 'class="method-tile"' in html and "입금 기한 내 무통장 입금" in html
    assert "승인 금액과 주문 금액이 다릅니다." in html and "code-explain--ok" in html
    # Page text follows the locale: Korean by default (the catalog in translations/), English on request.
    assert "No explanation is recorded for this code." not in html
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "No explanation is recorded for this code." in english
    assert "SANDBOX" in html and "not affiliated with NHN KCP" in english
    assert 'href="/?lang=en"' in html


def test_environment_ribbon_follows_kcp_env(client) -> None:
    """SANDBOX and TEST are announced on every page; LIVE shows no ribbon."""
    assert "env-ribbon--sandbox" in client.get("/?env=sandbox").get_data(as_text=True)
    assert "env-ribbon--test" in client.get("/?env=test").get_data(as_text=True)
    live = client.get("/?env=live").get_data(as_text=True)
    assert "env-ribbon" not in live.split("<body", 1)[1].split("</header>", 1)[0].replace("env-ribbon--", "")


def test_english_page_and_code_explanation(client) -> None:
    """?lang=en sets the page language and picks the English code explanation."""
    html = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "The approved amount differs from the order amount." in html
    assert 'aria-current="true">English<' in html


def test_error_pages(client) -> None:
    """Each error page renders with its status; the CSRF case explains the expired form."""
    for code in (400, 403, 404, 500):
        response = client.get(f"/error/{code}")
        assert response.status_code == code
        assert f'<span class="error-page__code">{code}</span>' in response.get_data(as_text=True)
    csrf = client.get("/error/400?csrf=1&lang=en").get_data(as_text=True)
    assert "This form has expired" in csrf and "no payment was made" in csrf
    assert "This form has expired" not in client.get("/error/400?lang=en").get_data(as_text=True)
    assert "do not pay again" in client.get("/error/500?lang=en").get_data(as_text=True)
    # The Korean page says the same in Korean, not in English.
    korean = client.get("/error/400?csrf=1").get_data(as_text=True)
    assert "This form has expired" not in korean and '<html lang="ko">' in korean


@pytest.fixture
def server() -> Iterator[LiveServer]:
    """The style-guide app over real HTTP on 127.0.0.1."""
    running = LiveServer().start(make_app())
    yield running
    running.stop()


@pytest.mark.browser
def test_style_guide_in_chromium(server: LiveServer, browser) -> None:
    """The vendored font loads, no request leaves 127.0.0.1, phones get no sideways scroll;
    screenshots of desktop and mobile are saved for a human to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    failed: list[str] = []
    for name, width, height in (("desktop", 1280, 900), ("mobile", 390, 844), ("small", 360, 740)):
        page = browser.new_page(viewport={"width": width, "height": height},
                                device_scale_factor=1 if name == "desktop" else 2)
        page.on("request", lambda req: requested.append(req.url))
        page.on("requestfailed", lambda req: failed.append(req.url))
        # Error pages answer 400/500 on purpose; every asset they load must still be found.
        page.on("response", lambda res: res.status >= 400 and res.request.resource_type != "document"
                and failed.append(f"{res.status} {res.url}"))
        page.goto(server.url + "/", wait_until="networkidle")
        page.evaluate("document.fonts.ready")

        loaded = page.evaluate(
            """() => [...document.fonts]
                .filter(f => f.family.replace(/["']/g, '') === 'Pretendard' && f.status === 'loaded')
                .map(f => f.weight)""")
        assert {"400", "700"} <= set(loaded), f"Pretendard weights loaded: {loaded}"
        assert page.evaluate(f"document.fonts.check('16px {FONT_FAMILY}', '결제하기 한국어')")
        assert page.evaluate(f"document.fonts.check('bold 16px {FONT_FAMILY}', '주문 요약')")
        family = page.evaluate("getComputedStyle(document.body).fontFamily")
        assert family.startswith(FONT_FAMILY), family

        page.screenshot(path=str(SCREENSHOTS / f"style-guide-{name}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .filter(e => !e.closest('.table-wrap, pre, .site-nav'))
                .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
        assert overflow <= 0, f"{name}: page is {overflow}px wider than the {width}px screen: {wide}"
        if name == "desktop":
            page.goto(server.url + "/error/400?csrf=1", wait_until="networkidle")
            page.screenshot(path=str(SCREENSHOTS / "error-400-csrf-desktop.png"), full_page=True)
            page.goto(server.url + "/?lang=en&env=test", wait_until="networkidle")
            assert page.evaluate("document.documentElement.lang") == "en"
            page.screenshot(path=str(SCREENSHOTS / "style-guide-test-env-en.png"))
        page.close()

    assert requested, "the browser made no request at all"
    foreign = [url for url in requested if urlsplit(url).hostname != "127.0.0.1" and not url.startswith("data:")]
    assert foreign == [], f"requests left the machine: {foreign}"
    assert failed == [], f"failed requests: {failed}"
    assert any(url.endswith("Pretendard-Regular.subset.woff2") for url in requested)
