"""Browser libraries (`maas assets`): installed under MAAS_HOME, never into the package, and
served at /static/vendor/ with the right types and caching headers.

npm is replaced by a small script that lays out node_modules as the registry's packages do, so
these tests need neither Node.js nor the registry (tests/test_install.py runs the real one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import stat
import sys
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from maas import assets
from maas.app import create_app
from maas.cli import cli
from maas.core.config import load_settings
from tests.conftest import Runner


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `npm` that writes every file of VENDOR_FILES under ./node_modules and counts its runs."""
    script = tmp_path / "npm"
    calls = tmp_path / "npm-calls"
    sources = [source for source, _ in assets.VENDOR_FILES]
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, pathlib, sys\n"
        f"calls = pathlib.Path({str(calls)!r})\n"
        "calls.write_text(calls.read_text() + ' '.join(sys.argv[1:]) + '\\n' "
        "if calls.exists() else ' '.join(sys.argv[1:]) + '\\n')\n"
        f"for source in {sources!r}:\n"
        "    path = pathlib.Path('node_modules', source)\n"
        "    path.parent.mkdir(parents=True, exist_ok=True)\n"
        "    path.write_text('/* ' + source + ' */\\n')\n"
        "    package = pathlib.Path('node_modules', source.split('/')[0], 'package.json')\n"
        "    package.write_text(json.dumps({'version': '1.0.0'}))\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("MAAS_NPM", str(script))
    return calls


def npm_runs(calls: Path) -> int:
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_the_default_folder_is_under_maas_home(tmp_path: Path) -> None:
    settings = load_settings(environ={"MAAS_HOME": str(tmp_path)})
    assert settings.assets_dir == tmp_path / "static" / "vendor"
    elsewhere = load_settings(environ={"MAAS_HOME": str(tmp_path),
                                       "MAAS_ASSETS_DIR": str(tmp_path / "shared")})
    assert elsewhere.assets_dir == tmp_path / "shared"


def test_install_copies_the_files_once_per_lock(fake_npm: Path, tmp_path: Path) -> None:
    vendor = tmp_path / "home" / "static" / "vendor"
    first = assets.install(vendor)
    assert first.installed
    assert first.vendor_dir == vendor
    manifest = json.loads((vendor / assets.MANIFEST).read_text())
    assert set(manifest["files"]) == {target for _, target in assets.VENDOR_FILES}
    for target, digest in manifest["files"].items():
        assert hashlib.sha256((vendor / target).read_bytes()).hexdigest() == digest
    again = assets.install(vendor)
    assert not again.installed
    assert again.files == first.files
    assert npm_runs(fake_npm) == 1
    assert assets.install(vendor, force=True).installed
    assert npm_runs(fake_npm) == 2
    assert sorted(path.name for path in vendor.parent.iterdir()) == ["vendor"]  # no staging left


@pytest.mark.parametrize("where", ["package", "site-packages"])
def test_install_refuses_the_installed_package(where: str, fake_npm: Path) -> None:
    folder = (Path(assets.__file__).parent if where == "package"
              else Path(sysconfig.get_paths()["purelib"]) / "maas")
    with pytest.raises(assets.AssetsError, match="never into the installed package"):
        assets.install(folder / "static" / "vendor")
    assert npm_runs(fake_npm) == 0


def test_maas_assets_installs_under_maas_home(
    fake_npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MAAS_ASSETS_DIR")
    result = CliRunner().invoke(cli, ["assets", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["vendor_dir"] == str(tmp_path / "home" / "static" / "vendor")
    image = CliRunner().invoke(cli, ["assets", "--vendor-dir", str(tmp_path / "image")])
    assert image.exit_code == 0, image.output
    assert image.stdout.startswith(f"installed: {tmp_path / 'image'} (")
    assert (tmp_path / "image" / assets.MANIFEST).is_file()


def test_maas_assets_without_npm_stops_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAAS_NPM", "")
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on it
    result = CliRunner().invoke(cli, ["assets", "--vendor-dir", str(tmp_path / "vendor")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: npm is not installed: install Node.js 20 or newer with npm, then run `maas assets`"]


def test_demo_without_npm_warns_and_still_sets_up(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = runner.app.extensions["maas"]
    runner.app.extensions["maas"] = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, assets_dir=tmp_path / "vendor"))
    monkeypatch.setenv("MAAS_NPM", str(tmp_path / "no-such-npm"))
    result = runner.invoke("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert ("warning: cannot run " + str(tmp_path / "no-such-npm")) in result.stderr
    assert "pages that need /static/vendor/ will not work" in result.stderr
    assert "rider login" in result.stdout
    assert not (tmp_path / "vendor").exists()


def test_demo_installs_into_the_settings_folder(
    runner: Runner, fake_npm: Path, tmp_path: Path
) -> None:
    state = runner.app.extensions["maas"]
    runner.app.extensions["maas"] = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, assets_dir=tmp_path / "vendor"))
    result = runner.invoke("demo", "--no-serve")
    assert result.exit_code == 0, result.output
    assert f"browser libraries installed into {tmp_path / 'vendor'}" in result.stderr
    assert (tmp_path / "vendor" / assets.MANIFEST).is_file()
    assert not (Path(assets.__file__).parent / "static" / "vendor").exists()


def test_the_demo_server_gets_the_folder_as_an_absolute_path(
    runner: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = runner.app.extensions["maas"]
    monkeypatch.chdir(tmp_path)
    runner.app.extensions["maas"] = dataclasses.replace(
        state, settings=dataclasses.replace(state.settings, assets_dir=Path("rel/vendor")))
    monkeypatch.setenv("MAAS_NPM", str(tmp_path / "no-such-npm"))
    with pytest.raises(RuntimeError, match="exec a server"):
        runner.invoke("demo", "--port", "1", catch_exceptions=False)
    _, env = runner.exec_calls[0]
    assert env["MAAS_ASSETS_DIR"] == str(tmp_path / "rel" / "vendor")


@pytest.fixture
def vendor_app(fake_npm: Path, tmp_path: Path) -> Flask:
    vendor = tmp_path / "vendor"
    assets.install(vendor)
    (vendor / "stray.js").write_text("not in the manifest")
    return create_app({"env": "test", "home": tmp_path / "home", "assets_dir": vendor,
                       "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}"})


@pytest.mark.parametrize(("path", "media_type"), [
    ("zxing-wasm/zxing_reader.wasm", "application/wasm"),
    ("qrcode-generator/qrcode.mjs", "text/javascript; charset=utf-8"),
    ("qrcode-generator/qrcode.js", "text/javascript; charset=utf-8"),
    ("chart.js/chart.umd.js", "text/javascript; charset=utf-8"),
    ("zxing-wasm/LICENSE", "text/plain; charset=utf-8"),
])
def test_vendor_files_are_served_with_their_type(
    vendor_app: Flask, path: str, media_type: str
) -> None:
    client = vendor_app.test_client()
    with client.get(f"/static/vendor/{path}") as response:
        assert response.status_code == 200
        source = {target: source for source, target in assets.VENDOR_FILES}[path]
        assert response.get_data(as_text=True) == f"/* {source} */\n"
    assert response.content_type == media_type
    digests = assets.file_digests(vendor_app.extensions["maas"].settings.assets_dir)
    assert response.headers["ETag"] == f'"{digests[path]}"'
    assert response.cache_control.no_cache
    assert response.cache_control.public
    with client.get(f"/static/vendor/{path}",
                    headers={"If-None-Match": response.headers["ETag"]}) as again:
        assert again.status_code == 304


@pytest.mark.parametrize("path", [
    "manifest.json", "stray.js", "missing.js", "../db.sqlite3", "%2e%2e/db.sqlite3",
])
def test_only_manifest_files_are_served(vendor_app: Flask, path: str) -> None:
    assert vendor_app.test_client().get(f"/static/vendor/{path}").status_code == 404


def test_no_vendor_folder_is_a_404_not_an_error(tmp_path: Path) -> None:
    app = create_app({"env": "test", "home": tmp_path, "assets_dir": tmp_path / "none",
                      "database_url": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert app.test_client().get("/static/vendor/chart.js/chart.umd.js").status_code == 404


def test_pages_own_files_are_still_flask_static(vendor_app: Flask) -> None:
    with vendor_app.test_client().get("/static/maas.js") as response:
        assert response.status_code == 200
    assert response.content_type == "text/javascript; charset=utf-8"
