"""Which translation of an alert's text a rider reads (pure)."""

from __future__ import annotations

import pytest

from gtfs.realtime import core

SNOW = {"ja": "雪のため遅れ", "en-US": "Delays due to snow", "zh-TW": "因雪延誤"}


@pytest.mark.parametrize(("lang", "expected"), [
    ("ja", "雪のため遅れ"),
    ("en", "Delays due to snow"),          # a regional tag is the rider's language
    ("zh-Hant", "因雪延誤"),
    ("zh-Hans", "因雪延誤"),                # the other Chinese script before Japanese
    ("ko", "Delays due to snow"),          # Korean riders read English before Japanese
])
def test_alert_text_follows_the_riders_fallbacks(lang: str, expected: str) -> None:
    assert core.pick(SNOW, lang) == expected


def test_untagged_and_empty_translations() -> None:
    assert core.pick({"": "Snow", "ja": ""}, "ja") == "Snow"          # an empty text is none
    assert core.pick({"ja": "雪"}, "ko") == "雪"                       # the only one there is
    assert core.pick({"fr": "Neige"}, "en") == "Neige"                 # any, rather than nothing
    assert core.pick({}, "en") == ""
