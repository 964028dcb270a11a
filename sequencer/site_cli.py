"""``tlog site build``: render the static pages of a log and publish them beside it."""

from __future__ import annotations

import json

import click

from .config import load_config

__all__ = ["site"]


@click.group()
def site() -> None:
    """The log's static web pages."""


@site.command()
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def build(config_path: str, as_json: bool) -> None:
    """Render index.html, entry.html (the in-browser verifier) and verify.html for the
    published checkpoint and upload them beside the log. Needs no private key.

    \b
    Example:
      tlog site build --config tlog.toml
    """
    from .cli import open_stores
    from .site import build_site

    cfg = load_config(config_path)
    store, _ = open_stores(cfg)
    pages = build_site(cfg, store, store.get("checkpoint"))
    if as_json:
        click.echo(json.dumps({"store": store.url, "pages": pages}))
    else:
        click.echo(f"wrote {', '.join(pages)} to {store.url}")
