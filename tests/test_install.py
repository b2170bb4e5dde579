"""The README's two commands, in one clone, one after the other: both keep working.

Command 1 installs a wheel and runs the demo; command 2 (scripts/test) reinstalls the same
checkout in editable mode into the same environment and installs the browser libraries; then
command 1's demo runs again. Anything written into the installed ``maas`` package would outlive
the wheel's uninstall and turn ``maas`` into a namespace package (issue 11): this test proves it
does not happen. It installs for real into a fresh virtual environment (pip's cache and the
machine's wheel folder make it quick) and runs the real npm, so it needs the registries; it is
never skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.install


def copy_checkout(target: Path) -> None:
    """The repository's files as a clone would hold them (tracked, plus new unignored ones),
    taken from the working tree, so the test checks what is on disk, committed or not."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True).stdout.decode()
    for name in sorted(set(filter(None, listed.split("\0")))):
        source = REPO / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination, follow_symlinks=False)


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment without its virtual environment and MAAS_* settings."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MAAS_") and key not in dropped}
    env.update({"MAAS_HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    return env


def run(argv: list[str], cwd: Path, env: dict[str, str], timings: dict[str, float],
        label: str) -> str:
    started = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    timings[label] = round(time.monotonic() - started, 1)
    assert done.returncode == 0, f"{label}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def vendor_folders(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("vendor") if path.parent.name == "static")


def test_readme_command_1_then_2_then_1_again(tmp_path: Path) -> None:
    clone, venv, home = tmp_path / "clone", tmp_path / "venv", tmp_path / "home"
    copy_checkout(clone)
    env = clean_env(home)
    timings: dict[str, float] = {}
    run([sys.executable, "-m", "venv", str(venv)], clone, env, timings, "venv")
    python, maas = venv / "bin" / "python", venv / "bin" / "maas"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(run([str(python), "-c", purelib], clone, env, timings, "site").strip())

    # 1. pip install . && maas demo
    run([str(python), "-m", "pip", "install", "--quiet", "."], clone, env, timings, "pip install .")
    assert (site / "maas" / "npm" / "package-lock.json").is_file()  # a real copy, not a link
    assert not (site / "maas" / "npm" / "package-lock.json").is_symlink()
    run([str(maas), "demo", "--no-serve"], clone, env, timings, "demo (wheel)")
    assert vendor_folders(site / "maas") == []
    assert (home / "static" / "vendor" / "manifest.json").is_file()

    # 2. what scripts/test installs: the same checkout, editable, then the browser libraries
    run([str(python), "-m", "pip", "install", "--quiet", "-e", ".[dev]"], clone, env, timings,
        "pip install -e .[dev]")
    assert "up to date" in run([str(maas), "assets"], clone, env, timings, "assets")
    # -P and another folder: the clone's own maas/ must not be found as the working directory
    located = run([str(python), "-P", "-c", "import maas; print(maas.__file__)"], tmp_path, env,
                  timings, "import")
    assert located.strip() == str(clone / "maas" / "__init__.py")  # a package, not a namespace

    # 1 again
    assert "rider login" in run([str(maas), "demo", "--no-serve"], clone, env, timings,
                                "demo (editable)")
    assert not (site / "maas").exists() or vendor_folders(site / "maas") == []
    assert vendor_folders(clone / "maas") == []
    print("timings (s):", timings)  # shown with pytest -s or -rP
    shutil.rmtree(venv)  # about 1 GB; pytest keeps the last runs' temporary folders
