"""One source for the verifier's contract, and one module for the pages' shared helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from validators import contract
from validators.verify import MESSAGES, SAME_DEVICE, STATIC_REPLAY, WINDOW

STATIC = Path(__file__).resolve().parent.parent / "maas" / "static"
TEMPLATES = STATIC.parent / "templates"


def test_the_committed_contract_is_what_verify_py_says_now() -> None:
    """Change a message or a window in validators/verify.py and this fails until
    `python -m validators.contract` has rewritten the file."""
    assert contract.PATH == STATIC / "verify-contract.json"
    assert contract.PATH.read_text(encoding="utf-8") == contract.render()
    assert contract.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "verify-contract.json"
    document = contract.contract()
    document["window_s"] = 60
    stale.write_text(json.dumps(document), encoding="utf-8")
    assert contract.main(["--check", "--output", str(stale)]) == 1
    assert contract.main(["--output", str(stale)]) == 0
    assert contract.main(["--check", "--output", str(stale)]) == 0


def test_the_contract_holds_every_code_and_window() -> None:
    document = json.loads(contract.PATH.read_text(encoding="utf-8"))
    assert {code: (m["ja"], m["en"]) for code, m in document["messages"].items()} == MESSAGES
    assert document["window_s"] == WINDOW.total_seconds()
    assert document["static_replay_s"] == STATIC_REPLAY.total_seconds()
    assert document["same_device_s"] == SAME_DEVICE.total_seconds()
    assert document["max_payload"] == 2048


def test_no_page_script_hard_codes_the_contract() -> None:
    """verify.js and driver.js take codes' messages and the windows from the contract file."""
    for script in STATIC.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for code, (ja, en) in MESSAGES.items():
            assert ja not in text, f"{script.name} repeats the message of {code}"
            assert en not in text, f"{script.name} repeats the message of {code}"
    verify_js = (STATIC / "verify.js").read_text(encoding="utf-8")
    assert not re.search(r"\b45_?000\b|\b10 \* 60_?000\b|\b2048\b", verify_js)
    assert "verify-contract.json" in verify_js


def test_shared_helpers_live_in_one_module() -> None:
    pages = ["maas.js", "rider.js", "driver.js", "partners.js", "verify.js"]
    for name in pages:
        text = (STATIC / name).read_text(encoding="utf-8")
        assert 'from "./common.js"' in text, name
        assert "btoa(" not in text, f"{name} has its own base64url"
        assert "function api(" not in text
        assert "maas-lang" not in text, f"{name} keeps the language itself"


def test_offline_caches_hold_the_new_files() -> None:
    driver_sw = (STATIC / "driver-sw.js").read_text(encoding="utf-8")
    rider_sw = (STATIC / "rider-sw.js").read_text(encoding="utf-8")
    for path in ("/static/common.js", "/static/verify-contract.json", "/static/verify.js"):
        assert f'"{path}"' in driver_sw
    assert '"/static/common.js"' in rider_sw


def test_pages_have_no_inline_script_for_a_strict_csp() -> None:
    """script-src 'self': every script is a file, no inline code or event handler."""
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: inline handler"
