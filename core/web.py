"""Request plumbing: who is acting, staff-session timeouts, CSRF, security headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, g, request, session

from core.auth import services
from core.auth.views import bearer_token
from core.db import utcnow
from core.extensions import csrf


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


def _load_session_principal(app: Flask) -> None:
    account_id = session.get("account_id")
    if account_id is None:
        return
    now = utcnow()
    authenticated_at = datetime.fromtimestamp(session.get("auth_at", 0), UTC)
    seen_at = datetime.fromtimestamp(session.get("seen_at", 0), UTC)
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    absolute = timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"])
    account = services.session_is_valid(account_id, authenticated_at)
    if account is None or now - seen_at > idle or now - authenticated_at > absolute:
        session.clear()
        g.session_expired = True
        return
    session["seen_at"] = now.timestamp()
    g.principal = services.principal_for(account)


def start_session(account_id: int) -> None:
    """Begin a staff page session (a fresh session: no fixation)."""
    session.clear()
    now = utcnow().timestamp()
    session.update(account_id=account_id, auth_at=now, seen_at=now)
    session.permanent = False


def install_request_hooks(app: Flask) -> None:
    """Register the before/after request hooks."""

    @app.before_request
    def _identify() -> None:
        g.principal = None
        if request.path.startswith("/api/"):
            _load_api_principal(app)
        elif not request.path.startswith("/static/"):
            _load_session_principal(app)
            # Pages use cookies, so every state change needs the CSRF token; the API uses
            # bearer tokens, which a browser never sends by itself.
            csrf.protect()

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'",
        )
        if not request.path.startswith("/static/"):
            # API answers and staff pages carry personal data: never store them anywhere.
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response
