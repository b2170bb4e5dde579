"""金沢MaaS backend: the application shell (``create_app``), configuration and database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application (see :func:`maas.app.create_app`); ``maas:create_app``."""
    from maas.app import create_app as factory

    return factory(config)
