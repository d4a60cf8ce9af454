"""Staff sign-in pages (server-side sessions, CSRF, idle timeout), language switch, page guard."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from core.auth import services
from core.auth.principal import require_role
from core.auth.roles import ROLE_LABELS, Role
from core.db import transaction
from core.errors import Unauthorized, wants_html
from core.extensions import limiter
from core.i18n import LANGUAGE_COOKIE, LANGUAGES
from core.web import background, end_session, start_session

bp = Blueprint("pages", __name__)
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


#: What a browser drops from or reads into a URL (tabs, newlines, other control characters;
#: a backslash counts as a slash), so that "/\t/evil.example" would lead off the site.
_UNSAFE_IN_TARGET = re.compile(r"[\x00-\x1f\x7f\\]")
#: Layers of percent-encoding looked through before a target is refused as too odd.
_DECODING_ROUNDS = 3


def local_path(target: str | None) -> str:
    """`target` when it is a path of this site however a browser reads it, else the start page.

    The one check of every redirect to a user-given target (no open redirect).
    """
    if target and _is_local_path(target):
        return target
    return url_for("pages.home")


def _is_local_path(target: str) -> bool:
    # Each decoded form is checked too: "/%2F/evil.example" is harmless in a browser but
    # becomes "//evil.example" wherever it is decoded once more (another redirect, a proxy).
    for _ in range(_DECODING_ROUNDS):
        parts = urlsplit(target)
        if (
            _UNSAFE_IN_TARGET.search(target)
            or not target.startswith("/")
            or target.startswith("//")
            or parts.scheme
            or parts.netloc
        ):
            return False
        decoded = unquote(target)
        if decoded == target:
            return True
        target = decoded
    return False


def staff_page(*roles: Role) -> Callable:
    """A page for signed-in staff in `roles`: nobody signed in is sent to sign in; others 403."""

    def decorator(view: Callable) -> Callable:
        guarded = require_role(*roles)(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.get("principal") is None:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            return guarded(*args, **kwargs)

        wrapper.allowed_roles = guarded.allowed_roles  # type: ignore[attr-defined]
        return wrapper

    return decorator


def staff_poll(*roles: Role) -> Callable:
    """An endpoint a staff page's script calls on a timer, guarded like `staff_page`; but once
    the session has ended a script (asking for JSON) gets 401, so the page can say so and stop,
    and the call does not count as use of the session (core.web.background)."""

    def decorator(view: Callable) -> Callable:
        guarded = staff_page(*roles)(view)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if g.get("principal") is None and not wants_html():
                raise Unauthorized(
                    "로그아웃되었습니다. 다시 로그인하세요. (You have been signed out.)"
                )
            return guarded(*args, **kwargs)

        wrapper.allowed_roles = guarded.allowed_roles  # type: ignore[attr-defined]
        return background(wrapper)

    return decorator


@bp.get("/")
def home():
    """The staff start page, or the login page when nobody is signed in."""
    if g.get("principal") is None:
        return redirect(url_for("pages.login"))
    return render_template("home.html", principal=g.principal, role_labels=ROLE_LABELS)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login():
    """Sign in to the staff pages."""
    error = None
    target = request.values.get("next", "")
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:1024]
        with transaction():
            result = services.attempt_login(username, password)
            if result.ok:
                start_session(result.account)
        if result.ok:
            return redirect(local_path(target))
        error = services.LoginFailed.message
    status = 401 if error else 200
    return render_template("login.html", error=error, next=target), status


@bp.post("/logout")
def logout():
    """Sign out of the staff pages: the session ends on the server, not only in this browser."""
    with transaction():
        end_session()
    return redirect(url_for("pages.login"))


@bp.get("/language/<code>")
def language(code: str) -> Response:
    """Switch the pages' language (a cookie) and go back to the page the link was on."""
    if code not in LANGUAGES:
        abort(404)
    response = redirect(local_path(request.args.get("next")))
    response.set_cookie(
        LANGUAGE_COOKIE,
        code,
        max_age=LANGUAGE_COOKIE_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response
