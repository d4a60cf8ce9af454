"""The registry's vocabularies: normalising typed values, the synonym tables and the lookup."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from municipalities.vocabulary import (
    HOUSEHOLD_TYPE_VALUES,
    RISK_SOURCE_VALUES,
    CodedValues,
    Lookup,
    normal_form,
)

VOCABULARIES = {"household_type": HOUSEHOLD_TYPE_VALUES, "risk_sources": RISK_SOURCE_VALUES}


def spellings(values: CodedValues) -> list[tuple[str, str]]:
    """(code, written form) of every label, code name and synonym."""
    return [
        (code, written)
        for code, label in values.labels.items()
        for written in (code, label, *values.synonyms.get(code, ()))
    ]


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_no_spelling_names_two_values(name):
    seen: dict[str, str] = {}
    for code, written in spellings(VOCABULARIES[name]):
        assert seen.setdefault(normal_form(written), code) == code, (written, code)


@pytest.mark.parametrize("name", sorted(VOCABULARIES))
def test_synonyms_belong_to_known_codes(name):
    values = VOCABULARIES[name]
    assert set(values.synonyms) <= set(values.labels)


@given(
    st.sampled_from(sorted(VOCABULARIES)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from(spellings(VOCABULARIES[name])))
    ),
    st.lists(st.sampled_from([" ", "  ", "·", "-", ".", "\u3000", "(", ")", "/"]), max_size=6),
    st.randoms(use_true_random=False),
)
def test_every_spelling_round_trips_whatever_its_spacing_and_punctuation(chosen, noise, rng):
    name, (code, written) = chosen
    typed = list(written)
    for mark in noise:
        typed.insert(rng.randint(0, len(typed)), mark)

    assert VOCABULARIES[name].lookup("".join(typed)).code == code


@pytest.mark.parametrize(
    ("values", "typed", "code"),
    [
        (RISK_SOURCE_VALUES, "전기료체납", "electricity_arrears"),
        (RISK_SOURCE_VALUES, "전기료 체납", "electricity_arrears"),
        (RISK_SOURCE_VALUES, "전기요금체납", "electricity_arrears"),
        (RISK_SOURCE_VALUES, "ELECTRICITY_ARREARS", "electricity_arrears"),
        (RISK_SOURCE_VALUES, "단수", "water_arrears"),
        (HOUSEHOLD_TYPE_VALUES, "한부모", "single_parent"),
        (HOUSEHOLD_TYPE_VALUES, "한부모 가정", "single_parent"),
        (HOUSEHOLD_TYPE_VALUES, "ｓｉｎｇｌｅ＿ｅｌｄｅｒｌｙ", "single_elderly"),
    ],
)
def test_common_spellings(values, typed, code):
    assert values.lookup(typed).code == code


def test_a_part_of_several_values_names_them_all():
    found = HOUSEHOLD_TYPE_VALUES.lookup("1인 가구")

    assert found.code is None
    assert {"중장년 1인 가구", "청년 1인 가구"} <= set(found.candidates)


def test_a_value_containing_two_values_names_both():
    found = HOUSEHOLD_TYPE_VALUES.lookup("독거노인 한부모")

    assert found.code is None
    assert found.candidates == ("독거노인", "한부모가구")


@pytest.mark.parametrize("typed", ["복권", "가", "", "  "])
def test_an_unrelated_or_too_short_value_has_no_candidates(typed):
    assert RISK_SOURCE_VALUES.lookup(typed) == Lookup(None, ())


def test_a_synonym_naming_two_values_is_refused_when_the_table_is_built():
    with pytest.raises(ValueError, match="a and b"):
        CodedValues({"a": "가나", "b": "다라"}, {"b": ("가 나",)})
