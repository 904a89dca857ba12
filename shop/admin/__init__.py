"""Staff pages under /admin: login, orders, inquiry, refunds, manual card payment, notifications.

Every page needs a signed-in admin (shop.admin.auth); every POST is CSRF-checked before the view
runs and every action lands in the audit trail (shop.audit.AuditLog).

``shop.init_app`` registers ``bp`` (see OPTIONAL_BLUEPRINTS there); whatever the admin needs from
the app is set up when the blueprint is registered, so ``init_admin(app)`` and a plain
``app.register_blueprint(bp)`` do the same thing.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from flask.blueprints import BlueprintSetupState

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _setup(state: BlueprintSetupState) -> None:
    """Configure the app for the admin pages: CSRF, Babel, cookie flags, limits, the password digest."""
    import shop.audit  # noqa: F401 - registers AuditLog/AdminSession so db.create_all() makes them
    from shop.extensions import babel, csrf

    app = state.app
    if "csrf" not in app.extensions:
        csrf.init_app(app)
    if "babel" not in app.extensions:
        babel.init_app(app)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    auth.remember_password(app)


bp.record_once(_setup)


def init_admin(app: Flask) -> None:
    """Register the admin pages on ``app`` (once)."""
    if "admin" not in app.blueprints:
        app.register_blueprint(bp)


# The views and hooks attach themselves to bp; they must be imported before bp is registered.
from shop.admin import auth, routes  # noqa: E402, F401
