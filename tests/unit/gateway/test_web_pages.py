"""The web pages, rendered from one layout: each loads its own script, and only pages for
someone signed in carry the toolbar."""

from __future__ import annotations

import re

from haven_gateway.web import ROUTES, render_pages

SIGNED_OUT = {"login.html", "forgotten-password.html", "reset-password.html"}


def test_every_page_renders_with_its_own_script_and_the_stylesheet():
    pages = render_pages()
    assert set(pages) == set(ROUTES.values())
    for filename, html in pages.items():
        text = html.decode()
        module = filename.removesuffix(".html")
        assert f'<script type="module" src="/assets/js/pages/{module}.js"></script>' in text
        assert '<link rel="stylesheet" href="/assets/haven.css">' in text
        assert text.count("<main") == 1 and 'id="main"' in text
        # Nothing inline for the Content-Security-Policy to refuse.
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), filename
        assert not re.search(r"\son[a-z]+=", text), filename
        assert "<style" not in text and " style=" not in text, filename


def test_only_signed_in_pages_have_the_toolbar():
    for filename, html in render_pages().items():
        assert ('id="toolbar"' in html.decode()) == (filename not in SIGNED_OUT), filename
