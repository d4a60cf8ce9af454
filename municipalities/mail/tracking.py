"""Tracking vocabulary of a mail item and the state machine its status follows.

Events follow the steps of Korea Post's 등기번호조회 (접수 → 발송 → 배달준비 → 배달완료) plus
the outcomes a carrier records at the door. An item's status is derived by replaying its events;
each event leads to one status and is allowed only from the statuses listed in `_ALLOWED`.

There is no sorting-centre leg (도착): the letters are printed for, and handed straight to, the
item's delivery office.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum


class EventCode(StrEnum):
    """What happened to a mail item."""

    ACCEPTED = "accepted"
    PRODUCED = "produced"
    HANDED_TO_OFFICE = "handed_to_office"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ABSENT = "absent"
    REDELIVERY = "redelivery"
    REFUSED = "refused"
    MOVED = "moved"
    ADDRESS_UNKNOWN = "address_unknown"
    ADDRESSEE_DECEASED = "addressee_deceased"
    RETURNED = "returned"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """Where a mail item stands, derived from its events."""

    ACCEPTED = "accepted"
    PRODUCED = "produced"
    AT_OFFICE = "at_office"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    ABSENT = "absent"
    REDELIVERY_SCHEDULED = "redelivery_scheduled"
    RETURNING = "returning"
    RETURNED = "returned"
    CANCELLED = "cancelled"


EVENT_LABELS: dict[EventCode, str] = {
    EventCode.ACCEPTED: "접수",
    EventCode.PRODUCED: "제작(인쇄)",
    EventCode.HANDED_TO_OFFICE: "발송(집배국 인계)",
    EventCode.OUT_FOR_DELIVERY: "배달준비",
    EventCode.DELIVERED: "배달완료",
    EventCode.ABSENT: "부재(안내서 투입)",
    EventCode.REDELIVERY: "재배달",
    EventCode.REFUSED: "수취거절",
    EventCode.MOVED: "이사",
    EventCode.ADDRESS_UNKNOWN: "수취인불명·주소불명",
    EventCode.ADDRESSEE_DECEASED: "수취인 사망",
    EventCode.RETURNED: "반송",
    EventCode.CANCELLED: "접수취소",
}

STATUS_LABELS: dict[ItemStatus, str] = {
    ItemStatus.ACCEPTED: "접수",
    ItemStatus.PRODUCED: "제작완료",
    ItemStatus.AT_OFFICE: "집배국 도착",
    ItemStatus.OUT_FOR_DELIVERY: "배달준비",
    ItemStatus.DELIVERED: "배달완료",
    ItemStatus.ABSENT: "수취인 부재",
    ItemStatus.REDELIVERY_SCHEDULED: "재배달 예정",
    ItemStatus.RETURNING: "반송 대기",
    ItemStatus.RETURNED: "반송완료",
    ItemStatus.CANCELLED: "접수취소",
}


# Registered numbers can be walked: a welfare referral, the sender, a door outcome such as
# 수취인 사망 or any text must not be read off one, so public tracking has its own few steps.
class PublicStep(StrEnum):
    """A step of an item as public tracking shows it: what a recipient needs, never why."""

    ACCEPTED = "accepted"
    IN_DELIVERY = "in_delivery"
    DELIVERED = "delivered"
    RETURNED = "returned"
    CANCELLED = "cancelled"


PUBLIC_LABELS: dict[PublicStep, str] = {
    PublicStep.ACCEPTED: "접수 (accepted)",
    PublicStep.IN_DELIVERY: "배달 중 (in delivery)",
    PublicStep.DELIVERED: "배달 완료 (delivered)",
    PublicStep.RETURNED: "반송 (returned to sender)",
    PublicStep.CANCELLED: "접수 취소 (cancelled)",
}

# Every door outcome that sends an item back (refused, moved, unknown, deceased) is one step.
PUBLIC_STEP_OF_STATUS: dict[ItemStatus, PublicStep] = {
    ItemStatus.ACCEPTED: PublicStep.ACCEPTED,
    ItemStatus.PRODUCED: PublicStep.ACCEPTED,
    ItemStatus.AT_OFFICE: PublicStep.IN_DELIVERY,
    ItemStatus.OUT_FOR_DELIVERY: PublicStep.IN_DELIVERY,
    ItemStatus.ABSENT: PublicStep.IN_DELIVERY,
    ItemStatus.REDELIVERY_SCHEDULED: PublicStep.IN_DELIVERY,
    ItemStatus.DELIVERED: PublicStep.DELIVERED,
    ItemStatus.RETURNING: PublicStep.RETURNED,
    ItemStatus.RETURNED: PublicStep.RETURNED,
    ItemStatus.CANCELLED: PublicStep.CANCELLED,
}


FINAL_STATUSES: frozenset[ItemStatus] = frozenset(
    {ItemStatus.DELIVERED, ItemStatus.RETURNED, ItemStatus.CANCELLED}
)

# The door outcomes that send an item back to the municipality, with the reason recorded.
_RETURN_OUTCOMES: dict[EventCode, str] = {
    EventCode.REFUSED: "refused",
    EventCode.MOVED: "moved",
    EventCode.ADDRESS_UNKNOWN: "address_unknown",
    EventCode.ADDRESSEE_DECEASED: "deceased",
}

# Each event leads to exactly one status, whatever the status before it.
_TARGET: dict[EventCode, ItemStatus] = {
    EventCode.ACCEPTED: ItemStatus.ACCEPTED,
    EventCode.PRODUCED: ItemStatus.PRODUCED,
    EventCode.HANDED_TO_OFFICE: ItemStatus.AT_OFFICE,
    EventCode.OUT_FOR_DELIVERY: ItemStatus.OUT_FOR_DELIVERY,
    EventCode.DELIVERED: ItemStatus.DELIVERED,
    EventCode.ABSENT: ItemStatus.ABSENT,
    EventCode.REDELIVERY: ItemStatus.REDELIVERY_SCHEDULED,
    **dict.fromkeys(_RETURN_OUTCOMES, ItemStatus.RETURNING),
    EventCode.RETURNED: ItemStatus.RETURNED,
    EventCode.CANCELLED: ItemStatus.CANCELLED,
}

_DOOR_OUTCOMES = frozenset({EventCode.DELIVERED, EventCode.ABSENT, *_RETURN_OUTCOMES})

_ALLOWED: dict[ItemStatus | None, frozenset[EventCode]] = {
    None: frozenset({EventCode.ACCEPTED}),
    # The sender may cancel only while the letter has not left for the delivery office.
    ItemStatus.ACCEPTED: frozenset({EventCode.PRODUCED, EventCode.CANCELLED}),
    ItemStatus.PRODUCED: frozenset({EventCode.HANDED_TO_OFFICE, EventCode.CANCELLED}),
    # Returned from the office without an attempt: the sender recalled it (반환청구) or it was
    # damaged; the reason is "other".
    ItemStatus.AT_OFFICE: frozenset({EventCode.OUT_FOR_DELIVERY, EventCode.RETURNED}),
    # Out for delivery again: a stop dropped by a mid-day re-plan goes out on the next route.
    ItemStatus.OUT_FOR_DELIVERY: _DOOR_OUTCOMES | {EventCode.OUT_FOR_DELIVERY},
    # After a notice the item waits at the office: the addressee may collect it at the counter
    # (delivered), another attempt may be scheduled, or it goes back once the absence policy is
    # exhausted (see should_return).
    ItemStatus.ABSENT: frozenset({EventCode.REDELIVERY, EventCode.DELIVERED, EventCode.RETURNED}),
    ItemStatus.REDELIVERY_SCHEDULED: frozenset({EventCode.OUT_FOR_DELIVERY, EventCode.DELIVERED}),
    ItemStatus.RETURNING: frozenset({EventCode.RETURNED}),
    **dict.fromkeys(FINAL_STATUSES, frozenset()),
}

RETURN_REASONS = ("moved", "address_unknown", "refused", "absent_limit", "deceased", "other")

# Default number of absences after which an item goes back; the service may use its own.
ABSENCE_LIMIT = 3


class TransitionRefused(ValueError):
    """An event that is not allowed in the item's current status."""

    def __init__(self, status: ItemStatus | None, event: EventCode) -> None:
        # Both fields go into args, so the exception pickles across process pools.
        super().__init__(status, event)
        self.status = status
        self.event = event

    def __str__(self) -> str:
        event_ko = EVENT_LABELS.get(self.event, self.event)
        if self.status is None:
            return (
                f"접수 전인 우편물에는 '{event_ko}'을(를) 기록할 수 없습니다. "
                f"(An item with no events must start with 'accepted', not '{self.event}'.)"
            )
        status_ko = STATUS_LABELS.get(self.status, self.status)
        return (
            f"'{status_ko}' 상태의 우편물에는 '{event_ko}'을(를) 기록할 수 없습니다. "
            f"('{self.event}' is not allowed when the item is '{self.status}'.)"
        )


def allowed_events(status: ItemStatus | None) -> frozenset[EventCode]:
    """The events that may follow the status (None: an item with no events yet)."""
    return _ALLOWED[status]


def next_status(status: ItemStatus | None, event: EventCode) -> ItemStatus:
    """The status after the event, or TransitionRefused if the event is not allowed."""
    if event not in _ALLOWED[status]:
        raise TransitionRefused(status, event)
    return _TARGET[event]


def derive_status(events: Iterable[EventCode]) -> ItemStatus | None:
    """The status after replaying the events in order (None if there are none)."""
    status: ItemStatus | None = None
    for event in events:
        status = next_status(status, event)
    return status


def return_reason(events: Sequence[EventCode]) -> str | None:
    """Why the item is going or went back to the sender (one of RETURN_REASONS), else None."""
    status: ItemStatus | None = None
    reason: str | None = None
    for event in events:
        before, status = status, next_status(status, event)
        if event in _RETURN_OUTCOMES:
            reason = _RETURN_OUTCOMES[event]
        elif event == EventCode.RETURNED and before == ItemStatus.ABSENT:
            reason = "absent_limit"
        elif event == EventCode.RETURNED and before == ItemStatus.AT_OFFICE:
            reason = "other"
    return reason


def absence_count(events: Iterable[EventCode]) -> int:
    """How many delivery attempts found nobody at home."""
    return sum(1 for event in events if event == EventCode.ABSENT)


def should_return(events: Sequence[EventCode], limit: int = ABSENCE_LIMIT) -> bool:
    """Whether an absent item has reached the absence limit and should be returned."""
    return derive_status(events) is ItemStatus.ABSENT and absence_count(events) >= limit


def public_steps(events: Iterable[EventCode]) -> list[tuple[int, PublicStep]]:
    """Each run of events in one public step, once: (index of the run's first event, step)."""
    # Runs collapse, so neither absences nor redeliveries can be counted from outside.
    steps: list[tuple[int, PublicStep]] = []
    for index, event in enumerate(events):
        step = PUBLIC_STEP_OF_STATUS[_TARGET[event]]
        if not steps or steps[-1][1] != step:
            steps.append((index, step))
    return steps
