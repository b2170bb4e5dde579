"""Browser libraries from npm, installed into a vendor folder outside the package (``maas assets``).

The pages load third-party code only from ``/static/vendor/...``, never from a CDN: the rider
page must work offline and the driver page on a closed network. ``package.json`` and
``package-lock.json`` at the repository root pin the versions; ``maas/npm/`` holds symbolic
links to them, so a wheel (``pip install .``) carries real copies as package data.

The vendor folder is ``Settings.assets_dir``: ``$MAAS_HOME/static/vendor`` unless
``MAAS_ASSETS_DIR`` names another (the image puts it outside its data volume). It is never inside
the installed package: files written into site-packages belong to no distribution, survive the
next ``pip install -e .`` and turn ``maas`` into a namespace package there.

:func:`install` runs ``npm ci`` in a temporary folder and copies exactly :data:`VENDOR_FILES`
into the vendor folder, with ``manifest.json`` naming the lock file's hash and each file's
SHA-256; a second run with the same lock changes nothing. The new folder is assembled beside the
old one and swapped in, so a server never sees a half-written vendor folder.
:func:`maas.pages.vendor` serves it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from importlib import resources
from pathlib import Path

from maas.core.errors import MaasError

NPM_FILES = ("package.json", "package-lock.json")
# (path under node_modules, path under static/vendor): what the pages load, and the licences
VENDOR_FILES: tuple[tuple[str, str], ...] = (
    # QR encoder of the rider page (global `qrcode`, and an ES module)
    ("qrcode-generator/dist/qrcode.js", "qrcode-generator/qrcode.js"),
    ("qrcode-generator/dist/qrcode.mjs", "qrcode-generator/qrcode.mjs"),
    # BarcodeDetector ponyfill of the driver page; the ES build imports ./zxing-exported.js
    ("barcode-detector/dist/es/ponyfill.js", "barcode-detector/es/ponyfill.js"),
    ("barcode-detector/dist/es/zxing-exported.js", "barcode-detector/es/zxing-exported.js"),
    ("barcode-detector/dist/iife/ponyfill.js", "barcode-detector/iife/ponyfill.js"),
    ("barcode-detector/LICENSE", "barcode-detector/LICENSE"),
    # its reader, served to prepareZXingModule's locateFile instead of the CDN it defaults to
    ("zxing-wasm/dist/reader/zxing_reader.wasm", "zxing-wasm/zxing_reader.wasm"),
    ("zxing-wasm/LICENSE", "zxing-wasm/LICENSE"),
    # charts of the partner dashboard (global `Chart`)
    ("chart.js/dist/chart.umd.js", "chart.js/chart.umd.js"),
    ("chart.js/LICENSE.md", "chart.js/LICENSE.md"),
    # the rider page's trip map (global `L`, loaded when a plan is first drawn), its stylesheet
    ("leaflet/dist/leaflet.js", "leaflet/leaflet.js"),
    ("leaflet/dist/leaflet.css", "leaflet/leaflet.css"),
    ("leaflet/LICENSE", "leaflet/LICENSE"),
)
MANIFEST = "manifest.json"
# what the vendor files are served as, whatever /etc/mime.types says (browsers refuse a module
# script or streaming wasm compilation under the wrong type)
MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".css": "text/css",
    ".md": "text/plain",
    "": "text/plain",  # LICENSE
}


class AssetsError(MaasError):
    """The browser libraries cannot be installed (no npm, no registry, a broken package)."""

    title = "Assets not installed"


@dataclasses.dataclass(frozen=True)
class AssetsResult:
    """What :func:`install` did."""

    vendor_dir: Path
    digest: str
    installed: bool  # False when the manifest already matched
    files: dict[str, str]  # vendor path -> sha256
    versions: dict[str, str]  # npm package -> version


def check_location(vendor_dir: Path) -> None:
    """Refuse a vendor folder inside the ``maas`` package or an interpreter's site-packages."""
    target = vendor_dir.resolve()
    package = Path(__file__).resolve().parent
    libraries = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    for folder in (package, *libraries):
        if target == folder or folder in target.parents:
            raise AssetsError(f"{vendor_dir}: inside {folder}; browser libraries go under "
                              "MAAS_HOME or MAAS_ASSETS_DIR, never into the installed package")


def npm_sources() -> dict[str, bytes]:
    """``package.json`` and ``package-lock.json`` as shipped with the package."""
    folder = resources.files("maas") / "npm"
    try:
        return {name: (folder / name).read_bytes() for name in NPM_FILES}
    except FileNotFoundError as exc:
        raise AssetsError(f"{exc.filename}: missing; package.json and package-lock.json "
                          "belong at the repository root (maas/npm/ links to them)") from None


def lock_digest(sources: dict[str, bytes]) -> str:
    """A hash of the lock file and the list of files copied: the manifest's key."""
    digest = hashlib.sha256()
    for name in NPM_FILES:
        digest.update(hashlib.sha256(sources[name]).digest())
    digest.update(json.dumps(VENDOR_FILES).encode())
    return digest.hexdigest()


def read_manifest(vendor_dir: Path) -> dict[str, object] | None:
    """The manifest of an installed vendor folder, or None."""
    try:
        document: object = json.loads((vendor_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def file_digests(vendor_dir: Path) -> dict[str, str]:
    """The manifest's ``{vendor path: sha256}``, read again only when the manifest changes."""
    try:
        stamp = (vendor_dir / MANIFEST).stat().st_mtime_ns
    except OSError:
        return {}
    return _file_digests(str(vendor_dir), stamp)


@functools.lru_cache(maxsize=8)
def _file_digests(vendor_dir: str, _stamp: int) -> dict[str, str]:
    return _strings((read_manifest(Path(vendor_dir)) or {}).get("files"))


def is_current(vendor_dir: Path, digest: str) -> bool:
    """The folder holds every file for this lock (so there is nothing to do)."""
    manifest = read_manifest(vendor_dir)
    return (manifest is not None and manifest.get("lock_sha256") == digest
            and all((vendor_dir / target).is_file() for _, target in VENDOR_FILES))


def find_npm() -> str:
    """The npm executable (MAAS_NPM or npm on PATH)."""
    npm = os.environ.get("MAAS_NPM") or shutil.which("npm")
    if not npm:
        raise AssetsError("npm is not installed: install Node.js 20 or newer with npm, "
                          "then run `maas assets`")
    return npm


def install(vendor_dir: Path, *, force: bool = False) -> AssetsResult:
    """Install the pinned libraries into ``vendor_dir`` unless its manifest already matches."""
    check_location(vendor_dir)
    vendor_dir = vendor_dir.resolve()
    sources = npm_sources()
    digest = lock_digest(sources)
    if not force and is_current(vendor_dir, digest):
        manifest = read_manifest(vendor_dir) or {}
        return AssetsResult(vendor_dir, digest, False, _strings(manifest.get("files")),
                            _strings(manifest.get("versions")))
    npm = find_npm()
    vendor_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="maas-npm-") as work:
        workdir = Path(work)
        for name, content in sources.items():
            (workdir / name).write_bytes(content)
        _npm_ci(npm, workdir)
        modules = workdir / "node_modules"
        staging = Path(tempfile.mkdtemp(prefix=".vendor-", dir=vendor_dir.parent))
        try:
            files = _copy(modules, staging)
            versions = {name: _version(modules / name)
                        for name in sorted({source.split("/")[0] for source, _ in VENDOR_FILES})}
            manifest = {"lock_sha256": digest, "versions": versions, "files": files}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n",
                                            encoding="utf-8")
            _swap(staging, vendor_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return AssetsResult(vendor_dir, digest, True, files, versions)


def _npm_ci(npm: str, workdir: Path) -> None:
    # --ignore-scripts: nothing from the registry runs here, files are only copied
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev",
               "--loglevel=error"]
    try:
        done = subprocess.run(command,  # noqa: S603 - npm with fixed arguments
                               cwd=workdir, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise AssetsError(f"cannot run {npm}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout or "").splitlines()
                 if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise AssetsError(f"npm ci failed: {reason}")


def _copy(modules: Path, staging: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for source, target in VENDOR_FILES:
        origin = modules / source
        if not origin.is_file():
            raise AssetsError(f"{source}: not in the installed npm package (its layout "
                              "changed: update VENDOR_FILES in maas/assets.py)")
        destination = staging / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, destination)
        files[target] = hashlib.sha256(destination.read_bytes()).hexdigest()
    return files


def _version(package_dir: Path) -> str:
    document = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    return str(document["version"])


def _swap(staging: Path, target_dir: Path) -> None:
    """Put the staged folder in place of the old one (two renames, no half state)."""
    staging.chmod(0o755)
    old = target_dir.with_name(f".{target_dir.name}-old-{os.getpid()}")
    if target_dir.exists():
        target_dir.rename(old)
    staging.rename(target_dir)
    shutil.rmtree(old, ignore_errors=True)


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
