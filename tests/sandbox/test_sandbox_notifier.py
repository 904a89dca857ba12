"""Virtual-account deposits: common_return notifications, retries until result=0000, op_cd 13."""

from __future__ import annotations

from sandbox_helpers import Window

from kcp.sandbox import notifier


def issue_account(window: Window, kcp, amount: int = 1004) -> str:
    """Pay by virtual account in the window and approve it; returns the tno."""
    from sandbox_helpers import order_form

    result = window.pay("vbank", form=order_form(pay_method="001000000000", good_mny=str(amount), ordr_idxx="VA-1"))
    return kcp.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"], enc_info=result["enc_info"],
                       ordr_mony=amount).tno


def test_notification_retried_until_0000(server, window: Window, kcp, receiver_factory) -> None:
    receiver = receiver_factory(["9999", "9999", "0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = receiver.url
    tno = issue_account(window, kcp)
    nid = notifier.deposit(server.app, "VA-1")
    assert notifier.wait_idle(server.app, 5)
    assert len(receiver.posts) == 3 and receiver.remote_addrs == ["127.0.0.1"] * 3
    form = receiver.posts[0]
    assert (form["site_cd"], form["tno"], form["ordr_no"], form["tx_cd"], form["op_cd"]) == ("T0000", tno, "VA-1", "TX00", "50")
    assert (form["ipgm_mnyx"], form["totl_mnyx"], form["ipgm_name"], form["remitter"]) == ("1004", "1004", "홍길동", "홍길동")
    assert len(form["noti_id"]) == 20 and form["bank_code"] == "03" and len(form["account"]) == 14
    assert {p["noti_id"] for p in receiver.posts} == {form["noti_id"]}  # a retry repeats the same notification
    logged = next(n for n in notifier.notifications(server.app) if n["id"] == nid)
    assert logged["state"] == "delivered"
    assert [t["outcome"] for t in logged["tries"]] == ["retry: result=9999", "retry: result=9999", "accepted"]
    assert all(t["http_status"] == 200 for t in logged["tries"])
    assert kcp.inquire(tno, "PAVC").shop_status == "STIY"
    assert kcp.inquire(tno, "PAVC").raw["ipkum_money"] == "1004"
    log_page = server.app.test_client().get("/_sandbox/kcp/log").get_data(as_text=True)
    assert log_page.count('data-outcome="retry: result=9999"') == 2 and 'data-outcome="accepted"' in log_page


def test_gives_up_after_the_schedule(server, window: Window, kcp, receiver_factory) -> None:
    receiver = receiver_factory(["9999"])
    server.app.config.update(KCP_SANDBOX_NOTIFY_URL=receiver.url, KCP_SANDBOX_NOTIFY_SCHEDULE="0,0,0,0,0,0,0,0,0,0,0,0")
    issue_account(window, kcp)
    nid = notifier.deposit(server.app, "VA-1", background=False)
    assert len(receiver.posts) == 10  # KCP tries at most 10 times (004)
    assert next(n for n in notifier.notifications(server.app) if n["id"] == nid)["state"] == "failed"


def test_bank_cancel_op_cd_13_and_resend_with_same_noti_id(server, window: Window, kcp, receiver_factory) -> None:
    receiver = receiver_factory(["0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = receiver.url
    tno = issue_account(window, kcp)
    notifier.deposit(server.app, tno, amount=1000, op_cd="18", background=False)
    assert receiver.posts[-1]["ipgm_mnyx"] == "1000" and receiver.posts[-1]["op_cd"] == "18"
    cancel_id = notifier.cancel_deposit(server.app, "VA-1", background=False)
    assert receiver.posts[-1]["op_cd"] == "13" and receiver.posts[-1]["tno"] == tno
    assert kcp.inquire(tno, "PAVC").shop_status == "STIC"
    again = notifier.resend(server.app, cancel_id, background=False)
    assert receiver.posts[-1]["noti_id"] == receiver.posts[-2]["noti_id"]
    assert again != cancel_id


def test_in_process_delivery_to_the_shops_common_return(make_app, tmp_path) -> None:
    app = make_app()  # no KCP_SANDBOX_NOTIFY_URL: the app's own /common_return, in-process from 127.0.0.1
    window_client = app.test_client()
    from sandbox_helpers import CHOICES, order_form

    result = window_client.post("/_sandbox/kcp/window/authorize", headers={"Accept": "application/json"},
                                data={**order_form(pay_method="001000000000", ordr_idxx="VA-2"), **CHOICES["vbank"]}).json
    app.extensions["kcp"].client.approve(tran_cd=result["tran_cd"], enc_data=result["enc_data"],
                                         enc_info=result["enc_info"], ordr_mony=1004)
    nid = notifier.deposit(app, "VA-2", background=False)
    logged = next(n for n in notifier.notifications(app) if n["id"] == nid)
    assert logged["target"] == notifier.IN_PROCESS
    assert logged["tries"][0]["http_status"] == 200 and logged["state"] == "delivered"


def test_cli_deposit_prints_each_try(server, window: Window, kcp, receiver_factory) -> None:
    receiver = receiver_factory(["9999", "0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = receiver.url
    issue_account(window, kcp)
    runner = server.app.test_cli_runner()
    out = runner.invoke(args=["sandbox", "deposit", "VA-1", "--amount", "1004"])
    assert out.exit_code == 0, out.output
    assert "try 1/10: HTTP 200: retry: result=9999" in out.output and "try 2/10: HTTP 200: accepted" in out.output
    cancel = runner.invoke(args=["sandbox", "cancel-deposit", "VA-1"])
    assert cancel.exit_code == 0 and receiver.posts[-1]["op_cd"] == "13"
    missing = runner.invoke(args=["sandbox", "deposit", "NO-SUCH-ORDER"])
    assert missing.exit_code != 0 and "NO-SUCH-ORDER" in missing.output


def test_mock_deposit_page(server, window: Window, kcp, receiver_factory) -> None:
    import requests
    from support import input_values

    receiver = receiver_factory(["0000"])
    server.app.config["KCP_SANDBOX_NOTIFY_URL"] = receiver.url
    tno = issue_account(window, kcp)
    http = requests.Session()
    page = http.get(f"{server.url}/_sandbox/kcp/deposits", timeout=5).text
    assert f'data-tno="{tno}"' in page and "SANDBOX — not KCP" in page
    token = input_values(page, "csrf_token")
    data = {"action": "deposit", "tno": tno, "amount": "1004", "op_cd": "50", "remitter": "김입금"}
    if token:
        data["csrf_token"] = token[0]
    reply = http.post(f"{server.url}/_sandbox/kcp/deposits", data=data, timeout=5)
    assert reply.status_code == 200
    assert notifier.wait_idle(server.app, 5)
    assert receiver.posts[-1]["remitter"] == "김입금"


def test_reply_detection() -> None:
    assert notifier.reply_accepted('<input type="hidden" name="result" value="0000">')
    assert notifier.reply_accepted("<INPUT value='0000' name='result' type=hidden>")
    assert not notifier.reply_accepted('<input type="hidden" name="result" value="9999">')
    assert not notifier.reply_accepted("result=0000")
