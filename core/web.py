"""Request plumbing: who is acting, staff sessions and their timeouts, CSRF, security headers,
file downloads, and the front-end libraries the pages use (installed as Python packages, served
by the app itself)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import xstatic.pkg.leaflet
from flask import Blueprint, Flask, Response, flash, g, request, session
from flask_babel import gettext
from flask_wtf.csrf import CSRFError

from core.auth import services
from core.auth.models import Account
from core.db import transaction
from core.errors import error_response
from core.extensions import csrf

#: Two years, subdomains included: the service is HTTPS only (not preloaded: that is a
#: decision for the domain's owner).
HSTS = "max-age=63072000; includeSubDomains"


def bearer_token() -> str | None:
    """The bearer token of the current request, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _load_api_principal(app: Flask) -> None:
    token = bearer_token()
    g.bearer_token = token
    if not token:
        return
    # An unknown or revoked token is treated as no token: the view answers 401. Packages above
    # core (carrier devices) register resolvers for their own token prefixes.
    for prefix, resolve in app.extensions.get("bearer_resolvers", {}).items():
        if token.startswith(prefix):
            g.principal = resolve(token)
            return
    g.principal = services.principal_from_token(token)


def register_bearer_resolver(app: Flask, prefix: str, resolve) -> None:
    """Let tokens starting with `prefix` be resolved to a principal by `resolve` (or None)."""
    app.extensions.setdefault("bearer_resolvers", {})[prefix] = resolve


#: The session cookie's key for the id of the server-side session (services.open_page_session).
SESSION_ID = "sid"


def background(view: Callable) -> Callable:
    """Mark a page endpoint that a page's script calls on a timer (the alert poll): it checks
    the session but is not a use of it, so an unattended page still idles out."""
    view.background_request = True  # type: ignore[attr-defined]
    return view


def _is_background(app: Flask) -> bool:
    view = app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "background_request", False))


def _load_session_principal(*, touch_session: bool = True) -> None:
    token = session.get(SESSION_ID)
    if not isinstance(token, str):
        return
    # Committed on its own: the touch that keeps the session from idling out must last even
    # when the page itself changes nothing.
    with transaction():
        principal = services.principal_from_page_session(token, touch_session=touch_session)
    if principal is None:
        clear_session()
        # Shown by the login page the browser is sent to next (the flash survives the clear).
        flash(gettext("오래 사용하지 않았거나 세션이 끝나 로그아웃되었습니다."), "notice")
        return
    g.principal = principal


def clear_session() -> None:
    """Forget the page session in this browser, and the CSRF token that belonged to it."""
    session.clear()
    # Flask-WTF caches the signed token in g: a form rendered later in the same app context
    # must get a token of the new session, not of the one just cleared.
    g.pop("csrf_token", None)


def start_session(account: Account) -> None:
    """Begin a staff page session (a fresh session id: no fixation); the caller commits."""
    # The session this browser held before ends too: its copies must not outlive the sign-in.
    end_session()
    session[SESSION_ID] = services.open_page_session(account)
    session.permanent = False


def end_session() -> None:
    """Revoke this browser's page session on the server (copies of the cookie die with it)."""
    token = session.get(SESSION_ID)
    if isinstance(token, str):
        services.end_page_session(token)
    clear_session()


def install_request_hooks(app: Flask) -> None:
    """Register the before/after request hooks."""

    @app.before_request
    def _identify() -> None:
        g.principal = None
        if request.path.startswith("/api/"):
            _load_api_principal(app)
        elif not request.path.startswith("/static/"):
            _load_session_principal(touch_session=not _is_background(app))
            # Pages use cookies, so every state change needs the CSRF token; the API uses
            # bearer tokens, which a browser never sends by itself.
            csrf.protect()

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError):
        message = gettext(
            "보안 토큰이 없거나 맞지 않아 요청을 거부했습니다. 페이지를 새로 고친 뒤 다시 하세요."
        )
        return error_response(400, "csrf", message)

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        images = " ".join(["'self'", "data:", *tile_sources(app.config["MAP_TILE_URL"])])
        headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src {images}; object-src 'none'; frame-ancestors 'none'",
        )
        if app.config["ENV"] == "production" or request.is_secure:
            # Production is served over HTTPS (behind a proxy request.is_secure may not know):
            # browsers must never fall back to plain HTTP, where the session cookie is exposed.
            headers.setdefault("Strict-Transport-Security", HSTS)
        if not request.path.startswith("/static/"):
            # API answers and staff pages carry personal data: never store them anywhere.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response


def download(body: bytes, media_type: str, filename: str) -> Response:
    """A file to save (an export): text types are UTF-8, named once in the Content-Type."""
    # Werkzeug appends "; charset=utf-8" to a text mimetype by itself: a media type handed in
    # with its parameters would end up with the charset twice, which some clients refuse.
    response = Response(body, mimetype=media_type.partition(";")[0].strip())
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def tile_sources(url_template: str) -> list[str]:
    """The CSP source of a map tile server's URL template ({s} subdomains become *); none for
    an empty template or one on the app's own host."""
    parts = urlsplit(url_template)
    if not parts.scheme or not parts.netloc:
        return []
    return [f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"]


#: Leaflet (the XStatic-Leaflet package) under /static/leaflet/: no CDN, nothing to download.
leaflet = Blueprint(
    "leaflet",
    __name__,
    static_folder=xstatic.pkg.leaflet.BASE_DIR,
    static_url_path="/static/leaflet",
)
