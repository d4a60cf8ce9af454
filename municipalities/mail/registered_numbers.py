"""Registered numbers (등기번호): 13 digits with a Damm check digit.

| digits | width | field | example |
|---|---|---|---|
| 1 | 1 | service class: `7` = 복지등기 (welfare registered mail) | `7` |
| 2–3 | 2 | year of issue, `YY` (20YY; the scheme covers 2000–2099) | `26` |
| 4–12 | 9 | serial within that service and year, `000000001`–`999999999` | `000012345` |
| 13 | 1 | Damm check digit over digits 1–12 | `9` |

Example: `7260000123459`, shown as `726-0000-12345-9` (service and year, the serial in groups
of 4 and 5, the check digit set apart as in an ISBN).

The Damm check digit rejects every single-digit substitution and every swap of two adjacent
unequal digits, the two commonest typing and reading errors; Luhn misses 09 <-> 90 and the UPU
S10 weights miss some swaps. People may type spaces and hyphens anywhere ("7261-2345-67894");
only the ASCII digits 0-9 count, so full-width digits (７) are rejected rather than guessed.

Reuse: a (service, year, serial) triple is issued once, so a number can only come back when the
same `YY` does, 100 years later; UPU S10 asks for no reuse within 12 months and recommends 24.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SERVICE_WELFARE = "7"

FIRST_YEAR = 2000
LAST_YEAR = 2099
MAX_SERIAL = 999_999_999

# Damm's order-10 weakly totally anti-symmetric quasigroup (H. M. Damm, 2004), zero diagonal.
# Every row and column is a permutation, which catches all single-digit errors; anti-symmetry
# catches all adjacent transpositions.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

# [0-9], not \d: \d would accept full-width and other Unicode digits.
_ASCII_DIGITS = re.compile(r"[0-9]*")
_NUMBER = re.compile(r"[0-9]{13}")

Reason = Literal["format", "check_digit"]

_MESSAGES: dict[str, str] = {
    "format": (
        "등기번호는 13자리 숫자여야 합니다. "
        "(A registered number is 13 digits; spaces and hyphens are allowed.)"
    ),
    "check_digit": (
        "등기번호가 올바르지 않습니다. 번호를 다시 확인해 주세요. "
        "(The check digit does not match: a digit is wrong or two digits are swapped.)"
    ),
}


class InvalidRegisteredNumber(ValueError):
    """A registered number that is malformed ("format") or fails its check digit ("check_digit")."""

    def __init__(self, reason: Reason) -> None:
        # Only the reason goes into args, so the exception pickles across process pools.
        super().__init__(reason)
        self.reason: Reason = reason

    def __str__(self) -> str:
        return _MESSAGES[self.reason]


@dataclass(frozen=True)
class NumberParts:
    """The fields of a registered number."""

    service: str
    year: int
    serial: int


def _interim(digits: str) -> int:
    """Run the Damm quasigroup over ASCII digits; 0 means the check digit matches."""
    interim = 0
    for char in digits:
        interim = _DAMM[interim][ord(char) - 48]
    return interim


def damm_check_digit(digits: str) -> str:
    """The Damm check digit to append to a string of ASCII digits."""
    if not isinstance(digits, str) or not _ASCII_DIGITS.fullmatch(digits):
        raise ValueError(f"expected ASCII digits, got {digits!r}")
    return str(_interim(digits))


def make_number(year: int, serial: int, service: str = SERVICE_WELFARE) -> str:
    """The 13-digit registered number for a service class, a year (2000–2099) and a serial."""
    if not (len(service) == 1 and _ASCII_DIGITS.fullmatch(service)):
        raise ValueError(f"service class must be one ASCII digit, got {service!r}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year must be in {FIRST_YEAR}..{LAST_YEAR}, got {year}")
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial must be in 1..{MAX_SERIAL}, got {serial}")
    body = f"{service}{year % 100:02d}{serial:09d}"
    return body + damm_check_digit(body)


def parse_number(text: str) -> str:
    """The 13 digits of a typed registered number (spaces and hyphens ignored), or raise."""
    if not isinstance(text, str):
        raise InvalidRegisteredNumber("format")
    # split() also drops tabs, newlines and full-width spaces pasted from spreadsheets and IMEs.
    compact = "".join(text.split()).replace("-", "")
    if not _NUMBER.fullmatch(compact):
        raise InvalidRegisteredNumber("format")
    if _interim(compact) != 0:
        raise InvalidRegisteredNumber("check_digit")
    return compact


def is_valid(text: str) -> bool:
    """Whether the text is a well-formed registered number with a matching check digit."""
    try:
        parse_number(text)
    except InvalidRegisteredNumber:
        return False
    return True


def format_number(number: str) -> str:
    """The display form, grouped 3-4-5-1: "726-0000-12345-9"."""
    digits = parse_number(number)
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:12]}-{digits[12]}"


def split_number(number: str) -> NumberParts:
    """The service class, year (20YY) and serial of a registered number."""
    digits = parse_number(number)
    return NumberParts(
        service=digits[0], year=FIRST_YEAR + int(digits[1:3]), serial=int(digits[3:12])
    )
