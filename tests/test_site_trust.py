"""The in-browser verifier's pinned key and trusted state (issue 17 item 2), in real headless
Chromium: a second visit proves the served checkpoint consistent with the one the browser
verified before (from the tiles, in the page), a stale copy is told from a rollback, a fork or
rollback is shown with both checkpoints, and a pinned or linked key that differs from the one
the site serves is refused. The page's consistency proofs are checked against the Python
client's roots for sizes around every tile boundary."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loglib import TestLog, synthetic_entries
from servers import StaticServer
from test_site_browser import SHOTS, _badge, chromium, require_chromium

from sequencer.config import LogConfig
from sequencer.site import build_site
from tlog.merkle import tree_root
from tlog.note import generate_key
from tlog.storage import open_store
from tlog.tiles import TileHashReader

pytestmark = pytest.mark.browser
ORIGIN = "trust.example/log"
OLD, NEW = 5_000, 66_000


class Site:
    """One served folder (a symlink swapped between visits) and the notes to serve in it."""

    def __init__(self, tmp: Path) -> None:
        skey, _ = generate_key(ORIGIN)
        self.real = tmp / "real"
        log = TestLog(self.real, origin=ORIGIN, skey=skey)
        log.append(synthetic_entries(OLD))
        self.old_note, self.old_root = log.publish(), log.root_hash
        log.append(synthetic_entries(NEW - OLD, start=OLD))
        self.new_note, self.new_root = log.publish(), log.root_hash
        log.prune_partials()  # the old tree's partial tiles are gone: read from full ones
        self.vkey, self.skey = log.vkey, skey
        self.other = tmp / "other-old"
        self.other_old = TestLog.build(self.other, synthetic_entries(OLD, tag=b"other"),
                                       origin=ORIGIN, skey=skey).sign()
        self.forked = tmp / "forked"
        self.forked_note = TestLog.build(self.forked, synthetic_entries(NEW, tag=b"fork"),
                                         origin=ORIGIN, skey=skey).sign()
        for root in (self.real, self.forked, self.other):
            (root.parent / "log.key").write_text(skey + "\n")
            cfg = LogConfig(origin=ORIGIN, store=str(root), queue=str(tmp / "queue"),
                            key_file=str(root.parent / "log.key"))
            build_site(cfg, open_store(str(root)), (root / "checkpoint").read_bytes())
        self.served = tmp / "served"
        self.serve(self.real, self.new_note)

    def serve(self, root: Path, note: bytes) -> None:
        (root / "checkpoint").write_bytes(note)
        tmp = self.served.with_name("served.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(root)
        os.replace(tmp, self.served)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, str]]:
    require_chromium()
    s = Site(tmp_path_factory.mktemp("trust"))
    with StaticServer(s.served) as server:
        yield s, server.url


@pytest.fixture(scope="module")
def browser(site: Any) -> Iterator[Any]:
    yield from chromium()


@pytest.fixture()
def tab(site: Any, browser: Any) -> Iterator[Any]:
    """A fresh browser profile (empty local storage), reused across the test's visits."""
    s, _ = site
    context = browser.new_context()
    yield context.new_page()
    context.close()
    s.serve(s.real, s.new_note)


def _visit(tab: Any, url: str, query: str = "index=7") -> tuple[str, str]:
    tab.goto(f"{url}/entry.html?{query}")
    badge = _badge(tab)
    return badge, tab.inner_text("#f-trust")


def test_second_visit_proves_growth_and_tells_a_stale_copy(site: Any, tab: Any) -> None:
    s, url = site
    s.serve(s.real, s.old_note)
    assert _visit(tab, url) == ("verified", f"first visit: this browser now trusts tree size {OLD}")
    s.serve(s.real, s.new_note)
    assert _visit(tab, url) == ("verified", f"consistent: tree size {OLD} → {NEW}, proven in this "
                                             "browser")
    assert _visit(tab, url) == ("verified", f"unchanged since your last visit: tree size {NEW}")
    s.serve(s.real, s.old_note)  # a CDN still serving the older checkpoint
    assert _visit(tab, url) == ("verified", f"stale copy: this site serves tree size {OLD}, a "
                                             f"proven prefix of size {NEW} you saw before")
    assert tab.is_hidden("#conflict")


def _conflict(tab: Any) -> tuple[str, str]:
    assert tab.is_visible("#conflict")
    return tab.inner_text("#trusted-note").strip(), tab.inner_text("#served-note").strip()


def test_rollback_between_visits_is_shown_with_both_checkpoints(site: Any, tab: Any) -> None:
    s, url = site
    assert _visit(tab, url)[0] == "verified"
    s.serve(s.real, s.other_old)  # a smaller tree that is not a prefix of the trusted one
    badge, _ = _visit(tab, url)
    assert badge.startswith(f"verification failed: rollback: checkpoint {OLD} is not a prefix "
                            f"of checkpoint {NEW} that this browser verified before")
    assert _conflict(tab) == (s.new_note.decode().strip(), s.other_old.decode().strip())
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / "entry-rollback.png"), full_page=True)
    # Still refused on the next visit: the trusted state did not move.
    assert _visit(tab, url)[0].startswith("verification failed: rollback")


def test_an_older_tree_without_the_trusted_trees_tiles_is_not_verified(site: Any,
                                                                        tab: Any) -> None:
    """A smaller tree served without the tiles of the tree this browser trusts: nothing shows
    it a stale copy rather than a rollback, so the page does not say "verified" (it did, with
    "not yet proven a prefix"), as `tlog verify` exits 3; not a proven rollback either, so no
    conflict is shown, and the trusted state stays."""
    s, url = site
    # Entry 4000 first: the browser's HTTP cache then holds no tile that entry 7 of the other
    # tree reads (with the real tree's tile/0/000 cached, the page fails on that tile first).
    assert _visit(tab, url, "index=4000")[0] == "verified"
    s.serve(s.other, s.other_old)
    badge, _ = _visit(tab, url)
    assert badge.startswith(f"verification failed: this site serves checkpoint size {OLD}, older "
                            f"than size {NEW} that this browser verified before, and not the "
                            "tiles to show it is a stale copy of it"), badge
    assert tab.is_hidden("#conflict")
    s.serve(s.real, s.new_note)
    assert _visit(tab, url) == ("verified", f"unchanged since your last visit: tree size {NEW}")


def test_fork_at_the_same_size(site: Any, tab: Any) -> None:
    s, url = site
    assert _visit(tab, url)[0] == "verified"
    s.serve(s.real, s.forked_note)
    badge, _ = _visit(tab, url)
    assert badge == (f"verification failed: fork: this site serves another tree of size {NEW} "
                     "than the one this browser verified before")
    assert _conflict(tab) == (s.new_note.decode().strip(), s.forked_note.decode().strip())


def test_fork_to_a_larger_tree(site: Any, tab: Any) -> None:
    s, url = site
    s.serve(s.real, s.old_note)
    assert _visit(tab, url)[0] == "verified"
    s.serve(s.forked, s.forked_note)  # its own tiles, signed by the same key
    badge, _ = _visit(tab, url)
    assert badge.startswith(f"verification failed: fork: checkpoint {NEW} is not consistent "
                            f"with checkpoint {OLD} that this browser verified before")
    assert _conflict(tab)[0] == s.old_note.decode().strip()


def _name(vkey: str) -> str:
    return "+".join(vkey.split("+")[:2])


def test_pinned_or_linked_key_that_differs_is_refused(site: Any, tab: Any) -> None:
    s, url = site
    _, other = generate_key(ORIGIN)
    badge, _ = _visit(tab, url, "index=7&vkey=" + other.replace("+", "%2B"))
    assert badge.startswith("verification failed: log key: this site serves "
                            f"{_name(s.vkey)}, not the key given in the link")
    # The key this site serves, pinned with the page's button: checked, and said so.
    assert _visit(tab, url)[0] == "verified"
    assert "(served by this site, not pinned)" in tab.inner_text("#f-key")
    tab.click("#pin")
    assert _visit(tab, url)[0] == "verified"
    key = tab.inner_text("#f-key")
    assert key.startswith(_name(s.vkey) + " (pinned in this browser); fingerprint")
    # Pinned to another key (as if the pin were made elsewhere): the served key is refused.
    tab.evaluate(f"window.tiledlog.pinKey({ORIGIN!r}, {other!r})")
    badge, _ = _visit(tab, url)
    assert badge.endswith(f"not the key you pinned, {_name(other)}: refused")


def test_consistency_in_the_page_agrees_with_python(site: Any, tab: Any) -> None:
    s, url = site
    tab.goto(f"{url}/entry.html")
    store = open_store(str(s.real))

    def fetch(tiles: list[Any]) -> list[bytes]:
        return [store.get(t.path) for t in tiles]

    reader = TileHashReader(NEW, s.new_root, fetch)
    sizes = [1, 2, 3, 7, 8, 255, 256, 257, 511, 4096, OLD, 65_535, 65_536, 65_537, NEW - 1, NEW]
    for m in sizes:
        root = tree_root(m, reader)
        assert tab.evaluate(f"window.tiledlog.consistent({m}, {root.hex()!r}, {NEW}, "
                            f"{s.new_root.hex()!r})") == "ok", m
        wrong = bytes([root[0] ^ 1]) + root[1:]
        verdict = tab.evaluate(f"window.tiledlog.consistent({m}, {wrong.hex()!r}, {NEW}, "
                               f"{s.new_root.hex()!r})")
        assert verdict != "ok", m
