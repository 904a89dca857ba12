"""The catalog: ``GET /``."""

from __future__ import annotations

from flask import Blueprint, render_template

from shop.catalog import PRODUCTS

bp = Blueprint("catalog", __name__)


@bp.get("/")
def index():
    """Every product, each leading to its order page."""
    return render_template("catalog.html", products=PRODUCTS)
