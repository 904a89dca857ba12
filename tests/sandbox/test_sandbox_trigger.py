"""``flask sandbox trigger`` and the console's trigger page: any KCP notification to any URL, over real HTTP,
judged as KCP judges the reply. (``python -m kcp.sandbox trigger`` is tested in tests/standalone.)"""

from __future__ import annotations

import re

import requests
from sandbox_helpers import SANDBOX
from support import csrf_token

from kcp.notify import parse_notification


def run(server, *args: str):
    """Run ``flask sandbox trigger ARGS`` against the live server's app."""
    return server.app.test_cli_runner().invoke(args=["sandbox", "trigger", *args])


def test_deposit_in_euc_kr_by_default_with_a_clear_verdict(server, receiver_factory) -> None:
    receiver = receiver_factory(["0000"])
    result = run(server, "deposit", receiver.url, "--depositor", "김철수", "--order-amount", "25000")
    assert result.exit_code == 0, result.output
    assert "VERDICT: counts as 0000" in result.output
    posted = receiver.posts[0]
    assert (posted["tx_cd"], posted["op_cd"], posted["ipgm_mnyx"], posted["totl_mnyx"]) == ("TX00", "50", "25000", "25000")
    assert (posted["remitter"], posted["ipgm_name"], posted["site_cd"]) == ("김철수", "김철수", "T0000")
    assert len(posted["noti_id"]) == 20 and len(posted["tno"]) == 14 and posted["ordr_no"].startswith("TRIGGER-")
    assert "%B1%E8%C3%B6%BC%F6" in receiver.bodies[0].decode("ascii")  # 김철수 in EUC-KR
    assert receiver.content_types[0] == "application/x-www-form-urlencoded"
    # Every field 004 lists is there, as the shop's own parser reads them.
    note = parse_notification(posted)
    assert note.remitter == "김철수" and note.ipgm_mnyx == 25000


def test_utf8_and_a_declared_charset(server, receiver_factory) -> None:
    receiver = receiver_factory(["0000"], charset="utf-8")
    result = run(server, "deposit", "--url", receiver.url, "--charset", "utf-8", "--declare-charset", "--depositor", "홍길동")
    assert result.exit_code == 0, result.output
    assert "%ED%99%8D%EA%B8%B8%EB%8F%99" in receiver.bodies[0].decode("ascii")
    assert receiver.content_types[0] == "application/x-www-form-urlencoded; charset=utf-8"


def test_each_kind(server, receiver_factory) -> None:
    receiver = receiver_factory(["0000"])
    for kind in ("partial-deposit", "excess-deposit", "reversal"):
        assert run(server, kind, receiver.url, "--order-amount", "10000").exit_code == 0
    partial, excess, reversal = receiver.posts
    assert (partial["ipgm_mnyx"], partial["op_cd"]) == ("5000", "50")
    assert (excess["ipgm_mnyx"], excess["op_cd"]) == ("11000", "50")
    assert (reversal["ipgm_mnyx"], reversal["op_cd"]) == ("10000", "13")
    result = run(server, "duplicate", receiver.url)
    assert result.exit_code == 0 and result.output.count("VERDICT: counts as 0000") == 2
    first, second = receiver.posts[3:]
    assert first == second  # the same noti_id and every other field: what a KCP retry looks like


def test_any_field_by_option(server, receiver_factory) -> None:
    receiver = receiver_factory(["0000"])
    result = run(server, "deposit", receiver.url, "--ordr-no", "ORD-1", "--tno", "24010112345678", "--noti-id",
                 "08060404000000000004", "--op-cd", "18", "--amount", "777", "--field", "cash_a_no=123456789",
                 "--field", "custom_x=값")
    assert result.exit_code == 0, result.output
    posted = receiver.posts[0]
    assert (posted["ordr_no"], posted["tno"], posted["noti_id"], posted["op_cd"]) == (
        "ORD-1", "24010112345678", "08060404000000000004", "18")
    assert (posted["ipgm_mnyx"], posted["cash_a_no"], posted["custom_x"]) == ("777", "123456789", "값")


def test_a_reply_that_is_not_0000_exits_non_zero_and_retry_follows_the_schedule(server, receiver_factory) -> None:
    refusing = receiver_factory(["9999"])
    result = run(server, "deposit", refusing.url)
    assert result.exit_code == 1
    assert "VERDICT: does NOT count as 0000 (HTTP 200, result=9999)" in result.output
    assert len(refusing.posts) == 1  # no retry unless asked

    flaky = receiver_factory(["9999", "9999", "0000"])
    result = run(server, "deposit", flaky.url, "--retry", "--schedule", "0,0.01,0.01,0.01")
    assert result.exit_code == 0, result.output
    assert len(flaky.posts) == 3 and "try 3/4" in result.output
    assert {p["noti_id"] for p in flaky.posts} == {flaky.posts[0]["noti_id"]}  # KCP retries the same notification


def test_nothing_listening_and_bad_input_are_clear(server) -> None:
    nobody = run(server, "deposit", "http://127.0.0.1:9/common_return", "--timeout", "2")
    assert nobody.exit_code == 1 and "no answer: ConnectionError" in nobody.output
    no_url = run(server, "deposit")
    assert no_url.exit_code == 2 and "URL" in no_url.output
    not_euc_kr = run(server, "deposit", "http://127.0.0.1:9/x", "--depositor", "😀")
    assert not_euc_kr.exit_code == 1 and "use --charset utf-8" in not_euc_kr.output


def test_the_shop_counts_a_triggered_deposit_for_an_order_it_does_not_know(server) -> None:
    """Against the shop's own /common_return: stored (0000) even with no order behind it, and again for a duplicate."""
    result = run(server, "duplicate", f"{server.url}/common_return", "--ordr-no", "NO-SUCH-ORDER", "--depositor", "Hong")
    assert result.exit_code == 0, result.output
    assert result.output.count("VERDICT: counts as 0000") == 2


def test_the_console_trigger_page(server, receiver_factory) -> None:
    receiver = receiver_factory(["0000", "1234"])
    http = requests.Session()
    page = http.get(f"{server.url}{SANDBOX}/trigger?lang=en", timeout=5)  # the verdicts below are read in English
    assert page.status_code == 200 and 'name="url"' in page.text
    form = {"csrf_token": csrf_token(page.text), "url": receiver.url, "kind": "excess-deposit", "charset": "euc-kr",
            "depositor": "이영희", "site_cd": "T0000", "order_amount": "20000", "amount": "", "fields": "cash_a_no=987654321"}
    shown = http.post(f"{server.url}{SANDBOX}/trigger", data=form, timeout=10).text
    assert receiver.posts[0]["ipgm_mnyx"] == "21000" and receiver.posts[0]["remitter"] == "이영희"
    assert receiver.posts[0]["cash_a_no"] == "987654321"
    assert re.search(r'data-accepted="yes"', shown) and "counts as 0000" in shown
    again = http.post(f"{server.url}{SANDBOX}/trigger", data=form, timeout=10).text
    assert 'data-accepted="no"' in again and "result=1234" in again
    home = http.get(f"{server.url}{SANDBOX}/", timeout=5).text
    assert f'href="{SANDBOX}/trigger"' in home


def test_the_trigger_page_under_a_host_header_whose_port_no_url_can_hold_is_served(server) -> None:
    """A Host header with a port past 65535 (a broken client's): the page is shown without a default URL, not a 500."""
    page = requests.get(f"{server.url}{SANDBOX}/trigger", headers={"Host": "shop.example:99999"}, timeout=5)
    assert page.status_code == 200 and 'name="url"' in page.text


def test_flask_sandbox_trigger_exists_outside_the_sandbox_too(make_app, receiver_factory) -> None:
    """A shop on KCP's test system has no sandbox, but can still fire a notification at its common_return."""
    receiver = receiver_factory(["0000"])
    app = make_app(KCP_ENV="test")
    result = app.test_cli_runner().invoke(args=["sandbox", "trigger", "deposit", receiver.url, "--depositor", "Kim"])
    assert result.exit_code == 0, result.output
    assert receiver.posts[0]["remitter"] == "Kim"
    deposit = app.test_cli_runner().invoke(args=["sandbox", "deposit", "X"])
    assert deposit.exit_code != 0  # the sandbox's own commands are not there
