"""Words for the codes the welfare pages show: severities, case statuses and outcomes."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from welfare_checks.survey import OUTCOME_LABELS, Outcome

SEVERITIES = {
    "emergency": _l("긴급"),
    "urgent": _l("시급"),
    "watch": _l("관찰"),
    "none": _l("이상 없음"),
}
CASE_STATUSES = {
    "new": _l("신규"),
    "in_progress": _l("진행 중"),
    "linked_public": _l("공공서비스 연계"),
    "linked_private": _l("민간자원 연계"),
    "no_need": _l("지원 불필요"),
    "unreachable": _l("연락 불가"),
    "closed": _l("종결"),
}
CASE_OUTCOMES = {
    "basic_livelihood": _l("기초생활보장"),
    "emergency_welfare": _l("긴급복지지원"),
    "care_service": _l("돌봄·노인맞춤돌봄"),
    "health_service": _l("보건·의료 연계"),
    "housing_support": _l("주거 지원"),
    "private_donation": _l("민간 후원·푸드뱅크"),
    "counselling": _l("상담"),
    "declined": _l("본인 거부"),
    "not_found": _l("소재 불명"),
    "other": _l("기타"),
}
CASE_ACTIONS = {
    "opened": _l("사례 열림"),
    "assigned": _l("담당자 지정"),
    "status": _l("상태 변경"),
    "note": _l("기록"),
    "reopened": _l("다시 열림"),
}
EXPORT_KINDS = {
    "statistics": _l("통계"),
    "check_reports": _l("안부 확인 보고"),
    "cases": _l("사례"),
}
TIMELINE_KINDS = {
    "mailing": _l("발송"),
    "tracking": _l("배달 추적"),
    "check": _l("안부 확인"),
    "case": _l("사례"),
}


def visit_outcome(code: str) -> str:
    """The door outcome of a visit in words (survey.py keeps the Korean; the catalog English)."""
    return gettext(OUTCOME_LABELS[Outcome(code)])
