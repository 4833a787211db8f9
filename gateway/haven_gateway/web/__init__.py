"""The web client: HTML pages, small ES modules and one stylesheet.

There is no build step and nothing comes from another origin. Every page is a
Jinja2 template that extends one layout (templates/base.html: the head, the
skip link, the toolbar) and loads one module from /assets/js/pages/; the
modules talk only to /api/v1, exactly as a mobile app would, so the browser
holds nothing the API would not give any other client. The pages take no
input: each is rendered once, when the router is built, and the same bytes
are sent every time with a strict Content-Security-Policy: scripts and styles
only from this origin, none inline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
# Named templates/ so packaging picks the pages and their layouts up
# ("templates/**/*" in pyproject).
PAGES = HERE / "templates"
ASSETS = HERE / "static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        # data: for the soft key's QR code, shown as an image so its SVG runs nothing.
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # The reset link carries its token in the query string; no other site may see it.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# Path -> page template. The paths hold no pupil data: a pupil is chosen on the page.
ROUTES = {
    "/login": "login.html",
    "/forgotten-password": "forgotten-password.html",
    "/reset-password": "reset-password.html",
    "/dashboard": "dashboard.html",
    "/soft-key": "soft-key.html",
    "/elevate": "elevate.html",
    "/incidents/new": "incident-new.html",
    "/incidents/{incident_id}": "incident.html",
    "/chronology": "chronology.html",
    "/admin": "admin.html",
}


class WebSettings(BaseSettings):
    """HAVEN_WEB_* variables, read once when the app is made."""

    model_config = SettingsConfigDict(env_prefix="HAVEN_WEB_", frozen=True, extra="ignore")

    # Minutes without a key press, click or touch before the screen locks.
    idle_lock_minutes: float = Field(default=10.0, gt=0, le=24 * 60)


def render_pages() -> dict[str, bytes]:
    """Every page in ROUTES, rendered from its template: page file -> UTF-8 HTML."""
    environment = Environment(
        loader=FileSystemLoader(PAGES),
        autoescape=True,
        # A misspelt name fails here, when the app is made, not as a blank in a page.
        undefined=StrictUndefined,
        # Block tags take their line with them, so a page comes out as it was written.
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    return {
        filename: environment.get_template(filename).render().encode()
        for filename in sorted(set(ROUTES.values()))
    }


def page_router(idle_minutes: float) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = render_pages()

    def serve(body: bytes) -> Callable[[], Awaitable[HTMLResponse]]:
        async def page() -> HTMLResponse:
            return HTMLResponse(body, headers=PAGE_HEADERS)

        return page

    for route, filename in ROUTES.items():
        router.add_api_route(route, serve(pages[filename]), methods=["GET"])

    @router.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/dashboard", status_code=303)

    @router.get("/web-config.json")
    async def web_config() -> JSONResponse:
        return JSONResponse({"idle_lock_minutes": idle_minutes})

    return router


def install(app: FastAPI, settings: WebSettings | None = None) -> None:
    """Serve the pages at their paths and the assets under /assets."""
    settings = settings or WebSettings()
    app.include_router(page_router(settings.idle_lock_minutes))
    app.mount("/assets", StaticFiles(directory=ASSETS), name="assets")
