"""The QR code an authenticator app scans, as an SVG the page can show inline."""

from __future__ import annotations

import io

import segno


def qr_svg(text: str) -> str:
    code = segno.make(text, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, title="Haven soft key")
    return out.getvalue().decode()
