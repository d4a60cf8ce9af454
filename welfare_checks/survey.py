"""Wellbeing survey forms as data: loading, validating answers, triage; the door outcomes.

A form is a JSON file in `welfare_checks/forms/`, named `<form_id>-v<version>.json`. Question ids
and choice codes stay stable across versions, every submission names its version, and the server
accepts exactly what that version says.

A question has `id`, `type` (select_one, select_multiple, boolean, text), `label` {ko, en},
`choices` [{code, label}] (select types only), `required` and `relevant` (expressions) and
`constraints`: `max_length` (text, mandatory) and `min_items` (select_multiple, when answered).
`required` and `relevant` may only look at earlier questions, so one pass in form order decides.

Expressions are plain JSON, never evaluated as code:

    true | false
    {"all": [e, ...]}    {"any": [e, ...]}    {"not": e}
    {"field": id, "eq": value}    {"field": id, "in": [value, ...]}    {"field": id, "answered": b}
    {"count_true": [id, ...], "gte": n, "lte": n}    boolean questions answered true; one bound
                                                      may be left out
    {"history": key, "gte": n}                        triage rules only, see below

An unanswered question is neither equal to nor in anything. `eq`/`in` work on select_one and
boolean questions and compare types strictly (true is not 1).

A triage rule has `id`, `severity` (emergency, urgent, watch), `description` {ko, en} and
`condition`. A rule that depends on earlier visits lists the history keys it reads in
`needs_history`. `triage()` skips it unless the history it is given has those keys. Version 1
reads one key, `previous_absences_in_a_row`: how many attempts at this household just before this
one found nobody (contact `absent`). "Two absent attempts in a row" is then this visit absent and
that number at least 1.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

# A condition: a JSON boolean or a JSON object in the grammar above.
Expr = bool | Mapping[str, Any]


class QuestionType(StrEnum):
    """The kinds of answer a question takes, as in XLSForm."""

    SELECT_ONE = "select_one"
    SELECT_MULTIPLE = "select_multiple"
    BOOLEAN = "boolean"
    TEXT = "text"


class Severity(StrEnum):
    """How soon the municipality must act on a survey, lowest first."""

    NONE = "none"
    WATCH = "watch"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """0 for none up to 3 for emergency."""
        return list(Severity).index(self)


class Contact(StrEnum):
    """The codes of the `contact` question: whom the carrier met at the door."""

    MET_ADDRESSEE = "met_addressee"
    MET_MEMBER = "met_member"
    ABSENT = "absent"
    NO_RESIDENT = "no_resident"


class Branch(StrEnum):
    """The part of the survey that applies: an interview, or what could be seen."""

    INTERVIEW = "interview"
    OBSERVATION = "observation"


class Outcome(StrEnum):
    """What happened to a welfare item at the door (values match the tracking events)."""

    DELIVERED = "delivered"
    DELIVERED_TO_MEMBER = "delivered_to_member"
    ABSENT = "absent"
    REFUSED = "refused"
    MOVED = "moved"
    ADDRESS_UNKNOWN = "address_unknown"
    ADDRESSEE_DECEASED = "addressee_deceased"
    OTHER = "other"


OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.DELIVERED: "본인 수령",
    Outcome.DELIVERED_TO_MEMBER: "가구원 수령",
    Outcome.ABSENT: "부재(안내서 투입)",
    Outcome.REFUSED: "수취거절",
    Outcome.MOVED: "이사",
    Outcome.ADDRESS_UNKNOWN: "수취인불명·주소불명",
    Outcome.ADDRESSEE_DECEASED: "수취인 사망",
    Outcome.OTHER: "기타",
}

#: The detail a visit must carry with these outcomes: the member's relation, or a free text.
OUTCOME_DETAIL: dict[Outcome, Literal["relation", "text"]] = {
    Outcome.DELIVERED_TO_MEMBER: "relation",
    Outcome.OTHER: "text",
}

_MET = frozenset({Contact.MET_ADDRESSEE, Contact.MET_MEMBER})
_NOBODY = frozenset({Contact.ABSENT, Contact.NO_RESIDENT})

# The contact answers that can go with each outcome; its branch follows from them.
_OUTCOME_CONTACTS: dict[Outcome, frozenset[Contact]] = {
    Outcome.DELIVERED: frozenset({Contact.MET_ADDRESSEE}),
    Outcome.DELIVERED_TO_MEMBER: frozenset({Contact.MET_MEMBER}),
    # A notice may be left where nobody seems to live any more.
    Outcome.ABSENT: _NOBODY,
    # Refusing the letter means someone came to the door; the interview answers are optional,
    # so a refusal records the consent question (no) and what the carrier saw.
    Outcome.REFUSED: _MET,
    Outcome.MOVED: _NOBODY,
    Outcome.ADDRESS_UNKNOWN: _NOBODY,
    # The addressee's family may still live there and be met.
    Outcome.ADDRESSEE_DECEASED: frozenset({Contact.MET_MEMBER}) | _NOBODY,
    Outcome.OTHER: frozenset(Contact),
}


class FormDefinitionError(ValueError):
    """A form file that does not follow the format; raised when the forms are loaded."""


class UnknownForm(KeyError):
    """No form with that id, or not in that version; `field` is "form_id" or "version"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field = field
        self.message = message

    def __str__(self) -> str:
        # KeyError would show the args' repr; the message is meant for people.
        return self.message


class SurveyInvalid(ValueError):
    """Answers that do not fit their form; `problems` maps question ids to messages."""

    def __init__(self, problems: dict[str, list[str]]) -> None:
        # Passed to args as well, so the exception pickles across process pools.
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.problems.items())


@dataclass(frozen=True)
class Question:
    """One question of a form, parsed from its definition."""

    id: str
    type: QuestionType
    required: Expr
    relevant: Expr
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    min_items: int | None = None
    # The questions that `required` and `relevant` read.
    depends_on: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    """One triage rule: when its condition holds, the survey gets at least its severity."""

    id: str
    severity: Severity
    condition: Expr
    needs_history: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    """One version of a form: its questions, its triage rules and the JSON they came from."""

    form_id: str
    version: int
    questions: Mapping[str, Question]  # in form order
    rules: tuple[Rule, ...]
    source: str  # the JSON text as shipped, served to the app unchanged

    def definition(self) -> dict[str, Any]:
        """The form as JSON data, exactly as its file says (a fresh copy on every call)."""
        return json.loads(self.source)


@dataclass(frozen=True)
class Triage:
    """The result of triage: the highest severity among the rules that fired."""

    severity: Severity
    fired: tuple[str, ...]  # rule ids, in form order


def _msg(ko: str, en: str) -> str:
    return f"{ko} ({en})"


_UNKNOWN_QUESTION = _msg("이 양식에 없는 항목입니다.", "This form has no such question.")
_NULL = _msg(
    "null은 답이 아닙니다. 답하지 않은 항목은 보내지 마십시오.",
    "null is not an answer; leave the question out instead.",
)
_REQUIRED = _msg("필수 항목입니다.", "This question must be answered.")
_NOT_RELEVANT = _msg(
    "이 방문에는 해당하지 않는 항목입니다. 보내지 마십시오.",
    "This question does not apply to this visit; leave it out.",
)
_CONTROL = _msg(
    "줄바꿈과 탭 외의 제어 문자는 쓸 수 없습니다.",
    "Control characters other than line breaks and tabs are not allowed.",
)
_EXPECTED = {
    QuestionType.SELECT_ONE: _msg(
        "문자열로 된 선택지 코드 하나여야 합니다.", "Expected one choice code, a string."
    ),
    QuestionType.SELECT_MULTIPLE: _msg(
        "선택지 코드의 목록이어야 합니다.", "Expected a list of choice codes."
    ),
    QuestionType.BOOLEAN: _msg("true 또는 false여야 합니다.", "Expected true or false."),
    QuestionType.TEXT: _msg("문자열이어야 합니다.", "Expected a string."),
}
# Line breaks and tabs are how people lay out a note; every other control character is refused.
_ALLOWED_CONTROLS = frozenset("\n\r\t")
_MISSING: Any = object()


# --- Loading ---------------------------------------------------------------------------------


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise FormDefinitionError(message)


def _labelled(data: Any, key: str, where: str) -> None:
    label = data.get(key) if isinstance(data, dict) else None
    _require(
        isinstance(label, dict)
        and set(label) == {"ko", "en"}
        and all(isinstance(text, str) and text.strip() for text in label.values()),
        f"{where}: needs a Korean and an English label",
    )


def _fields_of(expr: Expr) -> frozenset[str]:
    """The question ids an expression reads."""
    if isinstance(expr, bool):
        return frozenset()
    if "field" in expr:
        return frozenset({expr["field"]})
    if "count_true" in expr:
        return frozenset(expr["count_true"])
    parts = expr.get("all") or expr.get("any") or ([expr["not"]] if "not" in expr else [])
    return frozenset().union(*(_fields_of(part) for part in parts))


def _is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def _check_comparison(expr: Mapping[str, Any], question: Question, where: str) -> None:
    (operator,) = set(expr) - {"field"}
    if operator == "answered":
        _require(isinstance(expr["answered"], bool), f"{where}: 'answered' takes true or false")
        return
    _require(operator in ("eq", "in"), f"{where}: unknown operator {operator!r}")
    values = [expr["eq"]] if operator == "eq" else expr["in"]
    _require(isinstance(values, list) and bool(values), f"{where}: 'in' takes a non-empty list")
    if question.type is QuestionType.BOOLEAN:
        _require(all(isinstance(v, bool) for v in values), f"{where}: compare with true/false")
    else:
        _require(question.type is QuestionType.SELECT_ONE, f"{where}: eq/in need select_one")
        _require(all(v in question.choices for v in values), f"{where}: not a choice code")


def _check_expr(
    expr: Any, questions: Mapping[str, Question], history: frozenset[str], where: str
) -> None:
    """Refuse an expression outside the grammar, or reading unknown questions or history."""
    if isinstance(expr, bool):
        return
    _require(isinstance(expr, dict) and bool(expr), f"{where}: not an expression: {expr!r}")
    if "all" in expr or "any" in expr:
        _require(len(expr) == 1, f"{where}: 'all'/'any' stand alone")
        parts = next(iter(expr.values()))
        _require(isinstance(parts, list) and bool(parts), f"{where}: needs a non-empty list")
        for part in parts:
            _check_expr(part, questions, history, where)
    elif "not" in expr:
        _require(len(expr) == 1, f"{where}: 'not' stands alone")
        _check_expr(expr["not"], questions, history, where)
    elif "count_true" in expr:
        _require(set(expr) <= {"count_true", "gte", "lte"}, f"{where}: count_true takes gte/lte")
        _require(bool(set(expr) & {"gte", "lte"}), f"{where}: count_true needs a bound")
        _require(all(_is_count(expr.get(b, 0)) for b in ("gte", "lte")), f"{where}: bad bound")
        ids = expr["count_true"]
        _require(isinstance(ids, list) and bool(ids), f"{where}: count_true takes question ids")
        for qid in ids:
            question = questions.get(qid)
            _require(question is not None, f"{where}: unknown or later question {qid!r}")
            _require(question.type is QuestionType.BOOLEAN, f"{where}: {qid!r} is not boolean")
    elif "history" in expr:
        _require(set(expr) == {"history", "gte"}, f"{where}: history takes gte")
        _require(expr["history"] in history, f"{where}: history key not in needs_history")
        _require(_is_count(expr["gte"]), f"{where}: bad bound")
    else:
        _require("field" in expr and len(expr) == 2, f"{where}: unknown expression {expr!r}")
        question = questions.get(expr["field"])
        _require(question is not None, f"{where}: unknown or later question {expr['field']!r}")
        _check_comparison(expr, question, where)


def _parse_question(data: Any, earlier: Mapping[str, Question]) -> Question:
    _require(isinstance(data, dict) and isinstance(data.get("id"), str), "question without id")
    qid = data["id"]
    _require(qid not in earlier, f"{qid}: duplicate question id")
    _require(data.get("type") in list(QuestionType), f"{qid}: unknown type")
    _labelled(data, "label", qid)
    kind = QuestionType(data["type"])
    choices: tuple[str, ...] = ()
    if kind in (QuestionType.SELECT_ONE, QuestionType.SELECT_MULTIPLE):
        _require(
            isinstance(data.get("choices"), list) and bool(data["choices"]), f"{qid}: no choices"
        )
        for choice in data["choices"]:
            _require(
                isinstance(choice, dict) and isinstance(choice.get("code"), str), f"{qid}: code?"
            )
            _labelled(choice, "label", f"{qid}.{choice['code']}")
        choices = tuple(choice["code"] for choice in data["choices"])
        _require(len(set(choices)) == len(choices), f"{qid}: duplicate choice codes")
    else:
        _require("choices" not in data, f"{qid}: only select questions have choices")
    constraints = data.get("constraints")
    allowed = {QuestionType.TEXT: {"max_length"}, QuestionType.SELECT_MULTIPLE: {"min_items"}}
    _require(isinstance(constraints, dict), f"{qid}: constraints must be an object")
    _require(set(constraints) <= allowed.get(kind, set()), f"{qid}: unknown constraint")
    _require(all(_is_count(v) and v > 0 for v in constraints.values()), f"{qid}: bad constraint")
    # Free text is stored encrypted and shown to staff: it always has a length limit.
    _require(kind is not QuestionType.TEXT or "max_length" in constraints, f"{qid}: max_length")
    for key in ("required", "relevant"):
        _require(key in data, f"{qid}: {key} missing")
        _check_expr(data[key], earlier, frozenset(), f"{qid}.{key}")
    return Question(
        id=qid,
        type=kind,
        required=data["required"],
        relevant=data["relevant"],
        choices=choices,
        max_length=constraints.get("max_length"),
        min_items=constraints.get("min_items"),
        depends_on=_fields_of(data["required"]) | _fields_of(data["relevant"]),
    )


def _parse_rule(data: Any, questions: Mapping[str, Question], seen: set[str]) -> Rule:
    _require(isinstance(data, dict) and isinstance(data.get("id"), str), "rule without id")
    rid = data["id"]
    _require(rid not in seen, f"{rid}: duplicate rule id")
    seen.add(rid)
    _labelled(data, "description", rid)
    _require(data.get("severity") in ["emergency", "urgent", "watch"], f"{rid}: bad severity")
    history = data.get("needs_history", [])
    _require(isinstance(history, list), f"{rid}: needs_history lists history keys")
    _require(all(isinstance(key, str) for key in history), f"{rid}: history keys are strings")
    _require("condition" in data, f"{rid}: no condition")
    _check_expr(data["condition"], questions, frozenset(history), rid)
    return Rule(rid, Severity(data["severity"]), data["condition"], tuple(history))


def parse_form(source: str) -> Form:
    """A form from its JSON text, or FormDefinitionError naming what is wrong."""
    data = json.loads(source)
    _require(isinstance(data, dict), "a form is a JSON object")
    _require(isinstance(data.get("form_id"), str) and bool(data["form_id"]), "form_id missing")
    _require(type(data.get("version")) is int and data["version"] >= 1, "version: an integer")
    _require(isinstance(data.get("questions"), list) and bool(data["questions"]), "no questions")
    _require(isinstance(data.get("triage"), list), "triage must be a list of rules")
    _labelled(data, "title", "form")
    questions: dict[str, Question] = {}
    for item in data["questions"]:
        question = _parse_question(item, questions)
        questions[question.id] = question
    seen: set[str] = set()
    rules = tuple(_parse_rule(item, questions, seen) for item in data["triage"])
    return Form(data["form_id"], data["version"], MappingProxyType(questions), rules, source)


@cache
def _catalogue() -> dict[str, dict[int, Form]]:
    """Every form shipped in welfare_checks/forms, by id and version, read once."""
    catalogue: dict[str, dict[int, Form]] = {}
    folder = resources.files(__package__).joinpath("forms")
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            loaded = parse_form(entry.read_text(encoding="utf-8"))
        except ValueError as error:  # FormDefinitionError, or the JSON itself is broken
            raise FormDefinitionError(f"{entry.name}: {error}") from error
        # The file name repeats the id and version, so two files cannot claim the same pair.
        expected = f"{loaded.form_id}-v{loaded.version}.json"
        _require(entry.name == expected, f"{entry.name}: should be named {expected}")
        catalogue.setdefault(loaded.form_id, {})[loaded.version] = loaded
    return catalogue


def _versions(form_id: str) -> dict[int, Form]:
    versions = _catalogue().get(form_id) if isinstance(form_id, str) else None
    if versions is None:
        raise UnknownForm("form_id", _msg("알 수 없는 설문 양식입니다.", "Unknown form."))
    return versions


def form(form_id: str, version: int) -> Form:
    """The form in that version, or UnknownForm."""
    versions = _versions(form_id)
    # bool is a subclass of int: `true` must not select version 1.
    if type(version) is not int or version not in versions:
        known = ", ".join(map(str, sorted(versions)))
        raise UnknownForm(
            "version",
            _msg(
                f"이 설문 양식에 없는 버전입니다. 있는 버전: {known}.",
                f"This form has no such version; known versions: {known}.",
            ),
        )
    return versions[version]


def latest(form_id: str) -> Form:
    """The newest version of a form, or UnknownForm."""
    versions = _versions(form_id)
    return versions[max(versions)]


# --- Expressions -----------------------------------------------------------------------------


def _same(value: Any, expected: Any) -> bool:
    # True == 1 in Python, but a boolean answer is never equal to anything but a boolean.
    return isinstance(value, bool) is isinstance(expected, bool) and value == expected


def evaluate(
    expr: Expr, answers: Mapping[str, Any], history: Mapping[str, int] | None = None
) -> bool:
    """Whether an expression holds for normalised answers (and history, for history nodes)."""
    if isinstance(expr, bool):
        return expr
    if "all" in expr:
        return all(evaluate(part, answers, history) for part in expr["all"])
    if "any" in expr:
        return any(evaluate(part, answers, history) for part in expr["any"])
    if "not" in expr:
        return not evaluate(expr["not"], answers, history)
    if "count_true" in expr:
        count = sum(answers.get(qid) is True for qid in expr["count_true"])
        return expr.get("gte", 0) <= count <= expr.get("lte", count)
    if "history" in expr:
        return (history or {})[expr["history"]] >= expr["gte"]
    value = answers.get(expr["field"], _MISSING)
    if "answered" in expr:
        return (value is not _MISSING) is expr["answered"]
    if value is _MISSING:
        return False
    if "eq" in expr:
        return _same(value, expr["eq"])
    return any(_same(value, option) for option in expr["in"])


# --- Validation ------------------------------------------------------------------------------


class _Bad(Exception):
    """One answer's problems, raised while normalising it."""

    def __init__(self, *messages: str) -> None:
        super().__init__(*messages)
        self.messages = list(messages)


def _not_a_choice(question: Question) -> str:
    codes = ", ".join(question.choices)
    return _msg(f"선택지에 없는 값입니다. 선택지: {codes}.", f"Not a choice; choices: {codes}.")


def _select_one(question: Question, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _Bad(_EXPECTED[question.type])
    if raw not in question.choices:
        raise _Bad(_not_a_choice(question))
    # The form's own string: a str subclass (a StrEnum member, say) is stored as plain JSON.
    return question.choices[question.choices.index(raw)]


def _select_multiple(question: Question, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(code, str) for code in raw):
        raise _Bad(_EXPECTED[question.type])
    messages = []
    if not set(raw) <= set(question.choices):
        messages.append(_not_a_choice(question))
    if len(set(raw)) != len(raw):
        messages.append(_msg("같은 선택지가 두 번 있습니다.", "A choice is given twice."))
    if question.min_items and len(raw) < question.min_items:
        messages.append(
            _msg(
                f"{question.min_items}개 이상 골라야 합니다. 해당이 없으면 보내지 마십시오.",
                f"Choose at least {question.min_items}; leave the question out if none apply.",
            )
        )
    if messages:
        raise _Bad(*messages)
    # Stored in the form's order, so equal answers compare and display alike.
    return [code for code in question.choices if code in raw]


def _boolean(question: Question, raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise _Bad(_EXPECTED[question.type])
    return raw


def _text(question: Question, raw: Any) -> Any:
    if not isinstance(raw, str):
        raise _Bad(_EXPECTED[question.type])
    # Cs: a lone surrogate from a JSON "\ud800" escape, which cannot be stored as UTF-8.
    if any(
        unicodedata.category(char) in ("Cc", "Cs") and char not in _ALLOWED_CONTROLS for char in raw
    ):
        raise _Bad(_CONTROL)
    # NFC: phones may send Hangul decomposed into jamo, which would count and search differently.
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        return _MISSING  # a blank note is no note
    if question.max_length is not None and len(text) > question.max_length:
        raise _Bad(
            _msg(
                f"{question.max_length}자 이하여야 합니다.",
                f"At most {question.max_length} characters.",
            )
        )
    return text


_NORMALISE = {
    QuestionType.SELECT_ONE: _select_one,
    QuestionType.SELECT_MULTIPLE: _select_multiple,
    QuestionType.BOOLEAN: _boolean,
    QuestionType.TEXT: _text,
}


def _check_question(
    question: Question,
    answers: Mapping[str, Any],
    clean: dict[str, Any],
    problems: dict[str, list[str]],
) -> None:
    """Normalise one answer into `clean`, or record its problems."""
    value = answers.get(question.id, _MISSING)
    if value is not _MISSING:
        try:
            if value is None:
                raise _Bad(_NULL)
            value = _NORMALISE[question.type](question, value)
        except _Bad as bad:
            problems[question.id] = bad.messages
            return
    # While an answer this question depends on is wrong, whether it applies is unknown.
    if question.depends_on & problems.keys():
        return
    relevant = evaluate(question.relevant, clean)
    if value is not _MISSING and not relevant:
        problems[question.id] = [_NOT_RELEVANT]
    elif value is _MISSING and relevant and evaluate(question.required, clean):
        problems[question.id] = [_REQUIRED]
    elif value is not _MISSING:
        clean[question.id] = value


def validate(form_id: str, version: int, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers normalised in form order, or SurveyInvalid naming each question at fault."""
    try:
        survey = form(form_id, version)
    except UnknownForm as unknown:
        raise SurveyInvalid({unknown.field: [unknown.message]}) from None
    if not isinstance(answers, Mapping):
        message = _msg("답변은 항목 id별 객체여야 합니다.", "Answers must be an object by id.")
        raise SurveyInvalid({"answers": [message]})
    problems = {str(key): [_UNKNOWN_QUESTION] for key in answers if key not in survey.questions}
    clean: dict[str, Any] = {}
    for question in survey.questions.values():
        _check_question(question, answers, clean, problems)
    if problems:
        raise SurveyInvalid(problems)
    return clean


# --- Triage and branches ---------------------------------------------------------------------


def _checked_history(history: Mapping[str, int] | None) -> Mapping[str, int]:
    for key, value in (history or {}).items():
        if not _is_count(value):
            raise ValueError(f"history {key!r} must be a count (an integer >= 0), not {value!r}")
    return history or {}


def triage(
    form_id: str,
    version: int,
    answers: Mapping[str, Any],
    history: Mapping[str, int] | None = None,
) -> Triage:
    """The severity of a survey by its form's rules: the highest fired, else none."""
    clean = validate(form_id, version, answers)
    known = _checked_history(history)
    fired = [
        rule
        for rule in form(form_id, version).rules
        if all(key in known for key in rule.needs_history)
        and evaluate(rule.condition, clean, known)
    ]
    severity = max((rule.severity for rule in fired), key=lambda s: s.rank, default=Severity.NONE)
    return Triage(severity, tuple(rule.id for rule in fired))


def survey_branch(answers: Mapping[str, Any]) -> Branch:
    """Interview when someone was met at the door, observation when nobody was."""
    return Branch.INTERVIEW if Contact(answers["contact"]) in _MET else Branch.OBSERVATION


def required_branch(outcome: Outcome) -> Branch | None:
    """The branch a visit's survey must take for its outcome; None when either may fit."""
    branches = {survey_branch({"contact": c}) for c in _OUTCOME_CONTACTS[Outcome(outcome)]}
    return branches.pop() if len(branches) == 1 else None


def check_fits_outcome(outcome: Outcome, answers: Mapping[str, Any]) -> None:
    """Refuse validated answers whose `contact` contradicts the visit's outcome."""
    allowed = _OUTCOME_CONTACTS[Outcome(outcome)]
    if answers.get("contact") not in allowed:
        codes = ", ".join(sorted(allowed))
        label = OUTCOME_LABELS[Outcome(outcome)]
        message = _msg(
            f"배달 결과 '{label}'에 맞지 않습니다. 가능한 값: {codes}.",
            f"Does not fit the outcome '{outcome}'; possible: {codes}.",
        )
        raise SurveyInvalid({"contact": [message]})


# --- In words --------------------------------------------------------------------------------

_YES_NO = {"ko": ("예", "아니요"), "en": ("Yes", "No")}


def _worded(question: Mapping[str, Any], value: Any, language: str) -> str:
    if isinstance(value, bool):
        yes, no = _YES_NO[language]
        return yes if value else no
    labels = {c["code"]: c["label"][language] for c in question.get("choices", [])}
    if isinstance(value, list):
        return ", ".join(labels.get(code, code) for code in value)
    return labels.get(value, str(value))


def answers_in_words(
    form_id: str, version: int, answers: Mapping[str, Any], language: str
) -> list[tuple[str, str]]:
    """The answered questions as (question, answer) in form order, in "ko" or "en"."""
    definition = form(form_id, version).definition()
    return [
        (question["label"][language], _worded(question, answers[question["id"]], language))
        for question in definition["questions"]
        if question["id"] in answers
    ]


def rules_in_words(
    form_id: str, version: int, fired: list[str], language: str
) -> list[tuple[str, str]]:
    """The fired triage rules as (severity, description), in "ko" or "en"."""
    rules = {rule["id"]: rule for rule in form(form_id, version).definition()["triage"]}
    return [(rules[i]["severity"], rules[i]["description"][language]) for i in fired]
