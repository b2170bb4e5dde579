"""The pages as the server renders them (no browser): the icon, and what every page tells."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image


def test_favicon_is_an_icon_not_a_404(client: FlaskClient) -> None:
    with client.get("/favicon.ico") as response:  # a file response: closed when read
        assert response.status_code == 200
        assert response.mimetype == "image/x-icon"
        data = response.data
    icon = Image.open(io.BytesIO(data))
    assert icon.format == "ICO"
    assert {(16, 16), (32, 32)} <= set(icon.info["sizes"])


@pytest.mark.parametrize("path", ["/app", "/driver", "/partners"])
def test_pages_name_their_icon_and_not_the_database(client: FlaskClient, path: str) -> None:
    html = client.get(path).get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in html
    for word in ("sqlite", "postgresql", "backend"):
        assert word not in html.lower()


TILES = "https://tiles.example.jp/styles/{z}/{x}/{y}.png"


def test_map_style_is_a_tile_template_whose_origin_alone_the_csp_allows() -> None:
    from maas.app import CONTENT_SECURITY_POLICY, security_headers
    from maas.core.config import load_settings

    plain = load_settings(environ={})
    assert plain.map_style is None
    assert security_headers(plain)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    tiled = load_settings(environ={"MAAS_MAP_STYLE": TILES})
    assert tiled.map_origin == "https://tiles.example.jp"
    policy = dict(d.split(" ", 1)
                  for d in security_headers(tiled)["Content-Security-Policy"].split("; "))
    assert policy["img-src"] == "'self' data: blob: https://tiles.example.jp"
    assert policy["connect-src"] == "'self'"  # images only: the page still calls no one else
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"


@pytest.mark.parametrize("value", [
    "tiles.example.jp/{z}/{x}/{y}.png",  # no scheme
    "javascript:alert(1)//{z}/{x}/{y}",
    "https://tiles.example.jp/tile.png",  # no {z}/{x}/{y}
    "https://a.example.jp https://b.example.jp/{z}/{x}/{y}.png",  # two origins
    "https://tiles.example.jp/{z}/{x}/{y}.png'; script-src *",
])
def test_a_bad_map_style_fails_fast_naming_the_variable(value: str) -> None:
    from maas.core.config import load_settings
    from maas.core.errors import ConfigError

    with pytest.raises(ConfigError, match="MAAS_MAP_STYLE"):
        load_settings(environ={"MAAS_MAP_STYLE": value})


def test_the_rider_page_hands_the_map_style_to_its_script(app: Flask) -> None:
    import dataclasses

    state = app.extensions["maas"]
    client = app.test_client()
    assert 'data-style=""' in client.get("/app").get_data(as_text=True)
    app.extensions["maas"] = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, map_style=TILES))
    try:
        html = client.get("/app").get_data(as_text=True)
    finally:
        app.extensions["maas"] = state
    assert f'data-style="{TILES}"' in html
