"""The admins' account pages: the accounts of their scope, adding one, editing its role, tenant,
name, e-mail and active flag, signing it out everywhere, lifting a sign-in lock, setting a new
password for it, and its permission history.

Thin like the API views (core/auth/views.py), over the same services: the scope (a system admin
manages every account, a municipal admin the staff of their municipality), the password policy
and the permission record come from them. Refusals a person can fix (a bad field, a weak
password, a taken username) are shown next to the field on the page they came from; the rest
(404 for an account out of scope, 403 for a role the actor may not grant) get the error page.
Accounts have no version column, so an edit simply applies to the account as it is then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from core.auth import services
from core.auth.models import Account, PermissionEvent
from core.auth.pages import staff_page
from core.auth.principal import Principal, current_principal
from core.auth.roles import MUNICIPAL_ROLES, OFFICE_ROLES, ROLE_LABELS, Role
from core.auth.schemas import USERNAME, Email
from core.auth.tenants import KINDS, tenant_names
from core.db import db, utcnow
from core.errors import ApiError, Invalid
from core.forms import (
    REQUIRED,
    Answer,
    PageForm,
    choice,
    load_form,
    load_page_number,
    number,
    submit,
    text,
)
from core.inputs import UNSET
from core.nav import add_nav_link
from core.schemas import Text

bp = Blueprint(
    "account_pages",
    __name__,
    url_prefix="/admin/accounts",
    template_folder="templates",
    static_folder="static",
)
ADMINS = (Role.SYSTEM_ADMIN, Role.MUNICIPAL_ADMIN)
PER_PAGE = 50
STATES = {"active": _l("사용 중"), "disabled": _l("사용 중지")}
ACTIONS = {
    "grant": _l("권한 부여"),
    "change": _l("역할·소속 변경"),
    "revoke": _l("권한 회수"),
    "disable": _l("사용 중지"),
    "enable": _l("다시 사용"),
    "revoke_tokens": _l("모든 기기에서 로그아웃"),
    "unlock": _l("잠금 해제"),
    "reset_password": _l("비밀번호 재설정"),
}
_REQUIRED = {"required": REQUIRED, "null": REQUIRED}


class FilterForm(PageForm):
    role = choice(Role)
    municipality_id = number()
    office_id = number()


class AccountForm(PageForm):
    """What an admin may set on any account they manage."""

    display_name = text(100, required=True)
    email = Email()
    role = choice(Role)
    municipality_id = number()
    office_id = number()


def new_password() -> Text:
    """A new password typed into a form; the policy is checked by the service."""
    return Text(1024, required=True, error_messages=_REQUIRED)


class NewForm(AccountForm):
    username = Text(64, required=True, validate=USERNAME, error_messages=_REQUIRED)
    password = new_password()
    role = choice(Role, required=True)


class PasswordForm(PageForm):
    password = new_password()


class EditForm(AccountForm):
    state = choice(STATES)


def register_pages(app: Flask) -> None:
    """Mount the pages and put the account list in the admins' navigation."""
    app.register_blueprint(bp)
    add_nav_link(app, "account_pages.accounts", _l("계정 관리"), ADMINS)


def grantable_roles(principal: Principal) -> list[Role]:
    """The roles the services let this admin grant (services._check_may_manage)."""
    if principal.role == Role.SYSTEM_ADMIN:
        return list(Role)
    return [role for role in Role if role in MUNICIPAL_ROLES]


def binding_of(role: str) -> str:
    """The tenant a role is bound to: "municipality", "office" or "" (a system admin)."""
    if role in MUNICIPAL_ROLES:
        return "municipality"
    return "office" if role in OFFICE_ROLES else ""


def tenants() -> dict[str, dict[int, str]]:
    """Every municipality's and office's name, to show where an account or a scope belongs."""
    return {kind: tenant_names(kind) for kind in KINDS}


def choosable(principal: Principal, names: dict[str, dict[int, str]]) -> dict[str, dict]:
    """The tenants this admin may bind an account to: all, or their own municipality."""
    if principal.role == Role.SYSTEM_ADMIN:
        return names
    own = principal.municipality_id
    return {"municipality": {own: names["municipality"].get(own, "")}, "office": {}}


@bp.context_processor
def _words() -> dict:
    return {
        "role_labels": ROLE_LABELS,
        "states": STATES,
        "actions": ACTIONS,
        "binding_of": binding_of,
        "is_locked": lambda account: bool(account.locked_until and account.locked_until > utcnow()),
    }


# --- The list ----------------------------------------------------------------------------------


@bp.get("/")
@staff_page(*ADMINS)
def accounts() -> tuple[str, int]:
    """The accounts of the admin's scope, filtered by role (and tenant, for a system admin)."""
    principal = current_principal()
    error = None
    try:
        filters = load_form(FilterForm, request.args)
    except Invalid as refused:
        error, filters = refused, {}
    query = services.accounts_visible_to(principal)
    if "role" in filters:
        query = query.where(Account.role == filters["role"])
    for column in ("municipality_id", "office_id"):
        if column in filters:
            query = query.where(getattr(Account, column) == filters[column])
    page = db.paginate(
        query, page=load_page_number(request.args), per_page=PER_PAGE, error_out=False
    )
    kept = {key: request.args[key] for key in filters}
    names = tenants()
    html = render_template(
        "accounts/list.html",
        page=page,
        form=request.args,
        kept=kept,
        names=names,
        choices=choosable(principal, names),
        system_admin=principal.role == Role.SYSTEM_ADMIN,
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


# --- Adding one --------------------------------------------------------------------------------


def _new_page(form: Mapping[str, str], error: ApiError | None = None) -> tuple[str, int]:
    principal = current_principal()
    html = render_template(
        "accounts/new.html",
        form=form,
        roles=grantable_roles(principal),
        choices=choosable(principal, tenants()),
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.get("/new")
@staff_page(*ADMINS)
def new_page() -> tuple[str, int]:
    """The form to add an account."""
    return _new_page({})


def binding(role: str, data: dict[str, Any]) -> dict[str, int | None]:
    """Only the tenant field that fits the role goes to the service; the other one is ignored."""
    kind = binding_of(role)
    return {
        "municipality_id": data.get("municipality_id") if kind == "municipality" else None,
        "office_id": data.get("office_id") if kind == "office" else None,
    }


@bp.post("/new")
@staff_page(*ADMINS)
def create() -> Answer:
    """Add an account with its role and tenant; the service records the grant."""
    principal = current_principal()

    def create_with(data: dict[str, Any]) -> Account:
        role = Role(data["role"])
        new = services.NewAccount(
            username=data["username"],
            display_name=data["display_name"],
            password=data["password"],
            role=role,
            email=data.get("email"),
            **binding(role, data),
        )
        return services.create_account(principal, new)

    return submit(
        NewForm,
        create_with,
        lambda error: _new_page(_without_password(request.form), error),
        gettext("계정을 만들었습니다."),
        lambda account: url_for(".account", account_id=account.id),
    )


def _without_password(form: Mapping[str, str]) -> dict[str, str]:
    # A refused form comes back filled in, but never with the password typed into it.
    return {key: value for key, value in form.items() if key != "password"}


# --- One account: read, edit, sign out everywhere, unlock, new password ------------------------


def _account_page(
    account_id: int, error: ApiError | None = None, form: Mapping[str, str] | None = None
) -> tuple[str, int]:
    principal = current_principal()
    shown = services.get_account(principal, account_id)
    names = tenants()
    html = render_template(
        "accounts/account.html",
        account=shown,
        myself=shown.id == principal.account_id,
        roles=grantable_roles(principal),
        names=names,
        choices=choosable(principal, names),
        min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        form=form,
        error=error,
        errors=error.fields if error else {},
    )
    return html, error.status if error else 200


@bp.get("/<int:account_id>")
@staff_page(*ADMINS)
def account(account_id: int) -> tuple[str, int]:
    """One account with its edit, new-password and unlock forms and the sign-out button."""
    return _account_page(account_id)


def _act(account_id: int, form: type[PageForm], action, done: str) -> Answer:
    principal = current_principal()
    return submit(
        form,
        lambda data: action(principal, account_id, data),
        lambda error: _account_page(account_id, error, _without_password(request.form)),
        done,
        lambda _: url_for(".account", account_id=account_id),
    )


@bp.post("/<int:account_id>/edit")
@staff_page(*ADMINS)
def edit(account_id: int) -> Answer:
    """Change an account; a change of role or tenant, or disabling it, ends its sessions."""

    def update(principal: Principal, account_id: int, data: dict[str, Any]) -> Account:
        # Fields left out of the form (one's own role and state) stay as they are.
        role = Role(data["role"]) if "role" in data else UNSET
        state = data.get("state")
        changes = services.AccountChanges(
            display_name=data["display_name"],
            email=data.get("email"),
            role=role,
            is_active=UNSET if state is None else state == "active",
            **(binding(role, data) if role is not UNSET else {}),
        )
        return services.update_account(principal, account_id, changes)

    return _act(account_id, EditForm, update, gettext("계정을 저장했습니다."))


@bp.post("/<int:account_id>/revoke-sessions")
@staff_page(*ADMINS)
def revoke_sessions(account_id: int) -> Answer:
    """Sign the account out of every browser and device at once."""
    return _act(
        account_id,
        PageForm,
        lambda principal, account_id, _: services.revoke_sessions(principal, account_id),
        gettext("모든 기기에서 로그아웃시켰습니다."),
    )


@bp.post("/<int:account_id>/unlock")
@staff_page(*ADMINS)
def unlock(account_id: int) -> Answer:
    """Lift the lock after failed sign-ins: the account may sign in again at once."""
    return _act(
        account_id,
        PageForm,
        lambda principal, account_id, _: services.unlock_account(principal, account_id),
        gettext("잠금을 풀었습니다."),
    )


@bp.post("/<int:account_id>/password")
@staff_page(*ADMINS)
def reset_password(account_id: int) -> Answer:
    """Set a new password for another account; it is signed out everywhere."""
    return _act(
        account_id,
        PasswordForm,
        lambda principal, account_id, data: services.reset_password(
            principal, account_id, data["password"]
        ),
        gettext("새 비밀번호를 설정했습니다. 그 계정은 모든 기기에서 로그아웃되었습니다."),
    )


# --- The permission history --------------------------------------------------------------------


def scope_label(scope: str | None, names: dict[str, dict[int, str]]) -> str:
    """A permission event's "municipality:3" / "office:1" as the tenant's name."""
    if not scope:
        return ""
    kind, _, raw_id = scope.partition(":")
    named = names.get(kind, {}).get(int(raw_id)) if raw_id.isdecimal() else None
    return named or scope


@bp.get("/<int:account_id>/history")
@staff_page(*ADMINS)
def history(account_id: int) -> str:
    """Every grant, change and revocation of the account's access, newest first."""
    principal = current_principal()
    shown = services.get_account(principal, account_id)
    query = (
        sa.select(PermissionEvent)
        .where(PermissionEvent.account_id == shown.id)
        .order_by(PermissionEvent.id.desc())
    )
    page = db.paginate(
        query, page=load_page_number(request.args), per_page=PER_PAGE, error_out=False
    )
    actor_ids = {event.actor_id for event in page.items if event.actor_id}
    # Who acted is named only when the admin may see that account (as the API gives the id).
    actors = db.session.scalars(
        services.accounts_visible_to(principal).where(Account.id.in_(actor_ids))
    )
    return render_template(
        "accounts/history.html",
        account=shown,
        page=page,
        actors={actor.id: actor for actor in actors},
        names=tenants(),
        scope_label=scope_label,
    )
