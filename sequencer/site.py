"""The static site: pages rendered from ``site_templates`` and written next to the log."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from typing import Any

import jinja2

from tlog.checkpoint import parse_checkpoint
from tlog.cosignature import cosignature_timestamp
from tlog.errors import TlogError
from tlog.note import new_verifier, open_note
from tlog.tiles import ENTRIES, Tile, decode_entry_bundle

from .config import LogConfig

__all__ = ["PAGES", "build_site", "render_site"]

PAGES = ("index.html", "entry.html", "verify.html")
RECENT = 20


def _env() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("site_templates").joinpath(name).read_text()
    )
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, autoescape=True)


def _recent(store: Any, size: int) -> list[dict[str, Any]]:
    from tlog.entries import describe_entry

    out: list[dict[str, Any]] = []
    n = size // 256 if size % 256 else size // 256 - 1
    while n >= 0 and len(out) < RECENT and size:
        width = min(256, size - n * 256)
        try:
            entries = decode_entry_bundle(store.get(Tile(ENTRIES, n, width).path), width)
        except TlogError:
            break
        for i in range(len(entries) - 1, -1, -1):
            try:
                d = describe_entry(entries[i])
            except TlogError:
                d = {"type": "unknown", "digests": [""], "key_fingerprints": [""]}
            out.append(
                {
                    "index": n * 256 + i,
                    "type": d["type"],
                    "digest": (d.get("digests") or [""])[0],
                    "key": (d.get("key_fingerprints") or [""])[0],
                }
            )
            if len(out) >= RECENT:
                break
        n -= 1
    return out


def render_site(cfg: LogConfig, store: Any, note: bytes) -> dict[str, bytes]:
    """Render every page for the log as of checkpoint ``note``."""
    verifier = new_verifier(cfg.verifier_key())  # the public key: a site build holds no secret
    witnesses = []
    from tlog.cosignature import parse_any_verifier

    wv = [parse_any_verifier(w.vkey) for w in cfg.witnesses]
    opened = open_note(note, [verifier, *wv])
    cp = parse_checkpoint(opened.text)
    for sig in opened.sigs:
        if sig.name != verifier.name:
            ts = cosignature_timestamp(sig)
            witnesses.append(
                {
                    "name": sig.name,
                    "time": dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                }
            )
    ctx = {
        "origin": cp.origin,
        "size": cp.size,
        "root_hex": cp.root_hash.hex(),
        "vkey": verifier.vkey,
        "witnesses": witnesses,
        # The page checks cosignatures against these keys, and enforces the log's threshold
        # when the log requires witnesses (a URL's ?threshold= can ask for more).
        "witness_vkeys": [w.vkey for w in cfg.witnesses],
        "witness_threshold": cfg.witness_threshold if cfg.require_witnesses else 0,
        "entries": _recent(store, cp.size),
        "published": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "published_iso": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        # Commands shown to the public name the URL the public reads, never the store's
        # own (s3://… or a folder path): public_url, or a placeholder the page explains.
        "log_url": cfg.public_url or "LOG-URL",
        "public_url_set": bool(cfg.public_url),
    }
    env = _env()
    return {page: env.get_template(page).render(**ctx).encode() for page in PAGES}


def build_site(cfg: LogConfig, store: Any, note: bytes) -> list[str]:
    """Render the pages and write them to the store (mutable objects, short cache)."""
    pages = render_site(cfg, store, note)
    for name, data in pages.items():
        store.overwrite(name, data)
    return sorted(pages)
