"""The sandbox console in Korean and English.

The console pages (home, log, deposits, faults, ledger, trigger, test data, OpenAPI) are written in
English and shown in Korean through ``KO`` below: the sandbox runs without the shop (``python -m
kcp.sandbox``, the ``kcp[sandbox]`` wheel needs only Flask), so it carries its own small catalog
instead of the shop's Flask-Babel one. A test keeps every text the templates and console.py pass
to ``tr`` in ``KO``.

The language: ``?lang=ko`` / ``?lang=en`` switches and is remembered in the session; mounted in
the shop, the sandbox follows the shop's choice (the same ``?lang=``, the shop's session language,
the browser's Accept-Language on a first visit); on its own it does the same with its own session.
Korean when nothing says otherwise. The payment window is not covered: it follows ``eng_flag``,
as KCP's does (``_i18n.html``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import current_app, has_request_context, request, session, url_for

LANGUAGES = ("ko", "en")
DEFAULT_LANGUAGE = "ko"
SESSION_KEY = "lang"  # the shop's key too: one choice for the shop and its sandbox
LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}


def console_language() -> str:
    """The console's language for this request (see the module docstring)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if "babel" in current_app.extensions:
        from flask_babel import get_locale  # the shop's own selector decides (mounted in the shop)

        chosen = str(get_locale() or "")
        return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session[SESSION_KEY] = wanted
        return wanted
    remembered = session.get(SESSION_KEY)
    if remembered in LANGUAGES:
        return remembered
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def translate(text: str, lang: str, **params: Any) -> str:
    """``text`` in ``lang`` (Korean from KO; English as written), with ``%(name)s`` placeholders filled."""
    chosen = KO.get(text, text) if lang == "ko" else text
    return chosen % params if params else chosen


def tr(text: str, **params: Any) -> str:
    """Template and view helper: ``text`` in the console's language."""
    return translate(text, console_language(), **params)


def lang_url(lang: str) -> str:
    """The current page in another language (after a POST: the console's home)."""
    if request.method != "GET":
        return url_for("kcp_sandbox.home", lang=lang)
    args = request.args.to_dict(flat=False)
    args["lang"] = [lang]
    return request.path + "?" + urlencode(args, doseq=True)


def context() -> dict[str, Any]:
    """What the console templates use: ``tr``, the language and the switch."""
    return {"tr": tr, "sb_lang": console_language(), "sb_languages": LANGUAGE_NAMES, "sb_lang_url": lang_url,
            "sb_layout": current_app.config.get("SANDBOX_LAYOUT") or "sandbox/standalone.html"}


# English -> Korean. Keys are the exact texts the templates and console.py pass to ``tr``.
KO: dict[str, str] = {
    "KCP sandbox": "KCP 샌드박스",
    "Nothing here is NHN KCP: the sandbox only imitates it.":
        "여기의 어떤 것도 NHN KCP가 아닙니다. 샌드박스는 KCP를 흉내 낼 뿐입니다.",
    "Home": "홈",
    "Log": "로그",
    "Deposits": "모의 입금",
    "Faults": "장애 주입",
    "Ledger": "원장",
    "Trigger": "통보 보내기",
    "Test data": "테스트 데이터",
    "Skip to content": "본문으로 건너뛰기",
    "Offline KCP sandbox: no real payment is made and nothing reaches KCP.":
        "오프라인 KCP 샌드박스입니다. 실제 결제는 일어나지 않으며 KCP에 아무것도 전송되지 않습니다.",
    "Language": "언어",
    "An offline stand-in for NHN KCP, for development and demos. Not affiliated with NHN KCP.":
        "개발과 시연을 위한 NHN KCP 오프라인 대역입니다. NHN KCP와 관계없습니다.",
    ("An offline stand-in for NHN KCP: the payment window, the approval, manual-card, cancel and inquiry APIs at KCP's "
     "own paths, virtual-account deposits with common_return notifications, and receipt pages. Code that works here is "
     "meant to work against KCP's test system (KCP_ENV=test)."):
        ("NHN KCP의 오프라인 대역입니다. 결제창, KCP와 같은 경로의 승인·수기결제·취소·조회 API, common_return 통보가 "
         "따르는 가상계좌 입금, 영수증 페이지를 제공합니다. 여기서 동작하는 코드는 KCP 테스트 "
         "시스템(KCP_ENV=test)에서도 동작하도록 만들어져 있습니다."),
    "%(n)s virtual account(s) awaiting a deposit. Deposit, have the bank cancel it, re-send a notification.":
        "입금 대기 중인 가상계좌 %(n)s개. 입금하기, 은행 입금취소, 통보 다시 보내기.",
    "Every API call (masked) and every notification try.": "모든 API 호출(마스킹됨)과 모든 통보 시도.",
    "%(n)s armed. Make the next call answer late, drop, fail with HTTP 500 or answer with HTML.":
        "%(n)s개 설정됨. 다음 호출을 늦게 응답하거나, 연결을 끊거나, HTTP 500으로 실패하거나, HTML로 응답하게 합니다.",
    "%(n)s transaction(s), their refunds and the window's authorizations.": "거래 %(n)s건, 그 환불과 결제창 인증 내역.",
    "Send any KCP notification (deposit, reversal, duplicate ...) to any URL, EUC-KR or UTF-8.":
        "어떤 KCP 통보(입금, 입금취소, 중복 ...)든 원하는 URL로 EUC-KR 또는 UTF-8로 보냅니다.",
    "Test cards, magic values (declines, no partial cancel, faults) and every result code the sandbox answers.":
        "테스트 카드, 특수 값(승인 거절, 부분취소 불가, 장애)과 샌드박스가 응답하는 모든 결과 코드.",
    "KCP APIs (OpenAPI 3.1)": "KCP API (OpenAPI 3.1)",
    "Every path, field and the common_return webhook, as the documents define them; openapi.json too.":
        "문서에 정의된 모든 경로와 필드, common_return 웹훅. openapi.json도 있습니다.",
    "Endpoints": "엔드포인트",
    "What": "항목",
    "Path (below this prefix, KCP's own)": "경로 (이 접두어 아래, KCP와 같은 경로)",
    "Payment-window script": "결제창 스크립트",
    "Receipts": "영수증",
    "Registered sites": "등록된 사이트",
    "Certificates (kcp_cert_info must serialize one of them)": "인증서 (kcp_cert_info는 이 중 하나를 직렬화한 값이어야 함)",
    "Notifications go to": "통보 받는 곳",
    "(none registered)": "(등록되지 않음)",
    "Notifications": "통보",
    ("Sent to each site's registered URL (above) as %(charset)s forms, as KCP does by default; tried after %(schedule)s "
     "seconds (at most 10 tries, like KCP)."):
        ("KCP의 기본값처럼 각 사이트에 등록된 URL(위)로 %(charset)s 폼으로 보냅니다. %(schedule)s초 뒤에 시도합니다 "
         "(KCP처럼 최대 10회)."),
    "The same from a shell:": "셸에서 같은 일을 하려면:",
    "(or python -m kcp.sandbox deposit ... for the standalone sandbox).":
        "(단독 실행 샌드박스는 python -m kcp.sandbox deposit ...).",
    "Mock deposits": "모의 입금",
    ("Like KCP's test deposit page: a deposit turns an awaiting virtual account (STIR) into deposited (STIY), and the "
     "sandbox POSTs a common_return notification (TX00, op_cd 50) to %(target)s, trying again until the reply holds "
     "result 0000. A bank cancel sends op_cd 13."):
        ("KCP의 테스트 입금 페이지처럼, 입금하면 입금 대기(STIR) 가상계좌가 입금 완료(STIY)가 되고 샌드박스가 "
         "%(target)s(으)로 common_return 통보(TX00, op_cd 50)를 POST합니다. 응답에 result 0000이 올 때까지 다시 "
         "보냅니다. 은행 입금취소는 op_cd 13을 보냅니다."),
    "Virtual accounts": "가상계좌",
    "Order / tno": "주문 / tno",
    "Bank · account": "은행 · 계좌",
    "Amount": "금액",
    "Deadline": "입금 기한",
    "Status": "상태",
    "Action": "작업",
    "%(amount)s won": "%(amount)s원",
    "deposited %(amount)s": "입금 %(amount)s",
    "Depositor": "입금자명",
    "50 same bank": "50 당행",
    "18 other bank": "18 타행",
    "Deposit": "입금",
    "Bank cancels the deposit (op_cd 13)": "은행 입금취소 (op_cd 13)",
    "No virtual accounts yet. Pay by virtual account in the payment window to issue one.":
        "아직 가상계좌가 없습니다. 결제창에서 가상계좌로 결제하면 발급됩니다.",
    "Recent notifications": "최근 통보",
    "Order": "주문",
    "State": "상태",
    "Tries": "시도",
    "Re-send (same noti_id)": "다시 보내기 (같은 noti_id)",
    "None yet.": "아직 없습니다.",
    "pending": "대기",
    "retrying": "재시도 중",
    "delivered": "전달됨",
    "failed": "실패",
    ('Arm a one-shot fault: the next call of that API misbehaves once. "After processing" faults move the money and '
     "lose the answer: the case the shop must settle by inquiry."):
        ('일회성 장애를 설정합니다. 해당 API의 다음 호출이 한 번 잘못 동작합니다. "처리 후" 장애는 돈은 움직이고 응답만 '
         "잃어버립니다. 상점이 조회로 결과를 확정해야 하는 경우입니다."),
    "API": "API",
    "Fault": "장애",
    "Seconds (delay)": "초 (지연)",
    "Arm": "설정",
    "Armed": "설정된 장애",
    "Seconds": "초",
    "Clear": "해제",
    "Nothing armed.": "설정된 장애가 없습니다.",
    "answer late (after processing)": "늦게 응답 (처리 후)",
    "drop the connection (after processing)": "연결 끊기 (처리 후)",
    "HTTP 500 (before processing)": "HTTP 500 (처리 전)",
    "HTTP 200 with an HTML body (before processing)": "HTML 본문의 HTTP 200 (처리 전)",
    ("What the sandbox's KCP knows: transactions, their state and remaining balance, refunds and the window's "
     "single-use authorizations."):
        "샌드박스의 KCP가 알고 있는 것: 거래, 그 상태와 잔액, 환불, 결제창의 일회용 인증.",
    "Transactions": "거래",
    "Method": "결제수단",
    "Balance": "잔액",
    "Approved": "승인 시각",
    "Refunds": "환불",
    "Receipt": "영수증",
    "View": "보기",
    "No transactions yet.": "아직 거래가 없습니다.",
    "Window authorizations (enc_data, single use)": "결제창 인증 (enc_data, 일회용)",
    "Issued": "발급",
    "Used": "사용",
    "Result": "결과",
    "Credit card": "신용카드",
    "Bank transfer": "계좌이체",
    "Virtual account": "가상계좌",
    "Mobile phone": "휴대폰",
    "Points": "포인트",
    "Gift voucher": "상품권",
    "Newest first. Requests and answers are masked (card numbers, certificates, signatures, enc_data).":
        "최신순입니다. 요청과 응답은 마스킹되어 있습니다 (카드번호, 인증서, 서명, enc_data).",
    "Notifications (common_return)": "통보 (common_return)",
    "Target": "대상",
    "re-send of #%(n)s": "#%(n)s 재전송",
    "bank cancel": "입금취소",
    "deposit": "입금",
    "reply": "응답",
    "No notifications yet. Issue a virtual account and deposit into it on the Deposits page.":
        "아직 통보가 없습니다. 가상계좌를 발급받고 모의 입금 페이지에서 입금하세요.",
    "API calls": "API 호출",
    "Time": "시각",
    "Request / answer": "요청 / 응답",
    "no answer": "응답 없음",
    "request": "요청",
    "answer": "응답",
    "No API calls yet.": "아직 API 호출이 없습니다.",
    "KCP APIs (OpenAPI)": "KCP API (OpenAPI)",
    "The same description as an OpenAPI %(version)s document:": "같은 설명을 OpenAPI %(version)s 문서로:",
    "(self-contained; load it into any OpenAPI tool).": "(단독 문서입니다. 어떤 OpenAPI 도구에든 불러올 수 있습니다).",
    "Server": "서버",
    "Paths": "경로",
    "Request": "요청",
    "Field": "필드",
    "Type": "형식",
    "Required": "필수",
    "Description": "설명",
    "yes": "예",
    "Answer": "응답",
    "Group": "그룹",
    ("Test cards and magic values of this sandbox, and every result code it answers with what makes it answer it. The "
     "same tables are in kcp/sandbox/README.md; both come from kcp/sandbox/testdata.py. SBxx codes are the sandbox's "
     "own (never a real KCP code): the documents describe those refusals without a code."):
        ("이 샌드박스의 테스트 카드와 특수 값, 그리고 샌드박스가 응답하는 모든 결과 코드와 그 조건입니다. 같은 표가 "
         "kcp/sandbox/README.md에 있으며 둘 다 kcp/sandbox/testdata.py에서 만들어집니다. SBxx 코드는 샌드박스 자체 "
         "코드입니다 (실제 KCP 코드가 아님). 문서는 이런 거절을 코드 없이 설명합니다."),
    "Test cards and magic values": "테스트 카드와 특수 값",
    "Value": "값",
    "Where": "입력 위치",
    "What happens": "결과",
    "Every result code the sandbox answers": "샌드박스가 응답하는 모든 결과 코드",
    "Message (Korean)": "메시지",
    "English (source)": "영문 (출처)",
    "When": "응답 조건",
    "Trigger a notification": "통보 보내기",
    ("Send any KCP common_return notification (004, section 6) to any URL, with no order or virtual account needed: "
     "every field you leave empty is made up. The reply is judged as KCP judges it: only a body holding <input "
     'type="hidden" name="result" value="0000"> counts; anything else makes KCP try again (up to 10 times in 24 hours).'):
        ("어떤 KCP common_return 통보(004, 6장)든 원하는 URL로 보냅니다. 주문이나 가상계좌가 없어도 됩니다. 비워 둔 "
         '필드는 만들어 채웁니다. 응답은 KCP가 판단하는 방식으로 판단합니다: <input type="hidden" name="result" '
         'value="0000">이 들어 있는 본문만 성공이며, 그 밖의 응답이면 KCP는 다시 보냅니다 (24시간 안에 최대 10회).'),
    "Kind": "종류",
    "Charset": "문자셋",
    "Declare the charset in the Content-Type": "Content-Type에 문자셋 명시",
    "Depositor (remitter)": "입금자명 (remitter)",
    "made up": "자동 생성",
    "Order amount": "주문 금액",
    "Deposited (ipgm_mnyx)": "입금액 (ipgm_mnyx)",
    "from the kind": "종류에 따라",
    "Other fields, one NAME=VALUE a line": "다른 필드 (한 줄에 하나씩 NAME=VALUE)",
    "Send": "보내기",
    "copy %(n)s of %(total)s (same noti_id)": "%(total)s개 중 %(n)s번째 (같은 noti_id)",
    "Form (%(charset)s)": "폼 (%(charset)s)",
    "Reply": "응답",
    "(empty)": "(비어 있음)",
    "Verdict": "판정",
    "counts as 0000: KCP would mark the notification delivered and stop trying":
        "0000으로 인정: KCP는 통보를 전달 완료로 보고 더 보내지 않습니다",
    "does NOT count as 0000 (%(outcome)s): KCP would send it again, up to 10 tries in 24 hours":
        "0000으로 인정되지 않음 (%(outcome)s): KCP는 24시간 안에 최대 10회까지 다시 보냅니다",
    "the whole amount arrives": "전액 입금",
    "less than the order's amount arrives": "주문 금액보다 적게 입금",
    "more than the order's amount arrives": "주문 금액보다 많이 입금",
    "the bank cancels a deposit (op_cd 13)": "은행 입금취소 (op_cd 13)",
    "the same deposit twice, same noti_id (a KCP retry)": "같은 입금을 두 번, 같은 noti_id로 (KCP 재전송)",
    "Deposited; the sandbox is sending KCP's notification #%(n)s to the shop.":
        "입금했습니다. 샌드박스가 KCP 통보 #%(n)s를 상점으로 보내고 있습니다.",
    "The bank cancelled the deposit; sending notification #%(n)s (op_cd 13).":
        "은행이 입금을 취소했습니다. 통보 #%(n)s를 보냅니다 (op_cd 13).",
    "Sending notification #%(n)s again with the same noti_id.": "통보 #%(n)s를 같은 noti_id로 다시 보냅니다.",
    "Unknown action.": "알 수 없는 작업입니다.",
    "Cleared.": "해제했습니다.",
    "The next %(api)s call will meet: %(fault)s.": "다음 %(api)s 호출에 적용됩니다: %(fault)s.",
    "Not sent: %(error)s": "보내지 않았습니다: %(error)s",
    "any card number, or none": "아무 카드번호, 또는 빈 값",
    "window: card number (sb_card_no)": "결제창: 카드번호 (sb_card_no)",
    "approved; stored masked (third group)": "승인. 셋째 자리 묶음을 마스킹해 저장",
    "card number ending in 0002, e.g. 4000123456780002": "0002로 끝나는 카드번호, 예: 4000123456780002",
    "window card number; /gw/hub/v1/payment card_no": "결제창 카드번호; /gw/hub/v1/payment card_no",
    "declined (at approval for the window)": "승인 거절 (결제창은 승인 단계에서)",
    "card number ending in 0003, e.g. 4000123456780003": "0003으로 끝나는 카드번호, 예: 4000123456780003",
    "approved with partcanc_yn=N; a partial cancel (STPC) is refused": "partcanc_yn=N으로 승인. 부분취소(STPC)는 거절",
    "card_no not 13-19 digits": "13~19자리가 아닌 card_no",
    "window card number; /gw/hub/v1/payment": "결제창 카드번호; /gw/hub/v1/payment",
    "refused": "거절",
    "card_pwd 99": "card_pwd 99",
    "/gw/hub/v1/payment, certified (11121000)": "/gw/hub/v1/payment, 인증 (11121000)",
    "card authentication fails": "카드 인증 실패",
    "card_expiry in the past or not YYMM": "지난 날짜이거나 YYMM 형식이 아닌 card_expiry",
    "any 6 digits": "아무 6자리 숫자",
    "window: mobile verification code": "결제창: 휴대폰 인증번호",
    "approved": "승인",
    "any values": "아무 값",
    "window: points card number / password, voucher number": "결제창: 포인트 카드번호 / 비밀번호, 상품권 번호",
    "window and phone page: points card number / password, voucher number":
        "결제창과 휴대폰 결제 페이지: 포인트 카드번호 / 비밀번호, 상품권 번호",
    "ordr_mony other than the window's amount": "결제창 금액과 다른 ordr_mony",
    "refused; the authorization is used up": "거절. 인증은 소진됨",
    "the same enc_data twice": "같은 enc_data를 두 번",
    "the second is refused": "두 번째는 거절",
    "rem_mny other than the balance before the refund": "환불 전 잔액과 다른 rem_mny",
    "mod_mny larger than the balance": "잔액보다 큰 mod_mny",
    "STPC of a virtual account not deposited yet": "아직 입금되지 않은 가상계좌의 STPC",
    "the close button (×) or Cancel": "닫기 버튼(×) 또는 취소",
    "window": "결제창",
    "m_Completepayment gets the buyer's cancel": "m_Completepayment가 구매자의 취소를 받음",
    "fault delay N s / drop (after processing)": "장애 delay N초 / drop (처리 후)",
    "Faults page or POST /control/faults, per API": "장애 주입 페이지 또는 POST /control/faults, API별",
    "the money moves but the answer is late or lost: the client times out (settle by inquiry)":
        "돈은 움직이지만 응답이 늦거나 사라짐: 클라이언트가 시간 초과 (조회로 확정)",
    "fault http500 / nonjson (before processing)": "장애 http500 / nonjson (처리 전)",
    "nothing happens; HTTP 500, or an HTML page with HTTP 200": "아무 일도 일어나지 않음. HTTP 500, 또는 HTTP 200의 HTML 페이지",
    "success": "성공",
    "the buyer closes or cancels the window (window only)": "구매자가 결제창을 닫거나 취소 (결제창만)",
    "site_cd not registered or not 5 upper-case letters/digits (window and every API)":
        "등록되지 않았거나 대문자·숫자 5자리가 아닌 site_cd (결제창과 모든 API)",
    "approval: ordr_mony differs from the amount the buyer authorized": "승인: ordr_mony가 구매자가 인증한 금액과 다름",
    "the sandbox could not read a file it needs (e.g. a registered certificate went missing)":
        "샌드박스가 필요한 파일을 읽지 못함 (예: 등록된 인증서가 사라짐)",
    "cancel, inquiry: kcp_sign_data does not verify over site_cd^tno^mod_type / ^pay_type":
        "취소, 조회: kcp_sign_data가 site_cd^tno^mod_type / ^pay_type에 대해 검증되지 않음",
    "kcp_cert_info is not (a serialization of) a certificate registered for site_cd":
        "kcp_cert_info가 site_cd에 등록된 인증서(의 직렬화)가 아님",
    "approval: enc_data already used (reload, double submit, after 8059)":
        "승인: 이미 사용된 enc_data (새로고침, 이중 제출, 8059 이후)",
    "approval: enc_data/enc_info not issued by this window, or for another site_cd":
        "승인: 이 결제창이 발급하지 않았거나 다른 site_cd용인 enc_data/enc_info",
    "cancel of a fully cancelled transaction": "이미 전체 취소된 거래의 취소",
    "STPC: mod_mny larger than the balance": "STPC: 잔액보다 큰 mod_mny",
    "STPC: rem_mny is not the balance before this refund": "STPC: rem_mny가 이번 환불 전 잔액이 아님",
    "cancel, inquiry: no such tno (or mod_ordr_idxx) for this site_cd":
        "취소, 조회: 이 site_cd에 해당 tno(또는 mod_ordr_idxx)가 없음",
    "a field missing or malformed (the message names it); a window option the sandbox cannot offer":
        "필드 누락 또는 형식 오류 (메시지에 필드명), 샌드박스가 제공할 수 없는 결제창 옵션",
    "STPC of a payment approved with partcanc_yn=N (cards ending in 0003)":
        "partcanc_yn=N으로 승인된 결제의 STPC (0003으로 끝나는 카드)",
    "inquiry: pay_type is not the transaction's method": "조회: pay_type이 거래의 결제수단과 다름",
    "card numbers ending in 0002 (window approval, manual card)": "0002로 끝나는 카드번호 (결제창 승인, 수기결제)",
    "manual card: card_expiry not YYMM or in the past": "수기결제: YYMM 형식이 아니거나 지난 card_expiry",
    "certified manual card with card_pwd 99": "card_pwd 99인 인증 수기결제",
    "card number not 13-19 digits": "13~19자리가 아닌 카드번호",
    "any other path below the sandbox, or another method than POST on an API path":
        "샌드박스 아래의 그 밖의 경로, 또는 API 경로에 POST가 아닌 메서드",
    "phone payment page (PayUrl): approval_key empty or never issued by trade registration":
        "휴대폰 결제 페이지(PayUrl): approval_key가 비었거나 거래 등록에서 발급된 적 없음",
    "phone payment page: the form's site, order number, amount, method or Ret_URL differ from the registration":
        "휴대폰 결제 페이지: 폼의 사이트, 주문번호, 금액, 결제수단 또는 Ret_URL이 거래 등록과 다름",
    "phone payment page: the registration's approval_key was already used for a payment":
        "휴대폰 결제 페이지: 거래 등록의 approval_key가 이미 결제에 사용됨",
}
