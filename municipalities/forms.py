"""The registry's list filters and name search, shared by the registry's list and the mailing
wizard's first step (both list households the same way)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.forms import PageForm, choice, number, text
from municipalities.household_file import MAX_NAME
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES

STATUSES = {"active": _l("관리 중"), "closed": _l("종결")}
ASSIGNMENTS = {
    "assigned": _l("집배구 배정"),
    "outside_districts": _l("집배구 밖"),
    "not_geocoded": _l("좌표 없음"),
}


class FilterForm(PageForm):
    status = choice(STATUSES)
    household_type = choice(HOUSEHOLD_TYPES)
    risk_source = choice(RISK_SOURCES)
    assignment_status = choice(ASSIGNMENTS)


class SearchForm(FilterForm):
    """Filters posted with a name or an address: personal data never travels in a URL."""

    name = text(MAX_NAME)
    address = text(100)
    page = number()
