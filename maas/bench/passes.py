"""``maas bench passes``: credentials signed per second and QR render times.

Signing runs for a fixed time on claims with the longest product code a credential allows;
the renders (SVG and PNG, interleaved) are of the largest rotating code, such a credential
presented by its bound phone. p50 is :func:`maas.bench.timing.percentiles`.
"""

from __future__ import annotations

import datetime as dt
import functools
import time

import click
from cryptography.hazmat.primitives.asymmetric import ec

from maas.bench.timing import percentiles, repeat
from maas.core.cli import emit, json_option
from passes import credential, qr


@click.command("passes")
@click.option("--seconds", type=click.FloatRange(0.2, 60), default=2.0, show_default=True,
              help="How long to sign for.")
@click.option("--renders", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
def bench_passes(seconds: float, renders: int, as_json: bool) -> None:
    """Credentials signed per second and QR render times (rotating code, worst case)."""
    issuer, phone = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    day = dt.date(2026, 12, 1)
    claims = credential.PassClaims(credential.new_pass_id(), "x" * credential.MAX_PRODUCT_CODE,
                                   "adult", day, phone.public_key())
    started, signed = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        credential.issue(claims, issuer, "abcdefgh")
        signed += 1
    per_second = signed / (time.perf_counter() - started)
    shown = credential.present(credential.issue(claims, issuer, "abcdefgh"), phone,
                               dt.datetime.now(dt.UTC))
    svg = functools.partial(qr.svg, shown, qr.ROTATING_MAX_VERSION)
    png = functools.partial(qr.png, shown, qr.ROTATING_MAX_VERSION)
    timings: dict[str, list[float]] = {"svg": [], "png": []}
    for _ in range(renders):  # interleaved, as before: one svg, then one png
        timings["svg"] += repeat(svg, 1)
        timings["png"] += repeat(png, 1)
    (svg_p50,) = percentiles(timings["svg"], 50, digits=2)
    (png_p50,) = percentiles(timings["png"], 50, digits=2)
    document = {
        "signed_per_second": round(per_second),
        "qr_version": qr.version(shown),
        "payload_bytes": len(shown),
        "svg_p50_ms": svg_p50,
        "png_p50_ms": png_p50,
    }
    emit(as_json, document, "\n".join(f"{k:>18}  {v}" for k, v in document.items()))
