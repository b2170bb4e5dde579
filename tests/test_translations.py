"""The rider page in five languages: every Japanese text of /app (its rendered HTML and its
scripts) has a translation in each catalogue of maas/static/i18n.js, the catalogues have the same
keys and placeholders, and no Japanese text is written anywhere without going through them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from flask.testing import FlaskClient

STATIC = Path(__file__).resolve().parent.parent / "maas" / "static"
LANGUAGES = ("zh-Hans", "zh-Hant", "ko")  # Japanese and English are written beside each text
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff60]")
PLACEHOLDER = re.compile(r"\{\w+(?::yen)?\}")
# the scripts of /app whose texts reach riders (common.js holds the driver page's toggle text)
SCRIPTS = ("rider.js", "plan.js", "maas.js")
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
TEMPLATE = re.compile(r"`((?:[^`\\]|\\.)*)`", re.S)


def catalogues() -> dict[str, dict[str, str]]:
    text = (STATIC / "i18n.js").read_text(encoding="utf-8")
    body = text[text.index("export default") + len("export default"):].strip().rstrip(";")
    document: dict[str, dict[str, str]] = json.loads(body)
    return document


class Texts(HTMLParser):
    """Japanese texts of a page: those it gives for translation (data-ja, data-aria-ja) and
    those written with no translation (a text or aria-label without its data-* pair)."""

    def __init__(self) -> None:
        super().__init__()
        self.given: set[str] = set()
        self.bare: list[str] = []
        self.stack: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        attributes["_tag"] = tag
        if tag not in ("meta", "link", "input", "br", "img"):
            self.stack.append(attributes)
        for name in ("data-ja", "data-aria-ja"):
            if attributes.get(name):
                self.given.add(str(attributes[name]))
        label = attributes.get("aria-label") or ""
        if JAPANESE.search(label) and not attributes.get("data-aria-ja") \
                and not self._exempt(attributes):
            self.bare.append(f"<{tag} aria-label={label!r}>")

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()["_tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or not JAPANESE.search(text) or not self.stack:
            return
        if any(node.get("data-ja") or self._exempt(node) for node in self.stack[-1:]):
            return
        self.bare.append(f"<{self.stack[-1]['_tag']}> {text!r}")

    @staticmethod
    def _exempt(attributes: dict[str, str | None]) -> bool:
        # a name in its own language (語の選択, the brand), the bilingual <title>, scripts
        return bool(attributes.get("lang")) or attributes.get("id") == "lang-select" \
            or attributes["_tag"] in ("title", "script", "style")


def page_texts(client: FlaskClient) -> Texts:
    parser = Texts()
    parser.feed(client.get("/app").get_data(as_text=True))
    return parser


def script_texts() -> tuple[set[str], list[str]]:
    """Japanese string literals of the scripts, and template literals that hold Japanese
    (which could not be looked up: a text with values is a "{name}" template)."""
    found: set[str] = set()
    bad: list[str] = []
    for name in SCRIPTS:
        source = (STATIC / name).read_text(encoding="utf-8")
        code = "\n".join(line for line in source.splitlines()
                         if not line.lstrip().startswith("//"))
        for literal in TEMPLATE.findall(code):
            if JAPANESE.search(literal):
                bad.append(f"{name}: `{literal[:60]}`")
        for literal in STRING.findall(code):
            if JAPANESE.search(literal):
                found.add(json.loads(f'"{literal}"'))
    return found, bad


def test_every_catalogue_has_the_same_keys_and_placeholders() -> None:
    books = catalogues()
    assert set(books) == set(LANGUAGES)
    keys = set(books["zh-Hans"])
    for language in LANGUAGES:
        assert set(books[language]) == keys, language
        for key, translation in books[language].items():
            assert translation.strip(), (language, key)
            assert sorted(PLACEHOLDER.findall(translation)) == sorted(PLACEHOLDER.findall(key)), (
                language, key)


def test_every_text_of_the_rider_page_is_translated(client: FlaskClient) -> None:
    texts = page_texts(client)
    assert texts.bare == []  # Japanese written without data-ja / data-aria-ja
    from_scripts, templates = script_texts()
    assert templates == []
    wanted = texts.given | from_scripts
    assert len(wanted) > 80  # the extraction found the page's texts
    keys = set(catalogues()["zh-Hans"])
    assert sorted(wanted - keys) == []  # missing translations
    assert sorted(keys - wanted) == []  # translations of texts no longer there
