"""The pure parts of partner statistics: rounding to the yen, the split, zones, privacy."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maas.core.config import load_settings
from maas.core.errors import ConfigError
from maas.stats import privacy
from maas.stats.apportion import UNALLOCATED, apportion, largest_remainder
from maas.stats.csvout import to_csv
from maas.stats.reports import ValidationRow
from maas.stats.zones import parse_point, zone_of

weights = st.dictionaries(st.text(min_size=1, max_size=4),
                          st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12)


@given(st.integers(min_value=0, max_value=10**9), weights)
def test_largest_remainder_adds_up_and_stays_within_a_yen_of_the_quota(
    total: int, parts: dict[str, int]
) -> None:
    split = largest_remainder(total, parts)
    assert sum(split.values()) == total
    weight_sum = sum(parts.values())
    for key, yen in split.items():
        quota = Fraction(total * parts[key], weight_sum) if weight_sum else Fraction(
            total, len(parts))
        assert math.floor(quota) <= yen <= math.ceil(quota)


def test_largest_remainder_gives_left_over_yen_to_the_largest_remainders() -> None:
    assert largest_remainder(100, {"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}
    assert largest_remainder(10, {"a": 2, "b": 3, "c": 5}) == {"a": 2, "b": 3, "c": 5}
    assert largest_remainder(7, {"a": 0, "b": 0}) == {"a": 4, "b": 3}
    assert largest_remainder(0, {}) == {}
    with pytest.raises(ValueError, match="negative"):
        largest_remainder(-1, {"a": 1})


products = st.sampled_from(["day", "bike", "none"])
operators_of = {"day": ["hokutetsu", "jrbus", "flatbus"], "bike": ["hokutetsu", "machinori"],
                "none": []}


@given(
    revenue=st.dictionaries(products, st.integers(min_value=0, max_value=10**8)),
    used=st.dictionaries(st.tuples(products, st.sampled_from(
        ["hokutetsu", "jrbus", "flatbus", "machinori", "suitto"])),
        st.integers(min_value=0, max_value=10**5)),
    base=st.fractions(min_value=0, max_value=1, max_denominator=100),
    weight=st.fractions(min_value=0, max_value=10, max_denominator=10),
)
def test_apportionment_always_adds_up_to_the_revenue(
    revenue: dict[str, int], used: dict[tuple[str, str], int], base: Fraction,
    weight: Fraction
) -> None:
    result = apportion(revenue, operators_of, used, base_share=base,
                       weights={"machinori": weight})
    assert result.revenue_yen == sum(revenue.values())
    assert sum(share.yen for share in result.shares) == result.revenue_yen
    assert all(share.yen >= 0 for share in result.shares)
    exact = sum((share.base + share.usage for share in result.shares), Fraction(0))
    assert exact == result.revenue_yen
    if revenue.get("none"):
        assert UNALLOCATED in {share.operator for share in result.shares}


def test_apportionment_base_and_weighted_usage() -> None:
    result = apportion({"day": 1000}, {"day": ["a", "b"]}, {("day", "a"): 3, ("day", "b"): 1,
                                                            ("day", "x"): 50},
                       base_share=Fraction(1, 5), weights={"b": Fraction(3)})
    # base 200 in halves; usage 800 by 3×1 : 1×3 → 400 each
    assert {share.operator: share.yen for share in result.shares} == {"a": 500, "b": 500}
    assert [share.validations for share in result.shares] == [3, 1]


def test_zones_are_about_a_kilometre_and_never_the_point() -> None:
    station, nearby = zone_of(36.5781, 136.6480), zone_of(36.5789, 136.6487)
    assert station == nearby == "36.575,136.64375"
    assert zone_of(36.5600, 136.6480) != station
    assert parse_point("36.5,136.6") == (36.5, 136.6)
    for text in ("stop:x", "36.5", "nan,1", "91,0", "a,b"):
        assert parse_point(text) is None


def test_privacy_withholds_numbers_but_keeps_labels() -> None:
    row = {"key": "korinbo", "accepted": 3}
    assert privacy.apply(row, 4, 5, ("key",)) == {"key": "korinbo", "accepted": None,
                                                  "suppressed": True}
    assert privacy.apply(row, 5, 5, ("key",)) == row | {"suppressed": False}


def test_csv_marks_suppressed_rows_and_spreads_reasons() -> None:
    rows = [ValidationRow(key="a", accepted=5, rejected=1, cannot_judge=0,
                          reasons={"expired": 1}, passes=6, suppressed=False),
            ValidationRow(key="b", accepted=None, rejected=None, cannot_judge=None,
                          reasons=None, passes=None, suppressed=True)]
    assert to_csv(rows, ("key",)).splitlines() == [
        "key,accepted,rejected,cannot_judge,reasons:expired,passes,suppressed",
        "a,5,1,0,1,6,false",
        "b,,,,,,true",
    ]


def test_statistics_settings() -> None:
    settings = load_settings(environ={"MAAS_STATS_MIN_PASSES": "10",
                                      "MAAS_APPORTION_BASE_SHARE": "0.25",
                                      "MAAS_APPORTION_WEIGHTS": "jrbus=4.5, hokutetsu=3"})
    assert settings.stats_min_passes == 10
    assert settings.apportion_base_share == 0.25
    assert settings.apportion_weights == (("hokutetsu", 3.0), ("jrbus", 4.5))
    defaults = load_settings(environ={})
    assert (defaults.stats_min_passes, defaults.apportion_base_share) == (5, 0.2)
    for name, value in (("MAAS_STATS_MIN_PASSES", "0"), ("MAAS_APPORTION_BASE_SHARE", "1.5"),
                        ("MAAS_APPORTION_WEIGHTS", "jrbus"),
                        ("MAAS_APPORTION_WEIGHTS", "jrbus=-1")):
        with pytest.raises(ConfigError, match=name):
            load_settings(environ={name: value})


def test_csv_labels_never_become_spreadsheet_formulas() -> None:
    rows = [ValidationRow(key="=HYPERLINK(\"http://x\")", accepted=5, rejected=0,
                          cannot_judge=0, reasons={"@cmd": 1}, passes=5, suppressed=False)]
    text = to_csv(rows, ("key",))
    assert "'=HYPERLINK" in text
    assert text.splitlines()[0].endswith("reasons:@cmd,passes,suppressed")
