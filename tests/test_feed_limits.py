"""Hostile feeds, from the attacker's side: zip bombs, endless lines, too many rows, deep JSON.

Every refusal is one InvalidInput naming the file (and the line); none holds the content in
memory. The archives are generated here (tests/feed_bombs.py), a few megabytes each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from gtfs.feed import DEFAULT_LIMITS, FeedLimits, read_feed
from gtfs.feed.source import Source
from gtfs.limits import json_depth, parse_json
from gtfs.network import NetworkStore
from gtfs.services import FeedFiles, import_gtfs, load_ondemand
from maas.core.errors import InvalidInput
from tests.conftest import Runner, fixed_clock, maas_executable
from tests.feed_bombs import MiB, feed_zip, member, zip_bomb
from tests.feed_samples import BASE, write_feed

STOPS_HEADER = b"stop_id,stop_name,stop_lat,stop_lon\n"
# the peak memory allowed to `maas gtfs import` refusing a 3 GB bomb: measured at 276 MiB,
# which is what `maas --help` itself takes (Python, flask, sqlalchemy, pandas, numba loaded)
BOMB_MAXRSS_MIB = 400


def refusal(path: Path, limits: FeedLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(InvalidInput) as caught:
        read_feed(path, limits)
    return caught.value.detail


# --- zip bombs --------------------------------------------------------------------------------


def test_a_zip_bomb_is_refused_by_its_headers_before_anything_is_read(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.zip", BASE)
    assert bomb.stat().st_size < 4 * MiB  # 3 GiB of stop_times.txt inside
    assert refusal(bomb) == (
        "stop_times.txt: 3,220,176,954 bytes uncompressed (zip header) "
        "(the limit is 536,870,912; MAAS_FEED_MAX_FILE_BYTES raises it)"
    )
    with pytest.raises(InvalidInput, match=r"^stop_times\.txt: 3,220,176,954 bytes uncompressed"):
        FeedFiles(bomb)  # the version hash is refused as early


def test_a_zip_bomb_is_refused_within_a_memory_bound(tmp_path: Path) -> None:
    """`maas gtfs import bomb.zip` as a process of its own: exit 1, one line, bounded memory."""
    bomb = zip_bomb(tmp_path / "bomb.zip", BASE)
    env = {**os.environ, "MAAS_HOME": str(tmp_path / "home")}
    env.pop("MAAS_DATABASE_URL", None)
    # a child measuring its own child: RUSAGE_CHILDREN of this test process would include
    # every other subprocess the suite started
    measure = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stderr.write(done.stderr)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", measure, maas_executable(), "gtfs", "import", str(bomb)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    code, maxrss_kib = map(int, result.stdout.split())
    assert code == 1
    assert result.stderr.startswith("Error: stop_times.txt: 3,220,176,954 bytes uncompressed")
    assert len(result.stderr.strip().splitlines()) == 1
    assert maxrss_kib / 1024 < BOMB_MAXRSS_MIB, f"peak memory {maxrss_kib / 1024:.0f} MiB"


def test_headers_that_lie_about_the_size_are_caught_while_streaming(tmp_path: Path) -> None:
    # headers say 400 MiB (under the limit); the member expands to a 1 GiB line
    liar = member("stops.txt", STOPS_HEADER, b"x" * MiB, 1024, declared=400 * MiB,
                  real_crc=False)
    archive = feed_zip(tmp_path / "liar.zip", BASE, liar)
    assert refusal(archive) == (
        "stops.txt line 2: longer than 65,536 bytes "
        "(the limit is 65,536; MAAS_FEED_MAX_LINE_BYTES raises it)"
    )
    with pytest.raises(InvalidInput, match=r"^stops\.txt line 2: longer than 65,536 bytes"):
        FeedFiles(archive).version()
    # headers that understate the size: zipfile stops at the claimed size, the CRC fails
    small = member("stops.txt", STOPS_HEADER, b"x" * MiB, 1024, declared=1000, real_crc=False)
    assert refusal(feed_zip(tmp_path / "small.zip", BASE, small)) == (
        "small.zip: damaged zip archive (Bad CRC-32 for file 'stops.txt')"
    )


def test_a_single_line_gigabyte_stops_file(tmp_path: Path) -> None:
    endless = member("stops.txt", STOPS_HEADER, b"x" * MiB, 1024)  # 1 GiB, one line
    archive = feed_zip(tmp_path / "line.zip", BASE, endless)
    assert archive.stat().st_size < 2 * MiB
    # at the default limits the header already gives it away
    assert refusal(archive).startswith("stops.txt: 1,073,741,860 bytes uncompressed (zip header)")
    # with room for the size, streaming stops at the first line past the line limit
    roomy = FeedLimits(max_file_bytes=2**31, max_total_bytes=2**31)
    assert refusal(archive, roomy).startswith("stops.txt line 2: longer than 65,536 bytes")


def test_a_long_line_at_the_default_limits(tmp_path: Path) -> None:
    stops = BASE["stops.txt"] + "far," + "遠" * 30_000 + ",36.5,136.6,0,,,\n"
    assert refusal(write_feed(tmp_path / "feed", {"stops.txt": stops})) == (
        "stops.txt line 6: longer than 65,536 bytes "
        "(the limit is 65,536; MAAS_FEED_MAX_LINE_BYTES raises it)"
    )


def test_line_ends_of_every_kind_count(tmp_path: Path) -> None:
    limits = FeedLimits(max_line_bytes=100)  # the sample's longest line has 87 bytes
    for ending in ("\n", "\r\n", "\r"):
        stops = BASE["stops.txt"].replace("\n", ending)
        assert read_feed(write_feed(tmp_path / repr(ending), {"stops.txt": stops}), limits).stops
    stops = BASE["stops.txt"] + "far,金沢" + "x" * 80 + ",36.5,136.6,0,,,\n"
    assert refusal(write_feed(tmp_path / "long", {"stops.txt": stops}), limits).startswith(
        "stops.txt line 6: longer than 100 bytes")


# --- rows and totals --------------------------------------------------------------------------


def test_too_many_rows(tmp_path: Path) -> None:
    rows = "".join(f"t1,07:{n // 60:02}:{n % 60:02},07:{n // 60:02}:{n % 60:02},korinbo,{n}\n"
                   for n in range(4, 200))
    feed = write_feed(tmp_path / "feed", {"stop_times.txt": BASE["stop_times.txt"] + rows})
    assert refusal(feed, FeedLimits(max_rows=100)) == (
        "stop_times.txt line 101: more than 100 lines "
        "(the limit is 100; MAAS_FEED_MAX_ROWS raises it)"
    )


def test_sizes_of_files_and_of_the_whole_feed(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    # the sample's largest file is stop_times.txt, 300 bytes; all files add up to 1,125
    assert refusal(folder, FeedLimits(max_file_bytes=290)) == (
        "stop_times.txt: 300 bytes (the limit is 290; MAAS_FEED_MAX_FILE_BYTES raises it)"
    )
    assert refusal(folder, FeedLimits(max_total_bytes=1000)) == (
        "feed: 1,125 bytes in all (the limit is 1,000; MAAS_FEED_MAX_TOTAL_BYTES raises it)"
    )
    archive = feed_zip(tmp_path / "feed.zip", BASE)
    assert refusal(archive, FeedLimits(max_total_bytes=1000)) == (
        "feed.zip: 1,125 bytes uncompressed in all (zip headers) "
        "(the limit is 1,000; MAAS_FEED_MAX_TOTAL_BYTES raises it)"
    )
    assert refusal(archive, FeedLimits(max_archive_bytes=1000)).startswith(
        f"feed.zip: {archive.stat().st_size:,} bytes compressed (the limit is 1,000; ")
    with pytest.raises(InvalidInput, match="MAAS_FEED_MAX_ARCHIVE_BYTES"):
        FeedFiles(archive, FeedLimits(max_archive_bytes=1000))


def test_a_file_growing_while_it_is_read_is_counted(tmp_path: Path) -> None:
    # the folder listing said 400 bytes; the stream is what counts
    folder = write_feed(tmp_path / "feed", {})
    source = Source(folder, FeedLimits(max_file_bytes=400))
    (folder / "stops.txt").write_text(BASE["stops.txt"] * 3, encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^stops\.txt: more than 400 bytes"):
        list(source.rows("stops.txt"))


def test_the_limits_themselves_are_checked() -> None:
    with pytest.raises(ValueError, match="max_rows must be positive"):
        FeedLimits(max_rows=0)


def test_a_refused_feed_through_import_gtfs_changes_nothing(
    db_session: Session, tmp_path: Path
) -> None:
    store = NetworkStore(tmp_path / "home")
    with pytest.raises(InvalidInput, match="MAAS_FEED_MAX_FILE_BYTES"):
        import_gtfs(db_session, store, str(zip_bomb(tmp_path / "bomb.zip", BASE)), "bomb",
                    fixed_clock)


# --- JSON -------------------------------------------------------------------------------------


def test_json_depth_is_measured_without_recursion() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}], "c": "\\"]]]"}', 64) == 3
    assert json_depth(b"[" * 1_000_000, 64) == 65  # stops counting past the limit
    with pytest.raises(InvalidInput) as caught:
        parse_json(b"[" * 100_000 + b"]" * 100_000, "deep.json", DEFAULT_LIMITS)
    assert caught.value.detail == (
        "deep.json: JSON nested more than 64 deep "
        "(the limit is 64; MAAS_FEED_MAX_JSON_DEPTH raises it)"
    )
    with pytest.raises(InvalidInput, match="MAAS_FEED_MAX_JSON_BYTES"):
        parse_json(b"[" + b"0," * 100 + b"0]", "big.json", FeedLimits(max_json_bytes=100))
    assert parse_json(b"[" * 64 + b"]" * 64, "ok.json", DEFAULT_LIMITS) is not None


def test_deeply_nested_gbfs_json_is_one_line_from_the_cli(runner: Runner, tmp_path: Path) -> None:
    folder = tmp_path / "gbfs"
    folder.mkdir()
    (folder / "gbfs.json").write_text("[" * 100_000, encoding="utf-8")
    result = runner.invoke("gbfs", "import", str(folder))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {folder}/gbfs.json: JSON nested more than 64 deep "
        "(the limit is 64; MAAS_FEED_MAX_JSON_DEPTH raises it)\n"
    )
    assert "Traceback" not in result.output
    # the same in a file the discovery does not name
    (folder / "gbfs.json").unlink()
    (folder / "system_information.json").write_text('{"data": ' + '{"y": ' * 5000,
                                                    encoding="utf-8")
    result = runner.invoke("gbfs", "import", str(folder))
    assert result.exit_code == 1
    assert "system_information.json: JSON nested more than 64 deep" in result.stderr
    assert "Traceback" not in result.output


def test_deeply_nested_on_demand_services(db_session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "ondemand"
    folder.mkdir()
    (folder / "services.json").write_text('{"services": ' + "[" * 100_000, encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"services\.json: JSON nested more than 64 deep"):
        load_ondemand(db_session, "taxi", folder, fixed_clock)
