"""The one exception the sandbox's views raise, and the KCP-style failure fields it becomes.

Codes and messages come from ``kcp.codes.RESULT_CODES``: codes quoted in KCP's documents keep
KCP's wording (3014, 8059 ...); refusals the documents describe without a code use the project's
``SBxx`` codes (never a real KCP code, so a log line showing one always means the sandbox
answered), and a buyer cancel in the window is ``3001``.
"""

from __future__ import annotations

from kcp import codes


class SandboxError(Exception):
    """A refusal the sandbox answers with ``res_cd``; ``detail`` names the field or the rule."""

    def __init__(self, code: str, detail: str = "", detail_ko: str = ""):
        self.code = code
        self.detail = detail
        self.detail_ko = detail_ko
        super().__init__(f"[{code}] {detail}".strip())

    def payload(self) -> dict[str, str]:
        """The JSON fields KCP sends with a failure (res_cd, res_msg, res_en_msg)."""
        return answer_payload(self.code, self.detail, self.detail_ko)


def answer_payload(code: str, detail: str = "", detail_ko: str = "") -> dict[str, str]:
    """``res_cd``/``res_msg``/``res_en_msg`` for ``code``.

    KCP's own messages are returned verbatim; for the sandbox's SBxx codes the detail (which field,
    which rule) is appended so a developer sees at once what to fix: ``detail_ko`` in the Korean
    res_msg when the detail is a sentence (a field name and value need none).
    """
    known = codes.explain(code)
    ko, en = known.ko, known.en
    if detail and known.source == "sandbox":
        ko, en = f"{ko} ({detail_ko or detail})", f"{en} ({detail})"
    elif detail:
        en = f"{en} ({detail})"
    return {"res_cd": code, "res_msg": ko, "res_en_msg": en}


def ok_payload() -> dict[str, str]:
    """The success fields: 0000 / 정상처리 / processing completed."""
    return answer_payload(codes.SUCCESS)
