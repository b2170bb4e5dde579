"""Lower bounds on travel time for the kernel's goal-directed pruning, built with the network.

- ``pattern_least``: per pattern position ``i`` (CSR as ``pattern_stops``), the fewest seconds
  any trip of the pattern takes from leaving position ``i`` to reaching ``i + 1`` (the smaller
  of arrival − departure and arrival − arrival, so a ride from ``i`` to ``j`` takes at least
  the sum over ``i .. j - 1`` whatever the dwell times); 0 at a pattern's last position.
- ``least_to``: for networks of at most :data:`LEAST_TABLE_MAX_STOPS` stops, the least
  seconds from every stop to every stop (``least_to[d, p]``: from ``p`` to ``d``) over a graph
  whose edges are the pattern hops at ``pattern_least`` and the closed footpaths at their
  walking time — no waiting, no transfer slack, every trip of every day, so no journey is
  quicker (an admissible bound). It is a shortest-path metric, so it keeps the triangle
  inequality along every hop (a consistent bound): ``least_to[d, p_i] <= pattern_least[i] +
  least_to[d, p_i+1]``. Stored as uint16 (at most :data:`LEAST_CAP`, which stays a lower
  bound; unreachable stops get it too). An empty ``(0, 0)`` table: not built (a larger network,
  or a feed with a hop that takes negative time).

A realtime overlay may make a trip faster than its timetable, so the kernel uses the table only
on views without one (``DayView.realtime is None``).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

LEAST_TABLE_MAX_STOPS = 3000
LEAST_CAP = 65535
I32 = npt.NDArray[np.int32]
U16 = npt.NDArray[np.uint16]
_NONE = np.int32(2**31 - 1)


def pattern_least(pattern_stop_offset: I32, pattern_trip_offset: I32, pattern_trips: I32,
                  trip_time_offset: I32, arrival: I32, departure: I32) -> I32:
    """The least seconds per hop of each pattern (module doc); may be negative in a broken
    feed (then :func:`least_table` builds no table)."""
    result: I32 = _pattern_least(pattern_stop_offset, pattern_trip_offset, pattern_trips,
                                 trip_time_offset, arrival, departure)
    return result


def least_table(n_stops: int, pattern_stop_offset: I32, pattern_stops: I32, least: I32,
                footpath_offset: I32, footpath_to: I32, footpath_seconds: I32) -> U16:
    """``least_to`` (module doc), or an empty table when the network is too large or some
    hop or footpath takes negative time."""
    if (n_stops > LEAST_TABLE_MAX_STOPS or n_stops == 0
            or (least.shape[0] and int(least.min()) < 0)
            or (footpath_seconds.shape[0] and int(footpath_seconds.min()) < 0)):
        return np.zeros((0, 0), dtype=np.uint16)
    table: U16 = _least_table(n_stops, pattern_stop_offset, pattern_stops, least,
                              footpath_offset, footpath_to, footpath_seconds)
    return table


@numba.njit(cache=True)
def _pattern_least(pattern_stop_offset: I32, pattern_trip_offset: I32, pattern_trips: I32,
                   trip_time_offset: I32, arrival: I32,
                   departure: I32) -> I32:  # pragma: no cover - compiled
    result = np.zeros(pattern_stop_offset[-1], dtype=np.int32)
    for r in range(pattern_stop_offset.shape[0] - 1):
        base = pattern_stop_offset[r]
        n = pattern_stop_offset[r + 1] - base
        for i in range(n - 1):
            least = _NONE
            for t in range(pattern_trip_offset[r], pattern_trip_offset[r + 1]):
                s = trip_time_offset[pattern_trips[t]] + i
                hop = min(arrival[s + 1] - departure[s], arrival[s + 1] - arrival[s])
                least = min(least, hop)
            result[base + i] = 0 if least == _NONE else least
    return result


@numba.njit(cache=True)
def _least_table(n: int, pattern_stop_offset: I32, pattern_stops: I32, least: I32,
                 footpath_offset: I32, footpath_to: I32,
                 footpath_seconds: I32) -> U16:  # pragma: no cover - compiled
    # the edges reversed (into each stop), CSR by head: hops, then footpaths
    n_hops = 0
    for r in range(pattern_stop_offset.shape[0] - 1):
        n_hops += pattern_stop_offset[r + 1] - pattern_stop_offset[r] - 1
    n_edges = n_hops + footpath_to.shape[0]
    tail = np.empty(n_edges, dtype=np.int32)
    head = np.empty(n_edges, dtype=np.int32)
    weight = np.empty(n_edges, dtype=np.int64)
    e = 0
    for r in range(pattern_stop_offset.shape[0] - 1):
        for j in range(pattern_stop_offset[r], pattern_stop_offset[r + 1] - 1):
            tail[e] = pattern_stops[j]
            head[e] = pattern_stops[j + 1]
            weight[e] = least[j]
            e += 1
    for p in range(n):
        for f in range(footpath_offset[p], footpath_offset[p + 1]):
            tail[e] = p
            head[e] = footpath_to[f]
            weight[e] = footpath_seconds[f]
            e += 1
    order = np.argsort(head, kind="mergesort")
    into_offset = np.zeros(n + 1, dtype=np.int64)
    for q in range(n_edges):
        into_offset[head[q] + 1] += 1
    for p in range(n):
        into_offset[p + 1] += into_offset[p]
    into_from = tail[order]
    into_weight = weight[order]

    table = np.empty((n, n), dtype=np.uint16)
    dist = np.empty(n, dtype=np.int64)
    done = np.empty(n, dtype=np.bool_)
    heap_key = np.empty(n_edges + 1, dtype=np.int64)
    heap_node = np.empty(n_edges + 1, dtype=np.int64)
    for d in range(n):  # Dijkstra towards d over the reversed edges
        dist[:] = LEAST_CAP
        done[:] = False
        dist[d] = 0
        size = _push(heap_key, heap_node, 0, 0, d)
        while size > 0:
            key = heap_key[0]
            u = heap_node[0]
            size = _pop(heap_key, heap_node, size)
            if done[u] or key > dist[u]:
                continue
            done[u] = True
            for q in range(into_offset[u], into_offset[u + 1]):
                v = into_from[q]
                t = key + into_weight[q]
                if t < dist[v]:
                    dist[v] = t
                    size = _push(heap_key, heap_node, size, t, v)
        for p in range(n):
            table[d, p] = dist[p]
    return table


@numba.njit(cache=True, inline="always")
def _push(keys: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64], size: int, key: int,
          node: int) -> int:  # pragma: no cover - compiled
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        nodes[i] = nodes[parent]
        i = parent
    keys[i] = key
    nodes[i] = node
    return size + 1


@numba.njit(cache=True, inline="always")
def _pop(keys: npt.NDArray[np.int64], nodes: npt.NDArray[np.int64],
         size: int) -> int:  # pragma: no cover - compiled
    size -= 1
    key = keys[size]
    node = nodes[size]
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        if child + 1 < size and keys[child + 1] < keys[child]:
            child += 1
        if keys[child] >= key:
            break
        keys[i] = keys[child]
        nodes[i] = nodes[child]
        i = child
    if size > 0:
        keys[i] = key
        nodes[i] = node
    return size
