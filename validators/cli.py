"""``maas-validator``: the device-side validator (enrolment, sync, checks).

The state of one device lives under ``--home``. The commands that judge passes arrive with
the validator service; this entry point fixes the interface they hang from.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
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
    ctx.obj = home


def main() -> None:
    """Console-script entry point of ``maas-validator``."""
    cli.main(prog_name="maas-validator")
