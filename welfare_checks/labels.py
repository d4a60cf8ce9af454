"""Words for the codes the welfare pages show: severities, case statuses and outcomes."""

from __future__ import annotations

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

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
RETURN_REASONS = {
    "moved": _l("이사"),
    "address_unknown": _l("수취인불명·주소불명"),
    "refused": _l("수취거절"),
    "absent_limit": _l("부재 반복·보관 기간 경과"),
    "deceased": _l("수취인 사망"),
    "other": _l("기타"),
}
# The statistics' figures (the README's "Statistics" table defines them), in the order shown.
FIGURES = {
    "from": _l("시작일"),
    "to": _l("종료일"),
    "mailed": _l("발송 우편물"),
    "delivered": _l("배달완료"),
    "delivered_in_person": _l("본인 수령"),
    "delivered_to_member": _l("가구원 수령"),
    "delivered_other": _l("창구 교부 등"),
    "absent": _l("부재"),
    "returned": _l("반송"),
    "returned_by_reason": _l("반송 사유"),
    "checks_by_severity": _l("안부 확인 등급"),
    "cases_by_outcome": _l("사례 결과"),
    "median_hours_to_first_contact": _l("첫 연락까지 걸린 시간(중앙값, 시간)"),
}
# The words for each breakdown's values.
BREAKDOWNS = {
    "returned_by_reason": RETURN_REASONS,
    "checks_by_severity": SEVERITIES,
    "cases_by_outcome": CASE_OUTCOMES,
}
FIGURE = _l("항목")
VALUE = _l("값")
TIMELINE_KINDS = {
    "mailing": _l("발송"),
    "tracking": _l("배달 추적"),
    "check": _l("안부 확인"),
    "case": _l("사례"),
}


def visit_outcome(code: str) -> str:
    """The door outcome of a visit in words (survey.py keeps the Korean; the catalog English)."""
    return gettext(OUTCOME_LABELS[Outcome(code)])


def bilingual(*words: LazyString) -> str:
    """Korean first, English in brackets, whatever the page's language: "긴급 (Emergency)"."""
    with force_locale("ko"):
        korean = ": ".join(map(str, words))
    with force_locale("en"):
        english = ": ".join(map(str, words))
    return f"{korean} ({english})"
