"""Views of /kcp/params (reference + builder), its JSON endpoints, and /kcp/codes."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from kcp.codes import RESULT_CODE_PAGE, RESULT_CODES
from kcp.params import GROUPS, RETURN_FIELDS, describe_params
from shop.reference import bp
from shop.reference.builder import BUILDER_FIELDS, SAMPLE_ORDER, build

GROUP_TITLES = {
    "required": _l("Required"),
    "optional": _l("Optional"),
    "card": _l("Credit card"),
    "vbank": _l("Virtual account"),
    "mobile": _l("Mobile phone"),
    "point": _l("Points"),
    "voucher": _l("Gift vouchers"),
    "cash_receipt": _l("Cash receipt"),
    "return": _l("Returned by the payment window"),
}


def _grouped() -> list[tuple[str, str, list[dict]]]:
    """describe_params() split by group, in kcp.params' group order: (group, title, params)."""
    params = describe_params()
    return [(g, str(GROUP_TITLES.get(g, g)), [p for p in params if p["group"] == g])
            for g in GROUPS if any(p["group"] == g for p in params)]


def _render_params(values: dict[str, str], result=None, status: int = 200):
    """The reference page with the builder showing ``values`` (and a result after a plain POST)."""
    return render_template("reference/params.html", groups=_grouped(), values=values, result=result,
                           builder_fields=BUILDER_FIELDS, return_fields=RETURN_FIELDS), status


@bp.get("/params")
def params():
    """Every order-page option kcp.params knows, and the builder filled with 000's sample order."""
    return _render_params(dict(SAMPLE_ORDER))


@bp.get("/params.json")
def params_json():
    """The same metadata as JSON (what the page is generated from)."""
    return jsonify(describe_params())


@bp.post("/params/build")
def params_build():
    """Validate the builder's options with kcp.params; JSON for the page's script, HTML without it."""
    if request.is_json:
        payload = request.get_json(silent=True)
        options = payload.get("options") if isinstance(payload, dict) else None
        if not isinstance(options, dict):
            return jsonify({"ok": False, "errors": [], "message": "expected {\"options\": {name: value}}"}), 400
        result = build(options)
        return jsonify(result.as_json()), 200 if result.ok else 422
    values = {name: request.form.get(name, "") for name in BUILDER_FIELDS}
    result = build(values)
    return _render_params(values, result, 200 if result.ok else 422)


@bp.get("/codes")
def codes():
    """Every result code kcp.codes knows: meaning in both languages, cause and fix, one anchor each."""
    return render_template("reference/codes.html", codes=list(RESULT_CODES.values()), code_page=RESULT_CODE_PAGE)
