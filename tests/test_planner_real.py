"""The planner on real feeds from ../shared/data, against the connection-scan reference."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from gtfs.feed import read_feed
from gtfs.planner import Endpoint, Query, access_options, egress_options, plan, service_time
from gtfs.timetable import Timetable, compile_feeds
from tests.conftest import SHARED_DATA
from tests.test_planner import (
    INF,
    check_feasible,
    forbidden_walks,
    members,
    reference,
    transit,
)

JST = dt.timezone(dt.timedelta(hours=9))
FEEDS = {
    # name: (zip under ../shared/data, a weekday inside its calendar)
    "kumagaya": ("kumagaya-yuyubus-2024/kumagaya_yuyubus_gtfs_jp_20240401.zip",
                 dt.date(2024, 6, 4)),
    "unobus": ("unobus-okayama-2019/unobus_gtfs_jp_20190708.zip", dt.date(2019, 7, 10)),
    "kobe": ("kobe-subway-2017/kobe_subway_gtfs.zip", dt.date(2017, 6, 7)),
}


@pytest.fixture(scope="module", params=sorted(FEEDS))
def real(request: pytest.FixtureRequest
         ) -> tuple[Timetable, dt.date, frozenset[tuple[int, int]]]:
    path, day = FEEDS[request.param]
    feed = read_feed(Path(SHARED_DATA) / path)
    return compile_feeds([(request.param, feed)]), day, forbidden_walks(feed)


def test_random_journeys_match_the_reference(
        real: tuple[Timetable, dt.date, frozenset[tuple[int, int]]]) -> None:
    timetable, day, forbidden = real
    rng = random.Random(20261201)
    served = sorted({int(s) for s in timetable.pattern_stops.tolist()})
    checked = found = 0
    while checked < 12:
        origin, destination = rng.sample(served, 2)
        moment = dt.datetime.combine(day, dt.time(rng.randint(6, 19), rng.randint(0, 59)),
                                     tzinfo=JST)
        query = Query(Endpoint(0, 0, "", origin), Endpoint(0, 0, "", destination), moment,
                      max_transfers=3)
        journeys = transit(plan(timetable, query))
        service_day, seconds = service_time(timetable, moment)
        access = {s: seconds + w for s, (w, _) in access_options(timetable,
                                                                  query.origin).items()}
        egress = {s: w for s, (w, _) in egress_options(timetable,
                                                        query.destination).items()}
        expected = reference(timetable, service_day,
                             dict.fromkeys(members(timetable, origin), seconds),
                             members(timetable, destination), 4, 60, forbidden)
        walk_only = min((access[s] + e for s, e in egress.items() if s in access), default=INF)
        for journey in journeys:
            check_feasible(timetable, journey, 60)
        for k in range(1, 5):
            ours = min([walk_only, *(j.arrival for j in journeys if j.transfers + 1 <= k)])
            assert ours == expected[k - 1], (origin, destination, moment, k)
        checked += 1
        found += bool(journeys)
    assert found >= 4  # most random pairs on a real network are connected
