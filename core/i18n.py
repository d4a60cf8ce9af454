"""Page language: Korean by default, English on request (Flask-Babel).

The Korean text is the message id, so Korean pages need no catalog. Each package may ship
`<package>/translations/<language>.po`; they are merged and compiled in memory when first used,
so a fresh checkout needs no build step and no compiled .mo file is kept in the repository.
"""

from __future__ import annotations

import io
from functools import cache, cached_property
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, has_request_context, request
from flask_babel import Babel, Domain, get_locale, refresh

LANGUAGES = {"ko": "한국어", "en": "English"}
DEFAULT_LANGUAGE = "ko"
LANGUAGE_COOKIE = "lang"
#: The packages that may carry page text.
PACKAGES = ("core", "postal", "municipalities", "routing", "carrier_api", "welfare_checks")
ROOT = Path(__file__).resolve().parent.parent


def page_language() -> str:
    """The language of this page: the one the switch stored in its cookie, else Korean."""
    chosen = request.cookies.get(LANGUAGE_COOKIE) if has_request_context() else None
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def catalog_files(language: str) -> list[Path]:
    """The .po files of every package for a language."""
    paths = (ROOT / package / "translations" / f"{language}.po" for package in PACKAGES)
    return [path for path in paths if path.exists()]


@cache
def translations(language: str) -> NullTranslations:
    """Every package's catalog for the language, merged and compiled once per process."""
    if language == DEFAULT_LANGUAGE:
        return NullTranslations()  # the message ids are the Korean text
    merged = Catalog(locale=language)
    for path in catalog_files(language):
        with path.open("rb") as file:
            for message in read_po(file, locale=language):
                if message.id and message.string:
                    merged[message.id] = message
    compiled = io.BytesIO()
    write_mo(compiled, merged)
    compiled.seek(0)
    return Translations(compiled)


class _CatalogDomain(Domain):
    def get_translations(self) -> NullTranslations:
        return translations(str(get_locale() or DEFAULT_LANGUAGE))


class PageBabel(Babel):
    """Flask-Babel reading the packages' .po catalogs instead of compiled .mo directories."""

    @cached_property
    def domain_instance(self) -> Domain:
        return _CatalogDomain()


babel = PageBabel()


def init_i18n(app: Flask) -> None:
    """Bind Flask-Babel: page language from the switch, times shown in Asia/Seoul."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Seoul")
    babel.init_app(app, locale_selector=page_language)
    # Flask-Babel caches the locale in the app context, which may outlive one request (the
    # test client inside a test's context, a CLI command): each request chooses again.
    app.before_request(refresh)

    @app.context_processor
    def _language() -> dict:
        return {"page_language": page_language(), "languages": LANGUAGES}
