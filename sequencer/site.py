"""The static site: pages rendered from ``site_templates`` and written next to the log."""

from __future__ import annotations

import datetime as dt
import functools
import json
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import jinja2

from tlog.checkpoint import parse_checkpoint
from tlog.cosignature import cosignature_timestamp
from tlog.errors import ConfigError, TlogError
from tlog.note import new_verifier, open_note
from tlog.tiles import ENTRIES, Tile, decode_entry_bundle

from .config import LogConfig

__all__ = ["PAGES", "SiteUpdater", "build_site", "render_site"]

PAGES = ("index.html", "entry.html", "verify.html", "search.html", "browse.html",
         "history.html")
RECENT = 20


@functools.cache
def _env() -> jinja2.Environment:
    """One environment per process: it compiles each template once (a daemon builds the
    pages after every batch)."""
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
                    "digest": " ".join(d["product_digests"]) if "product_digests" in d
                    else (d.get("digests") or [""])[0],
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
        "sigstore": bool(cfg.public_url),
        "sigstore_compatible": cfg.sigstore_compatible,
    }
    env = _env()
    pages = {page: env.get_template(page).render(**ctx).encode() for page in PAGES}
    if cfg.public_url:
        pages.update(sigstore_files(cfg))
    return pages


def sigstore_files(cfg: LogConfig) -> dict[str, bytes]:
    """``trusted_root.json`` and ``signing_config.json``: the log (and the ``[sigstore]``
    table's CA, CT logs and TSAs) as Sigstore's clients take them."""
    from cryptography import x509

    from tlog.client.sigstore import signing_config, trusted_root

    def read(path: str, key: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise ConfigError(f"sigstore.{key}: cannot read {path}: {e.strerror}") from e

    def chains(paths: tuple[str, ...], key: str) -> list[list[x509.Certificate]]:
        try:
            return [x509.load_pem_x509_certificates(read(p, key)) for p in paths]
        except ValueError as e:
            raise ConfigError(f"sigstore.{key}: not PEM certificates: {e}") from e

    sg = cfg.sigstore
    assert cfg.public_url is not None
    root = trusted_root(cfg.verifier_key(), cfg.public_url,
                        certificate_authorities=chains(sg.ca_chains, "ca_chains"),
                        ct_log_keys=[read(k, "ctlog_keys") for k in sg.ctlog_keys],
                        timestamp_authorities=chains(sg.tsa_chains, "tsa_chains"))
    config = signing_config(sg.write_url or cfg.public_url, operator=sg.operator,
                            ca_urls=sg.ca_urls, oidc_urls=sg.oidc_urls, tsa_urls=sg.tsa_urls)
    return {"trusted_root.json": (json.dumps(root, indent=2) + "\n").encode(),
            "signing_config.json": (json.dumps(config, indent=2) + "\n").encode()}


class SiteUpdater:
    """Rebuilds the pages after a publish: once per checkpoint (an idle run, which republishes
    the same tree, writes nothing), and at most every ``every`` seconds (``tlog serve``
    publishes several times a second; ``flush`` writes the last checkpoint when its time has
    come). A failed build is warned about and retried with the next call."""

    def __init__(self, cfg: LogConfig, store: Any, *, every: float = 0.0,
                 warn: Callable[[Exception], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg, self.store, self.every, self.warn, self.clock = cfg, store, every, warn, clock
        self.built: bytes | None = None
        self.pending: bytes | None = None
        self.last = -float("inf")

    def __call__(self, note: bytes) -> None:
        if note != self.built:
            self.pending = note
            self.flush()

    def flush(self, force: bool = False) -> None:
        """Build the pending checkpoint's pages if ``every`` has passed since the last build
        (or ``force``: a server stopping writes what it published last)."""
        note = self.pending
        if note is None or (not force and self.clock() - self.last < self.every):
            return
        try:
            build_site(self.cfg, self.store, note)
        except (TlogError, OSError, jinja2.TemplateError) as e:
            if self.warn is None:
                raise
            self.warn(e)
            return
        self.built, self.pending, self.last = note, None, self.clock()


def build_site(cfg: LogConfig, store: Any, note: bytes) -> list[str]:
    """Render the pages and write them to the store (mutable objects, short cache)."""
    pages = render_site(cfg, store, note)
    for name, data in pages.items():
        store.overwrite(name, data)
    return sorted(pages)
