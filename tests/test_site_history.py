"""The history page (issue 22 item 5): the checkpoints this browser verified before, each
proven in the page a prefix of the tree served now; a forged one (signed by the log's key, another
tree) shown as failed; witnesses with their cosignature time. Headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from servers import StaticServer
from submissions import hashedrekord_docs
from test_site_browser import SHOTS, chromium, require_chromium

from tlog.checkpoint import Checkpoint, format_checkpoint
from tlog.note import new_signer, sign_note
from tlog.queue import bulk_key
from tlog.storage import open_store

pytestmark = pytest.mark.browser
BIN = Path(sys.executable).parent
ORIGIN = "history.example/log"


def tlog(cwd: Path, *args: str) -> str:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _grow(work: Path, n: int, seed: int) -> None:
    docs = [d for _, d in hashedrekord_docs(n, seed=seed)]
    body = b"\n".join(docs) + b"\n"
    open_store(str(work / "public-queue")).put(bulk_key(body, n), body)
    tlog(work, "sequence")


def _status(page: object) -> str:
    page.wait_for_function(  # type: ignore[attr-defined]
        "!document.getElementById('status').className.includes('pending')", timeout=60_000)
    return page.inner_text("#status")  # type: ignore[attr-defined]


def test_history_proves_what_the_browser_saw_before(tmp_path: Path) -> None:
    require_chromium()
    tlog(tmp_path, "keygen", ORIGIN, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", ORIGIN, "--key", "log.key")
    _grow(tmp_path, 50, seed=1)
    note50 = (tmp_path / "public" / "checkpoint").read_bytes()
    with StaticServer(tmp_path / "public") as server:
        for browser in chromium():
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{server.url}/history.html")
            assert _status(page) == ("1 checkpoint this browser kept, each proven a prefix "
                                     "of tree 50")
            assert page.inner_text("#witnesses tbody") == "this log lists no witnesses"
            _grow(tmp_path, 30, seed=2)
            page.goto(f"{server.url}/history.html")
            assert _status(page) == ("2 checkpoints this browser kept, each proven a prefix "
                                     "of tree 80")
            rows = page.eval_on_selector_all(
                "#history tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))")
            assert [(r[0], r[3]) for r in rows] == [
                ("80", "the tree served now"), ("50", "consistent: a prefix of tree 80 (proven)")]
            page.screenshot(path=str(SHOTS / "history-1280.png"), full_page=True)
            # A CDN still serving checkpoint 50: the kept tree 80 is later, and 50 is proven a
            # prefix of it (from its tiles); it was shown as a failed row and "evidence of a
            # fork", tile/0/002.p/-212 not found.
            served = (tmp_path / "public" / "checkpoint").read_bytes()
            (tmp_path / "public" / "checkpoint").write_bytes(note50)
            page.reload()
            assert _status(page) == ("2 checkpoints this browser kept, each proven consistent "
                                     "with tree 50: this site serves a stale copy, a prefix of "
                                     "tree 80")
            rows = page.eval_on_selector_all(
                "#history tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))")
            assert [(r[0], r[3]) for r in rows] == [
                ("80", "later than the tree served now, which is proven a prefix of it"),
                ("50", "the tree served now")]
            (tmp_path / "public" / "checkpoint").write_bytes(served)
            # A checkpoint of another tree of size 50, signed by the log's own key: a fork.
            signer = new_signer((tmp_path / "log.key").read_text().strip())
            forged = sign_note(format_checkpoint(Checkpoint(ORIGIN, 50, b"\x07" * 32)),
                               signer).decode()
            vkey = json.loads(json.dumps((tmp_path / "log.pub").read_text().strip()))
            page.evaluate("([slot, note]) => { const l = JSON.parse(localStorage.getItem(slot));"
                          " l.unshift({note, seen: '2026-01-01T00:00:00Z'});"
                          " localStorage.setItem(slot, JSON.stringify(l)); }",
                          [f"tiledlog:history:{ORIGIN}|{'+'.join(vkey.split('+')[:2])}", forged])
            page.reload()
            assert _status(page) == "1 earlier checkpoints are not prefixes of the served tree"
            failed = page.eval_on_selector_all(
                "#history tbody td.bad", "cells => cells.map(c => c.innerText)")
            assert len(failed) == 1 and "not consistent" in failed[0], failed
            # One of size 200, which this site serves no tiles of: not checked, not a failure.
            later = sign_note(format_checkpoint(Checkpoint(ORIGIN, 200, b"\x08" * 32)),
                              signer).decode()
            page.evaluate("([slot, note]) => { const l = JSON.parse(localStorage.getItem(slot));"
                          " l.push({note, seen: '2026-01-02T00:00:00Z'});"
                          " localStorage.setItem(slot, JSON.stringify(l)); }",
                          [f"tiledlog:history:{ORIGIN}|{'+'.join(vkey.split('+')[:2])}", later])
            page.reload()
            assert _status(page) == "1 earlier checkpoints are not prefixes of the served tree"
            first = page.inner_text("#history tbody tr:first-child td:last-child")
            assert first.startswith("not checked: this site does not serve the tiles to prove "
                                    "it either way: tile/0/000"), first
            context.close()


def test_a_new_logs_pages_search_it_empty(tmp_path: Path) -> None:
    """A log just created (size 0, no index yet): the search page finds nothing, as `tlog
    search` does; it failed on index/manifest/0, which no log has before its first entry."""
    require_chromium()
    tlog(tmp_path, "keygen", ORIGIN, "--out", "log")
    tlog(tmp_path, "init", "--store", "public", "--origin", ORIGIN, "--key", "log.key")
    tlog(tmp_path, "site", "build")
    with StaticServer(tmp_path / "public") as server:
        for browser in chromium():
            page = browser.new_page()
            page.goto(f"{server.url}/search.html?q=sha256:{'ab' * 32}")
            page.wait_for_function("!document.getElementById('status').className"
                                   ".includes('pending')", timeout=60_000)
            assert page.inner_text("#status").startswith(
                "not found: the log's index names no entry"), page.inner_text("#status")
            page.close()
