"""gunicorn reads this file from the working directory; the settings live in the package."""

from maas.gunicorn_conf import *  # noqa: F403
