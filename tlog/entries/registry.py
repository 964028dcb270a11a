"""Entry types: the built-in ones and plugins from the entry-point group ``tiledlog.types``.

A type is an object (see ``EntryType``) that turns a submission document into verified,
canonical entry bytes, and reads logged entries back. Every entry is a JSON object carrying
its ``kind`` and ``apiVersion`` (as Rekor's entries do), which is how a monitor or the web
viewer learns its type from the bytes alone::

    {"apiVersion":"0.0.2","kind":"hashedrekord","spec":{...}}

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."tiledlog.types"]
    my-type = "my_package.module:TYPE"
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from tlog.errors import ConfigError, MalformedError, TlogError, UnknownEntryTypeError

from .canonical import canonical_json

__all__ = [
    "BUILTIN",
    "EntryType",
    "decode_entry",
    "describe_entry",
    "entry_certificates",
    "entry_search_keys",
    "entry_type",
    "parse_entry",
    "recheck_entry",
    "reload_types",
    "signature_checked_by_entry",
    "type_for_entry",
    "types",
    "verify_entry",
]

log = logging.getLogger("tiledlog.entries")
GROUP = "tiledlog.types"
BUILTIN = {
    "hashedrekord": "tlog.entries.hashedrekord:TYPE",
    "dsse": "tlog.entries.dsse:TYPE",
    "intoto-link": "tlog.entries.intoto_link:TYPE",
    "signature": "tlog.entries.signature:TYPE",
}


@runtime_checkable
class EntryType(Protocol):
    """What a type provides. ``parse`` raises MalformedError naming the field
    (``<name>.<field>``); ``verify`` raises VerificationError likewise; ``canonical`` returns
    the entry bytes (the leaf input, a canonical JSON object with ``kind`` and
    ``apiVersion``, at most 65535 bytes). The entry-reading methods take entry bytes and raise
    MalformedError for bytes that are not a valid entry of the type.

    Optional: ``parsed_search_keys(parsed)`` (a fast path at admission) and
    ``verify_entry(entry)`` (re-verification by monitors; without it nothing is re-checked).
    """

    name: str  # the submission's "type"
    kind: str  # the entry's "kind"
    api_version: str  # the entry's "apiVersion"

    def parse(self, doc: dict[str, Any]) -> Any: ...
    def verify(self, parsed: Any) -> None: ...
    def canonical(self, parsed: Any) -> bytes: ...
    def search_keys(self, entry: bytes) -> list[str]: ...
    def describe(self, entry: bytes) -> dict[str, Any]: ...


def _load(target: str | Any) -> Any:
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(__import__(module, fromlist=[attr]), attr)
    return target.load()


def _check(t: Any, where: str) -> bool:
    missing = [
        m for m in ("name", "parse", "verify", "canonical", "search_keys", "describe")
        if not hasattr(t, m)
    ]
    if missing:
        log.warning("entry type %s ignored: it has no %s", where, ", ".join(missing))
    return not missing


@lru_cache(maxsize=1)
def types() -> dict[str, Any]:
    """The entry types by submission ``type`` name: built-ins, then plugins. A plugin that
    fails to import or lacks a method is logged and skipped (the others still load); one that
    claims a name or an entry (kind, apiVersion) already taken is an error naming both, since
    it would decide how the other's logged entries are read, searched and re-verified."""
    found: dict[str, Any] = {}
    owners: dict[str, str] = {}  # name -> where it comes from
    kinds: dict[tuple[str, str], str] = {}
    for name, target in BUILTIN.items():
        found[name] = _load(target)
        owners[name] = f"built-in {target}"
        kinds[_kind_of(found[name])] = owners[name]
    for ep in entry_points(group=GROUP):
        if ep.value in BUILTIN.values():
            continue
        try:
            t = _load(ep)
        except Exception as e:  # a plugin's import may fail in any way; keep the others
            log.warning("entry type %s could not be loaded: %s", ep.name, e)
            continue
        if not _check(t, ep.name):
            continue
        where = f"plugin {ep.name} ({ep.value})"
        taken = owners.get(t.name) or kinds.get(_kind_of(t))
        if taken:
            kind, version = _kind_of(t)
            raise ConfigError(
                f"entry types: {where} claims type {t.name!r} (kind {kind!r}, apiVersion "
                f"{version!r}), which {taken} already has; uninstall one of them")
        found[t.name], owners[t.name], kinds[_kind_of(t)] = t, where, where
    return found


def _kind_of(t: Any) -> tuple[str, str]:
    return getattr(t, "kind", t.name), getattr(t, "api_version", "")


def reload_types() -> dict[str, Any]:
    """Look for plugins again (after installing one into a running process)."""
    types.cache_clear()
    _by_kind.cache_clear()
    _by_prefix.cache_clear()
    return types()


def entry_type(name: Any) -> Any:
    """The type a submission's ``type`` names (MalformedError listing the known ones)."""
    known = types()
    if isinstance(name, str) and name in known:
        return known[name]
    listed = ", ".join(sorted(known))
    if name is None:
        raise MalformedError(f"missing (known: {listed})", field="type")
    shown = json.dumps(name) if isinstance(name, str) else f"of JSON type {type(name).__name__}"
    raise MalformedError(f"unknown entry type {shown} (known: {listed})", field="type")


@lru_cache(maxsize=1)
def _by_kind() -> dict[tuple[str, str], Any]:
    return {_kind_of(t): t for t in types().values()}  # distinct: types() refuses a clash


@lru_cache(maxsize=1)
def _by_prefix() -> tuple[tuple[bytes, Any], ...]:
    """The types that check an entry's exact bytes themselves (``checks_encoding``), by how a
    canonical entry of theirs begins (RFC 8785 orders apiVersion, kind, spec): such an entry
    is re-verified without a JSON parse to find its type. Any other entry with that beginning
    is not canonical, and that type calls it malformed (one naming its kind twice, which the
    parse read as its last kind, is malformed too). Built-in types only: a plugin is given
    only bytes that the parse has read."""
    builtin = [types()[name] for name in BUILTIN]
    return tuple((b'{"apiVersion":' + canonical_json(version) + b',"kind":' + canonical_json(kind)
                  + b",", t)
                 for t in builtin if getattr(t, "checks_encoding", False)
                 for kind, version in [_kind_of(t)])


def parse_entry(entry: bytes) -> dict[str, Any]:
    """A logged entry's JSON object. The last few are kept: a monitor's check reads one entry
    in several steps (its type, its fields, its search keys), and callers only read it."""
    if not isinstance(entry, bytes | bytearray):
        raise MalformedError("expected entry bytes", field="entry")
    return _parsed(bytes(entry))


@lru_cache(maxsize=4)
def _parsed(entry: bytes) -> dict[str, Any]:
    try:
        body = json.loads(entry)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise MalformedError("not a JSON entry", field="entry") from e
    if not isinstance(body, dict):
        raise MalformedError("not a JSON object", field="entry")
    return body


def type_for_entry(entry: bytes) -> tuple[Any, dict[str, Any]]:
    """The type of a logged entry (by its ``kind`` and ``apiVersion``) and its JSON body."""
    body = parse_entry(entry)
    kind, version = body.get("kind"), body.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(version, str):
        raise MalformedError("has no string kind and apiVersion", field="entry")
    t = _by_kind().get((kind, version))
    if t is None:
        raise UnknownEntryTypeError(f"unknown kind {kind!r} version {version!r} (no installed "
                                    "entry type reads it)", field="entry")
    return t, body


def decode_entry(entry: bytes) -> tuple[str, dict[str, Any]]:
    """A logged entry's type name and its JSON body."""
    t, body = type_for_entry(entry)
    return t.name, body


def _guard(t: Any, what: str, call: Callable[[], Any]) -> Any:
    """Run a type's entry reader; a plugin's stray exception becomes MalformedError."""
    try:
        return call()
    except TlogError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise MalformedError(f"malformed {t.name} entry ({what}): {e!r}", field="entry") from e


def entry_search_keys(entry: bytes) -> list[str]:
    """Digests (``sha256:<hex>``…) and key fingerprints (``key:<hex>``) an entry mentions."""
    t, _ = type_for_entry(entry)
    return _guard(t, "search keys", lambda: list(t.search_keys(bytes(entry))))


def entry_index_keys(entry: bytes) -> list[bytes]:
    """The 32-byte keys the lookup index files an entry under: its leaf hash, and the
    ``tlog.index.search_key`` of each search key it mentions (none for an entry no known type
    reads). A candidate the index names for a key is a fair one (a collision of the prefix it
    keeps) if one of these shares that prefix."""
    from tlog.index import search_key
    from tlog.merkle import leaf_hash

    try:
        keys = entry_search_keys(entry)
    except MalformedError:
        keys = []
    return [leaf_hash(entry), *(search_key(k) for k in keys)]


def describe_entry(entry: bytes) -> dict[str, Any]:
    """``{"type", "digests", "key_fingerprints", ...}`` of a logged entry, for display."""
    t, _ = type_for_entry(entry)
    return _guard(t, "describe", lambda: dict(t.describe(bytes(entry))))


def entry_certificates(entry: bytes) -> list[bytes]:
    """The DER X.509 certificates an entry's signers used (a type without ``certificates``
    has none)."""
    t, _ = type_for_entry(entry)
    get_certs = getattr(t, "certificates", None)
    return list(get_certs(bytes(entry))) if get_certs is not None else []


def signature_checked_by_entry(entry: bytes) -> bool:
    """Whether ``verify_entry`` re-checks the entry's signature itself (False for a signature
    over the whole artifact, which the entry does not hold: only the key binding is checked)."""
    t, _ = type_for_entry(entry)
    check = getattr(t, "signature_checked_by_entry", None)
    return bool(check(bytes(entry))) if check is not None else hasattr(t, "verify_entry")


def verify_entry(entry: bytes) -> None:
    """Re-verify a logged entry from its bytes alone (monitors): it must be canonical JSON,
    and the type re-checks what it can (see each type's ``verify_entry``)."""
    recheck_entry(entry)


def recheck_entry(entry: bytes) -> tuple[list[str], bool | None]:
    """``verify_entry``, and in the same reading of the entry what a monitor needs next: its
    search keys, and whether its signature itself was re-checked
    (``signature_checked_by_entry``); None if its type has no ``verify_entry``, so nothing
    but its encoding was."""
    if not isinstance(entry, bytes | bytearray):
        raise MalformedError("expected entry bytes", field="entry")
    raw = bytes(entry)
    t = next((t for prefix, t in _by_prefix() if raw.startswith(prefix)), None)
    if t is None:
        t, body = type_for_entry(entry)
        # A type that re-encodes the entry exactly in its own check makes this one redundant.
        if not getattr(t, "checks_encoding", False) and canonical_json(body) != raw:
            raise MalformedError("is not in canonical (RFC 8785) form", field="entry")
    check = getattr(t, "verify_entry", None)
    if check is not None:
        _guard(t, "verify", lambda: check(raw))
    keys = _guard(t, "search keys", lambda: list(t.search_keys(raw)))
    if check is None:
        return keys, None
    by_entry = getattr(t, "signature_checked_by_entry", None)
    return keys, bool(by_entry(raw)) if by_entry is not None else True
