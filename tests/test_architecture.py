"""The layer contracts of docs/architecture.md hold, and would catch a foundation that reaches
into a domain (the import that once made `import passes.views` load numba)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("maas", "gtfs", "passes", "validators")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the packages found first on the path from ``cwd``."""
    executable = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(executable), "--no-cache"], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"PYTHONPATH": str(cwd),
                                                       "PATH": "/usr/bin:/bin"})


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_a_foundation_module_importing_a_domain_breaks_the_contracts(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("static", "__pycache__"))
    shutil.copy(ROOT / "setup.cfg", tmp_path / "setup.cfg")
    http = tmp_path / "maas" / "core" / "http.py"
    http.write_text(http.read_text() + "\nfrom gtfs.network import NetworkStore  # noqa\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "maas.core.http -> gtfs.network" in result.stdout


def test_the_device_program_loads_no_server_libraries() -> None:
    probe = ("import sys, validators.device_cli, validators.verify, passes.credential\n"
             "print(sorted(m for m in ('flask', 'sqlalchemy', 'numba', 'pandas', 'argon2')"
             " if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.strip() == "[]"
