"""municipalities.mail.tracking: vocabulary, allowed transitions, derived status, return reasons."""

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from municipalities.mail.tracking import (
    ABSENCE_LIMIT,
    EVENT_LABELS,
    FINAL_STATUSES,
    RETURN_REASONS,
    STATUS_LABELS,
    EventCode,
    ItemStatus,
    TransitionRefused,
    absence_count,
    allowed_events,
    derive_status,
    next_status,
    return_reason,
    should_return,
)

E = EventCode
S = ItemStatus

TO_OFFICE = [E.ACCEPTED, E.PRODUCED, E.HANDED_TO_OFFICE]
FIRST_ATTEMPT = [*TO_OFFICE, E.OUT_FOR_DELIVERY]
ABSENT_ONCE = [*FIRST_ATTEMPT, E.ABSENT]
ALL_STATUSES: list[S | None] = [None, *S]


def test_labels_cover_the_vocabulary():
    assert set(EVENT_LABELS) == set(E)
    assert set(STATUS_LABELS) == set(S)
    assert all(label.strip() for label in [*EVENT_LABELS.values(), *STATUS_LABELS.values()])
    assert {S.DELIVERED, S.RETURNED, S.CANCELLED} == FINAL_STATUSES


@pytest.mark.parametrize(
    ("status", "event", "expected"),
    [
        (None, E.ACCEPTED, S.ACCEPTED),
        (S.ACCEPTED, E.PRODUCED, S.PRODUCED),
        (S.ACCEPTED, E.CANCELLED, S.CANCELLED),
        (S.PRODUCED, E.HANDED_TO_OFFICE, S.AT_OFFICE),
        (S.PRODUCED, E.CANCELLED, S.CANCELLED),
        (S.AT_OFFICE, E.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
        (S.AT_OFFICE, E.RETURNED, S.RETURNED),
        (S.OUT_FOR_DELIVERY, E.DELIVERED, S.DELIVERED),
        (S.OUT_FOR_DELIVERY, E.ABSENT, S.ABSENT),
        (S.OUT_FOR_DELIVERY, E.REFUSED, S.RETURNING),
        (S.OUT_FOR_DELIVERY, E.MOVED, S.RETURNING),
        (S.OUT_FOR_DELIVERY, E.ADDRESS_UNKNOWN, S.RETURNING),
        (S.OUT_FOR_DELIVERY, E.ADDRESSEE_DECEASED, S.RETURNING),
        (S.OUT_FOR_DELIVERY, E.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
        (S.ABSENT, E.REDELIVERY, S.REDELIVERY_SCHEDULED),
        (S.ABSENT, E.DELIVERED, S.DELIVERED),
        (S.ABSENT, E.RETURNED, S.RETURNED),
        (S.REDELIVERY_SCHEDULED, E.OUT_FOR_DELIVERY, S.OUT_FOR_DELIVERY),
        (S.REDELIVERY_SCHEDULED, E.DELIVERED, S.DELIVERED),
        (S.RETURNING, E.RETURNED, S.RETURNED),
    ],
)
def test_allowed_transitions(status, event, expected):
    assert event in allowed_events(status)
    assert next_status(status, event) is expected


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (None, E.PRODUCED),
        (None, E.DELIVERED),
        (S.ACCEPTED, E.ACCEPTED),
        (S.ACCEPTED, E.HANDED_TO_OFFICE),  # not produced yet
        (S.ACCEPTED, E.OUT_FOR_DELIVERY),
        (S.AT_OFFICE, E.CANCELLED),  # too late to cancel once handed over
        (S.OUT_FOR_DELIVERY, E.CANCELLED),
        (S.AT_OFFICE, E.DELIVERED),  # only a carrier attempt or the counter delivers
        (S.AT_OFFICE, E.ABSENT),
        (S.ABSENT, E.ABSENT),  # each absence needs an attempt
        (S.ABSENT, E.OUT_FOR_DELIVERY),  # the redelivery is scheduled first
        (S.ABSENT, E.MOVED),
        (S.REDELIVERY_SCHEDULED, E.ABSENT),
        (S.OUT_FOR_DELIVERY, E.REDELIVERY),
        (S.OUT_FOR_DELIVERY, E.RETURNED),  # the door outcome comes first
        (S.RETURNING, E.DELIVERED),
        (S.RETURNING, E.OUT_FOR_DELIVERY),
        (S.DELIVERED, E.RETURNED),
        (S.DELIVERED, E.DELIVERED),
        (S.RETURNED, E.OUT_FOR_DELIVERY),
        (S.CANCELLED, E.PRODUCED),
    ],
)
def test_refused_transitions(status, event):
    assert event not in allowed_events(status)
    with pytest.raises(TransitionRefused) as raised:
        next_status(status, event)
    assert raised.value.status == status
    assert raised.value.event == event


@pytest.mark.parametrize("status", ALL_STATUSES)
@pytest.mark.parametrize("event", list(E))
def test_next_status_agrees_with_allowed_events(status, event):
    if event in allowed_events(status):
        assert next_status(status, event) in S
    else:
        with pytest.raises(TransitionRefused):
            next_status(status, event)


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_nothing_follows_a_final_status(status):
    assert allowed_events(status) == frozenset()
    for event in E:
        with pytest.raises(TransitionRefused):
            next_status(status, event)


def test_every_status_is_reachable_and_every_item_can_finish():
    edges = {
        status: {next_status(status, e) for e in allowed_events(status)} for status in ALL_STATUSES
    }

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for target in edges[todo.pop()]:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    assert reachable(None) == set(S)
    for status in S:
        if status not in FINAL_STATUSES:
            assert reachable(status) & FINAL_STATUSES, status


def test_cancel_only_before_handed_to_office():
    cancellable = {status for status in ALL_STATUSES if E.CANCELLED in allowed_events(status)}
    assert cancellable == {S.ACCEPTED, S.PRODUCED}


@st.composite
def legal_sequences(draw):
    """A sequence built only from allowed_events(), with the status after each step."""
    events, statuses, status = [], [], None
    for _ in range(draw(st.integers(min_value=0, max_value=30))):
        options = allowed_events(status)
        if not options:
            break
        event = draw(st.sampled_from(sorted(options)))
        status = next_status(status, event)
        events.append(event)
        statuses.append(status)
    return events, statuses


@settings(max_examples=500)
@given(legal_sequences())
def test_legal_sequences_derive(sequence):
    events, statuses = sequence
    derived = derive_status(events)
    assert derived == (statuses[-1] if statuses else None)
    for cut in range(len(events)):
        assert derive_status(events[: cut + 1]) is statuses[cut]
    assert events[:1] in ([], [E.ACCEPTED])
    # Once final, the item stays final: only the last status may be final.
    assert not set(statuses[:-1]) & FINAL_STATUSES
    if derived in FINAL_STATUSES:
        for event in E:
            with pytest.raises(TransitionRefused):
                derive_status([*events, event])
    reason = return_reason(events)
    assert (reason is not None) == (derived in {S.RETURNING, S.RETURNED})
    assert reason is None or reason in RETURN_REASONS


@settings(max_examples=300)
@given(st.lists(st.sampled_from(list(E)), max_size=20))
def test_any_sequence_derives_or_refuses_at_the_first_illegal_event(events):
    status = None
    for position, event in enumerate(events):
        if event not in allowed_events(status):
            with pytest.raises(TransitionRefused) as raised:
                derive_status(events)
            assert (raised.value.status, raised.value.event) == (status, event)
            assert derive_status(events[:position]) == status
            return
        status = next_status(status, event)
    assert derive_status(events) == status


def test_derive_status_of_typical_histories():
    assert derive_status([]) is None
    assert derive_status([E.ACCEPTED]) is S.ACCEPTED
    assert derive_status([*FIRST_ATTEMPT, E.DELIVERED]) is S.DELIVERED
    assert derive_status([*ABSENT_ONCE, E.REDELIVERY]) is S.REDELIVERY_SCHEDULED
    again = [*ABSENT_ONCE, E.REDELIVERY, E.OUT_FOR_DELIVERY, E.DELIVERED]
    assert derive_status(again) is S.DELIVERED
    assert derive_status([*ABSENT_ONCE, E.DELIVERED]) is S.DELIVERED  # collected at the counter
    assert derive_status([*FIRST_ATTEMPT, E.MOVED]) is S.RETURNING
    assert derive_status([E.ACCEPTED, E.PRODUCED, E.CANCELLED]) is S.CANCELLED
    # Raw strings from the database replay like the enum members.
    assert derive_status(["accepted", "produced", "handed_to_office"]) is S.AT_OFFICE


def test_derive_status_refuses_illegal_histories():
    with pytest.raises(TransitionRefused):
        derive_status([E.PRODUCED])
    with pytest.raises(TransitionRefused):
        derive_status([*FIRST_ATTEMPT, E.DELIVERED, E.ABSENT])
    with pytest.raises(TransitionRefused):
        derive_status([*TO_OFFICE, E.CANCELLED])
    with pytest.raises(TransitionRefused):
        derive_status(["accepted", "teleported"])


def attempts(absences: int) -> list[E]:
    """Events of an item found absent `absences` times, with redeliveries in between."""
    events = list(TO_OFFICE)
    for attempt in range(absences):
        if attempt:
            events.append(E.REDELIVERY)
        events += [E.OUT_FOR_DELIVERY, E.ABSENT]
    return events


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([*FIRST_ATTEMPT, E.MOVED], "moved"),
        ([*FIRST_ATTEMPT, E.MOVED, E.RETURNED], "moved"),
        ([*FIRST_ATTEMPT, E.ADDRESS_UNKNOWN, E.RETURNED], "address_unknown"),
        ([*FIRST_ATTEMPT, E.REFUSED, E.RETURNED], "refused"),
        ([*FIRST_ATTEMPT, E.ADDRESSEE_DECEASED, E.RETURNED], "deceased"),
        ([*attempts(ABSENCE_LIMIT), E.RETURNED], "absent_limit"),
        ([*attempts(1), E.REDELIVERY, E.OUT_FOR_DELIVERY, E.REFUSED, E.RETURNED], "refused"),
        ([*TO_OFFICE, E.RETURNED], "other"),
        ([], None),
        (TO_OFFICE, None),
        (attempts(2), None),
        ([*FIRST_ATTEMPT, E.DELIVERED], None),
        ([*attempts(2), E.DELIVERED], None),
        ([E.ACCEPTED, E.CANCELLED], None),
    ],
)
def test_return_reason(events, expected):
    assert return_reason(events) == expected


def test_every_return_reason_is_reachable():
    found = {
        return_reason([*FIRST_ATTEMPT, outcome, E.RETURNED])
        for outcome in (E.MOVED, E.ADDRESS_UNKNOWN, E.REFUSED, E.ADDRESSEE_DECEASED)
    }
    found |= {return_reason([*ABSENT_ONCE, E.RETURNED]), return_reason([*TO_OFFICE, E.RETURNED])}
    assert found == set(RETURN_REASONS)


def test_return_reason_refuses_illegal_histories():
    with pytest.raises(TransitionRefused):
        return_reason([E.ACCEPTED, E.RETURNED])


def test_absence_policy():
    for absences in range(1, ABSENCE_LIMIT):
        assert absence_count(attempts(absences)) == absences
        assert not should_return(attempts(absences))
    assert should_return(attempts(ABSENCE_LIMIT))
    assert should_return(attempts(1), limit=1)
    # Only an item waiting after an absence is due; a scheduled or delivered one is not.
    assert not should_return([*attempts(ABSENCE_LIMIT), E.REDELIVERY])
    assert not should_return([*attempts(ABSENCE_LIMIT), E.DELIVERED])
    assert absence_count([]) == 0


def test_refusal_message_is_korean_with_english_and_pickles():
    with pytest.raises(TransitionRefused) as raised:
        next_status(S.DELIVERED, E.ABSENT)
    message = str(raised.value)
    assert "배달완료" in message and "부재" in message
    assert "'absent' is not allowed when the item is 'delivered'" in message
    assert isinstance(raised.value, ValueError)
    with pytest.raises(TransitionRefused) as raised:
        next_status(None, E.DELIVERED)
    assert "접수" in str(raised.value) and "accepted" in str(raised.value)
    # Jobs run in a process pool, so the exception must survive a pickle round trip.
    copy = pickle.loads(pickle.dumps(TransitionRefused(S.RETURNING, E.DELIVERED)))  # noqa: S301
    assert (copy.status, copy.event) == (S.RETURNING, E.DELIVERED)
    assert str(copy) == str(TransitionRefused(S.RETURNING, E.DELIVERED))
