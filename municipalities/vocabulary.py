"""Controlled vocabularies of the household registry: code -> Korean label."""

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


def code_for(vocabulary: dict[str, str], value: str) -> str | None:
    """The code for a code or a Korean label (spaces ignored), or None if unknown."""
    wanted = "".join(value.split())
    for code, label in vocabulary.items():
        if wanted in (code, "".join(label.split())):
            return code
    return None
