"""Transit data: GTFS/GTFS-JP and GBFS feeds, on-demand services, the timetable and the planner."""

import os
from pathlib import Path

# numba caches compiled kernels (``cache=True``) beside their source unless NUMBA_CACHE_DIR
# says otherwise: for an installed copy that is inside site-packages, where the cache files
# outlive an uninstall and leave ``gtfs/`` folders behind that Python then imports as namespace
# packages in place of an editable install's (a fresh clone's `pip install .`, `maas demo`,
# then `scripts/test` failed on exactly that). Numba reads the variable when it is imported,
# which is after this package's ``__init__``.
os.environ.setdefault("NUMBA_CACHE_DIR", str(
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kanazawa-maas" / "numba"))
