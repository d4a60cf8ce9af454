"""Form posts from the staff pages: strings in, typed values out, messages in Korean.

The page views load `request.form` with a PageForm; a bad field becomes the same Invalid error
(with `.fields`) the services raise, so a page shows both kinds next to the field at fault.
`submit` runs one form post: load, the service in one transaction, then redirect or refusal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from flask import flash, redirect, request
from marshmallow import EXCLUDE, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from core.db import transaction
from core.errors import ApiError, Conflict, Invalid
from core.schemas import MAX_ID, Choice, Day, Latitude, Longitude, StrictSchema, Text

REQUIRED = "필수 항목입니다. (Required.)"
NOT_A_NUMBER = "숫자가 아닙니다. (Not a number.)"
NOT_A_DATE = "날짜가 아닙니다. (Not a date.)"
NOT_A_CHOICE = "고를 수 있는 값이 아닙니다. (Not one of the choices.)"
_MESSAGES = {"required": REQUIRED, "null": REQUIRED, "invalid": NOT_A_NUMBER}
#: A page's answer: a redirect after a change, or the page again with the refusal and its status.
Answer = Response | tuple[str, int]
T = TypeVar("T")


class PageForm(StrictSchema):
    """A page's form: NUL refused as in the API; the CSRF token and the button are ignored."""

    class Meta:
        unknown = EXCLUDE


def number(minimum: int = 1, **options: Any) -> fields.Integer:
    """An id, version or count typed into a form (at least `minimum`)."""
    range_ = validate.Range(min=minimum, max=MAX_ID, error=NOT_A_NUMBER)
    return fields.Integer(validate=range_, error_messages=_MESSAGES, **options)


def numbers(**options: Any) -> fields.List:
    """Ids from a group of check boxes of one name."""
    return fields.List(number(), error_messages=_MESSAGES, **options)


def longitude(**options: Any) -> Longitude:
    """A longitude typed into a form; NaN and infinity are not numbers here."""
    return Longitude(error_messages=_MESSAGES | {"special": NOT_A_NUMBER}, **options)


def latitude(**options: Any) -> Latitude:
    """A latitude typed into a form; NaN and infinity are not numbers here."""
    return Latitude(error_messages=_MESSAGES | {"special": NOT_A_NUMBER}, **options)


def day(**options: Any) -> Day:
    """A date from a date field (YYYY-MM-DD)."""
    return Day(error_messages=_MESSAGES | {"invalid": NOT_A_DATE}, **options)


def choice(values: Iterable[str], **options: Any) -> Text:
    """One of a fixed set of codes (a select box)."""
    return Choice(values, error=NOT_A_CHOICE, error_messages=_MESSAGES, **options)


def text(max_length: int, min_length: int = 1, **options: Any) -> Text:
    """Free text of min_length to max_length characters (multiline=True for a text area)."""
    return Text(max_length, min_length=min_length, error_messages=_MESSAGES, **options)


def load_form(form: type[PageForm], data: Mapping[str, str]) -> Any:
    """The form's typed values (a dict, or an API schema's input type); blank fields count as
    not given; Invalid names bad fields.

    A list field takes every value posted under its name (check boxes).
    """
    schema = form()
    given: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(schema.fields.get(key), fields.List) and isinstance(data, MultiDict):
            given[key] = [item for item in data.getlist(key) if item.strip()]
        elif value.strip():
            given[key] = value
    try:
        return schema.load(given)
    except ValidationError as error:
        problems = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
        raise Invalid(fields={key: _flat(value) for key, value in problems.items()}) from error


def _flat(messages: list | dict) -> list[str]:
    """A field's messages; a list field's, keyed by the bad item's index, in one list."""
    if isinstance(messages, dict):
        return list(dict.fromkeys(m for value in messages.values() for m in _flat(value)))
    return list(messages)


def submit(
    form: type[PageForm],
    action: Callable[[Any], T],
    refused: Callable[[ApiError], Answer],
    done: str,
    then: Callable[[T], str],
) -> Answer:
    """Run a form post: load it, run `action` in one transaction, flash `done` and go to
    `then(result)`; a refusal a person can fix (Invalid, a stale version) is `refused(error)`.
    """
    try:
        data = load_form(form, request.form)
        with transaction():
            result = action(data)
    except (Invalid, Conflict) as error:
        return refused(error)
    flash(done, "notice")
    return redirect(then(result))


def load_page_number(args: Mapping[str, str], last: int = 10_000) -> int:
    """The `page` query argument of a list page: anything odd is page 1, never past `last`."""
    raw = args.get("page", "")
    page = int(raw) if raw.isdecimal() and len(raw) < 6 else 1
    return min(max(page, 1), last)
