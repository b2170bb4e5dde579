"""The gtfs-kit bridge: typed columns, numbers pandas refuses, vectorised times."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gtfs.feed.kit import clock_times
from gtfs.gtfstime import format_time, parse_time
from tests.feed_samples import BASE, refusal


@given(st.text(alphabet="0123456789:７ x", max_size=10) | st.integers(0, 200 * 3600).map(
    format_time))
def test_vectorised_time_parsing_agrees_with_parse_time(text: str) -> None:
    fast = int(clock_times([text])[0])
    try:
        expected = parse_time(text)
    except ValueError:
        expected = -1
    # the fast path either agrees or leaves the text to parse_time (-1) …
    assert fast in (expected, -1)
    # … and it does take every plain ASCII H:MM:SS and HH:MM:SS
    if len(text) in (7, 8) and expected >= 0 and text.isascii():
        assert fast == expected


REJECTED = {
    "unparsable latitude": (
        {"stops.txt": BASE["stops.txt"].replace("36.5613", "36,5613").replace(
            "korinbo,香林坊,36,5613", "korinbo,香林坊,north")},
        "stops.txt line 4 column stop_lat: 'north' is not a number",
    ),
    "unparsable longitude": (
        {"stops.txt": BASE["stops.txt"].replace("136.6508", "136.65.08")},
        "stops.txt line 5 column stop_lon: '136.65.08' is not a number",
    ),
    "fractional stop_sequence": (
        {"stop_times.txt": BASE["stop_times.txt"].replace("korinbo,2,,", "korinbo,2.5,,")},
        "stop_times.txt line 3 column stop_sequence: '2.5' is not an integer",
    ),
}


@pytest.mark.parametrize(("files", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_rejects_broken_input_naming_file_line_and_column(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    assert refusal(tmp_path, files) == message
