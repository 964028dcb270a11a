"""``tlog search``: find every entry for a digest, a key or a leaf hash, each proven included."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tlog.errors import ConfigError, VerificationError
from tlog.keys_cli import key_arg

__all__ = ["search"]


@click.command()
@click.option("--log", "log_url", required=True, help="The log's URL (https://…) or folder.")
@click.option("--vkey", required=True,
              help="The log's verifier key (note key string), or a file holding it.")
@click.option("--digest", help="An artifact digest, e.g. sha256:<hex>.")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False),
    help="A public key or certificate file: find what it signed.",
)
@click.option("--key-fingerprint", help="SHA-256 of the key's DER SubjectPublicKeyInfo, in hex.")
@click.option("--entry-hash", help="An entry's leaf hash, in hex.")
@click.option("--cache-dir", help="Where immutable tiles are cached (default: user cache).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search(
    log_url: str,
    vkey: str,
    digest: str | None,
    public_key: str | None,
    key_fingerprint: str | None,
    entry_hash: str | None,
    cache_dir: str | None,
    as_json: bool,
) -> None:
    """Find entries by artifact digest, signing key or leaf hash, each verified by inclusion.

    \b
    Examples:
      tlog search --log https://log.example/ --vkey "$(cat log.pub)" --digest sha256:9f86d0…
      tlog search --log https://log.example/ --vkey "$(cat log.pub)" --public-key maint.pub
      tlog search --log ./public --vkey "$(cat log.pub)" --entry-hash 6e340b9c…
    """
    from tlog.client import LogClient
    from tlog.storage import open_store

    given = [x for x in (digest, public_key, key_fingerprint, entry_hash) if x]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of --digest, --public-key, --key-fingerprint, --entry-hash"
        )
    client = LogClient(open_store(log_url, cache_dir=cache_dir), key_arg(vkey))
    if entry_hash:
        try:
            leaf = bytes.fromhex(entry_hash)
        except ValueError as e:
            raise ConfigError("--entry-hash: expected 64 hex digits") from e
        found, broken = [client.find(leaf)], []
        query, size = f"leaf:{entry_hash.lower()}", found[0].checkpoint.size
    else:
        from tlog.search import search as run_search

        if public_key:
            from tlog.entries import key_search_key

            query = key_search_key(Path(public_key).read_bytes())
        elif key_fingerprint:
            query = "key:" + key_fingerprint.lower().removeprefix("key:")
        else:
            query = digest or ""
        result = run_search(client, query)
        found, size = list(result.entries), result.size
        broken = list(result.rejected_candidates)
    rows = [{"index": e.index, "leaf_hash": e.leaf_hash.hex()} for e in found]
    if as_json:
        click.echo(json.dumps({"query": query, "tree_size": size, "matches": rows,
                               "broken_index_candidates": broken}, indent=2))
    else:
        if not rows:
            click.echo(f"no entries for {query} in the log at size {size}")
        for r in rows:
            click.echo(f"{r['index']}\t{r['leaf_hash']}\tverified")
    if broken:  # a lookup key is a hash of the query: a candidate without it is no accident
        raise VerificationError(
            f"the log's index names entries {broken[:8]} for {query}, and they do not carry "
            "it: the index is broken, so this answer may be incomplete")
