"""The municipal admin's webhooks page: the endpoints a municipality's own systems receive item
events on, registering one, pausing and resuming it, and the recent deliveries of one.

Thin like the API views (municipalities/mail/views.py), over municipalities/mail/webhooks.py:
the URL rules, tenancy and roles come from it (auditors read, municipal admins change). A secret
is typed once and never shown again, not even in a refused form.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from core.auth.pages import staff_page
from core.auth.principal import current_principal
from core.auth.roles import Role
from core.db import db
from core.errors import ApiError
from core.forms import REQUIRED, Answer, PageForm, submit, text
from core.nav import add_nav_link
from municipalities.mail import webhooks

bp = Blueprint("webhook_pages", __name__, url_prefix="/admin/webhooks", template_folder="templates")
#: As webhooks.endpoints_visible_to and _require_admin allow.
READERS = (Role.MUNICIPAL_ADMIN, Role.AUDITOR)
ADMINS = (Role.MUNICIPAL_ADMIN,)
DELIVERIES_SHOWN = 50


class EndpointForm(PageForm):
    url = text(500, min_length=8, required=True)
    secret = text(200, min_length=16, required=True)


class ActiveForm(PageForm):
    is_active = fields.Boolean(required=True, error_messages={"required": REQUIRED})


def register_pages(app: Flask) -> None:
    """Mount the pages and put them in the municipal admins' (and auditors') navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "webhook_pages.endpoints", _l("웹훅"), READERS)


@bp.context_processor
def _words() -> dict:
    return {"admin": getattr(g.get("principal"), "role", None) in ADMINS}


@bp.get("/")
@staff_page(*READERS)
def endpoints() -> tuple[str, int]:
    """The municipality's endpoints and, for its admin, the form to register one."""
    return _endpoints_page()


def _endpoints_page(error: ApiError | None = None) -> tuple[str, int]:
    shown = db.session.scalars(webhooks.endpoints_visible_to(current_principal())).all()
    html = render_template(
        "mail/webhooks.html",
        endpoints=shown,
        url=request.form.get("url", "") if error else "",
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.post("/")
@staff_page(*ADMINS)
def register() -> Answer:
    """Register an endpoint: an HTTPS URL and the secret its events are signed with."""
    principal = current_principal()
    return submit(
        EndpointForm,
        lambda data: webhooks.register_endpoint(principal, data["url"], data["secret"]),
        _endpoints_page,
        gettext("웹훅 주소를 등록했습니다. 비밀 키는 다시 보여 주지 않습니다."),
        lambda _: url_for(".endpoints"),
    )


@bp.get("/<int:endpoint_id>")
@staff_page(*READERS)
def endpoint(endpoint_id: int) -> str:
    """One endpoint and its most recent delivery attempts."""
    principal = current_principal()
    shown = webhooks.get_endpoint(principal, endpoint_id)
    deliveries = db.session.scalars(
        webhooks.deliveries_of(principal, endpoint_id).limit(DELIVERIES_SHOWN)
    ).all()
    return render_template("mail/webhook.html", endpoint=shown, deliveries=deliveries)


@bp.post("/<int:endpoint_id>/active")
@staff_page(*ADMINS)
def set_active(endpoint_id: int) -> Answer:
    """Pause or resume deliveries to an endpoint."""
    principal = current_principal()
    return submit(
        ActiveForm,
        lambda data: webhooks.set_endpoint_active(principal, endpoint_id, data["is_active"]),
        _endpoints_page,
        gettext("웹훅 상태를 바꿨습니다."),
        lambda _: url_for(".endpoints"),
    )
