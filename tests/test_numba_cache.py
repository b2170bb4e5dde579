"""numba's compiled-kernel cache never goes beside the installed source (see gtfs/__init__.py):
files left in site-packages after an uninstall turned ``gtfs`` into a namespace package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gtfs


def cache_dir(env: dict[str, str]) -> Path:
    """Where numba caches kernels in a new process that loaded the planner's kernels."""
    done = subprocess.run(
        [sys.executable, "-c", "import gtfs.raptor, numba; print(numba.config.CACHE_DIR)"],
        env=env, capture_output=True, text=True, timeout=120, check=True)
    return Path(done.stdout.strip())


def test_the_kernel_cache_is_kept_outside_the_package(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    cache = cache_dir(env)
    assert cache == tmp_path / "kanazawa-maas" / "numba"
    assert Path(gtfs.__file__).parent not in (cache, *cache.parents)


def test_a_cache_folder_given_is_kept(tmp_path: Path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "given")}
    assert cache_dir(env) == tmp_path / "given"
