"""Web pages for riders (/app), drivers (/driver) and partners (/partners)."""

from __future__ import annotations

from pathlib import PurePosixPath

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from werkzeug.wrappers.response import Response

from maas import assets
from maas.core.http import settings

bp = Blueprint("pages", __name__)

PAGES = {
    "app": ("rider", "金沢MaaS のりまっし", "Kanazawa MaaS for riders"),
    "driver": ("driver", "乗車券チェック", "Pass check for drivers"),
    "partners": ("partners", "コンソーシアム パートナー", "Consortium partners"),
}


@bp.get("/")
def index() -> Response:
    """Riders are the main audience: send them to their page."""
    return redirect(url_for("pages.rider"))


def _page(key: str) -> str:
    template, title_ja, title_en = PAGES[key]
    return render_template(f"{template}.html", title_ja=title_ja, title_en=title_en, page=key,
                           map_style=settings().map_style or "")


@bp.get("/app")
def rider() -> str:
    """The rider's phone page."""
    return _page("app")


@bp.get("/app/sw.js")
def rider_service_worker() -> Response:
    """The rider page's service worker, allowed to control ``/app`` itself (not only /app/)."""
    response = current_app.send_static_file("rider-sw.js")
    response.headers["Service-Worker-Allowed"] = "/app"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/driver")
def driver() -> str:
    """The driver's and validator's page."""
    return _page("driver")


@bp.get("/driver/sw.js")
def driver_service_worker() -> Response:
    """The driver page's service worker: keeps the page, its scripts and the QR reader's wasm
    so the page judges offline; allowed to control ``/driver`` itself."""
    return _service_worker("driver-sw.js", "/driver")


def _service_worker(filename: str, scope: str) -> Response:
    response = current_app.send_static_file(filename)
    response.headers["Service-Worker-Allowed"] = scope
    response.headers["Cache-Control"] = "no-cache"  # a new release reaches devices at once
    return response


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site icon browsers ask for on every page (a 404 there fills logs and consoles)."""
    response = current_app.send_static_file("favicon.ico")
    response.mimetype = "image/x-icon"
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.get("/partners")
def partners() -> str:
    """The partners' dashboard."""
    return _page("partners")


@bp.get("/static/vendor/<path:filename>")
def vendor(filename: str) -> Response:
    """A browser library from the vendor folder ``maas assets`` filled (``MAAS_ASSETS_DIR``,
    by default ``$MAAS_HOME/static/vendor``), at the URL the pages and service workers use.

    Its URL carries no version, so browsers revalidate (``no-cache``) like the pages' own
    scripts, and a library bump is never mixed with older page code; the ETag is the file's
    SHA-256 from the manifest, the same on every replica, so a revalidation is a 304.
    """
    folder = settings().assets_dir
    digest = assets.file_digests(folder).get(filename)
    if digest is None:  # only what the manifest lists: never the manifest or a stray file
        abort(404)
    suffix = PurePosixPath(filename).suffix
    response = send_from_directory(
        folder.resolve(), filename, etag=digest,
        mimetype=assets.MEDIA_TYPES.get(suffix, "application/octet-stream"))
    response.cache_control.public = True
    response.cache_control.no_cache = True
    return response
