"""The in-browser verifier shows as witnesses only cosignatures it verified (issue 17 item 1),
in real headless Chromium: a real witness's cosignature is shown with its time; an appended
line by an unknown name, or one claiming a listed witness's name and key id with a bad
signature, is shown as an unverified signature and never as a witness; a threshold in the
URL is enforced as `tlog verify --witness-threshold` would."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer
from test_site_browser import _badge, chromium, require_chromium

from sequencer.config import LogConfig, WitnessConfig
from sequencer.site import build_site
from tlog.cosignature import generate_cosignature_key, new_cosignature_signer
from tlog.storage import open_store

pytestmark = pytest.mark.browser
W1 = "witness.example/w1"
FAKE = ("— sigstore.dev/fake-witness AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYn"
        "KCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRkdISUpLTA==\n")


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, bytes]]:
    require_chromium()
    root = tmp_path_factory.mktemp("witnessed") / "public"
    log = TestLog(root, origin="site.example/log")
    log.append(synthetic_entries(300))
    wskey, wvkey = generate_cosignature_key(W1)
    note = log.publish(new_cosignature_signer(wskey, clock=lambda: 1_767_225_600))
    cfg = LogConfig(origin=log.origin, store=str(root), queue=str(root.parent / "queue"),
                    vkey=log.vkey, witnesses=(WitnessConfig(W1, "http://127.0.0.1:9", wvkey),))
    build_site(cfg, open_store(str(root)), note)
    with StaticServer(root) as server:
        yield server.url, root, note


@pytest.fixture(scope="module")
def page(witnessed: Any) -> Iterator[Any]:
    yield from chromium()


def _open(browser: Any, url: str, lines: list[str] | None = None) -> tuple[str, str, str]:
    context = browser.new_context()  # a fresh cache for each checkpoint
    tab = context.new_page()
    tab.goto(url)
    badge = _badge(tab)
    out = badge, tab.inner_text("#f-witnesses"), tab.inner_text("#f-unverified")
    if lines is not None:  # what the page says of each signature line
        lines += tab.eval_on_selector_all("#sigs li", "items => items.map(i => i.innerText)")
    context.close()
    return out


def test_only_verified_cosignatures_are_witnesses(witnessed: Any, page: Any) -> None:
    url, root, note = witnessed
    cp = root / "checkpoint"
    badge, witnesses, others = _open(page, f"{url}/entry.html?index=7")
    assert badge == "verified"
    assert witnesses == f"{W1} (cosigned 2026-01-01 00:00:00 UTC)"
    assert others == "none"
    try:
        # A line appended by anyone: listed as what it is, not as a witness.
        cp.write_bytes(note + FAKE.encode())
        badge, witnesses, others = _open(page, f"{url}/entry.html?index=7")
        assert badge == "verified"
        assert witnesses == f"{W1} (cosigned 2026-01-01 00:00:00 UTC)"
        assert others == "unverified signature by sigstore.dev/fake-witness"
        # The witness's own name and key id over a bad signature: not a witness either.
        text, _, sigs = note.partition(b"\n\n")
        log_line, w1_line = sigs.decode().splitlines()
        name, b64 = w1_line[2:].split(" ")
        raw = bytearray(base64.b64decode(b64))
        raw[-1] ^= 1
        forged = f"— {name} {base64.b64encode(bytes(raw)).decode()}\n"
        cp.write_bytes(text + b"\n\n" + f"{log_line}\n{forged}".encode())
        said: list[str] = []
        badge, witnesses, others = _open(page, f"{url}/entry.html?index=7", said)
        assert badge == "verified"
        assert witnesses == "none verified on this checkpoint"
        assert others == f"unverified signature by {W1}"
        # The page has the key: the line fails with it ("this page has no key for it" before).
        assert said[1] == f"{W1}: does not verify with the key this log lists for that witness"
        # Asked for one witness, the page refuses what `tlog verify` would refuse.
        badge, _, _ = _open(page, f"{url}/entry.html?index=7&threshold=1")
        assert badge == ("verification failed: checkpoint: needs 1 witness cosignatures, "
                         "0 verified")
    finally:
        cp.write_bytes(note)
    shutil.rmtree(root.parent / "queue", ignore_errors=True)
