"""The site as a verifying explorer (issue 22), in headless Chromium on a log of more than
70,000 entries of mixed types made by the real sequencer and served over HTTP: search by
digest (several hits), by a key with thousands of hits (paged), by identity and a miss; a
tampered tile under a hit; entry details and downloads that `tlog verify --bundle` accepts
offline; browsing; phone width, dark scheme and an axe-core accessibility check.
Screenshots at 1280 and 390 px go to build/screenshots/."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from servers import StaticServer
from submissions import (
    dsse_doc,
    ed25519_key,
    format_signature_docs,
    hashedrekord_docs,
    link_doc,
)
from test_site_browser import SHOTS, chromium, require_chromium

from tests.sigstore_pki import PrivateSigstore
from tlog.queue import bulk_key
from tlog.storage import open_store

pytestmark = pytest.mark.browser

BIN = Path(sys.executable).parent
ORIGIN = "explorer.example/log"
SHARED = b"an artifact three maintainers signed\n"
ED25519 = 69_400


def tlog(cwd: Path, *args: str) -> str:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _pem(key: Any) -> str:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _ecdsa_doc(key: Any, artifact: bytes, cert: Any = None) -> bytes:
    signer = ({"certificate": cert.public_bytes(serialization.Encoding.PEM).decode()} if cert
              else {"public_key": _pem(key)})
    return json.dumps({"type": "hashedrekord",
                       "digest": "sha256:" + hashlib.sha256(artifact).hexdigest(),
                       "signature": base64.b64encode(
                           key.sign(artifact, ec.ECDSA(hashes.SHA256()))).decode(),
                       **signer}).encode()


def _queue(folder: Path, docs: list[bytes]) -> None:
    queue = open_store(str(folder))
    for i in range(0, len(docs), 10_000):
        body = b"\n".join(docs[i:i + 10_000]) + b"\n"
        queue.put(bulk_key(body, len(docs[i:i + 10_000])), body)


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_chromium()
    work = tmp_path_factory.mktemp("explorer")
    tlog(work, "keygen", ORIGIN, "--out", "log")
    tlog(work, "init", "--store", "public", "--origin", ORIGIN, "--key", "log.key")
    pki = PrivateSigstore.create(work / "pki")
    alice = pki.leaf("alice@example.com", minutes=60)
    makers = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    ed = [ed25519_key(900 + i) for i in range(2)]
    docs = [d for _, d in hashedrekord_docs(ED25519, seed=7)]
    docs += [_ecdsa_doc(k, SHARED) for k in makers]
    docs += [_ecdsa_doc(alice[0], b"alice's release %d\n" % i, alice[1]) for i in range(40)]
    docs += [dsse_doc(ed[i % 2], b"attested %d" % i) for i in range(300)]
    docs += [link_doc(ed[i % 2], b"packaged %d" % i, i) for i in range(300)]
    docs += format_signature_docs("ssh", 100, seed=3)
    _queue(work / "public-queue", docs)
    tlog(work, "sequence")
    earlier = (work / "public" / "checkpoint").read_text()  # for the history page
    # The last entry is an in-toto link: the index page's newest row shows its product.
    _queue(work / "public-queue", [link_doc(ed[0], b"the newest product", 10_000)])
    tlog(work, "sequence")
    size = int((work / "public" / "checkpoint").read_text().split("\n")[1])
    assert size == len(docs) + 1 >= 70_000
    SHOTS.mkdir(parents=True, exist_ok=True)
    key0 = ed25519_key(7 * 1000)[0].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with StaticServer(work / "public") as server:
        yield {"work": work, "server": server, "size": size, "earlier": earlier,
               "key0": "key:" + hashlib.sha256(key0).hexdigest()}


@pytest.fixture(scope="module")
def browser(log: Any) -> Iterator[Any]:
    yield from chromium()


def _settled(page: Any, sel: str = "#status") -> str:
    page.wait_for_function(f"document.querySelector('{sel}').className.indexOf('pending') < 0",
                           timeout=60_000)
    return page.inner_text(sel)


def _rows(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#hits tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))")


def test_a_digest_with_several_hits(log: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    digest = hashlib.sha256(SHARED).hexdigest()
    page.goto(f"{log['server'].url}/search.html?q={digest}")  # bare hex: digest or leaf hash
    assert _settled(page) == "3 of 3 shown, each proven in the log"
    rows = _rows(page)
    assert len(rows) == 3 and all(r[2] == f"sha256:{digest}" for r in rows)
    assert all(r[3].startswith("in the log (proven at size") for r in rows)
    assert [int(r[0]) for r in rows] == sorted((int(r[0]) for r in rows), reverse=True)
    cost = page.inner_text("#cost")
    assert "requests" in cost and "bytes" in cost
    page.screenshot(path=str(SHOTS / "search-1280.png"), full_page=True)
    page.close()


def test_a_key_with_thousands_of_hits_is_paged(log: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{log['server'].url}/search.html?q={log['key0']}")
    status = _settled(page)
    total = ED25519 // 4
    assert status == f"20 of {total} shown, each proven in the log"
    assert f"{total} entries named by the index for key fingerprint" in page.inner_text("caption")
    page.click("#more")
    page.wait_for_function("document.querySelectorAll('#hits tbody tr').length === 40",
                           timeout=60_000)
    assert _settled(page) == f"40 of {total} shown, each proven in the log"
    indexes = [int(r[0]) for r in _rows(page)]
    assert indexes == sorted(indexes, reverse=True) and len(set(indexes)) == 40
    page.close()


def test_an_identity_a_leaf_hash_and_a_miss(log: dict[str, Any], browser: Any) -> None:
    digest_of_alice = hashlib.sha256(b"alice's release 7\n").hexdigest()
    page = browser.new_page()
    page.goto(f"{log['server'].url}/search.html?q=Alice@Example.com")
    assert _settled(page) == "20 of 40 shown, each proven in the log"
    assert all("carries this identity" in r[3] for r in _rows(page))
    page.goto(f"{log['server'].url}/search.html?q=issuer:https://token.actions.githubusercontent.com")
    assert _settled(page) == "20 of 40 shown, each proven in the log"
    assert all("carries this OIDC issuer" in r[3] for r in _rows(page))
    page.goto(f"{log['server'].url}/search.html?q=sha256:{digest_of_alice}")
    assert _settled(page) == "1 of 1 shown, each proven in the log"
    leaf = _rows(page)[0]
    page.goto(f"{log['server'].url}/entry.html?index={leaf[0]}")
    page.wait_for_function("document.getElementById('badge').textContent === 'verified'",
                           timeout=60_000)
    page.goto(f"{log['server'].url}/search.html?q=leaf:{page.inner_text('#f-leaf')}")
    assert _settled(page) == "1 of 1 shown, each proven in the log"
    assert _rows(page)[0][3].endswith("carries this leaf hash")
    page.goto(f"{log['server'].url}/search.html?q=sha256:{'0' * 64}")
    assert _settled(page) == ("not found: the log's index names no entry that carries this "
                              "(an index can leave entries out unseen)")
    page.goto(f"{log['server'].url}/search.html?q=sha256:abc")
    assert _settled(page) == "a sha256 digest is 64 hex digits"
    page.close()


def test_a_tampered_tile_under_a_hit_is_shown_as_failed(log: dict[str, Any],
                                                        browser: Any) -> None:
    root = log["work"] / "public"
    digest = hashlib.sha256(SHARED).hexdigest()
    page = browser.new_page()
    page.goto(f"{log['server'].url}/search.html?q=sha256:{digest}")
    _settled(page)
    hit = int(_rows(page)[0][0])
    n, slot = divmod(hit, 256)
    path = f"tile/0/x{n // 1000:03d}/{n % 1000:03d}" if n >= 1000 else f"tile/0/{n:03d}"
    tile = root / path
    original = tile.read_bytes()
    try:
        changed = bytearray(original)
        changed[slot * 32] ^= 1  # the hit's own leaf hash in its hash tile
        tile.write_bytes(bytes(changed))
        context = browser.new_context()
        fresh = context.new_page()
        fresh.goto(f"{log['server'].url}/search.html?q=sha256:{digest}")
        assert _settled(fresh).endswith("of 3 shown failed a check")
        rows = {int(r[0]): r[3] for r in _rows(fresh)}
        # The hit whose leaf hash was changed, and any neighbour whose proof reads it: each
        # failed, naming the tile; nothing else.
        assert rows[hit].startswith(f"failed: entry {hit}: {path} holds another leaf hash")
        for index, checked in rows.items():
            assert checked.startswith("in the log") or (
                checked.startswith("failed") and path in checked), (index, checked)
        fresh.screenshot(path=str(SHOTS / "search-tampered-1280.png"), full_page=True)
        context.close()
    finally:
        tile.write_bytes(original)
    page.close()


def test_entry_details_and_downloads_verify_offline(log: dict[str, Any], browser: Any,
                                                     tmp_path: Path) -> None:
    work, size = log["work"], log["size"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{log['server'].url}/entry.html?index={size - 1}")
    page.wait_for_function("document.getElementById('badge').textContent === 'verified'",
                           timeout=60_000)
    assert page.inner_text("#f-type") == "intoto-link"
    proof_rows = page.eval_on_selector_all("#proof tbody tr", "rows => rows.length")
    assert proof_rows == len(json.loads(tlog(work, "get", "--log", "public", "--vkey", "log.pub",
                                             "--index", str(size - 1), "--json", "--state",
                                             str(tmp_path / "st")))["inclusion_proof"])
    assert "the log's signature, verified with the log key" in page.inner_text("#sigs")
    assert '"intotoLinkV001"' in page.inner_text("#pretty")
    assert page.get_attribute("#prev", "href") == f"entry.html?index={size - 2}"
    assert page.is_hidden("#next")
    page.screenshot(path=str(SHOTS / "entry-1280.png"), full_page=True)
    for link in ("#dl-json", "#dl-proof"):
        with page.expect_download() as d:
            page.click(link)
        saved = tmp_path / d.value.suggested_filename
        d.value.save_as(saved)
        out = json.loads(tlog(work, "verify", "--vkey", "log.pub", "--bundle", str(saved),
                              "--json", "--state", str(tmp_path / "st")))
        assert (out["index"], out["source"]) == (size - 1, "bundle")
    assert page.is_hidden("#dl-sigstore")  # a link is not a hashedrekord
    digest = hashlib.sha256(SHARED).hexdigest()
    page.goto(f"{log['server'].url}/search.html?q=sha256:{digest}")
    _settled(page)
    hit = _rows(page)[0][0]
    page.goto(f"{log['server'].url}/entry.html?index={hit}")
    page.wait_for_function("document.getElementById('badge').textContent === 'verified'",
                           timeout=60_000)
    with page.expect_download() as d:
        page.click("#dl-sigstore")
    saved = tmp_path / d.value.suggested_filename
    d.value.save_as(saved)
    out = json.loads(tlog(work, "verify", "--vkey", "log.pub", "--bundle", str(saved), "--json",
                          "--state", str(tmp_path / "st")))
    assert out["index"] == int(hit)
    assert page.inner_text("#cmd").startswith("tlog verify --vkey '")
    page.close()


def test_browse_newest_first_by_page_and_type(log: dict[str, Any], browser: Any) -> None:
    size = log["size"]
    page = browser.new_page()
    page.goto(f"{log['server'].url}/browse.html")
    assert _settled(page) == f"every entry shown is proven in the log at size {size}"
    first = page.eval_on_selector_all("#rows tbody tr",
                                      "rows => rows.map(r => r.cells[0].innerText)")
    assert [int(i) for i in first] == list(range(size - 1, size - 51, -1))
    newest = page.eval_on_selector("#rows tbody tr", "r => Array.from(r.cells, c => c.innerText)")
    assert newest[1] == "intoto-link"
    assert newest[2] == "sha256:" + hashlib.sha256(b"the newest product").hexdigest()
    page.click("#older")
    _settled(page)
    assert page.inner_text("#range") == f"entries {size - 100}–{size - 51} of {size}"
    page.goto(f"{log['server'].url}/browse.html?from=1234")
    _settled(page)
    assert page.inner_text("#rows tbody tr td") == "1234"
    page.close()


def test_index_page_shows_a_links_product_digest(log: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{log['server'].url}/index.html")
    page.screenshot(path=str(SHOTS / "index-1280.png"), full_page=True)
    row = page.eval_on_selector("main table:last-of-type tr:nth-child(2)",
                                "r => Array.from(r.cells, c => c.innerText)")
    assert row[1] == "intoto-link"
    assert row[2] == "sha256:" + hashlib.sha256(b"the newest product").hexdigest()
    page.close()


PAGES = {"index": "index.html", "search": "search.html?q=alice@example.com",
         "entry": "entry.html?index=70000", "browse": "browse.html", "history": "history.html"}


@pytest.mark.parametrize("name", list(PAGES))
def test_phone_width_dark_scheme_and_accessibility(log: dict[str, Any], browser: Any,
                                                   name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{log['server'].url}/{PAGES[name]}")
    if name != "index":
        page.wait_for_function("!document.querySelector('[role=status]').className"
                               ".includes('pending')", timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"  # the dark scheme the system asked for
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    results = Axe().run(page)
    serious = [v for v in results.response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == [], [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                           for v in serious]
    context.close()


def test_history_proves_an_earlier_checkpoint_of_this_log(log: dict[str, Any],
                                                          browser: Any) -> None:
    """The checkpoint the log published one run before, as a browser that visited then would
    have kept it: proven a prefix of the tree served now, in the page."""
    size, earlier = log["size"], log["earlier"]
    context = browser.new_context()
    page = context.new_page()
    vkey = (log["work"] / "log.pub").read_text().strip()
    page.goto(f"{log['server'].url}/history.html")
    _settled(page)
    page.evaluate("([slot, note]) => localStorage.setItem(slot, JSON.stringify("
                  "[{note, seen: '2026-12-01T00:00:00Z'},"
                  " ...JSON.parse(localStorage.getItem(slot))]))",
                  [f"tiledlog:history:{ORIGIN}|{'+'.join(vkey.split('+')[:2])}", earlier])
    page.reload()
    assert _settled(page) == f"2 checkpoints this browser kept, each proven a prefix of tree {size}"
    rows = page.eval_on_selector_all(
        "#history tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.innerText))")
    assert [(r[0], r[3]) for r in rows] == [
        (str(size), "the tree served now"),
        (str(size - 1), f"consistent: a prefix of tree {size} (proven)")]
    context.close()


def test_a_certificate_entry_shows_its_identities(log: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    page.goto(f"{log['server'].url}/search.html?q=alice@example.com")
    _settled(page)
    page.goto(f"{log['server'].url}/entry.html?index={_rows(page)[0][0]}")
    page.wait_for_function("document.getElementById('badge').textContent === 'verified'",
                           timeout=60_000)
    facts = page.inner_text("#facts")
    assert "alice@example.com" in facts and "https://token.actions.githubusercontent.com" in facts
    assert "not checked here against any CA" in facts
    page.close()
