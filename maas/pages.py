"""Web pages for riders (/app), drivers (/driver) and partners (/partners)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
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


@bp.get("/driver")
def driver() -> str:
    """The driver's and validator's page."""
    return _page("driver")


@bp.get("/partners")
def partners() -> str:
    """The partners' dashboard."""
    return _page("partners")
