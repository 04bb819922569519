"""Languages: every word a reader sees goes through a gettext catalog (``derive/locale``).

The language of a page is set around the code that writes it (``with language("de"): …``); the
templates' ``{% trans %}`` and ``_()`` and the Python prose's :func:`_` / :func:`ngettext` look it up
then. Words defined where no language is known yet (a registry's descriptions) are marked with
:func:`N_` and translated where they are shown: ``_(op.description)``.

The catalogs are the ``.po`` files themselves, read with Babel when a language is first used (no
compiled ``.mo`` to go stale). A language is shipped when ``derive/locale/LANG/LC_MESSAGES/messages.po``
exists; English is the source language and needs no catalog.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT = "en"

#: The option of LaTeX's babel package for each language (hyphenation, "Abbildung", quotes); none for English.
LATEX_BABEL = {"de": "ngerman"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("derive_language", default=DEFAULT)


def languages() -> tuple[str, ...]:
    """The shipped languages: English, then every language with a catalog, sorted."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))
    return (DEFAULT, *[lang for lang in found if lang != DEFAULT])


def check_language(lang: str | None) -> str:
    """The language code itself (None: the current one), or a one-line UsageError naming ``--lang`` and
    the shipped languages."""
    if lang is None:
        return _current.get()
    if lang not in languages():
        from derive.errors import UsageError

        raise UsageError(f"--lang: unknown language '{lang}', expected one of {', '.join(languages())}")
    return lang


@functools.lru_cache(maxsize=None)
def translations(lang: str):
    """The catalog of ``lang`` (a gettext Translations), read from its .po with Babel (fuzzy entries left out,
    as msgfmt does)."""
    import gettext as _gettext

    if lang == DEFAULT:
        return _gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def current() -> str:
    """The language being written now."""
    return _current.get()


def latex_babel() -> str | None:
    """The babel option of the current language for LaTeX documents (None: none needed)."""
    return LATEX_BABEL.get(_current.get())


@contextlib.contextmanager
def language(lang: str | None):
    """Write in ``lang`` (checked; None keeps the current one) inside the ``with`` block."""
    token = _current.set(check_language(lang))
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current language (itself where the catalog has no translation)."""
    lang = _current.get()
    return message if lang == DEFAULT else translations(lang).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form that ``n`` takes in the current language."""
    lang = _current.get()
    if lang == DEFAULT:
        return singular if n == 1 else plural
    return translations(lang).ngettext(singular, plural, n)


_ = gettext


Message = tuple  # (msgid, {name: str or Message}): words kept for translation where they are shown


def english(message: "str | Message") -> str:
    """A message (see :func:`translate`) in English: the form stored in JSON and data."""
    if isinstance(message, str):
        return message
    msgid, args = message
    return msgid % {k: english(v) if isinstance(v, tuple) else v for k, v in args.items()}


def translate(message: "str | Message") -> str:
    """A message in the current language: ``(msgid, arguments)`` (arguments may be messages themselves)
    is translated, then filled in; a plain string is looked up as a msgid."""
    if isinstance(message, str):
        return gettext(message)
    msgid, args = message
    return gettext(msgid) % {k: translate(v) if isinstance(v, tuple) else v for k, v in args.items()}


def N_(message: str) -> str:
    """Mark ``message`` for the catalog without translating it here (it is translated where shown)."""
    return message
