"""Fresh labels are allocated blank and cleared by the kernel round by round: after a run
they hold what :func:`gtfs.raptor.new_labels` would have held, also in rounds never reached."""

from __future__ import annotations

import numpy as np
import pytest

from gtfs import raptor
from gtfs.raptor import INF, KIND_NONE
from gtfs.timetable import compile_feeds
from tests.test_planner import DAY0, build_feed


def test_rounds_a_query_never_reaches_are_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    blank = raptor._blank_labels

    def garbage(rounds: int, n_stops: int) -> raptor.Labels:
        """Blank labels holding what reused memory may hold."""
        labels = blank(rounds, n_stops)
        for array in (labels.ready, labels.transit_tau, labels.foot_tau, labels.ready_kind):
            array[...] = 7
        return labels

    monkeypatch.setattr(raptor, "_blank_labels", garbage)
    stops = [(36.55, 136.60, -2), (36.56, 136.61, -1), (36.57, 136.62, -1), (36.58, 136.63, -1)]
    trips = [([1, 2], 8 * 3600, [600], 0, [0, 0], [0, 0]),
             ([2, 3], 8 * 3600 + 900, [600], 0, [0, 0], [0, 0])]
    timetable = compile_feeds([("l", build_feed(stops, trips, [[True, True, True]], []))])
    view = raptor.day_view(timetable, DAY0)
    access, egress = np.asarray([1], dtype=np.int32), np.asarray([3], dtype=np.int32)
    times, walks = np.asarray([7 * 3600 + 55 * 60], dtype=np.int32), np.zeros(1, dtype=np.int32)
    labels = raptor.run(timetable, view, access, times, egress, walks, 5, 60)
    assert labels.transit_tau[:, 3].tolist() == [INF, INF, 8 * 3600 + 1500] + [INF] * 4
    assert (labels.transit_tau[3:] == INF).all()  # the search ended in round 3
    assert (labels.ready[3:] == INF).all()
    assert (labels.foot_tau[3:] == INF).all()
    assert (labels.ready_kind[3:] == KIND_NONE).all()
    given = raptor.run(timetable, view, access, times, egress, walks, 5, 60,
                       labels=raptor.new_labels(6, timetable.n_stops))
    for name in ("ready", "transit_tau", "foot_tau", "ready_kind"):
        assert (getattr(labels, name) == getattr(given, name)).all(), name
