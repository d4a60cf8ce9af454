"""The municipal admin's sender identity page: the department, return address, phone and contact
person printed on every letter of the municipality.

Thin like the API (PATCH /municipalities/{id}/sender), over the same service and schema: the
form posts the whole identity, so a field left blank is cleared.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from core.auth.pages import staff_page
from core.auth.principal import current_principal
from core.auth.roles import Role
from core.db import db
from core.errors import ApiError
from core.forms import Answer, PageForm, submit
from core.inputs import whole
from core.nav import add_nav_link
from municipalities import services
from municipalities.mail import production
from municipalities.models import Municipality
from municipalities.schemas import SenderUpdateSchema

bp = Blueprint("sender_pages", __name__, url_prefix="/admin/sender", template_folder="templates")
ADMINS = (Role.MUNICIPAL_ADMIN,)
LABELS = {
    "department": _l("부서"),
    "road_address": _l("도로명주소"),
    "postal_code": _l("우편번호"),
    "phone": _l("전화번호"),
    "contact_person": _l("문의 담당자"),
}


class SenderForm(PageForm, SenderUpdateSchema):
    """The API's checks (5-digit postal code, a Korean phone number), the page's tolerance."""


def register_pages(app: Flask) -> None:
    """Mount the page and put it in the municipal admins' navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "sender_pages.sender", _l("발신 정보"), ADMINS)


def _own_municipality() -> Municipality:
    return db.session.get(Municipality, current_principal().municipality_id)


@bp.get("/")
@staff_page(*ADMINS)
def sender() -> tuple[str, int]:
    """The sender identity as saved, as printed, and what a mailing still needs."""
    return _sender_page()


def _sender_page(error: ApiError | None = None) -> tuple[str, int]:
    municipality = _own_municipality()
    saved = {name: getattr(municipality, name) or "" for name in services.SENDER_FIELDS}
    html = render_template(
        "municipalities/sender.html",
        municipality=municipality,
        printed=production.sender_of(municipality),
        missing=[LABELS[name] for name in services.missing_sender_fields(municipality)],
        required=services.SENDER_REQUIRED,
        labels=LABELS,
        values=request.form if error else saved,
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.post("/")
@staff_page(*ADMINS)
def save() -> Answer:
    """Save the whole sender identity (blank fields are cleared)."""
    principal = current_principal()

    def update(changes: services.SenderChanges) -> Municipality:
        return services.update_sender(principal, _own_municipality(), whole(changes))

    return submit(
        SenderForm,
        update,
        _sender_page,
        gettext("발신 정보를 저장했습니다."),
        lambda _: url_for(".sender"),
    )
