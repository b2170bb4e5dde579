"""``maas-validator``: the device-side validator program (enrolment, sync, checks).

A light program: it imports the pure verifier, the credential code and the foundation's
light modules, never flask, SQLAlchemy or numba (an import-linter contract holds it to that),
so a check starts in a fraction of a second.

The state of one device lives under ``--home`` (see :mod:`validators.device`). ``check`` exits
0 on accept, 1 on reject, 2 when it cannot judge (no bundle, or one older than its max age).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from maas.core.cli import MaasGroup, emit, json_option
from maas.core.errors import InvalidInput
from validators.device import Device, decode_image, parse_at

EXIT_CODES = {"accept": 0, "reject": 1, "cannot_judge": 2}


@click.group(cls=MaasGroup)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MAAS_VALIDATOR_HOME",
    default=Path("validator"),
    show_default=True,
    help="Folder holding this device's enrolment, trust bundle and scan journal.",
)
@click.version_option(package_name="kanazawa-maas", prog_name="maas-validator")
@click.pass_context
def cli(ctx: click.Context, home: Path) -> None:
    """金沢MaaS validator device: judge presented pass codes offline."""
    ctx.obj = Device(home)


pass_device = click.make_pass_decorator(Device)


@cli.command()
@click.option("--server", required=True, help="Base URL of the kanazawa-maas server.")
@click.option("--code", required=True, help="One-time enrolment code (maas devices add).")
@json_option
@pass_device
def enroll(device: Device, server: str, code: str, as_json: bool) -> None:
    """Enrol this device: pin the bundle keys and fetch the first trust bundle."""
    enrolment = device.enrol(server, code)
    emit(as_json, {"device_id": enrolment.device_id, "operator": enrolment.operator},
         f"enrolled as {enrolment.device_id} for {enrolment.operator}")


@cli.command()
@json_option
@pass_device
def sync(device: Device, as_json: bool) -> None:
    """Pull the trust bundle if it changed and upload the journal."""
    report = device.sync()
    emit(as_json, {"bundle_version": report.bundle_version, "uploaded": report.uploaded,
                   "duplicates": report.duplicates, "pending": report.pending},
         f"bundle {report.bundle_version}: uploaded {report.uploaded}, "
         f"duplicates {report.duplicates}, pending {report.pending}")


@cli.command()
@click.argument("payload", required=False)
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path),
              help="Read the code from a picture of it.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the code from standard input.")
@click.option("--at", help="Judge as at this time (ISO 8601 with offset).")
@json_option
@pass_device
def check(device: Device, payload: str | None, image: Path | None, from_stdin: bool,
          at: str | None, as_json: bool) -> None:
    """Judge one code: exit 0 accept, 1 reject, 2 cannot judge."""
    if sum((payload is not None, image is not None, from_stdin)) != 1:
        raise InvalidInput("give exactly one of PAYLOAD, --image FILE or --stdin")
    if image is not None:
        payload = decode_image(image)
    elif from_stdin:
        # a scanner or `echo` ends the line: that one newline is transport, not code (the
        # verifier itself takes no whitespace anywhere)
        payload = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    assert payload is not None  # noqa: S101 -- one of the three sources was given
    checked = device.check(payload, parse_at(at))
    result = checked.result
    emit(as_json, checked.as_json(),
         f"{result.result.upper()} {result.code}: {result.message_ja} / {result.message_en}")
    sys.exit(EXIT_CODES[result.result])


@cli.command()
@click.option("--camera", default="0", show_default=True,
              help="Camera index, or a video file or stream URL (OpenCV).")
@json_option
@pass_device
def run(device: Device, camera: str, as_json: bool) -> None:
    """Scan continuously from a camera (needs opencv-python and zxing-cpp)."""
    from validators.camera import scan_forever

    for checked in scan_forever(device, camera):
        result = checked.result
        emit(as_json, checked.as_json(),
             f"{result.result.upper()} {result.code}: {result.message_ja} / "
             f"{result.message_en}")


def main() -> None:
    """Console-script entry point of ``maas-validator``."""
    cli.main(prog_name="maas-validator")
