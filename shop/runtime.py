"""The KCP objects one app instance uses: configuration, signer and client, built once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app

from kcp.client import Exchange, KcpClient
from kcp.config import KcpConfig
from kcp.signing import Signer


@dataclass
class KcpRuntime:
    """Holds the app's KcpConfig, Signer and KcpClient; listeners see every KCP exchange."""

    config: KcpConfig
    signer: Signer
    client: KcpClient
    listeners: list[Callable[[Exchange], None]] = field(default_factory=list)

    def dispatch(self, exchange: Exchange) -> None:
        """Pass one exchange to every listener (used for the "under the hood" record)."""
        for listener in self.listeners:
            listener(exchange)


def get_kcp() -> KcpRuntime:
    """The current app's KcpRuntime."""
    return current_app.extensions["kcp"]
