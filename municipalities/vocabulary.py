"""Controlled vocabularies of the household registry (code -> Korean label), the other ways a
municipality's file writes each value, and the lookup of a typed value."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

HOUSEHOLD_TYPES: dict[str, str] = {
    "single_elderly": "독거노인",
    "single_middle_aged": "중장년 1인 가구",
    "single_young": "청년 1인 가구",
    "grandparent_grandchild": "조손가구",
    "single_parent": "한부모가구",
    "disabled_member": "장애인 가구",
    "elderly_couple": "노인부부 가구",
    "other": "기타",
}

RISK_SOURCES: dict[str, str] = {
    "electricity_arrears": "전기요금 체납",
    "water_arrears": "수도요금 체납",
    "gas_arrears": "가스요금 체납",
    "health_insurance_arrears": "건강보험료 체납",
    "blind_spot_flag": "복지사각지대 발굴시스템 대상",
    "unreachable_resident": "연락두절 주민",
    "other": "기타",
}

#: Other ways staff write a household type. Spacing and punctuation need no entry (they are
#: ignored); only a word that names one type and nothing else belongs here.
HOUSEHOLD_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "single_elderly": ("독거", "독거어르신", "홀몸노인", "홀몸어르신", "노인 1인 가구"),
    "single_middle_aged": ("중장년 1인", "중장년 단독가구", "중년 1인 가구"),
    "single_young": ("청년 1인", "청년 단독가구"),
    "grandparent_grandchild": ("조손", "조손가정", "조손가족"),
    # 모자가족/부자가족 are the two kinds of 한부모가족 in the 한부모가족지원법 (art. 4).
    "single_parent": (
        "한부모",
        "한부모 가정",
        "한부모가족",
        "모자가족",
        "부자가족",
        "모자가정",
        "부자가정",
    ),
    "disabled_member": ("장애인", "장애가구", "장애인 가정", "장애인가족"),
    "elderly_couple": ("노인부부", "노부부", "고령부부", "노인부부 가정"),
    "other": ("그 외", "기타 가구"),
}

#: Other ways staff write a risk source. 단전·단수·단가스 are how the social security
#: information system's crisis data (복지사각지대 발굴관리시스템) names the utility arrears.
RISK_SOURCE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "electricity_arrears": (
        "전기료 체납",
        "전기세 체납",
        "전기요금 미납",
        "전기료 미납",
        "전기 체납",
        "단전",
    ),
    "water_arrears": (
        "수도료 체납",
        "수도세 체납",
        "수도요금 미납",
        "수도료 미납",
        "수도 체납",
        "단수",
    ),
    "gas_arrears": ("가스료 체납", "가스비 체납", "가스요금 미납", "가스 체납", "단가스"),
    "health_insurance_arrears": ("건보료 체납", "건강보험 체납", "건강보험료 미납", "건보 체납"),
    "blind_spot_flag": ("복지사각지대", "복지사각지대 발굴 대상", "발굴시스템 대상"),
    "unreachable_resident": ("연락두절", "연락 두절자", "연락 불가"),
    "other": ("그 외",),
}

#: A partial value shorter than this (after normalising) matches too much to name candidates.
_MIN_PARTIAL = 2


def normal_form(value: str) -> str:
    """The value as compared: NFKC, case-folded, without spaces, punctuation or symbols."""
    folded = unicodedata.normalize("NFKC", value).casefold()
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] not in "ZPSC")


@dataclass(frozen=True)
class Lookup:
    """What a typed value names: one code, or (code None) the candidates it could mean."""

    code: str | None
    candidates: tuple[str, ...] = ()


class CodedValues:
    """One vocabulary with its synonyms: the accepted labels and the lookup of a typed value."""

    def __init__(self, labels: dict[str, str], synonyms: dict[str, tuple[str, ...]]):
        self.labels = labels
        self.synonyms = synonyms
        self._index: dict[str, str] = {}
        for code, label in labels.items():
            for written in (code, label, *synonyms.get(code, ())):
                self._add(normal_form(written), code)

    def _add(self, key: str, code: str) -> None:
        # A spelling naming two values would make the import guess: refuse to start instead.
        if self._index.setdefault(key, code) != code:
            raise ValueError(f"{key!r} names both {self._index[key]} and {code}")

    def accepted(self) -> list[str]:
        """The Korean labels, in the vocabulary's order."""
        return list(self.labels.values())

    def lookup(self, value: str) -> Lookup:
        """The code of a label, code name or synonym (spacing, punctuation and case ignored);
        else the values whose spellings contain it (or it contains), as candidates."""
        key = normal_form(value)
        code = self._index.get(key)
        if code is not None:
            return Lookup(code)
        if len(key) < _MIN_PARTIAL:
            return Lookup(None)
        partial = {
            c for k, c in self._index.items() if key in k or (len(k) >= _MIN_PARTIAL and k in key)
        }
        return Lookup(None, tuple(self.labels[c] for c in self.labels if c in partial))


HOUSEHOLD_TYPE_VALUES = CodedValues(HOUSEHOLD_TYPES, HOUSEHOLD_TYPE_SYNONYMS)
RISK_SOURCE_VALUES = CodedValues(RISK_SOURCES, RISK_SOURCE_SYNONYMS)
