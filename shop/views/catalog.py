"""The catalog: ``GET /``; and ``GET /favicon.ico``, which browsers ask for by that name."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, send_from_directory

from shop.catalog import PRODUCTS

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index():
    """Every product, each leading to its order page."""
    return render_template("catalog.html", products=PRODUCTS)


@bp.get("/favicon.ico")
def favicon():
    """The shop's icon (static/img/favicon.ico, made from favicon.svg) where browsers look for it first."""
    return send_from_directory(current_app.static_folder or "static", "img/favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=86400)
