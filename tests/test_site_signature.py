"""The entry page describes a `signature` entry (a tool's own signature format) by what it
holds, and says plainly that it proved the entry's inclusion, not the signature itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer
from submissions import format_signature_docs
from test_site_browser import _badge, chromium, require_chromium

from sequencer.config import LogConfig
from sequencer.site import build_site
from tlog.entries import admit
from tlog.storage import open_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    yield from chromium()


def test_a_signature_entry_is_described_not_overclaimed(tmp_path: Path, browser: Any) -> None:
    root = tmp_path / "public"
    log = TestLog(root, origin="sigpage.example/log")
    log.append(synthetic_entries(10))
    entry = admit(format_signature_docs("minisign", 1)[0]).entry
    log.append([entry])
    note = log.publish()
    cfg = LogConfig(origin=log.origin, store=str(root), queue=str(tmp_path / "queue"),
                    vkey=log.vkey)
    build_site(cfg, open_store(str(root)), note)
    with StaticServer(root) as server:
        page = browser.new_page()
        page.goto(f"{server.url}/entry.html?index=10")
        assert _badge(page) == "verified"
        assert page.inner_text("#f-type") == "signature"
        facts = page.inner_text("#facts")
        assert "Signature format\tminisign" in facts
        assert "blake2b512:" in facts and "sha256:" in facts
        assert "Signature checked in this page\tno: the log checked it at admission" in facts
        page.close()
