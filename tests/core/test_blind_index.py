"""One household however it is written: invisible characters never make a second one."""

from __future__ import annotations

import hashlib
import hmac
import io
import sys
import unicodedata

import pytest

from core.auth.roles import Role
from core.crypto import _INVISIBLE, _keyring, normalize_for_index
from core.db import db
from municipalities.models import Household
from tests.municipalities.test_households import NEW, create
from tests.support.household_file_builders import to_csv, valid_rows

# Zero-width space, ZWNJ, ZWJ, word joiner, BOM, soft hyphen, bidi override and isolate, LRM,
# Hangul filler, variation selector.
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u202e",
    "\u2066",
    "\u200e",
    "\u3164",
    "\ufe0f",
]


def _before(value: str) -> str:
    """The normaliser as it was when the stored blind indexes were computed."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def test_every_format_character_is_invisible_to_the_index():
    format_characters = [
        chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"
    ]
    assert [hex(ord(c)) for c in format_characters if not _INVISIBLE.match(c)] == []


def test_nfkc_and_casefold_make_no_invisible_character():
    # Removal happens once, before NFKC: NFKC must not produce what was removed.
    made = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if not _INVISIBLE.match(chr(c))
        and _INVISIBLE.search(unicodedata.normalize("NFKC", chr(c)).casefold())
    ]
    assert made == []


def test_ordinary_text_indexes_as_before():
    # Stored indexes of ordinary names and addresses stay valid: every Hangul syllable, jamo,
    # ASCII and full-width character normalises exactly as before.
    ordinary = [
        *range(0xAC00, 0xD7A4),
        *range(0x3131, 0x3164),
        *range(0x20, 0x7F),
        *range(0xFF01, 0xFF5F),
    ]
    assert [hex(c) for c in ordinary if normalize_for_index(chr(c)) != _before(chr(c))] == []
    for text in ("서울특별시 가온구  희망로 12", "１０１동 ２０２호", "Kim  Min-jun", "홍길동"):
        assert normalize_for_index(text) == _before(text)


@pytest.mark.parametrize("mark", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_invisible_characters_and_other_spaces_do_not_matter(mark):
    assert normalize_for_index(f"김{mark}순자") == normalize_for_index("김순자")
    assert normalize_for_index(f"{mark}희망로\u3000 12{mark}") == normalize_for_index("희망로 12")


@pytest.mark.parametrize("mark", ["\u200b", "\u202e", "\u2066", "\u00ad"])
def test_api_finds_the_duplicate_through_an_invisible_character(client, world, mark):
    assert create(client, world.a).status_code == 201
    again = create(client, world.a, NEW | {"name": f"김{mark}순자"})
    assert again.status_code == 409, again.json
    assert again.json["error"]["code"] == "duplicate_household"
    address = create(client, world.a, NEW | {"road_address": f"서울특별시 시험구{mark} 희망로 12"})
    assert address.status_code == 409
    found = client.post(
        "/api/v1/households/search",
        json={"name": f"{mark}김순자"},
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )
    assert [h["name"] for h in found.json["items"]] == ["김순자"]


def _dry_run(client, world, rows: list[dict]):
    return client.post(
        "/api/v1/households/imports?dry_run=true",
        data={"file": (io.BytesIO(to_csv(rows)), "h.csv")},
        content_type="multipart/form-data",
        headers=world.a.headers(Role.SOCIAL_WORKER),
    )


@pytest.mark.parametrize("mark", ["\u200b", "\u202e", "\u2066", "\ufeff"])
def test_file_import_finds_duplicates_through_an_invisible_character(client, world, mark):
    registered = valid_rows(1, seed=5)[0]
    body = NEW | {k: registered[k] for k in ("name", "road_address", "address_detail")}
    assert create(client, world.a, body).status_code == 201, body
    hidden = registered | {"name": registered["name"][0] + mark + registered["name"][1:]}
    in_registry = _dry_run(client, world, [hidden])
    assert [p["code"] for p in in_registry.json["errors"]] == ["duplicate_in_registry"]

    other = valid_rows(2, seed=9)[1]
    twice = other | {"road_address": mark + other["road_address"]}
    in_file = _dry_run(client, world, [other, twice])
    assert [(p["row"], p["code"]) for p in in_file.json["errors"]] == [(3, "duplicate_in_file")]


def _indexed_before(*parts: str) -> str:
    """A blind index as it was computed before invisible characters were ignored."""
    message = "\x1f".join(_before(part) for part in parts).encode("utf-8")
    return hmac.new(_keyring.index_key, message, hashlib.sha256).hexdigest()


def _store_old_indexes(household_id: int) -> None:
    household = db.session.get(Household, household_id)
    household.name_index = _indexed_before(household.name)
    household.dedup_key = _indexed_before(
        str(household.municipality_id),
        household.name,
        household.road_address,
        household.address_detail or "",
    )
    db.session.flush()


def test_reindex_brings_old_indexes_in_line_and_reports_hidden_duplicates(client, world, runner):
    """Indexes stored before the normaliser ignored invisible characters are computed again; a
    household hidden from duplicate detection by them is reported, not merged."""
    headers = world.a.headers(Role.SOCIAL_WORKER)
    hidden = create(client, world.a, NEW | {"name": "김\u200b순자"}).json["id"]
    other = create(client, world.a, NEW | {"name": "홍\u2060길동", "address_detail": "3층"}).json
    for household_id in (hidden, other["id"]):
        _store_old_indexes(household_id)
    # Before: the plain spelling registers a second household, and a name search misses one.
    plain = create(client, world.a)
    assert plain.status_code == 201, plain.json
    search = {"name": "홍길동"}
    found = client.post("/api/v1/households/search", json=search, headers=headers).json
    assert found["meta"]["total"] == 0

    result = runner.invoke(args=["households", "reindex"])

    assert result.exit_code == 0, result.output
    # Both names index anew; 김​순자 keeps its household key, which would clash with 김순자's.
    assert "3 households checked, 2 re-indexed" in result.output
    assert f"가구 #{hidden} = 가구 #{plain.json['id']}" in result.output
    found = client.post("/api/v1/households/search", json=search, headers=headers).json
    assert [h["id"] for h in found["items"]] == [other["id"]]
    again = create(client, world.a, NEW | {"name": "홍길동", "address_detail": "3층"})
    assert again.status_code == 409, again.json
    assert "0 re-indexed" in runner.invoke(args=["households", "reindex"]).output
