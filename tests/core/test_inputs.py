"""Typed service inputs: a partial update keeps "not given" apart from None."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from core.inputs import UNSET, given, whole
from municipalities.schemas import SenderUpdateSchema
from municipalities.services import SenderChanges


def test_a_partial_update_names_only_the_fields_given():
    changes = SenderUpdateSchema().load({"department": "복지정책과", "phone": None})
    assert changes == SenderChanges(department="복지정책과", phone=None)
    assert changes.road_address is UNSET
    assert given(changes) == {"department": "복지정책과", "phone": None}


def test_a_whole_form_clears_what_it_leaves_blank():
    cleared = whole(SenderChanges(department="복지정책과"))
    assert given(cleared) == {
        "department": "복지정책과",
        "road_address": None,
        "postal_code": None,
        "phone": None,
        "contact_person": None,
    }


def test_a_bad_field_is_refused_before_any_input_is_made():
    with pytest.raises(ValidationError) as refused:
        SenderUpdateSchema().load({"postal_code": "123"})
    assert list(refused.value.messages) == ["postal_code"]
