"""The dispatcher's page of carriers' phones: enrolment codes (shown once) and revocation.

It lives here, beside the device services it calls, because imports point one way
(carrier_api → routing): the routing package's pages cannot call carrier_api.
"""

from __future__ import annotations

from flask import Blueprint, Flask, flash, redirect, render_template, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from carrier_api import devices
from core.auth.pages import staff_page
from core.auth.principal import Principal, current_principal
from core.auth.roles import Role
from core.db import transaction
from core.nav import add_nav_link
from postal.services import carriers_of, get_carrier

bp = Blueprint(
    "device_pages", __name__, url_prefix="/dispatch/devices", template_folder="templates"
)
DISPATCHERS = (Role.DISPATCHER,)


def register_pages(app: Flask) -> None:
    """Mount the page and put it in the dispatchers' navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "device_pages.phones", _l("집배원 기기"), DISPATCHERS)


def _page(principal: Principal, issued: dict | None = None, status: int = 200) -> tuple[str, int]:
    carriers = [
        (carrier, account, devices.devices_of(principal, carrier.id))
        for carrier, account in carriers_of(principal, principal.office_id)
    ]
    return render_template("carrier_api/devices.html", carriers=carriers, issued=issued), status


@bp.get("/")
@staff_page(*DISPATCHERS)
def phones() -> tuple[str, int]:
    """The office's carriers with their phones, revoked ones included."""
    return _page(current_principal())


@bp.post("/carriers/<int:carrier_id>/code")
@staff_page(*DISPATCHERS)
def issue_code(carrier_id: int) -> tuple[str, int]:
    """A one-time enrolment code for the carrier's next phone: on this answer only, never kept."""
    principal = current_principal()
    with transaction():
        code, row = devices.issue_enrolment_code(principal, carrier_id)
        _, account = get_carrier(principal, carrier_id)
        issued = {"code": code, "name": account.display_name, "expires_at": row.expires_at}
    return _page(principal, issued, 201)


@bp.post("/<int:device_id>/revoke")
@staff_page(*DISPATCHERS)
def revoke(device_id: int) -> Response:
    """Cut a phone off at once (lost or replaced): its tokens stop working."""
    with transaction():
        devices.revoke(current_principal(), device_id)
    flash(gettext("기기를 끊었습니다. 그 기기로는 더 이상 접속할 수 없습니다."), "notice")
    return redirect(url_for(".phones"))
