"""Field encryption (Fernet: AES-128-CBC + HMAC-SHA256, with key rotation) and blind indexes."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.types import TypeDecorator


class CryptoNotConfigured(RuntimeError):
    """Encrypted columns were used before configure_crypto() ran."""


class _Keyring:
    cipher: MultiFernet | None = None
    index_key: bytes | None = None


_keyring = _Keyring()


def configure_crypto(encryption_keys: str, blind_index_key: str) -> None:
    """Install the keys: Fernet keys comma-separated, newest (the one that encrypts) first."""
    keys = [key.strip() for key in encryption_keys.split(",") if key.strip()]
    if not keys:
        raise CryptoNotConfigured("no encryption key given")
    _keyring.cipher = MultiFernet([Fernet(key.encode()) for key in keys])
    _keyring.index_key = blind_index_key.encode()


def _cipher() -> MultiFernet:
    if _keyring.cipher is None:
        raise CryptoNotConfigured("call configure_crypto() first")
    return _keyring.cipher


def encrypt(plaintext: str) -> str:
    """Encrypt text with the newest key."""
    return _cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Decrypt text encrypted under any configured key."""
    return decrypt_bytes(token).decode("utf-8")


def encrypt_bytes(plaintext: bytes) -> str:
    """Encrypt bytes with the newest key; the token is ASCII text like encrypt()'s."""
    return _cipher().encrypt(plaintext).decode("ascii")


def decrypt_bytes(token: str) -> bytes:
    """Decrypt bytes encrypted under any configured key."""
    try:
        return _cipher().decrypt(token.encode("ascii"))
    except InvalidToken as exc:
        raise CryptoNotConfigured(
            "a stored value does not decrypt with the configured keys"
        ) from exc


def reencrypt(token: str) -> str:
    """Re-encrypt a stored value under the newest key (MultiFernet.rotate)."""
    return _cipher().rotate(token.encode("ascii")).decode("ascii")


# Characters that show as nothing (Unicode's format characters Cf and the other default-ignorable
# code points): zero-width space/joiners, word joiner, BOM, soft hyphen, bidi controls and
# isolates, variation selectors, Hangul fillers, tags. "홍\u200b길동" must index as "홍길동", or
# one invisible character registers a household twice. Removed before NFKC so that jamo they
# separate still compose; NFKC makes none of them (tests/test_blind_index.py checks both).
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160"
    "\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164"
    "\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def normalize_for_index(value: str) -> str:
    """Invisible characters removed, NFKC, case-folded, Unicode whitespace collapsed.

    The one form that equality of names and addresses is judged on (blind indexes, dedup).
    """
    visible = _INVISIBLE.sub("", value)
    return " ".join(unicodedata.normalize("NFKC", visible).casefold().split())


def blind_index(*parts: str) -> str:
    """HMAC-SHA256 of the normalized parts: equal inputs, equal indexes; nothing else leaks."""
    if _keyring.index_key is None:
        raise CryptoNotConfigured("call configure_crypto() first")
    message = "\x1f".join(normalize_for_index(part) for part in parts).encode("utf-8")
    return hmac.new(_keyring.index_key, message, hashlib.sha256).hexdigest()


class EncryptedText(TypeDecorator):
    """A text column stored encrypted; Python code sees plaintext."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else decrypt(value)


# The subclasses store a Fernet token in a text column too, so key rotation (core/cli.py, which
# finds every EncryptedText column) re-encrypts them with the rest.


class EncryptedBytes(EncryptedText):
    """A binary value (an uploaded file) stored encrypted; Python code sees the bytes."""

    cache_ok = True

    def process_bind_param(self, value: bytes | None, dialect) -> str | None:
        return None if value is None else encrypt_bytes(value)

    def process_result_value(self, value: str | None, dialect) -> bytes | None:
        return None if value is None else decrypt_bytes(value)


class EncryptedJSON(EncryptedText):
    """A JSON value stored encrypted; Python code sees dicts and lists."""

    cache_ok = True

    def process_bind_param(self, value: object, dialect) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect) -> object:
        return None if value is None else json.loads(decrypt(value))
