"""Tuning keys of instance/config.py (docs/CONFIGURATION.md): a wrong value stops startup with one
sentence naming the key, instead of a 500 on the first login or notification."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app import TUNING_KEYS


@pytest.mark.parametrize("key", [key for key, _default, _least in TUNING_KEYS])
@pytest.mark.parametrize("bad", ["five", "", None, 2.5, True, -1])
def test_a_bad_tuning_value_stops_startup_naming_the_key(make_app: Callable[..., Any], key: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"^{key} must be a whole number of at least"):
        make_app(**{key: bad})


def test_tuning_values_from_the_config_file_are_numbers_and_defaults_apply(make_app: Callable[..., Any]) -> None:
    app = make_app(COMMON_RETURN_LIMIT="12", ADMIN_IDLE_MINUTES=0)
    assert (app.config["COMMON_RETURN_LIMIT"], app.config["ADMIN_IDLE_MINUTES"]) == (12, 0)
    assert (app.config["ADMIN_LOGIN_LIMIT"], app.config["COMMON_RETURN_WINDOW_SECONDS"]) == (5, 60)
    assert app.extensions["common_return_limiter"].limit == 12


@pytest.mark.parametrize("value", ["latin-1", "euc-jp", "shift_jis"])
def test_a_notification_charset_kcp_does_not_send_stops_startup(make_app: Callable[..., Any], value: str) -> None:
    with pytest.raises(ValueError, match="^KCP_NOTIFY_CHARSET must be auto, euc-kr or utf-8"):
        make_app(KCP_NOTIFY_CHARSET=value)


@pytest.mark.parametrize("value", ["auto", "euc-kr", "EUC-KR", "utf-8", "ks_c_5601-1987", ""])
def test_the_notification_charsets_kcp_sends_are_accepted(make_app: Callable[..., Any], value: str) -> None:
    assert make_app(KCP_NOTIFY_CHARSET=value).config["KCP_NOTIFY_CHARSET"] == value
