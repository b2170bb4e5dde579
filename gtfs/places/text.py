"""Folding names for search across scripts and spellings (pure: no database, no HTTP).

A name and a query are compared through *keys*, never as typed:

- :func:`fold_text` — Unicode NFKC (full-width ``ｋｅｎ`` → ``ken``, half-width ``ｹﾝ`` → ``ケン``),
  case folding, katakana → hiragana, and no spaces, punctuation or symbols (``Kenroku-en`` →
  ``kenrokuen``, ``ひがし 茶屋街`` → ``ひがし茶屋街``).
- :func:`romaji` — Hepburn romanisation of hiragana/katakana (``けんろくえん`` → ``kenrokuen``).
- :func:`fold_latin` — Latin spellings folded so that Hepburn, kunrei and casual spellings
  meet: macrons and circumflexes dropped (``Ōmichō`` → ``omicho``), long vowels collapsed
  (``ou``, ``oo``, ``uu`` …), ``sh``/``s``, ``ch``/``t``, ``ts``/``t``, ``j``/``z``,
  ``fu``/``hu`` and ``mb``/``nb`` made one.

:func:`name_keys` gives every key of a name, :func:`query_keys` those of what a rider typed;
a place matches when a query key is equal to, a prefix of, or inside one of its keys.
"""

from __future__ import annotations

import re
import unicodedata

# the separator of keys in an index's haystack: folding removes every control character
SEPARATOR = "\x1f"

_KATAKANA_START, _KATAKANA_END = 0x30A1, 0x30F6
_KANA_SHIFT = 0x60

_DIGRAPHS = {
    "きゃ": "kya", "きゅ": "kyu", "きょ": "kyo", "しゃ": "sha", "しゅ": "shu", "しょ": "sho",
    "ちゃ": "cha", "ちゅ": "chu", "ちょ": "cho", "にゃ": "nya", "にゅ": "nyu", "にょ": "nyo",
    "ひゃ": "hya", "ひゅ": "hyu", "ひょ": "hyo", "みゃ": "mya", "みゅ": "myu", "みょ": "myo",
    "りゃ": "rya", "りゅ": "ryu", "りょ": "ryo", "ぎゃ": "gya", "ぎゅ": "gyu", "ぎょ": "gyo",
    "じゃ": "ja", "じゅ": "ju", "じょ": "jo", "ぢゃ": "ja", "ぢゅ": "ju", "ぢょ": "jo",
    "びゃ": "bya", "びゅ": "byu", "びょ": "byo", "ぴゃ": "pya", "ぴゅ": "pyu", "ぴょ": "pyo",
    "しぇ": "she", "ちぇ": "che", "じぇ": "je", "ふぁ": "fa", "ふぃ": "fi", "ふぇ": "fe",
    "ふぉ": "fo", "てぃ": "ti", "でぃ": "di", "とぅ": "tu", "どぅ": "du", "うぃ": "wi",
    "うぇ": "we", "うぉ": "wo", "ゔぁ": "va", "ゔぃ": "vi", "ゔぇ": "ve", "ゔぉ": "vo",
    "つぁ": "tsa", "つぇ": "tse", "つぉ": "tso",
}
_MONOGRAPHS = dict(zip(
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわゐゑをん"
    "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽゔぁぃぅぇぉゃゅょゎ",
    ["a", "i", "u", "e", "o", "ka", "ki", "ku", "ke", "ko", "sa", "shi", "su", "se", "so",
     "ta", "chi", "tsu", "te", "to", "na", "ni", "nu", "ne", "no", "ha", "hi", "fu", "he", "ho",
     "ma", "mi", "mu", "me", "mo", "ya", "yu", "yo", "ra", "ri", "ru", "re", "ro", "wa", "i",
     "e", "o", "n", "ga", "gi", "gu", "ge", "go", "za", "ji", "zu", "ze", "zo", "da", "ji",
     "zu", "de", "do", "ba", "bi", "bu", "be", "bo", "pa", "pi", "pu", "pe", "po", "vu",
     "a", "i", "u", "e", "o", "ya", "yu", "yo", "wa"], strict=True))

_LATIN_RULES = (
    (re.compile("sh"), "s"), (re.compile("ch"), "t"), (re.compile("ts"), "t"),
    (re.compile("j"), "z"), (re.compile("fu"), "hu"), (re.compile("m(?=[bp])"), "n"),
    (re.compile("([aeiou])\\1+"), "\\1"), (re.compile("ou"), "o"),
)


def to_hiragana(text: str) -> str:
    """Katakana letters as hiragana (``ケンロク`` → ``けんろく``); everything else unchanged."""
    return "".join(
        chr(ord(char) - _KANA_SHIFT) if _KATAKANA_START <= ord(char) <= _KATAKANA_END else char
        for char in text)


def _kept(char: str) -> bool:
    """Letters, digits and the long-vowel mark survive folding; the rest is dropped."""
    return char == "ー" or unicodedata.category(char)[0] in "LN"


def fold_text(text: str) -> str:
    """NFKC, case folding, katakana as hiragana, without spaces, punctuation or symbols."""
    folded = to_hiragana(unicodedata.normalize("NFKC", text).casefold())
    return "".join(char for char in folded if _kept(char))


def is_kana(text: str) -> bool:
    """True when ``text`` (already folded) is hiragana only (with ``ー``), and not empty."""
    return bool(text) and all("\u3041" <= char <= "\u309f" or char == "ー" for char in text)


def is_latin(text: str) -> bool:
    """True when ``text`` holds Latin letters and digits only (accents allowed), not empty."""
    stripped = _strip_marks(text)
    return bool(stripped) and all(char.isascii() for char in stripped)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def romaji(kana: str) -> str:
    """Hepburn romanisation of hiragana (katakana folded first); other characters are kept.

    ``っ`` doubles the next consonant (``tch`` for ``っち``), ``ー`` repeats the last vowel.
    """
    text = to_hiragana(kana)
    out: list[str] = []
    double = False
    index = 0
    while index < len(text):
        pair = text[index:index + 2]
        if pair in _DIGRAPHS:
            syllable, index = _DIGRAPHS[pair], index + 2
        elif text[index] == "っ":
            double, index = True, index + 1
            continue
        elif text[index] == "ー":
            vowels = [char for char in "".join(out) if char in "aeiou"]
            syllable, index = (vowels[-1] if vowels else ""), index + 1
        else:
            syllable, index = _MONOGRAPHS.get(text[index], text[index]), index + 1
        if double and syllable and syllable[0] not in "aeiou":
            out.append("t" if syllable.startswith("ch") else syllable[0])
        double = False
        out.append(syllable)
    return "".join(out)


def fold_latin(text: str) -> str:
    """A Latin spelling folded so that romanisations of one name meet (module doc)."""
    folded = "".join(char for char in _strip_marks(text).casefold() if char.isalnum()
                     and char.isascii())
    for pattern, replacement in _LATIN_RULES:
        folded = pattern.sub(replacement, folded)
    return folded


def name_keys(name: str) -> set[str]:
    """Every key of a name: its folded text, and a Latin key when it is Latin or kana."""
    text = fold_text(name)
    keys = {text} if text else set()
    if is_latin(text):
        keys.add(fold_latin(text))
    elif is_kana(text):
        keys.add(fold_latin(romaji(text)))
    keys.discard("")
    return keys


def query_keys(query: str) -> list[str]:
    """The keys a query is looked up by (the same folding as :func:`name_keys`), longest
    first."""
    return sorted(name_keys(query), key=len, reverse=True)


# the port number in front of a bike share port's name ("12.兼六園", "E07_臨時 …")
_PORT_NUMBER = re.compile(r"^\s*([A-Za-z]?\d+)\s*[._．・ ]\s*")


def split_port_number(name: str) -> tuple[str | None, str]:
    """``"12.兼六園"`` → ``("12", "兼六園")``; a name without a number → ``(None, name)``."""
    match = _PORT_NUMBER.match(name)
    if match is None:
        return None, name
    return match.group(1), name[match.end():]
