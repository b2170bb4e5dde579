"""translations.txt in both shapes, and the GTFS-JP extras."""

from __future__ import annotations

from pathlib import Path

from gtfs.feed import (
    read_feed,
)
from tests.feed_samples import write_feed


def test_translations_in_the_gtfs_shape(tmp_path: Path) -> None:
    translations = (
        "table_name,field_name,language,translation,record_id,record_sub_id,field_value\n"
        "agency,agency_name,en,Hokuriku Railroad,hokutetsu,,\n"
        "agency,agency_name,ja-Hrkt,ほくりくてつどう,hokutetsu,,\n"
        "stops,stop_name,en,Kanazawa Station,,,金沢駅\n"
        "stops,stop_name,EN,Kanazawa Sta. East Gate,kanazawa_1,,\n"
        "stops,stop_name,ja-Hrkt,こうりんぼう,korinbo,,\n"
        "stops,stop_name,ko,가타마치,katamachi,,\n"
        "routes,route_long_name,en,Kanazawa Sta. – Katamachi,r1,,\n"
        "trips,trip_headsign,en,Katamachi,,,片町\n"
        "trips,trip_headsign,en,For Katamachi,t2,,\n"
        "stop_times,stop_headsign,en,Katamachi,t1,1,\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"translations.txt": translations}))
    assert (feed.agencies[0].name_en, feed.agencies[0].name_kana) == (
        "Hokuriku Railroad", "ほくりくてつどう"
    )
    assert [(s.name_en, s.name_kana) for s in feed.stops] == [
        ("Kanazawa Station", None), ("Kanazawa Sta. East Gate", None),
        (None, "こうりんぼう"), (None, None),
    ]
    assert feed.routes[0].long_name_en == "Kanazawa Sta. – Katamachi"
    assert [trip.headsign_en for trip in feed.trips] == ["Katamachi", "For Katamachi"]


def test_translations_in_the_gtfs_jp_v2_shape(tmp_path: Path) -> None:
    translations = (
        "\ufefftrans_id,lang,translation\r\n"
        "北陸鉄道,en,Hokuriku Railroad\r\n"
        "金沢駅,ja,金沢駅\r\n"
        "金沢駅,ja-Hrkt,かなざわえき\r\n"
        "金沢駅,en,Kanazawa Sta.\r\n"
        " 片町 , en , Katamachi \r\n"
        "金沢駅–片町,en,Kanazawa Sta. – Katamachi\r\n"
    )
    feed = read_feed(write_feed(tmp_path / "feed", {"translations.txt": translations}))
    assert feed.agencies[0].name_en == "Hokuriku Railroad"
    assert feed.agencies[0].name_kana is None
    assert [(s.name_en, s.name_kana) for s in feed.stops] == [
        ("Kanazawa Sta.", "かなざわえき"), (None, None), (None, None), ("Katamachi", None),
    ]
    assert feed.routes[0].long_name_en == "Kanazawa Sta. – Katamachi"
    assert [trip.headsign_en for trip in feed.trips] == ["Katamachi", "Katamachi"]


def test_gtfs_jp_extras_are_ignored(tmp_path: Path) -> None:
    feed = read_feed(write_feed(tmp_path / "feed", {
        "agency_jp.txt": "agency_id,agency_official_name\nhokutetsu,北陸鉄道株式会社\n",
        "office_jp.txt": "office_id,office_name\n1,金沢営業所\n",
        "routes_jp.txt": "route_id,route_update_date,origin_stop\nr1,20260401,金沢駅\n",
    }))
    assert len(feed.routes) == 1
    assert feed.warnings == []
