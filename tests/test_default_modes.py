"""A request without ``modes`` runs the multimodal planner with every mode; on a server without
bikes or taxis it must find what the transit planner finds (the same walking ends: footpaths
out of the origin, footpaths into the destination)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gtfs import multimodal
from gtfs.mobility import Mobility
from gtfs.planner import Endpoint, Query, plan
from gtfs.services import ALL_MODES
from maas.core.clock import TOKYO
from tests.test_planner import Network, networks


@settings(max_examples=150, deadline=None)
@given(networks(), st.data())
def test_default_modes_find_the_transit_planner_s_arrivals(network: Network,
                                                           data: st.DataObject) -> None:
    timetable = network.timetable
    types = timetable.meta["stop_location_type"]
    boardable = [i for i in range(timetable.n_stops) if types[i] == 0]
    origin = data.draw(st.sampled_from(boardable))
    destination = data.draw(st.sampled_from([s for s in range(timetable.n_stops) if s != origin]))
    moment = dt.datetime(2026, 12, 1, data.draw(st.sampled_from([0, 7, 8, 23])),
                         data.draw(st.integers(0, 59)), tzinfo=TOKYO)
    query = Query(origin=Endpoint(0, 0, "o", origin), destination=Endpoint(0, 0, "d", destination),
                  time=moment, max_transfers=4)
    transit = plan(timetable, query)
    everything = multimodal.plan(
        timetable, Query(**{**query.__dict__, "modes": ALL_MODES}),
        multimodal.Context(Mobility(), now=int(moment.timestamp())))
    assert min((j.arrival for j in everything), default=None) == min(
        (j.arrival for j in transit), default=None)
    riding = [(j.arrival, j.transfers) for j in transit if any(leg.trip >= 0 for leg in j.legs)]
    for arrival, transfers in riding:  # every transit answer is matched or beaten
        assert any(j.arrival <= arrival and j.transfers <= transfers for j in everything)
