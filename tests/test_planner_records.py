"""The planner's records (Leg, Journey, Endpoint, Query) keep what a frozen dataclass gives
with their quicker ``__init__`` (gtfs.planner.filled_at_once)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtfs.planner import Endpoint, Journey, Leg, Query, filled_at_once


@dataclasses.dataclass(frozen=True)
class _Reference:
    """Leg's fields as the plain generated ``__init__`` sets them."""

    mode: str
    departure: int
    arrival: int
    from_stop: int
    to_stop: int
    trip: int = -1
    board_pos: int = -1
    alight_pos: int = -1
    walk_m: int = 0
    day_shift: int = 0


_SHARED = [field.name for field in dataclasses.fields(_Reference)]


@given(mode=st.sampled_from(["walk", "bus", "tram"]), values=st.lists(
    st.integers(-10, 10**6), min_size=4, max_size=9))
def test_a_leg_holds_what_the_generated_init_would(mode: str, values: list[int]) -> None:
    positional = [mode, *values]
    leg, reference = Leg(*positional), _Reference(*positional)
    assert {name: getattr(leg, name) for name in _SHARED} == dataclasses.asdict(reference)
    assert (leg.place_from, leg.info, leg.realtime, leg.fare_yen) == (None, None, False, None)
    assert leg == Leg(*positional)
    assert hash(leg) == hash(Leg(*positional))
    keywords: dict[str, Any] = dict(zip(_SHARED, positional, strict=False))
    assert Leg(**keywords) == leg


def test_records_stay_frozen_and_replaceable() -> None:
    leg = Leg("bus", 1, 2, 3, 4, trip=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        leg.mode = "tram"  # type: ignore[misc]
    assert dataclasses.replace(leg, mode="tram").mode == "tram"
    assert leg.mode == "bus"
    journey = Journey(dt.date(2026, 12, 1), (leg,), tags=("earliest",))
    assert (journey.departure, journey.arrival, journey.transfers) == (1, 2, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        journey.tags = ()  # type: ignore[misc]
    end = Endpoint(36.57, 136.65, "金沢駅", 7)
    query = Query(end, end, dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC))
    assert (query.max_transfers, query.modes, end.place) == (5, None, None)
    assert repr(leg).startswith("Leg(mode='bus', departure=1, arrival=2,")


def test_missing_or_unknown_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="to_stop"):
        Leg("bus", 1, 2, 3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="colour"):
        Leg("bus", 1, 2, 3, 4, colour="red")  # type: ignore[call-arg]


def test_only_plain_frozen_dataclasses_are_accepted() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError, match="not a plain frozen dataclass"):
        filled_at_once(WithFactory)


def test_a_network_memo_is_kept_until_it_is_full() -> None:
    from types import SimpleNamespace

    from gtfs.timetable import Timetable

    network = SimpleNamespace(meta={})
    memo = Timetable.memo(network, "_answers", 2)  # type: ignore[arg-type]
    memo[1] = "one"
    assert Timetable.memo(network, "_answers", 2) is memo  # type: ignore[arg-type]
    memo[2] = "two"
    fresh = Timetable.memo(network, "_answers", 2)  # type: ignore[arg-type]
    assert fresh == {}
    assert network.meta["_answers"] is fresh
