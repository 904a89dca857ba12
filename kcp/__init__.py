"""NHN KCP integration: configuration, signing, API client, order-page parameters,
notifications, receipts and code tables. The core modules import no web framework, so this
package can be copied into any Python shop; ``kcp.sandbox`` (a Flask blueprint and a
standalone server, ``python -m kcp.sandbox``) is the only part that needs Flask.
"""

__version__ = "0.1.0"
