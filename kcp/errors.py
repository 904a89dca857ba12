"""One small error hierarchy for everything in ``kcp``.

Callers catch by *cause*, never by message text:

* ``KcpConfigError``      - the configuration cannot work; fix it before starting.
* ``KcpValidationError``  - an order-page parameter or input is invalid (names field, value, rule).
* ``KcpSigningError``     - the certificate or private key cannot be used.
* ``KcpApiError``         - KCP answered, with a ``res_cd`` other than ``0000``.
* ``KcpOutcomeUnknown``   - the request may or may not have reached KCP (timeout, dropped
                            connection). Money may have moved: settle by inquiry, never retry blindly.
* ``KcpTransportError``   - KCP's answer was unusable (HTTP error status, body not JSON). The
                            request was refused before processing or the answer was lost; the
                            caller treats a money-moving call like an unknown outcome.
* ``KcpNotificationError``- a ``common_return`` POST is malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KcpError(Exception):
    """Base class of every error raised by the kcp package."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KcpConfigError(KcpError):
    """The configuration cannot work; the message says in one sentence what to change."""


class Rule(str):
    """A broken rule: English text, which also keeps its message id and values.

    ``Rule("at most %(limit)s characters (got %(length)s)", limit=20, length=25)`` is the string
    "at most 20 characters (got 25)" wherever a string is expected; a shop that shows the rule in
    another language translates ``template`` (a constant message id) and fills in ``values``. A
    plain string works as a rule too: its template is itself.
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, /, **values: Any) -> Rule:
        """The rule's English text; ``template`` uses %(name)s placeholders."""
        rule = super().__new__(cls, template % values if values else template)
        rule.template = template
        rule.values = values
        return rule


class KcpValidationError(KcpError, ValueError):
    """An input value breaks a documented rule.

    ``rule`` reads in English; ``rule_id`` and ``rule_values`` are the same rule as a message id and
    its values, for a page in another language (see ``Rule``).
    """

    def __init__(self, field: str, value: Any, rule: str):
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={value!r}: {rule}")

    @property
    def rule_id(self) -> str:
        """The rule's message id (its template, or the plain rule text)."""
        return getattr(self.rule, "template", str(self.rule))

    @property
    def rule_values(self) -> dict[str, Any]:
        """The values of the rule's placeholders ({} for a plain rule)."""
        return dict(getattr(self.rule, "values", {}))


class KcpSigningError(KcpError):
    """The certificate or private key cannot be loaded or used."""


class KcpApiError(KcpError):
    """KCP answered with a result code other than ``0000``."""

    def __init__(self, res_cd: str, res_msg: str = "", res_en_msg: str = "",
                 raw: Mapping[str, Any] | None = None):
        self.res_cd = res_cd
        self.res_msg = res_msg
        self.res_en_msg = res_en_msg
        self.raw = dict(raw or {})
        super().__init__(f"[{res_cd}] {res_msg or res_en_msg}".strip())


class KcpOutcomeUnknown(KcpError):
    """Timeout or dropped connection: KCP may have processed the request."""

    should_settle_by_inquiry = True


class KcpTransportError(KcpError):
    """KCP's answer could not be used: HTTP error status or a body that is not JSON."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        self.status = status
        self.body = body[:500]
        super().__init__(message)


class KcpNotificationError(KcpError):
    """A common_return notification is malformed."""
