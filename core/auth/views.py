"""Auth and account API: tokens, the current account, account management."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, g
from flask.views import MethodView

from core.api import Blueprint, paginate
from core.auth import services
from core.auth.models import Account, PermissionEvent
from core.auth.principal import (
    current_principal,
    require_any_role,
    require_login,
    require_role,
)
from core.auth.roles import Role
from core.auth.schemas import (
    AccountCreateSchema,
    AccountQuerySchema,
    AccountSchema,
    AccountUpdateSchema,
    LoginSchema,
    MeUpdateSchema,
    PasswordChangeSchema,
    PasswordResetSchema,
    PermissionEventSchema,
    TokenSchema,
)
from core.db import db, transaction
from core.errors import Forbidden
from core.extensions import limiter
from core.schemas import PageArgsSchema, page_of

blp = Blueprint("auth", __name__, "", description="로그인과 계정 (Sign-in and accounts)")

ADMINS = (Role.SYSTEM_ADMIN, Role.MUNICIPAL_ADMIN)


@blp.route("/auth/token")
class Tokens(MethodView):
    decorators = [limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])]

    @blp.arguments(LoginSchema)
    @blp.response(201, TokenSchema)
    @blp.doc(security=[])
    def post(self, data: dict):
        """Sign in with a username and password; returns a bearer token."""
        with transaction():
            result = services.attempt_login(data["username"], data["password"])
            token = services.issue_token(result.account) if result.ok else None
        if not result.ok:
            raise services.LoginFailed()
        lifetime = current_app.config["API_TOKEN_LIFETIME_HOURS"] * 3600
        return {
            "token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "account": result.account,
        }

    @blp.response(204)
    @require_any_role
    def delete(self):
        """Sign out: revoke the token used for this request."""
        with transaction():
            services.revoke_token(g.bearer_token)


@blp.route("/auth/me")
class Me(MethodView):
    @blp.response(200, AccountSchema)
    @require_any_role
    def get(self):
        """The signed-in account."""
        return db.session.get(Account, current_principal().account_id)

    @blp.arguments(MeUpdateSchema)
    @blp.response(200, AccountSchema)
    @require_any_role
    def patch(self, data: dict):
        """Set or clear one's own work e-mail for alerts (null clears it)."""
        principal = current_principal()
        with transaction():
            account = db.session.get(Account, principal.account_id)
            services.set_email(principal, account, data["email"])
            return account


@blp.route("/auth/password")
class Password(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    @require_any_role
    def post(self, data: dict):
        """Change one's own password; every session and token of the account ends."""
        with transaction():
            services.change_password(
                current_principal(), data["current_password"], data["new_password"]
            )


@blp.route("/accounts")
class Accounts(MethodView):
    @blp.arguments(AccountQuerySchema, location="query", as_kwargs=True)
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(AccountSchema))
    @require_role(*ADMINS, Role.AUDITOR)
    def get(self, page: int, per_page: int, role: Role | None = None):
        """Accounts visible to the caller."""
        query = services.accounts_visible_to(current_principal())
        if role is not None:
            query = query.where(Account.role == role.value)
        return paginate(query, page, per_page)

    @blp.arguments(AccountCreateSchema)
    @blp.response(201, AccountSchema)
    @require_role(*ADMINS)
    def post(self, new: services.NewAccount):
        """Create an account; the grant of its role is recorded."""
        with transaction():
            return services.create_account(current_principal(), new)


@blp.route("/accounts/<int:account_id>")
class AccountItem(MethodView):
    @blp.response(200, AccountSchema)
    @require_login
    def get(self, account_id: int):
        """One account."""
        return services.get_account(current_principal(), account_id)

    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    @require_login
    def patch(self, changes: services.AccountChanges, account_id: int):
        """Change role, tenant, name or active flag; changes of access are recorded."""
        with transaction():
            return services.update_account(current_principal(), account_id, changes)


@blp.route("/accounts/<int:account_id>/revoke-sessions")
class AccountSessions(MethodView):
    @blp.response(200, AccountSchema)
    @require_login
    def post(self, account_id: int):
        """End every session and token of the account at once."""
        with transaction():
            return services.revoke_sessions(current_principal(), account_id)


@blp.route("/accounts/<int:account_id>/unlock")
class AccountUnlock(MethodView):
    @blp.response(200, AccountSchema)
    @require_login
    def post(self, account_id: int):
        """Lift the lock after failed sign-ins at once; the account may sign in again."""
        with transaction():
            return services.unlock_account(current_principal(), account_id)


@blp.route("/accounts/<int:account_id>/password")
class AccountPassword(MethodView):
    @blp.arguments(PasswordResetSchema)
    @blp.response(204)
    @require_login
    def post(self, data: dict, account_id: int):
        """Set a new password for another account; its sessions and tokens end."""
        with transaction():
            services.reset_password(current_principal(), account_id, data["password"])


@blp.route("/accounts/<int:account_id>/permission-events")
class AccountPermissionEvents(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, page_of(PermissionEventSchema))
    @require_login
    def get(self, page: int, per_page: int, account_id: int):
        """The record of grants, changes and revocations of this account's access."""
        principal = current_principal()
        account = services.get_account(principal, account_id)
        if not principal.has_role(*ADMINS, Role.AUDITOR):
            raise Forbidden()
        query = (
            sa.select(PermissionEvent)
            .where(PermissionEvent.account_id == account.id)
            .order_by(PermissionEvent.id)
        )
        return paginate(query, page, per_page)
