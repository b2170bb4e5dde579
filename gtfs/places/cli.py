"""``maas places …``: operators' own places, and the place search from the shell."""

from __future__ import annotations

from pathlib import Path

import click

from gtfs.languages import choose
from gtfs.network import networks_of
from gtfs.places import services
from maas.core.cli import MaasGroup, emit, json_option, progress
from maas.core.clistate import CliState, pass_state


@click.group(cls=MaasGroup)
def places() -> None:
    """Places riders search for (stops, bike ports, points of interest)."""


@places.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--replace", is_flag=True,
              help="Also remove the operator places that are not in the file.")
@json_option
@pass_state
def import_command(state: CliState, file: Path, replace: bool, as_json: bool) -> None:
    """Add or update places from a GeoJSON FeatureCollection of Points or a CSV file.

    Properties or columns: id (a-z 0-9 _ . -), name or name_ja, lat and lon (CSV), and
    optionally name_kana, name_en, name_zh_hans, name_zh_hant, name_ko, category. All or
    nothing: the first bad place names the file, line or feature and field (exit 1).
    """
    runtime = state.runtime()
    with progress(2, f"checking {file.name}", quiet=as_json) as step, \
            state.session() as session:
        entries = services.read_places_file(file)
        step(f"writing {len(entries):,} places")
        result = services.import_places(session, file, runtime.clock, replace=replace)
        step("done")
    networks_of(runtime).places.forget()
    document = {"file": result.file, "places": result.places, "created": result.created,
                "updated": result.updated, "removed": result.removed}
    emit(as_json, document, f"{file}: {result.places} place(s): {result.created} new, "
                            f"{result.updated} updated, {result.removed} removed")


@places.command("search")
@click.argument("query")
@click.option("--near", help="LAT,LON: equally good matches nearest first.")
@click.option("--lang", help="ja, en, zh-Hans, zh-Hant or ko (default ja).")
@click.option("--limit", type=click.IntRange(1, services.MAX_LIMIT), default=10,
              show_default=True)
@json_option
@pass_state
def search_command(state: CliState, query: str, near: str | None, lang: str | None,
                   limit: int, as_json: bool) -> None:
    """Search places as GET /api/v1/places does."""
    runtime = state.runtime()
    with state.session() as session:
        found = services.search(session, networks_of(runtime), query,
                                near=services.parse_near(near), language=choose(lang, None),
                                limit=limit)
    lines = [f"{place['id']:<40} {place['kind']:<13} {place['name']}"
             + (f"  ({place['distance_m']} m)" if "distance_m" in place else "")
             for place in found]
    emit(as_json, {"places": found}, "\n".join(lines) or "no place found")
