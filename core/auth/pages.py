"""Staff sign-in pages (session cookie, CSRF, idle timeout)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from core.auth import services
from core.auth.roles import ROLE_LABELS
from core.db import transaction
from core.extensions import limiter
from core.web import start_session

bp = Blueprint("pages", __name__)


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
    if request.method == "POST":
        username = request.form.get("username", "")[:64]
        password = request.form.get("password", "")[:1024]
        with transaction():
            result = services.attempt_login(username, password)
        if result.ok:
            start_session(result.account.id)
            return redirect(url_for("pages.home"))
        error = services.LoginFailed.message
    expired = g.get("session_expired", False)
    status = 401 if error else 200
    return render_template("login.html", error=error, expired=expired), status


@bp.post("/logout")
def logout():
    """Sign out of the staff pages."""
    session.clear()
    return redirect(url_for("pages.login"))
