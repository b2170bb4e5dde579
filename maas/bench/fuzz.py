"""``maas bench fuzz-codes``: a mutation fuzzer over genuine pass codes.

Genuine codes — rotating presentations of bound passes and printed codes, signed by a fresh
issuing key and fresh phone keys — are mutated into at least ``count`` distinct other codes:
bit flips, character substitutions, insertions and deletions, truncations, splices between
codes, swapped segments, re-encodings (padding, the standard alphabet, unused bits,
whitespace), high s in either signature (also re-shown by the rider's own phone), times
moved under a kept signature, and several edits at once. Each goes through
:func:`validators.verify.verify` with an empty history; none may be accepted, while every
genuine original must be. A code with one accepted byte form leaves a fuzzer nothing.

Self-contained (the verifier, the credential format and click): easy to move to wherever the
benchmarks gather.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
import time
from collections.abc import Callable
from typing import Any

import click
from cryptography.hazmat.primitives.asymmetric import ec

from maas.core.cli import emit, json_option
from passes import bundle as trust
from passes.credential import (
    CURVE_ORDER,
    PassClaims,
    b64url,
    issue,
    new_pass_id,
    present,
    unb64url,
)
from passes.jwk import public_jwk
from validators.verify import Context, TrustBundle, verify

NOW = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)  # noon in Kanazawa
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F)) + "\t\n\r"
WHITESPACE = (" ", "\t", "\n", "\r\n", "\r", "\x0b", "\x0c")


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Genuine codes, the bundle that accepts them, and the phones that made them."""

    bundle: TrustBundle
    codes: tuple[str, ...]
    phones: dict[str, ec.EllipticCurvePrivateKey]  # credential → its phone (rotating codes)


def corpus(passes: int = 8, printed: int = 4) -> Corpus:
    """Fresh keys; ``passes`` bound passes shown at three moments each, ``printed`` codes."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    document = trust.build(
        [{**public_jwk(issuer.public_key(), "fuzz0001"), "state": "current",
          "not_after": None}], [],
        [{"code": "kanazawa-1day", "operators": ["hokutetsu"], "static_allowed": False},
         {"code": "kanazawa-print", "operators": ["hokutetsu"], "static_allowed": True}],
        NOW.date(), "fuzz", NOW)
    codes: list[str] = []
    phones: dict[str, ec.EllipticCurvePrivateKey] = {}
    for _ in range(passes):
        phone = ec.generate_private_key(ec.SECP256R1())
        token = issue(PassClaims(new_pass_id(), "kanazawa-1day", "adult", NOW.date(),
                                 phone.public_key()), issuer, "fuzz0001")
        phones[token] = phone
        codes += [present(token, phone, NOW + dt.timedelta(seconds=s)) for s in (-30, -5, 20)]
    codes += [issue(PassClaims(new_pass_id(), "kanazawa-print", "child", NOW.date()), issuer,
                    "fuzz0001") for _ in range(printed)]
    return Corpus(TrustBundle.from_document(document), tuple(codes), phones)


# ---------------------------------------------------------------- mutations

Mutation = Callable[[random.Random, str, Corpus], str]


def _bit_flip(rng: random.Random, code: str, _: Corpus) -> str:
    i = rng.randrange(len(code))
    return code[:i] + chr(ord(code[i]) ^ (1 << rng.randrange(7))) + code[i + 1:]


def _substitute(rng: random.Random, code: str, _: Corpus) -> str:
    i = rng.randrange(len(code))
    return code[:i] + rng.choice(PRINTABLE) + code[i + 1:]


def _insert(rng: random.Random, code: str, _: Corpus) -> str:
    i = rng.randrange(len(code) + 1)
    return code[:i] + rng.choice(PRINTABLE) + code[i:]


def _delete(rng: random.Random, code: str, _: Corpus) -> str:
    i = rng.randrange(len(code))
    return code[:i] + code[i + 1:]


def _truncate(rng: random.Random, code: str, _: Corpus) -> str:
    i = rng.randrange(1, len(code))
    return code[:i] if rng.random() < 0.5 else code[i:]


def _splice(rng: random.Random, code: str, corpus: Corpus) -> str:
    other = rng.choice(corpus.codes)
    return code[:rng.randrange(len(code) + 1)] + other[rng.randrange(len(other) + 1):]


def _parts(code: str) -> list[str]:
    """credential segments and presentation fields: [head, body, sig(, time, phone sig)]."""
    fields = code.split("~")
    return fields[0].split(".") + fields[1:]


def _join(parts: list[str]) -> str:
    return ".".join(parts[:3]) + "".join(f"~{p}" for p in parts[3:])


def _swap_segment(rng: random.Random, code: str, corpus: Corpus) -> str:
    mine, theirs = _parts(code), _parts(rng.choice(corpus.codes))
    if len(mine) != 5 or len(theirs) != 5 or rng.random() < 0.2:
        # a credential with another code's presentation, or a presentation's credential alone
        return f"{theirs[0]}.{theirs[1]}.{theirs[2]}" + (
            "" if len(mine) == 3 else f"~{mine[3]}~{mine[4]}")
    i = rng.randrange(5)
    mine[i] = theirs[i]
    return _join(mine)


def _reorder_segments(rng: random.Random, code: str, _: Corpus) -> str:
    parts = _parts(code)
    i, j = rng.sample(range(len(parts)), 2)
    parts[i], parts[j] = parts[j], parts[i]
    return _join(parts)


def _re_encode(rng: random.Random, code: str, _: Corpus) -> str:
    """The same bytes written another way: padding, + and /, unused bits, whitespace."""
    parts = _parts(code)
    i = rng.randrange(len(parts))
    part = parts[i]
    how = rng.randrange(5)
    if how == 0:
        part += "=" * rng.choice((-len(part) % 4 or 4, 1, 2, 3))
    elif how == 1 and any(c in part for c in "-_"):
        part = part.replace("-", "+").replace("_", "/")
    elif how == 2 and len(part) % 4 in (2, 3) and part[-1] in ALPHABET:
        spare = 4 if len(part) % 4 == 2 else 2  # bits of the last character that carry nothing
        part = part[:-1] + ALPHABET[ALPHABET.index(part[-1]) | rng.randrange(1, 1 << spare)]
    elif how == 3:
        at = rng.randrange(len(part) + 1)
        part = part[:at] + rng.choice(WHITESPACE) + part[at:]
    else:
        space = rng.choice(WHITESPACE)
        return rng.choice((space + code, code + space, space + code + space))
    parts[i] = part
    return _join(parts)


def _high_s(signature: str) -> str:
    raw = unb64url(signature)
    s = int.from_bytes(raw[32:], "big")
    return b64url(raw[:32] + (CURVE_ORDER - s).to_bytes(32, "big"))


def _high_signature(rng: random.Random, code: str, corpus: Corpus) -> str:
    """n - s in the phone's signature, the issuer's, or the issuer's re-shown by the rider's
    own phone (the one key a rider holds)."""
    parts = _parts(code)
    if len(parts) == 5 and rng.random() < 0.5:
        parts[4] = _high_s(parts[4])
        return _join(parts)
    parts[2] = _high_s(parts[2])
    credential = ".".join(parts[:3])
    phone = corpus.phones.get(".".join(_parts(code)[:3]))
    if phone is not None and rng.random() < 0.5:
        return present(credential, phone, NOW + dt.timedelta(seconds=rng.randrange(-40, 40)))
    return _join(parts)


def _move_time(rng: random.Random, code: str, _: Corpus) -> str:
    parts = _parts(code)
    if len(parts) != 5:
        return code + "~" + b64url(int(NOW.timestamp()).to_bytes(4, "big")) + "~" + parts[2]
    seconds = int.from_bytes(unb64url(parts[3]), "big") + rng.choice((-1, 1)) * rng.randrange(
        1, 120)
    parts[3] = b64url(seconds.to_bytes(4, "big"))
    return _join(parts)


def _separators(rng: random.Random, code: str, _: Corpus) -> str:
    marks = [i for i, c in enumerate(code) if c in "~."]
    i = rng.choice(marks)
    return code[:i] + rng.choice(("", "~~", "..", "~" if code[i] == "." else ".", "~.")) + (
        code[i + 1:])


SINGLE: dict[str, Mutation] = {
    "bit_flip": _bit_flip, "substitute": _substitute, "insert": _insert, "delete": _delete,
    "truncate": _truncate, "splice": _splice, "swap_segment": _swap_segment,
    "reorder_segments": _reorder_segments, "re_encode": _re_encode,
    "high_s": _high_signature, "move_time": _move_time, "separators": _separators,
}


def _several(rng: random.Random, code: str, corpus: Corpus) -> str:
    for _ in range(rng.randint(2, 4)):
        code = SINGLE[rng.choice(("bit_flip", "substitute", "insert", "delete", "re_encode"))](
            rng, code, corpus)
    return code


MUTATIONS: dict[str, Mutation] = {**SINGLE, "several": _several}


def mutants(corpus: Corpus, count: int, seed: int) -> dict[str, str]:
    """At least ``count`` distinct codes derived from the genuine ones (code → mutation)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible mutations, not secrets
    genuine = set(corpus.codes)
    found: dict[str, str] = {}
    kinds = sorted(MUTATIONS)
    attempts = 0
    while len(found) < count:
        attempts += 1
        if attempts > 50 * count + 1000:
            raise click.ClickException(f"only {len(found)} distinct mutants after {attempts}")
        kind = kinds[attempts % len(kinds)]
        try:
            code = MUTATIONS[kind](rng, rng.choice(corpus.codes), corpus)
        except (ValueError, IndexError):  # an edit that does not apply to this code
            continue
        if code and code not in genuine and code not in found:
            found[code] = kind
    return found


def fuzz(count: int, seed: int = 20261201) -> dict[str, Any]:
    """Run the mutants through the verifier; the report says how many were accepted."""
    started = time.perf_counter()
    codes = corpus()
    genuine_accepted = sum(
        verify(code, codes.bundle, NOW, Context("hokutetsu")).accepted for code in codes.codes)
    derived = mutants(codes, count, seed)
    generated = time.perf_counter()
    verdicts: collections.Counter[str] = collections.Counter()
    accepted: list[dict[str, str]] = []
    for code, kind in derived.items():
        result = verify(code, codes.bundle, NOW, Context("hokutetsu"))
        verdicts[result.code] += 1
        if result.accepted:
            accepted.append({"mutation": kind, "code": code})
    done = time.perf_counter()
    return {
        "codes": len(derived),
        "accepted": len(accepted),
        "genuine": len(codes.codes),
        "genuine_accepted": genuine_accepted,
        "verify_seconds": round(done - generated, 2),
        "total_seconds": round(done - started, 2),
        "verify_us_per_code": round((done - generated) / max(1, len(derived)) * 1e6, 1),
        "by_mutation": dict(sorted(collections.Counter(derived.values()).items())),
        "by_code": dict(verdicts.most_common()),
        "accepted_codes": accepted[:20],
        "seed": seed,
    }


@click.command("fuzz-codes")
@click.option("--count", default=100_000, show_default=True,
              help="Distinct mutated codes to derive from the genuine ones.")
@click.option("--seed", default=20261201, show_default=True, help="Seed of the mutations.")
@json_option
def bench_fuzz_codes(count: int, seed: int, as_json: bool) -> None:
    """Mutation fuzzer: no code derived from a genuine one may be accepted."""
    report = fuzz(count, seed)
    text = (f"{report['codes']:,} mutated codes: {report['accepted']} accepted "
            f"(genuine originals accepted: {report['genuine_accepted']}/{report['genuine']}) "
            f"in {report['verify_seconds']} s of verification "
            f"({report['verify_us_per_code']} µs/code), {report['total_seconds']} s in all\n"
            + "  verdicts: " + ", ".join(f"{k} {v}" for k, v in report["by_code"].items()))
    emit(as_json, report, text)
    if report["accepted"] or report["genuine_accepted"] != report["genuine"]:
        raise click.ClickException("the verifier accepted a mutated code, or refused a genuine one")
