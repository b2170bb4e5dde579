"""The pages as the server renders them (no browser): the icon, and what every page tells."""

from __future__ import annotations

import io

import pytest
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
