"""``maas bench places``: the place search over 10,000 places beside two peers, in one run.

The places are the curated list plus generated points of interest (names built from real
Kanazawa district names and kinds of venue, each in ja, kana and en; coordinates uniform over
the city). The queries are what riders type: a kana, romaji, kanji or English prefix or
fragment of a random place's name, some with ``near=``, a few that match nothing.

Timed per query, interleaved in this order, with :func:`maas.bench.timing.timed`:

- ``http``: the whole request, ``GET /api/v1/places?q=…&near=…`` through Flask's test client
  (parameter parsing, language choice, the index, JSON), on a temporary SQLite database that
  holds the generated places in the ``places`` table;
- ``index``: :meth:`gtfs.places.index.PlaceIndex.search` in process (what the request calls);
- ``linear``: the same answer by comparing every key of every place
  (:meth:`~gtfs.places.index.PlaceIndex.linear_search`);
- ``fts5``: SQLite FTS5 with the trigram tokenizer over the same keys (in memory), exact,
  prefix and substring matches ranked in SQL, distances for the hits in Python; keys shorter
  than three characters fall back to ``LIKE`` over a plain table of the same keys (a trigram
  index cannot hold them).

With ``--plan-queries N`` (default 100; 0 skips it) the demo data is then loaded into the same
temporary database and ``GET /api/v1/plan`` is timed between random curated places, asked
both ways in turn: by place ids with a random ``lang=`` (``plan_places``: names resolved and
localised) and by the same places' coordinates (``plan_coordinates``), departing at 10:00
today, every mode.

p50/p90 are :func:`maas.bench.timing.percentiles`. The index is built before timing (its build
time is reported as ``index_build_ms``).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click

from gtfs.languages import LANGUAGES
from gtfs.places.curated import curated_places
from gtfs.places.index import Hit, Place, PlaceIndex
from gtfs.places.models import PlaceRow
from gtfs.places.text import fold_text, query_keys
from maas.bench.request import UNLIMITED
from maas.bench.timing import percentiles, timed
from maas.core.cli import emit, json_option, progress
from maas.core.clock import TOKYO
from maas.core.errors import MaasError
from maas.core.geo import haversine_m

# (kanji, kana, romaji) of districts and landmarks, and (ja, kana, en) of venue kinds
AREAS = (
    ("香林坊", "こうりんぼう", "Korinbo"), ("片町", "かたまち", "Katamachi"),
    ("武蔵", "むさし", "Musashi"), ("東山", "ひがしやま", "Higashiyama"),
    ("長町", "ながまち", "Nagamachi"), ("野町", "のまち", "Nomachi"),
    ("寺町", "てらまち", "Teramachi"), ("小立野", "こだつの", "Kodatsuno"),
    ("本多町", "ほんだまち", "Hondamachi"), ("広坂", "ひろさか", "Hirosaka"),
    ("尾張町", "おわりちょう", "Owaricho"), ("橋場町", "はしばちょう", "Hashibacho"),
    ("此花町", "このはなまち", "Konohanamachi"), ("西念", "さいねん", "Sainen"),
    ("無量寺", "むりょうじ", "Muryoji"), ("金石", "かないわ", "Kanaiwa"),
    ("大野", "おおの", "Ono"), ("駅西", "えきにし", "Ekinishi"), ("泉野", "いずみの", "Izumino"),
    ("森本", "もりもと", "Morimoto"), ("鳴和", "なるわ", "Naruwa"), ("額", "ぬか", "Nuka"),
    ("円光寺", "えんこうじ", "Enkoji"), ("田上", "たがみ", "Tagami"),
    ("杜の里", "もりのさと", "Morinosato"), ("湯涌", "ゆわく", "Yuwaku"),
    ("昭和町", "しょうわちょう", "Showacho"), ("彦三", "ひこそ", "Hikoso"),
)
KINDS = (
    ("ホテル", "ほてる", "Hotel"), ("旅館", "りょかん", "Ryokan"), ("カフェ", "かふぇ", "Cafe"),
    ("寿司", "すし", "Sushi"), ("美術館", "びじゅつかん", "Art Museum"),
    ("ギャラリー", "ぎゃらりー", "Gallery"), ("公園", "こうえん", "Park"),
    ("神社", "じんじゃ", "Shrine"), ("寺", "てら", "Temple"), ("書店", "しょてん", "Bookshop"),
    ("金箔店", "きんぱくてん", "Gold Leaf Shop"), ("茶房", "さぼう", "Tea House"),
    ("ゲストハウス", "げすとはうす", "Guest House"), ("市場", "いちば", "Market"),
    ("駐車場", "ちゅうしゃじょう", "Parking"),
)
CITY = ((36.53, 36.62), (136.60, 136.70))


def generated_places(count: int, rng: random.Random) -> list[Place]:
    """``count`` points of interest with names in ja, kana and en (see the module doc)."""
    places = []
    for number in range(count):
        area, kind = rng.choice(AREAS), rng.choice(KINDS)
        serial = rng.randint(1, 999)
        places.append(Place(
            id=f"poi:bench-{number}", kind="poi",
            names={"ja": f"{area[0]}{kind[0]}{serial}", "kana": f"{area[1]}{kind[1]}",
                   "en": f"{kind[2]} {area[2]} {serial}"},
            lat=rng.uniform(*CITY[0]), lon=rng.uniform(*CITY[1])))
    return places


def draw_queries(places: list[Place], count: int, rng: random.Random
                 ) -> list[tuple[str, tuple[float, float] | None]]:
    """Queries riders type, with ``near`` for about half of them (module doc)."""
    queries: list[tuple[str, tuple[float, float] | None]] = []
    for _ in range(count):
        place = rng.choice(places)
        names = place.names
        style = rng.randrange(6)
        if style == 0 and "kana" in names:
            text = names["kana"][:rng.randint(2, 5)]
        elif style == 1 and "en" in names:
            text = names["en"].split()[rng.randrange(len(names["en"].split()))][:6]
        elif style == 2:
            text = names["ja"][:rng.randint(1, 3)]
        elif style == 3:
            text = fold_text(names.get("en", names["ja"]))[:rng.randint(3, 8)]
        elif style == 4:
            text = rng.choice(("けんろく", "kenroku", "兼六", "ひがしちゃや", "omicho", "21世紀"))
        else:
            text = rng.choice(("zzqx", "存在しない", "xylophone"))
        near = (rng.uniform(*CITY[0]), rng.uniform(*CITY[1])) if rng.random() < 0.5 else None
        queries.append((text, near))
    return queries


class Fts5Peer:
    """The same keys in an in-memory SQLite FTS5 trigram index (module doc)."""

    def __init__(self, index: PlaceIndex) -> None:
        self.places = index.places
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE VIRTUAL TABLE keys USING fts5(key, owner UNINDEXED, "
                        "tokenize='trigram')")
        rows = [(key, owner) for owner, place in enumerate(self.places)
                for key in sorted(place.keys())]
        self.db.executemany("INSERT INTO keys(key, owner) VALUES (?, ?)", rows)
        # a trigram index holds no key shorter than three characters: those are scanned
        self.db.execute("CREATE TABLE plain(key TEXT, owner INTEGER)")
        self.db.executemany("INSERT INTO plain(key, owner) VALUES (?, ?)", rows)
        self.db.commit()

    def search(self, query: str, near: tuple[float, float] | None, limit: int) -> list[Hit]:
        """Places by best match quality, then distance."""
        found: dict[int, int] = {}
        for key in query_keys(query):
            if len(key) >= 3:
                rows = self.db.execute(
                    "SELECT owner, MIN(CASE WHEN key = ?1 THEN 0 WHEN substr(key, 1, "
                    "length(?1)) = ?1 THEN 1 ELSE 2 END) FROM keys WHERE keys MATCH ?2 "
                    "GROUP BY owner", (key, '"' + key.replace('"', '""') + '"'))
            else:
                rows = self.db.execute(
                    "SELECT owner, MIN(CASE WHEN key = ?1 THEN 0 WHEN substr(key, 1, "
                    "length(?1)) = ?1 THEN 1 ELSE 2 END) FROM plain WHERE key LIKE ?2 "
                    "GROUP BY owner", (key, ("%" if len(key) >= 2 or not key.isascii() else "")
                                       + key.replace("%", "").replace("_", "") + "%"))
            for owner, quality in rows:
                if found.get(owner, 3) > quality:
                    found[owner] = quality
        hits = [Hit(self.places[owner], quality, None if near is None else haversine_m(
            near[0], near[1], self.places[owner].lat, self.places[owner].lon))
            for owner, quality in found.items()]
        hits.sort(key=lambda hit: (hit.quality, hit.distance_m or 0.0))
        return hits[:limit]


def _http_app(folder: Path, places: list[Place]) -> Any:
    """An application on a temporary SQLite database holding ``places`` (no feeds)."""
    from maas.app import create_app
    from maas.core import db

    app = create_app({"env": "test", "home": folder,
                      "database_url": f"sqlite:///{folder / 'bench.db'}",
                      "rate_limit_plan": UNLIMITED})
    state = app.extensions["maas"]
    db.upgrade(state.engine)
    now = dt.datetime.now(TOKYO)
    with state.sessions() as session:
        session.add_all(PlaceRow(id=place.id.removeprefix("poi:"), names=dict(place.names),
                                 lat=place.lat, lon=place.lon, category=None,
                                 source="bench", imported_at=now) for place in places)
        session.commit()
    return app


def _time_plans(app: Any, places: list[Place], count: int, rng: random.Random, *,
                quiet: bool) -> dict[str, list[float]]:
    """``GET /plan`` between random places, by place id (with a language) and by the same
    coordinates, interleaved, on the demo data loaded into ``app``'s database."""
    from gtfs.network import networks_of
    from maas.core.clock import system_clock
    from maas.demo.services import load_demo

    state = app.extensions["maas"]
    with state.sessions() as session:
        load_demo(session, networks_of(state), system_clock)
    depart = dt.datetime.combine(dt.datetime.now(TOKYO).date(), dt.time(10), tzinfo=TOKYO)
    client = app.test_client()
    timings: dict[str, list[float]] = {"plan_places": [], "plan_coordinates": []}
    pairs = [rng.sample(places, 2) for _ in range(count + 3)]
    with progress(count, f"{count} plans between places", quiet=quiet) as step:
        for number, (origin, destination) in enumerate(pairs):
            by_place = {"from": f"place:{origin.id}", "to": f"place:{destination.id}",
                        "depart": depart.isoformat(), "lang": rng.choice(LANGUAGES)}
            by_point = {"from": f"{origin.lat},{origin.lon}",
                        "to": f"{destination.lat},{destination.lon}",
                        "depart": depart.isoformat()}
            for name, params in (("plan_places", by_place), ("plan_coordinates", by_point)):
                url = "/api/v1/plan?" + urlencode(params)
                elapsed, response = timed(functools.partial(client.get, url))
                if response.status_code != 200:
                    raise MaasError(f"{url}: HTTP {response.status_code} {response.text[:200]}")
                if number >= 3:  # the first plans compile and warm the planner
                    timings[name].append(elapsed)
            if number % 20 == 0:
                step(f"plan {number + 1}")
    return timings


@click.command("places")
@click.option("--places", "count", type=click.IntRange(100, 200_000), default=10_000,
              show_default=True, help="Places in the index (curated + generated).")
@click.option("--queries", type=click.IntRange(10, 100_000), default=500, show_default=True)
@click.option("--seed", type=int, default=14, show_default=True)
@click.option("--limit", type=click.IntRange(1, 50), default=10, show_default=True)
@click.option("--plan-queries", type=click.IntRange(0, 10_000), default=100, show_default=True,
              help="Also time GET /plan between curated places on the demo data (0: skip).")
@json_option
def places_command(count: int, queries: int, seed: int, limit: int, plan_queries: int,
                   as_json: bool) -> None:
    """Time the place search (in process and as GET /api/v1/places) beside a linear scan and
    SQLite FTS5 (trigram) on the same places and queries."""
    logging.getLogger("maas.access").setLevel(logging.WARNING)  # a line per request: noise
    rng = random.Random(seed)  # noqa: S311 - reproducible places and queries, not secrets
    curated = list(curated_places())
    generated = generated_places(max(0, count - len(curated)), rng)
    build_ms, index = timed(lambda: PlaceIndex([*curated, *generated]))
    peer = Fts5Peer(index)
    asked = draw_queries(index.places, queries, rng)
    timings: dict[str, list[float]] = {"http": [], "index": [], "linear": [], "fts5": []}
    disagree = 0
    with tempfile.TemporaryDirectory(prefix="maas-bench-places-") as folder:
        app = _http_app(Path(folder), generated)
        client = app.test_client()

        def request(text: str, near: tuple[float, float] | None) -> Callable[[], Any]:
            params = {"q": text, "limit": str(limit)}
            if near is not None:
                params["near"] = f"{near[0]:.6f},{near[1]:.6f}"
            url = "/api/v1/places?" + urlencode(params)
            return lambda: client.get(url)

        warm = client.get("/api/v1/places?q=kenroku")  # builds the app's index
        if warm.status_code != 200:
            raise MaasError(f"GET /api/v1/places: HTTP {warm.status_code} {warm.text[:200]}")
        with progress(len(asked), f"{len(asked)} queries over {len(index):,} places",
                      quiet=as_json) as step:
            for number, (text, near) in enumerate(asked):
                elapsed, response = timed(request(text, near))
                if response.status_code != 200:
                    raise MaasError(f"{text!r}: HTTP {response.status_code} "
                                    f"{response.text[:200]}")
                timings["http"].append(elapsed)
                elapsed, ours = timed(functools.partial(index.search, text, near=near,
                                                        limit=limit))
                timings["index"].append(elapsed)
                elapsed, _ = timed(functools.partial(index.linear_search, text, near=near,
                                                     limit=limit))
                timings["linear"].append(elapsed)
                elapsed, theirs = timed(functools.partial(peer.search, text, near, limit))
                timings["fts5"].append(elapsed)
                if [h.quality for h in ours] != [h.quality for h in theirs]:
                    disagree += 1
                if number % 50 == 0:
                    step(f"query {number + 1}")
        if plan_queries:
            timings.update(_time_plans(app, curated, plan_queries, rng, quiet=as_json))
        app.extensions["maas"].engine.dispose()
    summary: dict[str, Any] = {"places": len(index), "queries": len(asked), "limit": limit,
                               "seed": seed, "index_build_ms": round(build_ms, 1),
                               "plan_queries": plan_queries}
    for name, values in timings.items():
        p50, p90 = percentiles(values, 50, 90, digits=3)
        summary[f"{name}_p50_ms"], summary[f"{name}_p90_ms"] = p50, p90
    summary["linear_over_index"] = round(summary["linear_p50_ms"] / summary["index_p50_ms"], 1)
    summary["fts5_over_index"] = round(summary["fts5_p50_ms"] / summary["index_p50_ms"], 1)
    summary["fts5_quality_disagreements"] = disagree
    emit(as_json, summary, "\n".join([
        f"{len(index):,} places, {len(asked)} queries (limit {limit}); index built in "
        f"{build_ms:.0f} ms",
        *(f"  {name:<7} p50 {summary[f'{name}_p50_ms']:>8.3f} ms  "
          f"p90 {summary[f'{name}_p90_ms']:>8.3f} ms" for name in timings),
        f"  linear/index {summary['linear_over_index']}×, fts5/index "
        f"{summary['fts5_over_index']}×"]))
