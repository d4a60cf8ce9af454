"""municipalities.mail.registered_numbers: layout, Damm check digit, typo and swap rejection."""

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from municipalities.mail.registered_numbers import (
    _DAMM,
    MAX_SERIAL,
    SERVICE_WELFARE,
    InvalidRegisteredNumber,
    NumberParts,
    damm_check_digit,
    format_number,
    is_valid,
    make_number,
    parse_number,
    split_number,
)

years = st.integers(min_value=2000, max_value=2099)
serials = st.integers(min_value=1, max_value=MAX_SERIAL)
services = st.sampled_from("0123456789")
numbers = st.builds(make_number, years, serials, services)


def sampled_numbers(count: int) -> list[str]:
    """Valid numbers spread over years, serials and service classes, plus the extremes."""
    rng = random.Random(20260101)
    picked = [make_number(2000, 1, "0"), make_number(2099, MAX_SERIAL, "9")]
    while len(picked) < count:
        year, serial = rng.randint(2000, 2099), rng.randint(1, MAX_SERIAL)
        picked.append(make_number(year, serial, rng.choice("0123456789")))
    return picked


def reason(text) -> str:
    with pytest.raises(InvalidRegisteredNumber) as raised:
        parse_number(text)
    return raised.value.reason


def substitutions(number: str):
    for position, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                yield number[:position] + other + number[position + 1 :]


def adjacent_swaps(number: str):
    for position in range(len(number) - 1):
        a, b = number[position], number[position + 1]
        if a != b:
            yield number[:position] + b + a + number[position + 2 :]


def test_layout():
    number = make_number(2026, 12345)
    assert number == "7260000123459"
    assert len(number) == 13
    assert number[0] == SERVICE_WELFARE
    assert number[1:3] == "26"
    assert number[3:12] == "000012345"
    assert number[12] == damm_check_digit(number[:12])
    assert split_number(number) == NumberParts(service="7", year=2026, serial=12345)


def test_damm_reference_vector():
    # The worked example of the Damm algorithm: 572 -> check digit 4.
    assert damm_check_digit("572") == "4"
    assert damm_check_digit("5724") == "0"


def test_damm_table_detects_every_single_error_and_adjacent_swap():
    # A proof for numbers of any length: rows and columns are permutations (a substituted digit
    # changes the interim, and later steps keep it different), and the table is weakly totally
    # anti-symmetric (swapping a != b after any interim c ends in a different interim).
    digits = range(10)
    for row in _DAMM:
        assert sorted(row) == list(digits)
    for column in digits:
        assert sorted(row[column] for row in _DAMM) == list(digits)
    for c in digits:
        # Zero diagonal: appending the interim as check digit brings the interim back to 0.
        assert _DAMM[c][c] == 0
        for a in digits:
            for b in digits:
                if a != b:
                    assert _DAMM[_DAMM[c][a]][b] != _DAMM[_DAMM[c][b]][a]


def test_every_single_digit_substitution_is_rejected():
    for number in sampled_numbers(300):
        assert parse_number(number) == number
        for typo in substitutions(number):
            assert reason(typo) == "check_digit", (number, typo)


def test_every_adjacent_swap_of_unequal_digits_is_rejected():
    for number in sampled_numbers(300):
        for swapped in adjacent_swaps(number):
            assert reason(swapped) == "check_digit", (number, swapped)


def test_luhn_blind_spot_09_90_is_caught():
    body = "726000000109"
    number = body + damm_check_digit(body)
    swapped = number.replace("09", "90")
    assert is_valid(number)
    assert not is_valid(swapped)


@settings(max_examples=300)
@given(numbers, st.integers(min_value=0, max_value=12), st.integers(min_value=1, max_value=9))
def test_substitution_property(number, position, shift):
    wrong = str((int(number[position]) + shift) % 10)
    typo = number[:position] + wrong + number[position + 1 :]
    assert not is_valid(typo)
    assert reason(typo) == "check_digit"


@settings(max_examples=300)
@given(numbers, st.integers(min_value=0, max_value=11))
def test_adjacent_swap_property(number, position):
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assert is_valid(swapped) == (swapped == number)


@given(numbers)
def test_format_parse_round_trip(number):
    shown = format_number(number)
    assert shown.replace("-", "") == number
    assert [len(group) for group in shown.split("-")] == [3, 4, 5, 1]
    assert parse_number(shown) == number
    assert format_number(shown) == shown


@given(years, serials, services)
def test_split_inverts_make(year, serial, service):
    assert split_number(make_number(year, serial, service)) == NumberParts(service, year, serial)


@given(st.tuples(years, serials), st.tuples(years, serials))
def test_distinct_year_and_serial_give_distinct_numbers(first, second):
    assert (make_number(*first) == make_number(*second)) == (first == second)


@pytest.mark.parametrize(
    "typed",
    [
        "7261-2345-67894",
        "726-1234-56789-4",
        "7261 2345 67894",
        " 7261234567894\n",
        "7261234567894\t",
        "7261\u30002345\u300067894",  # full-width spaces from a Korean IME
        "7-2-6-1-2-3-4-5-6-7-8-9-4",
    ],
)
def test_typed_forms_are_accepted(typed):
    assert parse_number(typed) == "7261234567894"
    assert is_valid(typed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "format"),
        ("   ", "format"),
        ("-", "format"),
        ("726123456789", "format"),  # 12 digits
        ("72612345678940", "format"),  # 14 digits
        ("726123456789A", "format"),
        ("RR287043775IN", "format"),  # a UPU S10 identifier is not a domestic number
        ("726123456789４", "format"),  # full-width digit
        ("７２６１２３４５６７８９４", "format"),
        ("٧٢٦١٢٣٤٥٦٧٨٩٤", "format"),  # Arabic-Indic digits
        ("7261_2345_67894", "format"),
        ("7261.2345.67894", "format"),
        ("+7261234567894", "format"),
        (None, "format"),
        (7261234567894, "format"),
        ("7261234567890", "check_digit"),
        ("7261-2345-67890", "check_digit"),
        ("0000000000001", "check_digit"),
    ],
)
def test_bad_inputs(text, expected):
    assert reason(text) == expected
    assert not is_valid(text)


def test_messages_are_korean_with_english():
    for text, expected in [("123", "format"), ("7261234567890", "check_digit")]:
        with pytest.raises(InvalidRegisteredNumber) as raised:
            parse_number(text)
        message = str(raised.value)
        assert "등기번호" in message
        assert "(" in message and message.endswith(".)")
        assert raised.value.reason == expected
        assert isinstance(raised.value, ValueError)


def test_exception_survives_pickling():
    # Jobs run in a process pool, so the exception must survive a pickle round trip.
    error = pickle.loads(pickle.dumps(InvalidRegisteredNumber("check_digit")))  # noqa: S301
    assert error.reason == "check_digit"
    assert "등기번호" in str(error)


def test_format_and_split_reject_invalid_numbers():
    with pytest.raises(InvalidRegisteredNumber):
        format_number("7261234567890")
    with pytest.raises(InvalidRegisteredNumber):
        split_number("123")


@pytest.mark.parametrize(
    ("year", "serial", "service"),
    [
        (2026, 0, "7"),
        (2026, MAX_SERIAL + 1, "7"),
        (2026, -1, "7"),
        (1999, 1, "7"),
        (2100, 1, "7"),
        (26, 1, "7"),
        (2026, 1, "77"),
        (2026, 1, ""),
        (2026, 1, "A"),
        (2026, 1, "７"),
    ],
)
def test_make_number_rejects_out_of_range(year, serial, service):
    with pytest.raises(ValueError):
        make_number(year, serial, service)


@pytest.mark.parametrize("digits", ["12a", "１２", "1 2", None])
def test_damm_check_digit_needs_ascii_digits(digits):
    with pytest.raises(ValueError):
        damm_check_digit(digits)
