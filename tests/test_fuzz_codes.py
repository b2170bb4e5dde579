"""The mutation fuzzer (`maas bench fuzz-codes`) on a small count: nothing derived from a
genuine code is accepted, and every genuine original is."""

from __future__ import annotations

import json

from click.testing import CliRunner

from maas.bench import fuzz


def test_no_mutated_code_is_accepted() -> None:
    report = fuzz.fuzz(3000, seed=7)
    assert report["codes"] == 3000
    assert report["accepted"] == 0, report["accepted_codes"]
    assert report["genuine_accepted"] == report["genuine"] > 0
    # every kind of mutation took part
    assert set(report["by_mutation"]) == set(fuzz.MUTATIONS)
    assert sum(report["by_code"].values()) == 3000


def test_mutants_are_distinct_and_never_a_genuine_code() -> None:
    corpus = fuzz.corpus(passes=2, printed=1)
    derived = fuzz.mutants(corpus, 500, seed=1)
    assert len(derived) == 500
    assert not set(derived) & set(corpus.codes)


def test_the_bench_command_reports_json() -> None:
    done = CliRunner().invoke(fuzz.bench_fuzz_codes, ["--count", "300", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert (report["codes"], report["accepted"]) == (300, 0)
    assert report["verify_seconds"] >= 0
