"""The in-browser verifier tells its three kinds of "no" apart, follows only the index's own
paths, and reads a full tile where a partial one was deleted (issue 17, items 3 and 4), in
headless Chromium."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer
from test_site_browser import ARGS, CHROMIUM, _badge, chromium, require_chromium

from sequencer.config import LogConfig
from sequencer.site import build_site
from tlog.merkle import leaf_hash
from tlog.storage import open_store

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[StaticServer, TestLog]]:
    require_chromium()
    root = tmp_path / "public"
    log = TestLog(root, origin="errors.example/log")
    log.append(synthetic_entries(300))
    note = log.publish()
    cfg = LogConfig(origin=log.origin, store=str(root), queue=str(tmp_path / "queue"),
                    vkey=log.vkey)
    build_site(cfg, open_store(str(root)), note)
    with StaticServer(root) as server:
        yield server, log


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    yield from chromium()


def _open(browser: Any, url: str) -> tuple[str, str]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    out = _badge(page), page.get_attribute("#badge", "class") or ""
    context.close()
    return out


def test_bad_input_is_not_a_failed_check(served: Any, browser: Any) -> None:
    server, _ = served
    badge, cls = _open(browser, f"{server.url}/entry.html?index=999")
    assert badge == "not found: index 999 is beyond the tree size 300" and "notice" in cls
    badge, cls = _open(browser, f"{server.url}/entry.html?q=nonsense")
    assert badge.startswith("not found: give an index") and "notice" in cls
    badge, cls = _open(browser, f"{server.url}/entry.html?index=3")
    assert badge == "verified" and "ok" in cls


def test_a_page_without_webcrypto_says_it_cannot_verify(served: Any, browser: Any) -> None:
    """Over plain HTTP from a name that is not localhost, a browser gives the page no
    WebCrypto: that is "cannot verify here", not a TypeError shown as a failed check."""
    server, _ = served
    port = server.url.rsplit(":", 1)[1]
    b = browser.browser_type.launch(  # a second Chromium, resolving a name to loopback
        executable_path=CHROMIUM, args=[*ARGS, "--host-resolver-rules=MAP verify.test 127.0.0.1"])
    try:
        badge, cls = _open(b, f"http://verify.test:{port}/entry.html?index=3")
    finally:
        b.close()
    assert badge.startswith("cannot verify here: this page needs a secure context"), badge
    assert "notice" in cls


def test_a_hostile_manifest_cannot_send_the_page_elsewhere(served: Any, browser: Any) -> None:
    server, log = served
    manifest = server.root / "index/manifest/300"
    doc = json.loads(manifest.read_bytes())
    leaf = leaf_hash(log.entries[7])
    for ref in doc["levels"][leaf[0] >> 4]:
        if ref:
            ref["path"] = "//127.0.0.2:1/steal"  # another origin, protocol-relative
    manifest.write_text(json.dumps(doc))
    server.reset()
    badge, cls = _open(browser, f"{server.url}/entry.html?q={leaf.hex()}")
    assert badge.startswith('verification failed: index manifest: "//127.0.0.2:1/steal" is not '
                            "a path of the index layout"), badge
    assert "bad" in cls


def test_a_deleted_partial_tile_is_read_from_the_full_one(served: Any, browser: Any) -> None:
    """A reader holding an older checkpoint (a CDN cached it) needs partial tiles the log may
    have deleted once their full tiles exist."""
    server, log = served
    old = (server.root / "checkpoint").read_bytes()
    log.append(synthetic_entries(300, start=300))
    log.publish()
    assert log.prune_partials()  # tile/0/001.p/44 and tile/entries/001.p/44 among them
    (server.root / "checkpoint").write_bytes(old)  # what the stale CDN still serves
    badge, _ = _open(browser, f"{server.url}/entry.html?index=299")
    assert badge == "verified"
