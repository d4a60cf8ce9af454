"""Schemas of the auth and account API."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from marshmallow import Schema, ValidationError, fields, validate

from core.auth.roles import Role
from core.auth.services import AccountChanges, NewAccount
from core.schemas import Id, InputSchema, StrictSchema, Text

USERNAME = validate.Regexp(
    r"^[a-z0-9._-]{3,64}$", error="영문 소문자·숫자·._- 3~64자 (3-64 of a-z 0-9 . _ -)"
)


class WorkEmail(Text):
    """A staff work e-mail address, checked and normalised (null clears it)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            # No DNS look-up inside a request; ASCII local parts only, so every SMTP relay
            # takes it (an internationalised domain is kept in its punycode form).
            checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as error:
            raise ValidationError(
                f"올바른 이메일 주소가 아닙니다. (Not a valid e-mail address: {error})"
            ) from error
        return checked.ascii_email


def Email(**kwargs: Any) -> WorkEmail:  # noqa: N802 - reads like a field
    """An optional work e-mail for alerts."""
    return WorkEmail(
        254,
        allow_none=True,
        metadata={"format": "email", "description": "업무용 이메일 (work e-mail for alerts)"},
        **kwargs,
    )


class LoginSchema(StrictSchema):
    username = Text(64, min_length=1, required=True)
    password = Text(1024, min_length=1, required=True)


class AccountSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    municipality_id = fields.Integer(allow_none=True)
    office_id = fields.Integer(allow_none=True)
    email = fields.String(allow_none=True)
    is_active = fields.Boolean()
    #: Sign-in refused until then after repeated failures (an admin may lift it at once).
    locked_until = fields.DateTime(allow_none=True)
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class TokenSchema(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    account = fields.Nested(AccountSchema)


class AccountCreateSchema(InputSchema):
    into = NewAccount

    username = Text(64, required=True, validate=USERNAME)
    display_name = Text(100, min_length=1, required=True)
    password = Text(1024, required=True)
    role = fields.Enum(Role, by_value=True, required=True)
    municipality_id = Id(load_default=None, allow_none=True)
    office_id = Id(load_default=None, allow_none=True)
    email = Email(load_default=None)


class AccountUpdateSchema(InputSchema):
    into = AccountChanges

    display_name = Text(100, min_length=1)
    email = Email()
    role = fields.Enum(Role, by_value=True)
    municipality_id = Id(allow_none=True)
    office_id = Id(allow_none=True)
    is_active = fields.Boolean()


class MeUpdateSchema(StrictSchema):
    email = Email(required=True)


class PasswordChangeSchema(StrictSchema):
    current_password = Text(1024, required=True)
    new_password = Text(1024, required=True)


class PasswordResetSchema(StrictSchema):
    password = Text(1024, required=True)


class AccountQuerySchema(StrictSchema):
    role = fields.Enum(Role, by_value=True)


class PermissionEventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    account_id = fields.Integer()
    action = fields.String()
    old_role = fields.String(allow_none=True)
    new_role = fields.String(allow_none=True)
    old_scope = fields.String(allow_none=True)
    new_scope = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
