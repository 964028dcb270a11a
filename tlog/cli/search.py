"""``tlog search``: find every entry for a digest, a key or a leaf hash, each proven included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tlog.cli.client import _client, _common
from tlog.cli.options import leaf_hash_option
from tlog.errors import ConfigError, TlogError, VerificationError

__all__ = ["search"]


@click.command()
@_common()
@click.option("--digest", help="An artifact digest, e.g. sha256:<hex>.")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False),
    help="A public key or certificate file: find what it signed.",
)
@click.option("--key-fingerprint", help="SHA-256 of the key's DER SubjectPublicKeyInfo, in hex.")
@click.option("--key-id", help="An OpenPGP fingerprint, an SSH key's SHA256:… (ssh-keygen -l), "
                               "a minisign or signify key ID.")
@click.option("--identity", help="A certificate's SAN email or URI, an OpenPGP user ID's "
                                 "email, or an SSH principal.")
@click.option("--issuer", help="A certificate's OIDC issuer (Fulcio's extension), a URL.")
@click.option("--ssh-namespace", help="The namespace SSH signatures were made for (file, git…).")
@leaf_hash_option("An entry's leaf hash, in hex.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search(
    digest: str | None,
    public_key: str | None,
    key_fingerprint: str | None,
    key_id: str | None,
    identity: str | None,
    issuer: str | None,
    ssh_namespace: str | None,
    leaf_hash: str | None,
    as_json: bool,
    **opts: Any,
) -> None:
    """Find entries by artifact digest, signing key or leaf hash, each verified by inclusion
    in a checkpoint checked as `tlog verify` checks it (signature, witness policy, and
    consistency with the checkpoint you trusted).

    \b
    Examples:
      tlog search --log https://log.example/ --vkey "$(cat log.pub)" --digest sha256:9f86d0…
      tlog search --log https://log.example/ --vkey "$(cat log.pub)" --public-key maint.pub
      tlog search --log ./public --vkey log.pub --leaf-hash 6e340b9c…
      tlog search --log ./public --vkey log.pub --identity alice@example.com
      tlog search --log ./public --vkey log.pub --key-id SHA256:uNiVztksCsDhcc0u9e8BujQX…
    """
    given = [x for x in (digest, public_key, key_fingerprint, key_id, identity, issuer,
                         ssh_namespace, leaf_hash) if x]
    if len(given) != 1:
        raise ConfigError("give exactly one of --digest, --public-key, --key-fingerprint, "
                          "--key-id, --identity, --issuer, --ssh-namespace, --leaf-hash")
    client = _client(opts)  # trusted state, witness policy and origin, as every verifier's
    if leaf_hash:
        try:
            leaf = bytes.fromhex(leaf_hash)
        except ValueError as e:
            raise ConfigError("--leaf-hash: expected 64 hex digits") from e
        found, broken, unreadable = [client.find(leaf)], [], []
        query, size = f"leaf:{leaf_hash.lower()}", found[0].checkpoint.size
    else:
        from tlog.client.search import search as run_search
        from tlog.entries.signature import key_queries_of, normal_key_id

        also: list[str] = []
        if public_key:
            from tlog.entries import key_search_key

            data = Path(public_key).read_bytes()
            query, *also = key_queries_of(data) or [key_search_key(data)]
        elif key_id:
            query = f"keyid:{normal_key_id(key_id)}"
        elif identity:
            query = f"identity:{identity.strip().lower()}"
        elif issuer:
            query = f"issuer:{issuer.strip().lower()}"
        elif ssh_namespace:
            query = f"namespace:{ssh_namespace.strip().lower()}"
        elif key_fingerprint:
            query = "key:" + key_fingerprint.lower().removeprefix("key:")
        else:
            query = digest_query(digest or "")
        result = run_search(client, query)
        found, size = list(result.entries), result.size
        broken, unreadable = list(result.rejected_candidates), list(result.unreadable_candidates)
        for other in also:  # the same key named otherwise (an SSH RSA key's PEM form)
            more = run_search(client, other)
            found += [e for e in more.entries if e.index not in {f.index for f in found}]
            broken += more.rejected_candidates
            unreadable += more.unreadable_candidates
        found.sort(key=lambda e: e.index)
    rows = [_row(e.index, e.leaf_hash, e.entry) for e in found]
    if as_json:
        click.echo(json.dumps({"query": query, "tree_size": size, "matches": rows,
                               "broken_index_candidates": broken,
                               "unreadable_candidates": unreadable}, indent=2))
    else:
        if not rows:
            readable = " that this installation can read" if unreadable else ""
            click.echo(f"no entries for {query}{readable} in the log at size {size} "
                       "(according to its index, which can leave entries out unseen)")
        for r in rows:
            digest = query if query in r["digests"] else (r["digests"] or ["-"])[0]
            click.echo(f"{r['index']}\t{r['type']}\t{digest}\t{r['name'] or '-'}\t"
                       f"leaf {r['leaf_hash']}\tinclusion proven at size {size}")
    if unreadable:
        click.echo(f"warning: the index also names entries {unreadable[:8]} of types this "
                   "installation cannot read (install the log's entry-type plugin): not "
                   "checked, so this answer may be incomplete", err=True)
    if broken:  # a lookup key is a hash of the query: a candidate without it is no accident
        raise VerificationError(
            f"the log's index names entries {broken[:8]} for {query}, and they do not carry "
            "it: the index is broken, so this answer may be incomplete")


def _row(index: int, leaf: bytes, entry: bytes) -> dict[str, Any]:
    """One hit: what it is, and that its inclusion in the signed tree was proven (search
    returns nothing else; it does not re-check the entry's signature: `tlog monitor` does)."""
    from tlog.entries import describe_entry

    try:
        d = describe_entry(entry)
    except TlogError:  # a type this installation cannot read: still proven included
        d = {"type": None}
    return {"index": index, "leaf_hash": leaf.hex(), "type": d.get("type"),
            "digests": list(d.get("digests", [])),
            "key_fingerprints": list(d.get("key_fingerprints", [])),
            "name": d.get("name"), "inclusion_proven": True}


_BARE = {64: "sha256", 96: "sha384", 128: "sha512"}  # hex digits: the algorithm, as the site


_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128, "blake2b512": 128}


def digest_query(digest: str, option: str = "--digest") -> str:
    """A digest as a query: ``algo:<hex>``, or bare hex of a SHA-2 length (as ``sha256sum``
    prints it); anything else is an error naming ``option`` (a watch for a digest no entry
    can carry would never fire)."""
    d = digest.strip().lower()
    if ":" not in d:
        if len(d) not in _BARE or any(c not in "0123456789abcdef" for c in d):
            raise ConfigError(f"{option} {digest!r}: expected sha256:<hex> (sha384:, sha512:, "
                              "blake2b512:), or 64, 96 or 128 bare hex digits")
        d = f"{_BARE[len(d)]}:{d}"
    algo, _, hexdigits = d.partition(":")
    if (_DIGEST_HEX.get(algo) != len(hexdigits)
            or any(c not in "0123456789abcdef" for c in hexdigits)):
        raise ConfigError(f"{option} {digest!r}: expected sha256:<64 hex digits> (sha384: 96, "
                          "sha512: 128, blake2b512: 128), or bare hex of those lengths")
    return d
