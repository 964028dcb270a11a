"""The static site in real headless Chromium (Debian `chromium`, driven by Playwright through
executable_path): a 70,000-entry log served on loopback, the in-browser verifier against the
Python client, a tampered tile, valid HTML, and a phone-sized viewport.

Screenshots of each state are saved under build/screenshots/ for review.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import html5lib
import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer

from sequencer.config import LogConfig
from sequencer.site import PAGES, build_site
from tlog.client import LogClient
from tlog.entries import admit
from tlog.storage import open_store

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
SIZE = 70_123  # ends in a partial tile at every level


def _real_entries(n: int) -> list[bytes]:
    from submissions import hashedrekord_docs

    return [admit(doc).entry for _, doc in hashedrekord_docs(n, seed=99)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StaticServer, TestLog, Path]]:
    require_chromium()
    root = tmp_path_factory.mktemp("site") / "public"
    log = TestLog(root, origin="site.example/log")
    log.append(synthetic_entries(SIZE - 300))
    log.append(_real_entries(300))
    note = log.publish()
    (root.parent / "log.key").write_text(log.skey + "\n")
    cfg = LogConfig(origin=log.origin, store=str(root), queue=str(root.parent / "queue"),
                    key_file=str(root.parent / "log.key"))
    build_site(cfg, open_store(str(root)), note)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with StaticServer(root) as server:
        yield server, log, root


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (`bash scripts/ensure-tools.sh`)")


def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, for a module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser(site: Any) -> Iterator[Any]:
    yield from chromium()


def _badge(page: Any) -> str:
    """The entry page's badge once settled; waited for null-safe, as a click's navigation may
    not have replaced the page yet (the index page has no badge: a flaky TypeError)."""
    page.wait_for_function(
        "(b => b !== null && b.className.indexOf('pending') < 0)"
        "(document.getElementById('badge'))", timeout=30_000)
    return page.inner_text("#badge")


def test_index_then_entry_is_verified(site: Any, browser: Any) -> None:
    server, log, _ = site
    page = browser.new_page()
    page.goto(f"{server.url}/index.html")
    assert f"{SIZE}" in page.inner_text("main")
    assert page.inner_text("#age") in (", 0 min ago", ", 1 min ago")  # the page's age
    # A summary rendered when the log published, not checked in the browser: it says so.
    assert "this page is a summary the log's sequencer wrote at " in page.inner_text("main").lower()
    assert "your browser does not check it" in page.inner_text("main")
    page.click("table a[href^='entry.html?index=']")
    assert _badge(page) == "verified"
    index = int(page.inner_text("#f-index"))
    assert index == SIZE - 1  # the most recent entry, in the right-edge partial tiles
    assert page.inner_text("#f-type") == "hashedrekord"
    assert page.inner_text("#f-leaf") == hashlib.sha256(b"\0" + log.entries[index]).hexdigest()
    page.screenshot(path=str(SHOTS / "entry-verified.png"), full_page=True)
    page.close()


def test_javascript_and_python_client_agree(site: Any, browser: Any) -> None:
    server, log, root = site
    client = LogClient(open_store(str(root)), log.vkey)
    rng = random.Random(5)
    indexes = sorted({*rng.sample(range(SIZE), 190), *range(SIZE - 10, SIZE)})
    page = browser.new_page()
    page.goto(f"{server.url}/entry.html")
    got = page.evaluate("async (xs) => { const out = []; for (const i of xs) "
                        "out.push(await window.tiledlog.check(i)); return out; }", indexes)
    assert len(got) == len(indexes) == 200
    for i, js in zip(indexes, got, strict=True):
        py = client.entry(i)
        assert js == {"ok": True, "leafHash": py.leaf_hash.hex(),
                      "root": py.checkpoint.root_hash.hex(), "size": SIZE}, i
    # Beyond the tree: both refuse.
    beyond = page.evaluate(f"window.tiledlog.check({SIZE})")
    assert beyond == {"ok": False, "kind": "input",
                      "reason": f"index {SIZE} is beyond the tree size {SIZE}"}
    page.close()


def _in_a_large_level(root: Path, log: Any) -> tuple[int, str]:
    """An entry whose leaf hash the index holds in a level object of over 4,096 records (read
    by range), and that object's path."""
    manifest = json.loads((root / f"index/manifest/{SIZE}").read_bytes())
    for index in range(1000, SIZE):
        leaf = hashlib.sha256(b"\0" + log.entries[index]).digest()
        for ref in manifest["levels"][leaf[0] >> 4]:
            if ref and ref["records"] > 4096 and leaf[:8] in (root / ref["path"]).read_bytes():
                return index, ref["path"]
    raise AssertionError("no entry in a level object of over 4,096 records")


def test_lookup_by_leaf_hash(site: Any, browser: Any) -> None:
    server, log, root = site
    index, holder = _in_a_large_level(root, log)
    leaf = hashlib.sha256(b"\0" + log.entries[index]).hexdigest()
    page = browser.new_page()
    server.reset()
    page.goto(f"{server.url}/entry.html?q={leaf}")
    assert _badge(page) == "verified"
    assert page.inner_text("#f-index") == str(index)
    # A large level is read by one range read of the block its fence keys leave, not whole.
    assert holder in server.sent, server.sent
    assert server.requests[holder] == 1
    assert 0 < server.sent[holder] < (root / holder).stat().st_size // 2
    with StaticServer(root, ranges=False) as plain:  # like `python -m http.server`
        page.goto(f"{plain.url}/entry.html?q={leaf}")
        assert _badge(page) == "verified"
        assert page.inner_text("#f-index") == str(index)
    page.goto(f"{server.url}/entry.html?q={'ab' * 32}")
    assert _badge(page) == ("not found: no entry with this leaf hash in the log, according "
                            "to its index (which can leave entries out unseen)")
    page.close()


def test_tampered_tile_fails_with_the_reason(site: Any, browser: Any) -> None:
    server, _log, root = site
    tile = root / "tile" / "0" / "000"
    original = tile.read_bytes()
    try:
        # Entry 5's audit path starts with leaf 4's hash, in tile/0/000: change one byte.
        changed = bytearray(original)
        changed[4 * 32] ^= 0x01
        tile.write_bytes(bytes(changed))
        context = browser.new_context()  # a fresh cache: full tiles are cached as immutable
        page = context.new_page()
        page.goto(f"{server.url}/entry.html?index=5")
        said = _badge(page)
        assert said.startswith("verification failed: entry 5: the inclusion proof read from "
                               "tile/0/000, ")  # the tiles it read, the tampered one first
        assert said.endswith("does not lead to the checkpoint's root hash: a tampered hash tile")
        page.screenshot(path=str(SHOTS / "entry-tampered.png"), full_page=True)
        tile.write_bytes(original[:-32])  # a truncated tile
        context.close()
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/entry.html?index=5")
        assert _badge(page) == "verification failed: tile/0/000: 8160 bytes, expected 8192"
        context.close()
    finally:
        tile.write_bytes(original)


def test_bad_checkpoint_signature_fails(site: Any, browser: Any) -> None:
    server, _, root = site
    cp = root / "checkpoint"
    original = cp.read_bytes()
    try:
        text, sep, sigs = original.partition(b"\n\n")
        line = sigs.decode().rstrip("\n")
        name, b64 = line[2:].split(" ")
        raw = bytearray(base64.b64decode(b64))
        raw[10] ^= 0x40
        cp.write_bytes(text + sep + f"— {name} {base64.b64encode(raw).decode()}\n".encode())
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/entry.html?index=1")
        assert _badge(page) == ("verification failed: checkpoint: the log's signature does "
                                "not verify")
        context.close()
    finally:
        cp.write_bytes(original)


def test_pages_are_valid_html_and_fit_a_phone(site: Any, browser: Any) -> None:
    server, _, root = site
    for name in PAGES:
        parser = html5lib.HTMLParser(strict=True)
        parser.parse((root / name).read_bytes())  # raises on any parse error
        assert not parser.errors, (name, parser.errors)
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page = context.new_page()
    for name, query in (("index.html", ""), ("entry.html", f"?index={SIZE - 1}"),
                        ("verify.html", "")):
        page.goto(f"{server.url}/{name}{query}")
        if name == "entry.html":
            assert _badge(page) == "verified"
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (name, width)
        page.screenshot(path=str(SHOTS / f"phone-{name.removesuffix('.html')}.png"),
                        full_page=True)
    context.close()


def test_site_pages_carry_the_log_key(site: Any) -> None:
    _, log, root = site
    html = (root / "entry.html").read_text()
    assert f"window.TLOG_VKEY = {json.dumps(log.vkey)};" in html
    # Self-contained: no external script, style or link; only the log's own files are fetched.
    assert "<script src" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
