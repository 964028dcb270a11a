"""Search a log by artifact digest, key fingerprint or leaf hash, through its static index.

The index is untrusted: it only proposes indexes, by the 8-byte prefix of the searched key.
Each candidate entry is fetched, proven included in the verified checkpoint, and checked to
really carry the searched key, so a result is never wrong. A candidate that does not carry it
is a broken index unless one of its keys shares that prefix (a collision); a log that left an
entry out of its index is caught by monitors (who read every entry) rather than by searchers.

GETs per lookup: the checkpoint, the index manifest for its size, the shard's L1 object and one
range read per larger level (see ``tlog.index``), then for each match its inclusion proof.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlog.client import LogClient, VerifiedEntry
from tlog.errors import MalformedError, UnknownEntryTypeError
from tlog.index import manifest_path, same_prefix, search_key

__all__ = ["SearchResult", "search"]


@dataclass(frozen=True)
class SearchResult:
    """Every verified entry that carries ``query``; the candidates the index named that do not
    (a broken index); and those of entry types this installation cannot read (not checked)."""

    query: str
    size: int
    entries: tuple[VerifiedEntry, ...]
    rejected_candidates: tuple[int, ...]
    unreadable_candidates: tuple[int, ...] = ()


def search(client: LogClient, query: str) -> SearchResult:
    """All entries whose search keys include ``query`` (``sha256:<hex>`` or ``key:<hex>``)."""
    from tlog.entries import entry_index_keys, entry_search_keys

    query = query.strip().lower()
    if not query.startswith(("sha256:", "sha384:", "sha512:", "blake2b512:", "key:", "keyid:",
                             "identity:", "issuer:", "namespace:")):
        raise MalformedError(
            "expected sha256:<hex>, sha384:…, sha512:…, blake2b512:…, key:<hex>, keyid:<id>, "
            "identity:<name>, issuer:<url> or namespace:<ssh namespace>", field="query"
        )
    cp = client.checkpoint()
    asked = search_key(query)
    candidates, path = client.index_candidates(asked, cp)
    own = path == manifest_path(cp.size)
    found, rejected, unreadable = [], [], []
    for index in candidates:
        if index >= cp.size:  # not in this tree: a lie in its own manifest; a newer one (this
            if own:  # tree's was collected) names later entries, which says nothing
                rejected.append(index)
            continue
        entry = client.entry(index, cp)  # proven: the entry itself is the log's
        try:
            keys = {k.lower() for k in entry_search_keys(entry.entry)}
        except UnknownEntryTypeError:  # a plugin this installation lacks: cannot tell
            unreadable.append(index)
            continue
        except MalformedError:  # an entry no type reads: it cannot carry the query
            keys = set()
        if query in keys:
            found.append(entry)
        elif not any(same_prefix(asked, k) for k in entry_index_keys(entry.entry)):
            rejected.append(index)  # not even a collision of the prefix the index keeps
    return SearchResult(query, cp.size, tuple(found), tuple(rejected), tuple(unreadable))
