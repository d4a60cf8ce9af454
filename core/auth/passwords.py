"""argon2id password hashing and the password policy."""

from __future__ import annotations

from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's RFC 9106 low-memory profile
#: Verified against when the username is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash("welfare-post timing equaliser")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower-cased)."""
    text = resources.files("core.data").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line and not line.startswith("#")
    )


def password_problems(password: str, username: str, min_length: int) -> list[str]:
    """Why a new password is refused (empty list: acceptable)."""
    problems = []
    if len(password) < min_length:
        problems.append(
            f"비밀번호는 {min_length}자 이상이어야 합니다. "
            f"(Passwords need at least {min_length} characters.)"
        )
    folded = password.casefold()
    if folded in common_passwords():
        problems.append("너무 흔한 비밀번호입니다. (This password is too common.)")
    if username and username.casefold() in folded:
        problems.append(
            "비밀번호에 아이디를 넣을 수 없습니다. (The password must not contain the username.)"
        )
    return problems


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches; spends the same effort when there is no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters."""
    return _hasher.check_needs_rehash(password_hash)
