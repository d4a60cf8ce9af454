"""welfare_checks.survey: the wellbeing form as data, answer validation, triage, door outcomes."""

import copy
import json
import pickle
import re
import unicodedata
from importlib import resources

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from welfare_checks.survey import (
    OUTCOME_DETAIL,
    OUTCOME_LABELS,
    Branch,
    Contact,
    FormDefinitionError,
    Outcome,
    QuestionType,
    Severity,
    SurveyInvalid,
    UnknownForm,
    check_fits_outcome,
    evaluate,
    form,
    latest,
    parse_form,
    required_branch,
    survey_branch,
    triage,
    validate,
)

W = "wellbeing"
FORM = form(W, 1)
QUESTION_IDS = list(FORM.questions)
OBSERVATION_ITEMS = [
    "needs_help",
    "mail_piling",
    "bad_smell",
    "insects",
    "rubbish_bottles",
    "lights_tv_on_absent",
    "mobility_difficulty",
]
INTERVIEW_QUESTIONS = [
    "daily_difficulty",
    "meals",
    "health",
    "financial_hardship",
    "housing",
    "help_requested",
    "consent_contact",
]
# A calm visit where the addressee was met, and one where nobody answered.
INTERVIEW = {
    "contact": "met_addressee",
    "daily_difficulty": "none",
    "meals": "regular",
    "health": "fine",
    "mobility_difficulty": False,
    "financial_hardship": "none",
    "housing": "adequate",
    "consent_contact": True,
    "emergency_now": False,
}
OBSERVATION = {
    "contact": "absent",
    **dict.fromkeys(OBSERVATION_ITEMS, False),
    "vacancy_signs": "none",
    "emergency_now": False,
}
DROP = object()


def visit(base: dict, **changes) -> dict:
    """A copy of the answers with some changed; DROP leaves a question out."""
    answers = {**base, **changes}
    return {key: value for key, value in answers.items() if value is not DROP}


def problems_of(answers) -> dict[str, list[str]]:
    with pytest.raises(SurveyInvalid) as raised:
        validate(W, 1, answers)
    return raised.value.problems


# --- The form as data --------------------------------------------------------------------------


def test_definition_is_served_exactly_as_shipped():
    raw = resources.files("welfare_checks").joinpath("forms/wellbeing-v1.json").read_text("utf-8")
    assert FORM.source == raw
    definition = FORM.definition()
    assert definition == json.loads(raw)
    assert json.loads(json.dumps(definition, ensure_ascii=False)) == definition
    definition["questions"].clear()  # a caller's copy: the cached form is untouched
    assert FORM.definition() == json.loads(raw)


def test_form_follows_the_checklist():
    definition = FORM.definition()
    assert (definition["form_id"], definition["version"]) == (W, 1)
    assert QUESTION_IDS == [
        "contact",
        "daily_difficulty",
        "meals",
        "health",
        "mobility_difficulty",
        "financial_hardship",
        "housing",
        "help_requested",
        "consent_contact",
        "needs_help",
        "mail_piling",
        "bad_smell",
        "insects",
        "rubbish_bottles",
        "lights_tv_on_absent",
        "vacancy_signs",
        "emergency_now",
        "note",
    ]
    assert FORM.questions["contact"].choices == tuple(Contact)
    assert FORM.questions["help_requested"].choices == (
        "food",
        "medical",
        "money",
        "housing",
        "care",
        "counselling",
        "other",
    )
    assert FORM.questions["help_requested"].type is QuestionType.SELECT_MULTIPLE
    assert FORM.questions["note"].max_length == 1000
    for item in OBSERVATION_ITEMS:
        assert FORM.questions[item].type is QuestionType.BOOLEAN
    for question in definition["questions"]:
        assert question["label"]["ko"] and question["label"]["en"]
        for choice in question.get("choices", []):
            assert choice["label"]["ko"] and choice["label"]["en"]
    assert [(rule.id, rule.severity) for rule in FORM.rules] == [
        ("emergency_reported", Severity.EMERGENCY),
        ("needs_care_now", Severity.EMERGENCY),
        ("absent_smell_lights_mail", Severity.EMERGENCY),
        ("skipping_meals", Severity.URGENT),
        ("ill_untreated", Severity.URGENT),
        ("severe_financial_hardship", Severity.URGENT),
        ("help_requested", Severity.URGENT),
        ("observations_three_or_more", Severity.URGENT),
        ("observations_one_or_two", Severity.WATCH),
        ("housing_not_adequate", Severity.WATCH),
        ("mobility_difficulty", Severity.WATCH),
        ("nobody_lives_here", Severity.WATCH),
        ("absent_twice_in_a_row", Severity.WATCH),
    ]


@pytest.mark.parametrize("contact", list(Contact))
def test_branch_questions_apply_only_in_their_branch(contact):
    answers = {"contact": contact}
    met = survey_branch(answers) is Branch.INTERVIEW
    assert met == (contact in ("met_addressee", "met_member"))
    for qid in INTERVIEW_QUESTIONS:
        assert evaluate(FORM.questions[qid].relevant, answers) is met
    for qid in ("lights_tv_on_absent", "vacancy_signs"):
        assert evaluate(FORM.questions[qid].relevant, answers) is not met
    # The other observation items are extras when someone was met, required when not.
    for qid in ["needs_help", "mail_piling", "bad_smell", "insects", "rubbish_bottles"]:
        assert evaluate(FORM.questions[qid].relevant, answers)
        assert evaluate(FORM.questions[qid].required, answers) is not met


def test_latest_and_unknown_forms():
    assert latest(W) is FORM
    for version in (2, 0, True, "1", 1.0, None):
        with pytest.raises(UnknownForm) as raised:
            form(W, version)
        assert raised.value.field == "version"
        assert "known versions: 1" in str(raised.value)
        assert isinstance(raised.value, KeyError)
    for form_id in ("nope", "", None, ["wellbeing"]):
        with pytest.raises(UnknownForm) as raised:
            form(form_id, 1)
        assert raised.value.field == "form_id"
        with pytest.raises(UnknownForm):
            latest(form_id)


@pytest.mark.parametrize(
    ("form_id", "version", "field"),
    [("wellbeing", 2, "version"), ("wellbeing", True, "version"), ("mood", 1, "form_id")],
)
def test_validate_names_an_unknown_form_or_version(form_id, version, field):
    with pytest.raises(SurveyInvalid) as raised:
        validate(form_id, version, INTERVIEW)
    assert list(raised.value.problems) == [field]


@pytest.mark.parametrize(
    ("expr", "answers", "expected"),
    [
        (True, {}, True),
        (False, {"a": "x"}, False),
        ({"field": "a", "eq": "x"}, {"a": "x"}, True),
        ({"field": "a", "eq": "x"}, {}, False),
        # Unanswered is not equal to anything, so its negation holds.
        ({"not": {"field": "a", "eq": "x"}}, {}, True),
        ({"field": "a", "eq": True}, {"a": 1}, False),
        ({"field": "a", "eq": 1}, {"a": True}, False),
        ({"field": "a", "eq": "x"}, {"a": Contact.ABSENT}, False),
        ({"field": "a", "eq": "absent"}, {"a": Contact.ABSENT}, True),
        ({"field": "a", "in": ["x", "y"]}, {"a": "y"}, True),
        ({"field": "a", "in": ["x", "y"]}, {}, False),
        ({"field": "a", "answered": True}, {"a": False}, True),
        ({"field": "a", "answered": False}, {}, True),
        ({"all": [{"field": "a", "eq": "x"}, {"field": "b", "eq": True}]}, {"a": "x"}, False),
        ({"any": [{"field": "a", "eq": "x"}, {"field": "b", "eq": True}]}, {"b": True}, True),
        ({"count_true": ["a", "b", "c"], "gte": 2}, {"a": True, "b": True, "c": "yes"}, True),
        ({"count_true": ["a", "b", "c"], "gte": 2}, {"a": True, "b": 1}, False),
        ({"count_true": ["a", "b", "c"], "lte": 1}, {"a": True, "b": True}, False),
        ({"count_true": ["a", "b", "c"], "gte": 1, "lte": 2}, {}, False),
    ],
)
def test_expressions(expr, answers, expected):
    assert evaluate(expr, answers) is expected


def test_history_expressions_read_the_history():
    expr = {"history": "previous_absences_in_a_row", "gte": 2}
    assert evaluate(expr, {}, {"previous_absences_in_a_row": 2})
    assert not evaluate(expr, {}, {"previous_absences_in_a_row": 1})


# --- Valid answers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(INTERVIEW, id="interview"),
        pytest.param(visit(INTERVIEW, contact="met_member"), id="interview-member"),
        pytest.param(
            {
                "contact": "met_addressee",
                "mobility_difficulty": False,
                "consent_contact": False,
                "emergency_now": False,
            },
            id="interview-declined-every-question",
        ),
        pytest.param(visit(INTERVIEW, insects=True, needs_help=False), id="interview-extras"),
        pytest.param(OBSERVATION, id="observation"),
        pytest.param(visit(OBSERVATION, contact="no_resident"), id="observation-no-resident"),
        pytest.param(visit(OBSERVATION, note="x" * 1000), id="note-at-the-limit"),
    ],
)
def test_valid_answers_come_back_in_form_order(answers):
    clean = validate(W, 1, answers)
    assert clean == answers
    assert list(clean) == [qid for qid in QUESTION_IDS if qid in answers]


def test_answers_are_normalised():
    decomposed = unicodedata.normalize("NFD", "할머니 혼자 계심")
    answers = visit(
        INTERVIEW,
        help_requested=["other", "food", "care"],
        note=f"  {decomposed}\r\n둘째 줄\t끝  ",
    )
    clean = validate(W, 1, answers)
    assert clean["help_requested"] == ["food", "care", "other"]
    assert clean["note"] == "할머니 혼자 계심\n둘째 줄\t끝"
    assert validate(W, 1, clean) == clean
    # A blank note is no note.
    assert "note" not in validate(W, 1, visit(INTERVIEW, note=" \n\t "))


# --- Invalid answers ---------------------------------------------------------------------------

NOT_RELEVANT = "does not apply"
REQUIRED = "must be answered"
NOT_A_CHOICE = "Not a choice"

INVALID = [
    # (case, answers, question at fault, part of the message)
    ("unknown question", visit(INTERVIEW, mood=3), "mood", "no such question"),
    ("non-string key", {**INTERVIEW, 7: True}, "7", "no such question"),
    ("contact missing", visit(INTERVIEW, contact=DROP), "contact", REQUIRED),
    ("contact not a choice", visit(INTERVIEW, contact="met"), "contact", NOT_A_CHOICE),
    ("contact in English", visit(INTERVIEW, contact="Met the addressee"), "contact", NOT_A_CHOICE),
    ("contact a bool", visit(INTERVIEW, contact=True), "contact", "one choice code"),
    ("contact a list", visit(INTERVIEW, contact=["met_addressee"]), "contact", "one choice code"),
    ("contact null", visit(INTERVIEW, contact=None), "contact", "null is not an answer"),
    ("meals a number", visit(INTERVIEW, meals=1), "meals", "one choice code"),
    ("meals NaN", visit(INTERVIEW, meals=float("nan")), "meals", "one choice code"),
    ("health another question's code", visit(INTERVIEW, health="severe"), "health", NOT_A_CHOICE),
    ("emergency_now a string", visit(INTERVIEW, emergency_now="false"), "emergency_now", "true or"),
    ("emergency_now 0", visit(INTERVIEW, emergency_now=0), "emergency_now", "true or false"),
    ("emergency_now NaN", visit(INTERVIEW, emergency_now=float("nan")), "emergency_now", "true"),
    ("emergency_now null", visit(INTERVIEW, emergency_now=None), "emergency_now", "null"),
    ("emergency_now missing", visit(INTERVIEW, emergency_now=DROP), "emergency_now", REQUIRED),
    (
        "mobility missing",
        visit(INTERVIEW, mobility_difficulty=DROP),
        "mobility_difficulty",
        REQUIRED,
    ),
    ("consent missing", visit(INTERVIEW, consent_contact=DROP), "consent_contact", REQUIRED),
    ("consent 'yes'", visit(INTERVIEW, consent_contact="yes"), "consent_contact", "true or false"),
    ("help a string", visit(INTERVIEW, help_requested="food"), "help_requested", "list of choice"),
    ("help a tuple", visit(INTERVIEW, help_requested=("food",)), "help_requested", "list of"),
    ("help of bools", visit(INTERVIEW, help_requested=[True]), "help_requested", "list of choice"),
    ("help empty", visit(INTERVIEW, help_requested=[]), "help_requested", "at least 1"),
    ("help twice", visit(INTERVIEW, help_requested=["food", "food"]), "help_requested", "twice"),
    ("help unknown", visit(INTERVIEW, help_requested=["cash"]), "help_requested", NOT_A_CHOICE),
    ("help when absent", visit(OBSERVATION, help_requested=["food"]), "help_requested", "apply"),
    ("meals when absent", visit(OBSERVATION, meals="regular"), "meals", NOT_RELEVANT),
    ("consent when absent", visit(OBSERVATION, consent_contact=True), "consent_contact", "apply"),
    (
        "lights when met",
        visit(INTERVIEW, lights_tv_on_absent=False),
        "lights_tv_on_absent",
        "apply",
    ),
    ("vacancy when met", visit(INTERVIEW, vacancy_signs="none"), "vacancy_signs", NOT_RELEVANT),
    *[
        (f"{item} missing when absent", visit(OBSERVATION, **{item: DROP}), item, REQUIRED)
        for item in [*OBSERVATION_ITEMS, "vacancy_signs"]
    ],
    ("note too long", visit(INTERVIEW, note="가" * 1001), "note", "At most 1000"),
    ("note with NUL", visit(INTERVIEW, note="문 앞\x00"), "note", "Control characters"),
    ("note with escape", visit(INTERVIEW, note="\x1b[31m"), "note", "Control characters"),
    ("note with DEL", visit(INTERVIEW, note="a\x7fb"), "note", "Control characters"),
    ("note with C1 control", visit(INTERVIEW, note="a\x85b"), "note", "Control characters"),
    ("note with lone surrogate", visit(INTERVIEW, note="a\ud800"), "note", "Control characters"),
    ("note a number", visit(INTERVIEW, note=5), "note", "Expected a string"),
    ("note a bool", visit(INTERVIEW, note=False), "note", "Expected a string"),
    ("note null", visit(INTERVIEW, note=None), "note", "null is not an answer"),
]


@pytest.mark.parametrize(
    ("answers", "question", "fragment"),
    [
        pytest.param(answers, question, fragment, id=case)
        for case, answers, question, fragment in INVALID
    ],
)
def test_each_invalid_answer_names_its_question(answers, question, fragment):
    problems = problems_of(answers)
    assert list(problems) == [question]
    assert any(fragment in message for message in problems[question]), problems


def test_problems_are_korean_first_with_english_in_parentheses():
    problems = problems_of(
        {"contact": "met", "meals": 1, "help_requested": ["x", "x"], "mood": 1, "note": "\x00"}
    )
    messages = [message for found in problems.values() for message in found]
    assert len(messages) >= 6
    for message in messages:
        assert re.fullmatch(r"[^()]*[가-힣][^()]* \([^()]*[A-Za-z][^()]*\)", message), message


def test_every_problem_is_reported_at_once():
    problems = problems_of(
        visit(OBSERVATION, bad_smell="yes", meals="regular", vacancy_signs=DROP, mood=1)
    )
    assert set(problems) == {"bad_smell", "meals", "vacancy_signs", "mood"}


def test_answers_must_be_an_object():
    for answers in (None, [], "contact=absent", [("contact", "absent")]):
        assert list(problems_of(answers)) == ["answers"]


def test_survey_invalid_pickles():
    # Jobs run in a process pool, so the exception must survive a pickle round trip.
    error = pickle.loads(pickle.dumps(SurveyInvalid({"note": ["too long"]})))  # noqa: S301
    assert error.problems == {"note": ["too long"]}
    assert str(error) == "note: too long"


# --- Triage ------------------------------------------------------------------------------------

TRIAGE = [
    # (case, answers, severity, fired rules in form order)
    ("calm interview", INTERVIEW, Severity.NONE, []),
    ("calm observation", OBSERVATION, Severity.NONE, []),
    (
        "answers without a rule",
        visit(
            INTERVIEW,
            daily_difficulty="serious",
            meals="irregular",
            health="ill_treated",
            financial_hardship="mentioned",
        ),
        Severity.NONE,
        [],
    ),
    ("vacancy signs alone", visit(OBSERVATION, vacancy_signs="looks_vacant"), Severity.NONE, []),
    (
        "carrier reports danger",
        visit(INTERVIEW, emergency_now=True),
        Severity.EMERGENCY,
        ["emergency_reported"],
    ),
    (
        "danger while nobody answered",
        visit(OBSERVATION, emergency_now=True),
        Severity.EMERGENCY,
        ["emergency_reported"],
    ),
    (
        "needs care now",
        visit(INTERVIEW, health="needs_care_now"),
        Severity.EMERGENCY,
        ["needs_care_now"],
    ),
    (
        "absent: smell, lights and mail",
        visit(OBSERVATION, bad_smell=True, lights_tv_on_absent=True, mail_piling=True),
        Severity.EMERGENCY,
        ["absent_smell_lights_mail", "observations_three_or_more"],
    ),
    (
        "no resident: smell, lights and mail",
        visit(
            OBSERVATION,
            contact="no_resident",
            bad_smell=True,
            lights_tv_on_absent=True,
            mail_piling=True,
        ),
        Severity.EMERGENCY,
        ["absent_smell_lights_mail", "observations_three_or_more", "nobody_lives_here"],
    ),
    (
        "absent: smell, rubbish and mail is not the emergency trio",
        visit(OBSERVATION, bad_smell=True, rubbish_bottles=True, mail_piling=True),
        Severity.URGENT,
        ["observations_three_or_more"],
    ),
    ("skipping meals", visit(INTERVIEW, meals="skipping"), Severity.URGENT, ["skipping_meals"]),
    (
        "ill, untreated",
        visit(INTERVIEW, health="ill_untreated"),
        Severity.URGENT,
        ["ill_untreated"],
    ),
    (
        "severe financial hardship",
        visit(INTERVIEW, financial_hardship="severe"),
        Severity.URGENT,
        ["severe_financial_hardship"],
    ),
    (
        "help requested",
        visit(INTERVIEW, help_requested=["counselling"]),
        Severity.URGENT,
        ["help_requested"],
    ),
    (
        "three observations while met",
        visit(INTERVIEW, needs_help=True, insects=True, rubbish_bottles=True),
        Severity.URGENT,
        ["observations_three_or_more"],
    ),
    (
        "seven observations",
        visit(OBSERVATION, **dict.fromkeys(OBSERVATION_ITEMS, True)),
        Severity.EMERGENCY,
        ["absent_smell_lights_mail", "observations_three_or_more", "mobility_difficulty"],
    ),
    (
        "one observation",
        visit(OBSERVATION, insects=True),
        Severity.WATCH,
        ["observations_one_or_two"],
    ),
    (
        "two observations, smell and lights",
        visit(OBSERVATION, bad_smell=True, lights_tv_on_absent=True),
        Severity.WATCH,
        ["observations_one_or_two"],
    ),
    (
        "poor hygiene",
        visit(INTERVIEW, housing="poor_hygiene"),
        Severity.WATCH,
        ["housing_not_adequate"],
    ),
    (
        "no heating",
        visit(INTERVIEW, housing="no_heating_or_damage"),
        Severity.WATCH,
        ["housing_not_adequate"],
    ),
    (
        "difficulty moving",
        visit(INTERVIEW, mobility_difficulty=True),
        Severity.WATCH,
        ["observations_one_or_two", "mobility_difficulty"],
    ),
    (
        "nobody lives here",
        visit(OBSERVATION, contact="no_resident"),
        Severity.WATCH,
        ["nobody_lives_here"],
    ),
    (
        "highest wins: emergency over urgent and watch",
        visit(INTERVIEW, emergency_now=True, meals="skipping", housing="poor_hygiene"),
        Severity.EMERGENCY,
        ["emergency_reported", "skipping_meals", "housing_not_adequate"],
    ),
    (
        "highest wins: urgent over watch",
        visit(INTERVIEW, help_requested=["food", "money"], mobility_difficulty=True),
        Severity.URGENT,
        ["help_requested", "observations_one_or_two", "mobility_difficulty"],
    ),
]


@pytest.mark.parametrize(
    ("answers", "severity", "fired"),
    [pytest.param(answers, severity, fired, id=case) for case, answers, severity, fired in TRIAGE],
)
def test_triage_rules(answers, severity, fired):
    result = triage(W, 1, answers)
    assert (result.severity, list(result.fired)) == (severity, fired)


@pytest.mark.parametrize(
    ("answers", "history", "fired"),
    [
        (OBSERVATION, None, []),
        (OBSERVATION, {}, []),
        (OBSERVATION, {"previous_absences_in_a_row": 0}, []),
        (OBSERVATION, {"previous_absences_in_a_row": 1}, ["absent_twice_in_a_row"]),
        (OBSERVATION, {"previous_absences_in_a_row": 4, "other": 2}, ["absent_twice_in_a_row"]),
        (
            visit(OBSERVATION, contact="no_resident"),
            {"previous_absences_in_a_row": 3},
            ["nobody_lives_here"],
        ),
        (INTERVIEW, {"previous_absences_in_a_row": 3}, []),
    ],
)
def test_two_absences_in_a_row_need_history(answers, history, fired):
    result = triage(W, 1, answers, history)
    assert list(result.fired) == fired
    assert result.severity is (Severity.WATCH if fired else Severity.NONE)


@pytest.mark.parametrize("count", [True, -1, "2", 1.0, None])
def test_history_must_hold_counts(count):
    with pytest.raises(ValueError, match="previous_absences_in_a_row"):
        triage(W, 1, OBSERVATION, {"previous_absences_in_a_row": count})


def test_triage_refuses_invalid_answers():
    with pytest.raises(SurveyInvalid) as raised:
        triage(W, 1, visit(OBSERVATION, meals="skipping"))
    assert list(raised.value.problems) == ["meals"]


def test_severity_order():
    assert [s.rank for s in (Severity.NONE, Severity.WATCH, Severity.URGENT)] == [0, 1, 2]
    assert Severity.EMERGENCY.rank == 3


# --- Door outcomes -----------------------------------------------------------------------------


def test_outcome_vocabulary():
    assert set(OUTCOME_LABELS) == set(Outcome)
    assert all(re.search(r"[가-힣]", label) for label in OUTCOME_LABELS.values())
    assert OUTCOME_DETAIL == {Outcome.DELIVERED_TO_MEMBER: "relation", Outcome.OTHER: "text"}


@pytest.mark.parametrize(
    ("outcome", "branch"),
    [
        (Outcome.DELIVERED, Branch.INTERVIEW),
        (Outcome.DELIVERED_TO_MEMBER, Branch.INTERVIEW),
        (Outcome.REFUSED, Branch.INTERVIEW),
        (Outcome.ABSENT, Branch.OBSERVATION),
        (Outcome.MOVED, Branch.OBSERVATION),
        (Outcome.ADDRESS_UNKNOWN, Branch.OBSERVATION),
        (Outcome.ADDRESSEE_DECEASED, None),
        (Outcome.OTHER, None),
    ],
)
def test_required_branch(outcome, branch):
    assert required_branch(outcome) is branch
    assert required_branch(str(outcome)) is branch


@pytest.mark.parametrize(
    ("outcome", "contact", "fits"),
    [
        (Outcome.DELIVERED, "met_addressee", True),
        (Outcome.DELIVERED, "met_member", False),
        (Outcome.DELIVERED_TO_MEMBER, "met_member", True),
        (Outcome.DELIVERED_TO_MEMBER, "met_addressee", False),
        (Outcome.ABSENT, "absent", True),
        (Outcome.ABSENT, "met_addressee", False),
        (Outcome.REFUSED, "met_member", True),
        (Outcome.REFUSED, "absent", False),
        (Outcome.MOVED, "no_resident", True),
        (Outcome.MOVED, "met_member", False),
        (Outcome.ADDRESSEE_DECEASED, "met_member", True),
        (Outcome.ADDRESSEE_DECEASED, "met_addressee", False),
        (Outcome.OTHER, "met_addressee", True),
    ],
)
def test_survey_must_fit_the_outcome(outcome, contact, fits):
    answers = {"contact": contact}
    if fits:
        check_fits_outcome(outcome, answers)
        branch = required_branch(outcome)
        assert branch in (None, survey_branch(answers))
    else:
        with pytest.raises(SurveyInvalid) as raised:
            check_fits_outcome(outcome, answers)
        assert list(raised.value.problems) == ["contact"]
        assert OUTCOME_LABELS[outcome] in raised.value.problems["contact"][0]


def test_unknown_outcome_is_refused():
    with pytest.raises(ValueError):
        required_branch("lost")


# --- Broken form definitions are refused at load ------------------------------------------------


def _question(definition: dict, qid: str) -> dict:
    return next(q for q in definition["questions"] if q["id"] == qid)


def _rule(definition: dict, rid: str) -> dict:
    return next(r for r in definition["triage"] if r["id"] == rid)


BROKEN = {
    "relevance reads an unknown question": lambda d: _question(d, "meals").update(
        relevant={"field": "mood", "eq": "good"}
    ),
    "relevance reads a later question": lambda d: _question(d, "meals").update(
        relevant={"field": "note", "answered": True}
    ),
    "condition compares with a code that is not a choice": lambda d: _rule(
        d, "skipping_meals"
    ).update(condition={"field": "meals", "eq": "skiping"}),
    "boolean compared with a string": lambda d: _rule(d, "emergency_reported").update(
        condition={"field": "emergency_now", "eq": "true"}
    ),
    "count_true over a select question": lambda d: _rule(d, "observations_three_or_more").update(
        condition={"count_true": ["meals"], "gte": 1}
    ),
    "count_true without a bound": lambda d: _rule(d, "observations_three_or_more").update(
        condition={"count_true": ["insects"]}
    ),
    "unknown operator": lambda d: _rule(d, "skipping_meals").update(
        condition={"field": "meals", "like": "skip%"}
    ),
    "string expression": lambda d: _question(d, "meals").update(relevant="contact == 'absent'"),
    "undeclared history": lambda d: _rule(d, "absent_twice_in_a_row").pop("needs_history"),
    "unknown severity": lambda d: _rule(d, "skipping_meals").update(severity="critical"),
    "duplicate question id": lambda d: d["questions"].append(copy.deepcopy(d["questions"][0])),
    "duplicate choice code": lambda d: _question(d, "meals")["choices"].append(
        {"code": "regular", "label": {"ko": "규칙", "en": "Regular"}}
    ),
    "text without a length limit": lambda d: _question(d, "note").update(constraints={}),
    "missing Korean label": lambda d: _question(d, "meals").update(label={"en": "Meals"}),
    "unknown type": lambda d: _question(d, "note").update(type="integer"),
    "version not an integer": lambda d: d.update(version="1"),
}


@pytest.mark.parametrize("mutate", BROKEN.values(), ids=BROKEN.keys())
def test_broken_definitions_are_refused(mutate):
    definition = FORM.definition()
    mutate(definition)
    with pytest.raises(FormDefinitionError):
        parse_form(json.dumps(definition))


def test_shipped_definition_parses_to_the_same_form():
    assert parse_form(FORM.source) == FORM


# --- Properties --------------------------------------------------------------------------------

# Text a phone may send: anything but control characters (line breaks and tabs aside).
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\n\r\t"),
    max_size=200,
)


def _value(question, required: bool) -> st.SearchStrategy:
    """Any answer the question's own schema allows."""
    if question.type is QuestionType.SELECT_ONE:
        return st.sampled_from(question.choices)
    if question.type is QuestionType.SELECT_MULTIPLE:
        return st.lists(
            st.sampled_from(question.choices), min_size=question.min_items or 0, unique=True
        )
    if question.type is QuestionType.BOOLEAN:
        return st.booleans()
    return _TEXT.filter(str.strip) if required else _TEXT


@st.composite
def valid_answers(draw) -> dict:
    """Answers built from the form itself: each relevant question answered or, if optional, not."""
    answers: dict = {}
    for question in FORM.questions.values():
        if not evaluate(question.relevant, answers):
            continue
        required = evaluate(question.required, answers)
        if required or draw(st.booleans()):
            answers[question.id] = draw(_value(question, required))
    return answers


histories = st.none() | st.fixed_dictionaries(
    {"previous_absences_in_a_row": st.integers(min_value=0, max_value=10)}
)


@settings(max_examples=300, deadline=None)
@given(valid_answers(), histories)
def test_answers_from_the_schema_are_accepted_and_triaged(answers, history):
    clean = validate(W, 1, answers)
    assert set(clean) <= set(answers)
    assert validate(W, 1, clean) == clean
    result = triage(W, 1, answers, history)
    assert result.severity in Severity
    assert set(result.fired) <= {rule.id for rule in FORM.rules}
    assert (result.severity is Severity.NONE) == (not result.fired)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
# Plausible-looking wrong values too: another question's codes, or a code list.
plausible = st.sampled_from(
    [code for question in FORM.questions.values() for code in question.choices]
) | st.lists(st.sampled_from(FORM.questions["help_requested"].choices), max_size=3)
keys = st.sampled_from(QUESTION_IDS) | st.text(max_size=12)
mutations = st.lists(
    st.tuples(st.sampled_from(["set", "drop"]), keys, json_values | plausible),
    min_size=1,
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(valid_answers(), mutations)
def test_mutated_answers_are_accepted_or_refused_by_name(answers, changes):
    for action, key, value in changes:
        if action == "set":
            answers[key] = value
        else:
            answers.pop(key, None)
    try:
        validate(W, 1, answers)
    except SurveyInvalid as invalid:
        assert invalid.problems
        assert set(invalid.problems) <= set(QUESTION_IDS) | set(answers)
        for messages in invalid.problems.values():
            assert messages and all(isinstance(m, str) and m for m in messages)
    else:
        assert triage(W, 1, answers).severity in Severity


@settings(max_examples=300, deadline=None)
@given(valid_answers(), histories, st.data())
def test_a_true_observation_never_lowers_severity(answers, history, data):
    candidates = [
        item
        for item in OBSERVATION_ITEMS
        if evaluate(FORM.questions[item].relevant, answers) and answers.get(item) is not True
    ]
    assume(candidates)
    item = data.draw(st.sampled_from(candidates))
    before = triage(W, 1, answers, history)
    after = triage(W, 1, {**answers, item: True}, history)
    assert after.severity.rank >= before.severity.rank
