"""The English switch: every Korean page text has its English, and the catalogs load."""

from __future__ import annotations

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from core.auth.roles import ROLE_LABELS
from core.i18n import PACKAGES, ROOT, catalog_files, translations
from municipalities.mail.tracking import EVENT_LABELS, STATUS_LABELS
from municipalities.vocabulary import HOUSEHOLD_TYPES, RISK_SOURCES
from welfare_checks.survey import OUTCOME_LABELS

METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
KEYWORDS = DEFAULT_KEYWORDS | {"_l": None, "lazy_gettext": None}
#: Texts looked up by value (their Korean lives in data the API shares).
LOOKED_UP = [
    *ROLE_LABELS.values(),
    *OUTCOME_LABELS.values(),
    *HOUSEHOLD_TYPES.values(),
    *RISK_SOURCES.values(),
    *EVENT_LABELS.values(),
    *STATUS_LABELS.values(),
]


def page_texts() -> set[str]:
    """Every message id marked in the packages' templates and code."""
    found: set[str] = set()
    for package in PACKAGES:
        folder = ROOT / package
        if not folder.exists():
            continue
        for _, _, message, _, _ in extract_from_dir(folder, METHODS, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found | set(LOOKED_UP)


def test_every_page_text_has_its_english():
    english = translations("en")
    texts = page_texts()
    missing = sorted(text for text in texts if english.gettext(text) == text)
    assert len(texts) > 50
    assert not missing, "no English in <package>/translations/en.po for:\n" + "\n".join(missing)


def test_korean_is_the_message_id_itself():
    assert translations("ko").gettext("받은 보고") == "받은 보고"
    assert translations("en").gettext("받은 보고") == "Inbox"


def test_packages_agree_on_a_text_they_both_translate():
    # The catalogs are merged into one: a text translated twice must mean the same everywhere.
    english: dict[str, dict[str, str]] = {}
    for path in catalog_files("en"):
        with path.open("rb") as file:
            for message in read_po(file, locale="en"):
                if message.id and message.string:
                    english.setdefault(message.id, {})[path.parent.parent.name] = message.string
    disagree = {text: seen for text, seen in english.items() if len(set(seen.values())) > 1}
    assert not disagree
