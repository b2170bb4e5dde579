"""translations.txt: English, kana, Chinese and Korean names, in the GTFS shape or the GTFS-JP
v2 shape."""

from __future__ import annotations

from gtfs.feed.source import Source
from gtfs.languages import language_of

# languages kept beside English and kana (names riders read on /app)
OTHER_LANGUAGES = ("zh-Hans", "zh-Hant", "ko")

# The translations.txt (GTFS-JP v2) trans_id is the Japanese text; these fields may carry it.
TRANSLATED_FIELDS = (
    ("agency", "agency_name"),
    ("stops", "stop_name"),
    ("routes", "route_long_name"),
    ("trips", "trip_headsign"),
)


class Translations:
    """translations.txt in the GTFS shape or the GTFS-JP v2 shape (trans_id is the text)."""

    def __init__(self, source: Source, warnings_: list[str]) -> None:
        # (table, field, language) -> {record_id or field value: translation}
        self._by_record: dict[tuple[str, str, str], dict[str, str]] = {}
        self._by_value: dict[tuple[str, str, str], dict[str, str]] = {}
        name = "translations.txt"
        if not source.has(name):
            return
        rows = source.rows(name)
        header = [column.strip() for column in next(rows, (0, []))[1]]
        standard = {"table_name", "field_name", "language", "translation"} <= set(header)
        legacy = {"trans_id", "lang", "translation"} <= set(header)
        if not (standard or legacy):
            warnings_.append(f"{name}: neither the GTFS nor the GTFS-JP v2 columns; ignored")
            return
        for _, row in rows:
            record = dict(zip(header, (value.strip() for value in row), strict=False))
            language = _language(record.get("language" if standard else "lang", ""))
            translation = record.get("translation", "")
            if not language or not translation:
                continue
            if standard:
                key = (record.get("table_name", ""), record.get("field_name", ""), language)
                if record.get("record_id"):
                    self._by_record.setdefault(key, {}).setdefault(
                        record["record_id"], translation
                    )
                elif record.get("field_value"):
                    self._by_value.setdefault(key, {}).setdefault(
                        record["field_value"], translation
                    )
            elif record.get("trans_id"):
                for table, field_name in TRANSLATED_FIELDS:
                    self._by_value.setdefault((table, field_name, language), {}).setdefault(
                        record["trans_id"], translation
                    )

    def others(self, table: str, field_name: str, record_id: str, value: str
               ) -> dict[str, str]:
        """The field's translations into :data:`OTHER_LANGUAGES` (zh-Hans, zh-Hant, ko)."""
        found = {}
        for language in OTHER_LANGUAGES:
            translation = self.get(table, field_name, language, record_id, value)
            if translation:
                found[language] = translation
        return found

    def get(self, table: str, field_name: str, language: str, record_id: str, value: str) -> (
        str | None
    ):
        """The translation of one record's field: by record id first, then by its text."""
        key = (table, field_name, language)
        found = self._by_record.get(key, {}).get(record_id)
        if found is None and value:
            found = self._by_value.get(key, {}).get(value)
        return found


def _language(code: str) -> str:
    lowered = code.lower()
    if lowered == "ja-hrkt":
        return "kana"
    found = language_of(code)
    return found if found in ("en", *OTHER_LANGUAGES) else ""

