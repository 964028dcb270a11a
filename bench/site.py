"""What a search costs the site's page against the CLI, at 10^5 and 10^6 entries (issue 22).

    .venv/bin/python bench/site.py [--sizes 100000,1000000] [--lookups 20] [--json]

A log of synthetic entries with its static index (tests/loglib.py) is served over loopback
HTTP with Range support. For random entries, a leaf-hash lookup is made cold (a fresh browser
context; a fresh tile cache for the CLI) by the search page in headless Chromium and by `tlog
search --leaf-hash`; the server counts requests and bytes sent. Both read the checkpoint, the
index manifest, one fenced block per index level, and the tiles of the hit's inclusion proof;
the page reads no more than the CLI is the claim checked (printed as `page_over_cli`). The
lookup path is the same for every query kind (a digest or key is looked up as SHA-256 of its
text), so a leaf hash stands for all of them here.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from loglib import TestLog, synthetic_entries
from servers import StaticServer

from sequencer.config import LogConfig
from sequencer.site import build_site
from tlog.merkle import leaf_hash
from tlog.storage import open_store

BIN = Path(sys.executable).parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _log(root: Path, size: int) -> TestLog:
    log = TestLog(root, origin="bench.example/site")
    step = 50_000
    for start in range(0, size, step):
        log.append(synthetic_entries(min(step, size - start), start=start))
    note = log.publish()
    (root.parent / "log.key").write_text(log.skey + "\n")
    cfg = LogConfig(origin=log.origin, store=str(root), queue=str(root.parent / "queue"),
                    key_file=str(root.parent / "log.key"))
    build_site(cfg, open_store(str(root)), note)
    return log


def _measure(size: int, lookups: int, rng: random.Random) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "public"
        log = _log(root, size)
        (Path(d) / "log.pub").write_text(log.vkey + "\n")
        picks = [rng.randrange(size) for _ in range(lookups)]
        page_cost, cli_cost = [], []
        with StaticServer(root) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--headless", "--no-sandbox", "--disable-gpu"])
            for i in picks:
                leaf = leaf_hash(log.entries[i]).hex()
                server.reset()
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{server.url}/search.html?q=leaf:{leaf}")
                page.wait_for_function("!document.getElementById('status').className"
                                       ".includes('pending')", timeout=60_000)
                assert "1 of 1 shown, each proven" in page.inner_text("#status"), i
                page_cost.append((_counted(server), _sent(server)))
                context.close()
                server.reset()
                cache = Path(d) / f"cache-{i}"
                res = subprocess.run([str(BIN / "tlog"), "search", "--log", server.url, "--vkey",
                                      str(Path(d) / "log.pub"), "--leaf-hash", leaf, "--cache",
                                      str(cache), "--json"], capture_output=True, text=True,
                                     timeout=120)
                assert res.returncode == 0 and json.loads(res.stdout)["matches"], res.stderr
                cli_cost.append((_counted(server), _sent(server)))
            browser.close()
    med = statistics.median
    page_req, page_bytes = med(c[0] for c in page_cost), med(c[1] for c in page_cost)
    cli_req, cli_bytes = med(c[0] for c in cli_cost), med(c[1] for c in cli_cost)
    return {"entries": size, "lookups": lookups,
            "page": {"requests": page_req, "bytes": round(page_bytes)},
            "cli": {"requests": cli_req, "bytes": round(cli_bytes)},
            "page_over_cli": {"requests": round(page_req / cli_req, 2),
                              "bytes": round(page_bytes / cli_bytes, 2)}}


def _data(path: str) -> bool:
    """The log's files (the page itself and the browser's favicon request are not part of a
    search's cost)."""
    return not path.endswith(".html") and path != "favicon.ico"


def _counted(server: StaticServer) -> int:
    return sum(n for path, n in server.requests.items() if _data(path))


def _sent(server: StaticServer) -> int:
    return sum(n for path, n in server.sent.items() if _data(path))


def main() -> None:
    ap = argparse.ArgumentParser(description="search cost: site page against the CLI")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--lookups", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(22)
    out = [_measure(int(s), args.lookups, rng) for s in args.sizes.split(",")]
    print(json.dumps(out, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
