"""The CSV source and lexer: zips and folders, BOM, CRLF, encodings, damaged archives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from gtfs.feed import (
    read_feed,
)
from maas.core.errors import InvalidInput
from tests.feed_samples import BASE, assert_same_feed, refusal, write_feed


def test_tolerates_bom_spaces_crlf_column_order_and_blank_lines(tmp_path: Path) -> None:
    clean = read_feed(write_feed(tmp_path / "clean", {}))
    bom = "\ufeff"
    messy = {
        "agency.txt": bom + (
            " agency_timezone , agency_name,agency_id ,agency_url\r\n"
            " Asia/Tokyo , 北陸鉄道 , hokutetsu ,https://www.hokutetsu.co.jp/\r\n"
        ),
        "stops.txt": bom + (
            "zone_id, stop_lat ,stop_id , stop_lon,stop_name,parent_station,location_type,"
            "platform_code\n"
            ",  36.5781 , kanazawa,136.6480,金沢駅,,1,\n"
            "\n"
            " Z1 ,36.5780,kanazawa_1 ,136.6485, 金沢駅東口 , kanazawa , 0 , 01 \n"
            "Z2,36.5613,korinbo,136.6559,香林坊,,,\n"
            "   \n"
            "Z2,36.5581,katamachi,136.6508,片町,,0,\n"
        ),
        "routes.txt": bom + (
            "route_type,route_color,route_long_name,route_short_name,agency_id,route_id\n"
            "3,E60012,金沢駅–片町,10,hokutetsu, r1\n"
        ),
        "trips.txt": (
            "trip_id , service_id , route_id,direction_id,trip_headsign\n"
            " t1 , 平日 ,r1,0, 片町\n"
            "t2,●, r1 ,,片町 \n"
        ),
        "stop_times.txt": bom + (
            "stop_sequence,stop_id,departure_time,arrival_time,trip_id,drop_off_type,pickup_type\n"
            "3, katamachi , 07:55:00 ,07:55:00,t1,0,1\r\n"
            "1,kanazawa_1,7:42:00, 7:42:00 , t1 ,1,0\r\n"
            "2,korinbo,07:51:00,07:50:00,t1,,\r\n"
            "\r\n"
            "1,kanazawa_1,24:50:00,24:50:00,t2,1,0\r\n"
            "3,katamachi,25:10:00,25:10:00,t2,0,1\r\n"
            "2,korinbo,25:00:00,25:00:00,t2,0,0\r\n"
        ),
        "calendar.txt": bom + (
            "end_date,friday,monday,saturday,service_id,start_date,sunday,thursday,tuesday,"
            "wednesday\n"
            "20261207,1,1,0, 平日 ,20261201,0,1,1,1\n"
            " 20261207 ,0,0,1,●, 20261201,1,0,0,0\n"
        ),
        "calendar_dates.txt": bom + (
            "date,service_id,exception_type\n"
            " 20261203,平日, 2\n"
            "20261210 , ● ,1\n"
        ),
    }
    assert_same_feed(read_feed(write_feed(tmp_path / "messy", messy)), clean)


def test_a_delimiter_ending_every_line_does_not_shift_columns(tmp_path: Path) -> None:
    stops = "".join(line + ",\n" for line in BASE["stops.txt"].splitlines())
    feed = read_feed(write_feed(tmp_path / "feed", {"stops.txt": stops}))
    assert [(stop.id, stop.lat, stop.platform_code) for stop in feed.stops][:2] == [
        ("kanazawa", 36.5781, ""), ("kanazawa_1", 36.5780, "01")
    ]


def test_reads_a_zip_with_the_files_in_a_subfolder(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.iterdir()):
            zipped.write(path, f"gtfs_20261201/{path.name}")
        zipped.writestr("__MACOSX/gtfs_20261201/._stops.txt", b"\x00\x05")
    assert_same_feed(read_feed(archive), read_feed(folder))


def test_reads_a_folder_with_the_files_in_a_subfolder(tmp_path: Path) -> None:
    write_feed(tmp_path / "feed" / "gtfs", {})
    assert_same_feed(read_feed(tmp_path / "feed"), read_feed(tmp_path / "feed" / "gtfs"))


def test_rejects_text_that_is_not_utf8(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    (folder / "stops.txt").write_bytes(BASE["stops.txt"].encode("shift_jis"))
    with pytest.raises(InvalidInput) as caught:
        read_feed(folder)
    assert caught.value.detail == "stops.txt line 2: not UTF-8 text (byte 0x8b)"


def test_rejects_an_unterminated_quote_naming_the_file(tmp_path: Path) -> None:
    routes = BASE["routes.txt"].replace(",10,", ',"10,')
    with pytest.raises(InvalidInput) as caught:
        read_feed(write_feed(tmp_path / "feed", {"routes.txt": routes}))
    # pandas gives no line here; its own words follow the file name
    assert caught.value.detail.startswith("routes.txt: unreadable (")


def test_rejects_a_damaged_zip(tmp_path: Path) -> None:
    folder = write_feed(tmp_path / "feed", {})
    archive = tmp_path / "feed.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in sorted(folder.iterdir()):
            zipped.writestr(path.name, path.read_bytes() * 50)
    data = bytearray(archive.read_bytes())
    data[200:260] = bytes(60)
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInput) as caught:
        read_feed(archive)
    assert caught.value.detail.startswith("feed.zip: damaged zip archive (")


def test_rejects_what_is_not_a_feed(tmp_path: Path) -> None:
    (tmp_path / "feed.txt").write_text("hello")
    with pytest.raises(InvalidInput) as caught:
        read_feed(tmp_path / "feed.txt")
    assert caught.value.detail == f"{tmp_path / 'feed.txt'}: neither a GTFS zip nor a folder"


REJECTED = {
    "too many fields": (
        {"routes.txt": BASE["routes.txt"] + "r2,hokutetsu,11,x,3,FFFFFF,extra\n"},
        "routes.txt line 3: 7 fields, but the header has 6",
    ),
}


@pytest.mark.parametrize(("files", "message"), REJECTED.values(), ids=REJECTED.keys())
def test_rejects_broken_input_naming_file_line_and_column(
    tmp_path: Path, files: dict[str, str | None], message: str
) -> None:
    assert refusal(tmp_path, files) == message
