"""Web pages for riders (/app), drivers (/driver) and partners (/partners)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, url_for
from werkzeug.wrappers.response import Response

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
    return render_template(f"{template}.html", title_ja=title_ja, title_en=title_en, page=key)


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


@bp.get("/partners")
def partners() -> str:
    """The partners' dashboard."""
    return _page("partners")
