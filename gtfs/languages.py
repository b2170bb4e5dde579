"""The languages riders read names in, and choosing one from ``lang=`` or Accept-Language (pure).

Names are kept per language code: ``ja``, ``kana`` (the reading), ``en``, ``zh-Hans``,
``zh-Hant``, ``ko``. A name missing in the rider's language falls back along
:data:`FALLBACKS` (Chinese readers get the Japanese kanji before English; Korean readers
English first).
"""

from __future__ import annotations

from collections.abc import Mapping

LANGUAGES = ("ja", "en", "zh-Hans", "zh-Hant", "ko")
DEFAULT_LANGUAGE = "ja"
NAME_FIELDS = ("ja", "kana", "en", "zh-Hans", "zh-Hant", "ko")

FALLBACKS: dict[str, tuple[str, ...]] = {
    "ja": ("ja",),
    "en": ("en", "ja"),
    "zh-Hans": ("zh-Hans", "zh-Hant", "ja", "en"),
    "zh-Hant": ("zh-Hant", "zh-Hans", "ja", "en"),
    "ko": ("ko", "en", "ja"),
}

_ALIASES = {
    "ja": "ja", "jp": "ja", "en": "en", "ko": "ko", "kr": "ko", "zh": "zh-Hans",
    "zh-hans": "zh-Hans", "zh-cn": "zh-Hans", "zh-sg": "zh-Hans", "zh-my": "zh-Hans",
    "zh-hant": "zh-Hant", "zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "zh-mo": "zh-Hant",
}


def language_of(tag: str) -> str | None:
    """One BCP 47 tag as one of :data:`LANGUAGES` (``en-GB`` → ``en``, ``zh-TW`` → ``zh-Hant``,
    ``zh-Hant-HK`` → ``zh-Hant``), or None when it is none of them."""
    lowered = tag.strip().replace("_", "-").lower()
    if not lowered:
        return None
    parts = lowered.split("-")
    for size in (2, 1):
        found = _ALIASES.get("-".join(parts[:size]))
        if found is not None:
            return found
    return None


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an Accept-Language header (by q, then order);
    Japanese when none fits. At most 32 entries are read."""
    if not accept_language:
        return DEFAULT_LANGUAGE
    choices: list[tuple[float, int, str]] = []
    for position, entry in enumerate(accept_language.split(",")[:32]):
        tag, _, params = entry.partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        language = language_of(tag)
        if language is not None and quality > 0:
            choices.append((-quality, position, language))
    return min(choices)[2] if choices else DEFAULT_LANGUAGE


def localised(names: Mapping[str, str | None], language: str) -> str | None:
    """The name in ``language``, else along its fallbacks (None when no name is known)."""
    for code in FALLBACKS.get(language, (language,)):
        name = names.get(code)
        if name:
            return name
    return None


def choose(lang: str | None, accept_language: str | None) -> str:
    """The language of a request: ``lang=`` when given (one of :data:`LANGUAGES` or a tag
    that maps to one; anything else is a 422 naming ``lang``), else Accept-Language."""
    if lang is None or not lang.strip():
        return negotiate(accept_language)
    found = language_of(lang[:35])
    if found is None:
        from maas.core.errors import FieldError, InvalidInput

        message = f"{lang[:35]!r} is not one of {', '.join(LANGUAGES)}"
        raise InvalidInput(f"lang: {message}", errors=[FieldError("lang", message)])
    return found
