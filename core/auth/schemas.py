"""Schemas of the auth and account API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.auth.roles import Role
from core.schemas import Id, StrictSchema

USERNAME = validate.Regexp(
    r"^[a-z0-9._-]{3,64}$", error="영문 소문자·숫자·._- 3~64자 (3-64 of a-z 0-9 . _ -)"
)


class LoginSchema(StrictSchema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class AccountSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    display_name = fields.String()
    role = fields.String()
    municipality_id = fields.Integer(allow_none=True)
    office_id = fields.Integer(allow_none=True)
    is_active = fields.Boolean()
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class TokenSchema(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    account = fields.Nested(AccountSchema)


class AccountCreateSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = fields.String(required=True, validate=validate.Length(max=1024))
    role = fields.Enum(Role, by_value=True, required=True)
    municipality_id = Id(load_default=None, allow_none=True)
    office_id = Id(load_default=None, allow_none=True)


class AccountUpdateSchema(StrictSchema):
    display_name = fields.String(validate=validate.Length(min=1, max=100))
    role = fields.Enum(Role, by_value=True)
    municipality_id = Id(allow_none=True)
    office_id = Id(allow_none=True)
    is_active = fields.Boolean()


class PasswordChangeSchema(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(max=1024))
    new_password = fields.String(required=True, validate=validate.Length(max=1024))


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
