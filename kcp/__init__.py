"""NHN KCP integration: configuration, signing, API client, order-page parameters,
notifications, receipts and code tables. The core modules import no web framework, so this
package can be copied into any Python shop; ``kcp.sandbox`` (a Flask blueprint) is the only
part that needs Flask.
"""
