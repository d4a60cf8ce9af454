"""The signed-in person's own account page: their work e-mail for alerts and their password.

Over the same services as `PATCH /auth/me` and `POST /auth/password`. A password change ends
every session of the account, this one too, so the page sends the person to sign in again.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, request, url_for
from flask_babel import gettext

from core.auth import services
from core.auth.models import Account
from core.auth.pages import staff_page
from core.auth.principal import current_principal
from core.auth.roles import ROLE_LABELS, Role
from core.auth.schemas import Email
from core.db import db
from core.errors import ApiError
from core.forms import REQUIRED, Answer, PageForm, submit
from core.schemas import Text
from core.web import clear_session

bp = Blueprint("my_account", __name__, url_prefix="/me", template_folder="templates")
#: Everyone who may sign in: a carrier too has a password of their own.
EVERYONE = tuple(Role)
_REQUIRED = {"required": REQUIRED, "null": REQUIRED}


class EmailForm(PageForm):
    email = Email()


class PasswordForm(PageForm):
    current_password = Text(1024, required=True, error_messages=_REQUIRED)
    new_password = Text(1024, required=True, error_messages=_REQUIRED)


def register_pages(app: Flask) -> None:
    """Mount the page (linked from the signed-in name in every page's header)."""
    app.register_blueprint(bp)


def _account() -> Account:
    return db.session.get(Account, current_principal().account_id)


def _page(errors: dict | None = None, form=None, status: int = 200) -> tuple[str, int]:
    html = render_template(
        "my_account.html",
        account=_account(),
        role_labels=ROLE_LABELS,
        errors=errors or {},
        form=form if form is not None else {},
    )
    return html, status


@bp.get("/")
@staff_page(*EVERYONE)
def me() -> tuple[str, int]:
    """The account's facts and its two forms."""
    return _page()


@bp.post("/email")
@staff_page(*EVERYONE)
def email() -> Answer:
    """Set or clear the work e-mail that alert e-mails go to."""

    def refused(error: ApiError) -> tuple[str, int]:
        return _page(error.fields, request.form, error.status)

    def save(data: dict) -> Account:
        account = _account()
        services.set_email(current_principal(), account, data.get("email"))
        return account

    return submit(
        EmailForm, save, refused, gettext("업무 메일을 저장했습니다."), lambda _: url_for(".me")
    )


@bp.post("/password")
@staff_page(*EVERYONE)
def password() -> Answer:
    """Change one's own password; every session ends, so sign in again with the new one."""

    def refused(error: ApiError) -> tuple[str, int]:
        # The typed passwords are never sent back in the page.
        return _page(error.fields, {}, error.status)

    def change(data: dict) -> None:
        services.change_password(
            current_principal(), data["current_password"], data["new_password"]
        )
        # Ended here rather than found stale on the next page, which would say "idle".
        clear_session()

    return submit(
        PasswordForm,
        change,
        refused,
        gettext("비밀번호를 바꿨습니다. 새 비밀번호로 다시 로그인해 주세요."),
        lambda _: url_for("pages.login"),
    )
