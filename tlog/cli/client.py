"""``tlog get``, ``tlog verify``, ``tlog bundle``, ``tlog consistency``: thin over ``tlog.client``.

Each command builds a ``LogClient`` (or reads a bundle), calls one library function and prints
the result. Failures are typed errors; ``tlog.cli.main`` turns them into one line and an exit
code (3 for a failed verification).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import platformdirs

from tlog import merkle
from tlog.bundle import format_bundle, format_tlog_proof, parse_any_bundle
from tlog.cli.keys import key_arg
from tlog.cli.options import (
    cache_option,
    expected_origin,
    leaf_hash_option,
    log_option,
    vkey_option,
    write_output,
)
from tlog.cli.submit import statement_options
from tlog.client import (
    LogClient,
    TrustUpdate,
    VerifiedEntry,
    WitnessPolicy,
    verify_bundle,
    witness_policy,
)
from tlog.client.trust import TrustStore, default_state_dir
from tlog.errors import ConfigError, MalformedError, NotFoundError, TlogError, VerificationError
from tlog.sigstore import is_sigstore_bundle, sigstore_proof

__all__ = ["bundle", "consistency", "get", "verify"]


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}") from e


def _policy(witnesses: tuple[str, ...], threshold: int | None, vkey: str) -> WitnessPolicy:
    return witness_policy([key_arg(w, "--witness") for w in witnesses], threshold,
                          key_arg(vkey))


def _trust(state: str | None) -> TrustStore:
    return TrustStore(state or default_state_dir())


def _cache(opts: dict[str, Any]) -> str:
    return opts.get("cache") or str(Path(platformdirs.user_cache_dir()) / "tiledlog" / "tiles")


def _client(opts: dict[str, Any]) -> LogClient:
    from tlog.storage import open_store

    if not opts.get("log"):
        raise click.UsageError("--log URL is required")
    store = open_store(opts["log"], cache_dir=_cache(opts))
    return LogClient(
        store,
        key_arg(opts["vkey"]),
        origin=expected_origin(opts),
        policy=_policy(opts["witness"], opts["witness_threshold"], opts["vkey"]),
        trust=_trust(opts.get("state")),
    )


def _common(log_required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options every verifier command shares."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            log_option(log_required),
            vkey_option(),
            click.option("--origin", metavar="ORIGIN",
                         help="Expected checkpoint origin (default: the key's name)."),
            click.option("--witness", multiple=True, metavar="VKEY",
                         help="A witness verifier key (or file); repeatable."),
            click.option("--witness-threshold", type=click.IntRange(min=0), metavar="K",
                         help="Valid cosignatures required (default: all --witness keys)."),
            click.option("--state", type=click.Path(file_okay=False), metavar="DIR",
                         help="Trusted-state folder (default: <user state dir>/tiledlog/trust; "
                              "see `tlog trust show`)."),
            cache_option(),
        ]
        for opt in reversed(options):
            f = opt(f)
        return f

    return wrap


def _echo_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    for w in warnings:
        if w:
            click.echo(f"warning: {w}", err=True)


def _decode(entry: bytes) -> tuple[str | None, Any]:
    try:
        from tlog.entries import decode_entry

        return decode_entry(entry)
    except (ImportError, TlogError):
        return None, None


def _entry_json(v: VerifiedEntry) -> dict[str, Any]:
    kind, body = _decode(v.entry)
    return {
        "index": v.index,
        "leaf_hash": v.leaf_hash.hex(),
        "type": kind,
        "entry": body,
        "entry_b64": base64.b64encode(v.entry).decode(),
        "inclusion_proof": [h.hex() for h in v.proof],
        "checkpoint": _checkpoint_json(v.checkpoint),
        "verified": True,
    }


def _checkpoint_json(c: Any) -> dict[str, Any]:
    """A verified checkpoint as every command's --json shows it (hashes in hex)."""
    cp = c.checkpoint
    return {"origin": cp.origin, "size": cp.size, "root_hash": cp.root_hash.hex(),
            "cosigners": list(c.cosigners)}


def _summary(v: VerifiedEntry) -> str:
    cp = v.checkpoint.checkpoint
    witnesses = f", cosigned by {', '.join(v.checkpoint.cosigners)}" if v.checkpoint.cosigners \
        else ""
    return (f"verified: entry {v.index} (leaf hash {v.leaf_hash.hex()}) is in {cp.origin} "
            f"at tree size {cp.size}{witnesses}")


def _parse_leaf_hash(value: str) -> bytes:
    try:
        raw = bytes.fromhex(value.removeprefix("sha256:"))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise click.BadParameter("expected 64 hex digits (a leaf hash)", param_hint="--leaf-hash")
    return raw


# ----- tlog get --------------------------------------------------------------------------------


@click.command()
@_common()
@click.option("--index", type=click.IntRange(min=0), help="The entry's index.")
@leaf_hash_option("The entry's leaf hash, in hex (found through the log's index).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def get(as_json: bool, index: int | None, leaf_hash: str | None, **opts: Any) -> None:
    """Fetch an entry and prove it is in the log.

    \b
    Examples:
      tlog get --log https://log.example.com --vkey "$(cat log.pub)" --index 42
      tlog get --log https://log.example.com --vkey log.pub --leaf-hash 3f2a… --json
      export TLOG_LOG=https://log.example.com TLOG_VKEY=log.pub; tlog get --index 42
    """
    if (index is None) == (leaf_hash is None):
        raise click.UsageError("give exactly one of --index and --leaf-hash")
    client = _client(opts)
    v = client.entry(index) if index is not None else client.find(_parse_leaf_hash(leaf_hash))
    _echo_warnings(v.warnings)
    if as_json:
        click.echo(json.dumps(_entry_json(v), indent=2, sort_keys=True))
        return
    kind, body = _decode(v.entry)
    click.echo(f"index: {v.index}")
    click.echo(f"leaf hash: {v.leaf_hash.hex()}")
    click.echo(f"type: {kind or 'unknown'}")
    if body is not None:
        click.echo("entry: " + json.dumps(body, indent=2, sort_keys=True))
    else:
        click.echo("entry (base64): " + base64.b64encode(v.entry).decode())
    cp = v.checkpoint.checkpoint
    click.echo(f"inclusion proof ({len(v.proof)} hashes, tree size {cp.size}, root "
               f"{cp.root_hash.hex()}):")
    for h in v.proof:
        click.echo(f"  {h.hex()}")
    click.echo(_summary(v))


# ----- tlog verify -----------------------------------------------------------------------------


def _held_document(opts: dict[str, Any]) -> tuple[dict[str, Any] | bytes, str] | None:
    """The submission the user holds, from the verify flags (None: none given)."""
    from tlog.entries.build import build_dsse, build_intoto_link, build_statement

    artifact, signature = opts.pop("artifact"), opts.pop("signature")
    keys, certs, pss = opts.pop("public_key"), opts.pop("certificate"), opts.pop("rsa_pss")
    fmt, namespace = opts.pop("format"), opts.pop("namespace")
    dsse, link, submission = opts.pop("dsse"), opts.pop("link"), opts.pop("submission")
    entry_file = opts.pop("entry_file")
    given = [name for name, on in (
        ("--artifact/--signature", artifact or signature), ("--dsse", dsse), ("--link", link),
        ("--submission", submission), ("--entry", entry_file)) if on]
    if len(given) > 1:
        raise click.UsageError(f"give one of {', '.join(given)}, not several")
    key_files = [_read(k, "public key") for k in keys]
    cert_files = [_read(c, "certificate") for c in certs]
    if dsse:
        return build_dsse(_read(dsse, "DSSE envelope"), key_files, cert_files), "envelope"
    if link:
        return build_intoto_link(_read(link, "link"), key_files), "link"
    if submission:
        return _read(submission, "submission"), "submission"
    if entry_file:
        return None
    if not (artifact or signature or keys or certs):
        return None
    if not (artifact and signature) or len(keys) + len(certs) != 1:
        raise click.UsageError("--artifact, --signature and one --public-key (or "
                               "--certificate) go together")
    doc = build_statement(_read(artifact, "artifact"), None, _read(signature, "signature"),
                          (key_files or cert_files)[0], certificate=bool(cert_files),
                          rsa_pss=pss, fmt=None if fmt == "auto" else fmt, namespace=namespace)
    return doc, "artifact and signature"


def _held_entry(opts: dict[str, Any]) -> bytes | None:
    """The entry the user holds: from --entry, or rebuilt from what they hold exactly as the
    log's admission does (the same checks, the same canonical bytes)."""
    entry_file = opts.get("entry_file")
    held = _held_document(opts)
    if held is None:
        return _read(entry_file, "entry file") if entry_file else None
    from tlog.entries import admit

    doc, what = held
    try:
        return admit(doc if isinstance(doc, bytes) else json.dumps(doc).encode()).entry
    except VerificationError as e:
        raise VerificationError(f"your {what}: {e}") from e
    except MalformedError as e:
        raise MalformedError(f"your {what}: {e}") from e


@click.command()
@_common(log_required=False)
@statement_options
@click.option("--submission", type=click.Path(dir_okay=False),
              help="A submission document you hold (any entry type).")
@click.option("--entry", "entry_file", type=click.Path(dir_okay=False),
              help="A file holding the exact entry bytes.")
@click.option("--index", "indexes", metavar="N|A-B[,…]",
              help="Verify the entry at this index, or every entry of ranges (0-999,1500).")
@click.option("--leaf-hashes", type=click.Path(dir_okay=False),
              help="Verify the entries of every leaf hash in this file (hex, one per line).")
@click.option("--bundle", "bundle_file", type=click.Path(dir_okay=False),
              help="Verify a proof bundle offline (JSON, C2SP tlog-proof, or a Sigstore "
                   "bundle of this log's entry).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the verified entry as one JSON object (as `tlog get --json`).")
def verify(indexes: str | None, leaf_hashes: str | None, bundle_file: str | None,
           as_json: bool, **opts: Any) -> None:
    """Verify that an entry is in the log (exit 0 only if every check holds).

    Checks the checkpoint signature, the witness policy, consistency with the last checkpoint
    you trusted, the inclusion proof from the log's tiles, and that the logged entry is the
    one you hold. A --bundle is checked offline: its inclusion proof, and against the trusted
    checkpoint only if that has the bundle's tree size (else a warning says it was not).

    \b
    Examples:
      tlog verify --log https://log.example.com --vkey log.pub \\
          --artifact app.tgz --signature app.tgz.sig --public-key maintainer.pem
      tlog verify --log https://log.example.com --vkey log.pub \\
          --dsse app.intoto.jsonl --public-key builder.pub
      tlog verify --log https://log.example.com --vkey log.pub --index 42
      tlog verify --log https://log.example.com --vkey log.pub --index 0-999 --cache .tiles
      tlog verify --vkey log.pub --bundle app.tgz.bundle.json --artifact app.tgz \\
          --signature app.tgz.sig --public-key maintainer.pem
    """
    wanted = _index_list(indexes) if indexes else None
    if (wanted and len(wanted) > 1) or leaf_hashes:
        return _verify_many(wanted, leaf_hashes, as_json, opts)
    index = wanted[0] if wanted else None
    exact = bool(opts.get("entry_file"))  # --entry: those bytes or nothing (read before
    held = _held_entry(opts)  # the flags are taken from opts)
    if bundle_file:
        if index is not None:
            raise click.UsageError("--index and --bundle do not go together")
        data = _read(bundle_file, "bundle")
        proof = (sigstore_proof(data, key_arg(opts["vkey"])) if is_sigstore_bundle(data)
                 else parse_any_bundle(data))
        v = verify_bundle(
            proof, key_arg(opts["vkey"]), origin=expected_origin(opts),
            policy=_policy(opts["witness"], opts["witness_threshold"], opts["vkey"]), entry=held,
            trust=_trust(opts.get("state")),
        )
        _echo_warnings(v.warnings)
        _echo_verified(v, as_json, "bundle")
        return
    if index is None and held is None:
        raise click.UsageError("give --artifact/--signature/--public-key, --dsse, --link, "
                               "--submission, --entry, --index or --bundle")
    client = _client(opts)
    cp = client.checkpoint()  # no log there: "not found, try again" (1), as every command says
    try:
        v = (client.entry(index, cp) if index is not None
             else client.find(merkle.leaf_hash(held or b""), cp))
    except NotFoundError as e:  # for a verifier, "not in the log" is the check failing
        built = held is not None and index is None and not exact
        same = _same_claim(client, held, cp) if built else None
        if same is None:
            raise VerificationError(str(e)) from e
        v, held = same, same.entry
    if held is not None and v.entry != held:
        raise VerificationError(f"entry {v.index} in the log is not the entry you hold")
    _echo_warnings(v.warnings)
    _echo_verified(v, as_json, "log")


def _same_claim(client: Any, held: bytes, cp: Any) -> VerifiedEntry | None:
    """A logged entry making the claim your files make, though its bytes differ: the same
    type, the same artifact digest and the same signer's key, from key or signature files
    encoded otherwise (a key exported armored where it was submitted binary, an allowed_signers
    line where it was an id_*.pub). Your files' signature was checked as the log checks it;
    the logged one was checked by the log. Said on stderr; None if there is none."""
    from tlog.client.search import search
    from tlog.entries import decode_entry, entry_search_keys

    try:
        kind, keys = decode_entry(held)[0], set(entry_search_keys(held))
    except TlogError:
        return None
    if kind != "signature":  # a tool's own files, whose encodings vary; other types'
        return None  # entries are made canonical (and name more than one artifact)
    digests = sorted(k for k in keys if k.split(":")[0] in ("sha256", "sha384", "sha512"))
    # Names bound to the key itself: a key fingerprint, an SSH key blob's hash or an
    # OpenPGP fingerprint; not a minisign or signify key number (16 hex digits), which the
    # key's maker chooses: another key can carry the maintainer's.
    signers = {k for k in keys if k.startswith("key:") or (
        k.startswith("keyid:") and len(k) - len("keyid:") >= 40)}
    if not digests or not signers:
        return None
    for e in search(client, digests[0]).entries:
        try:
            if decode_entry(e.entry)[0] != kind:
                continue
            theirs = set(entry_search_keys(e.entry))
        except TlogError:
            continue
        if signers & theirs and digests[0] in theirs:
            click.echo(f"note: your files make another entry than the log holds: entry {e.index} "
                       f"is a {kind} of the same artifact ({digests[0]}) by the same key "
                       f"({sorted(signers & theirs)[0]}), logged from files encoded otherwise "
                       "(a key or signature exported another way); its inclusion is what was "
                       "proven", err=True)
            return e  # type: ignore[no-any-return]
    return None


_MAX_MANY = 1_000_000  # entries one command verifies


def _index_list(text: str) -> list[int]:
    """``42``, ``0-999`` or ``0-9,15,20-29`` as a list of indexes."""
    out: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi) if dash else int(lo)
        except ValueError:
            raise click.BadParameter(f"{part!r}: expected N or A-B", param_hint="--index"
                                     ) from None
        if a < 0 or b < a:
            raise click.BadParameter(f"{part!r}: expected 0 <= A <= B", param_hint="--index")
        out += range(a, b + 1)
        if len(out) > _MAX_MANY:
            raise click.BadParameter(f"more than {_MAX_MANY} entries", param_hint="--index")
    return out


def _leaf_hash_file(path: str) -> list[bytes]:
    """The leaf hashes of a ``--leaf-hashes`` file (hex, one per line), read a bounded line at
    a time: at most ``_MAX_MANY``; a bad line is named by its number, and a file with none is
    an error (an empty list, verified, would pass having checked nothing)."""
    out: list[bytes] = []
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(iter(lambda: f.readline(130), b""), 1):
                line = raw.strip()
                if not line:
                    continue
                if not raw.endswith(b"\n") and len(raw) == 130:
                    raise ConfigError(f"--leaf-hashes {path}: line {number} is too long for a "
                                      "leaf hash (64 hex digits per line)")
                try:  # the one reading of a leaf hash, as --leaf-hash's
                    out.append(_parse_leaf_hash(line.decode("ascii")))
                except (UnicodeDecodeError, click.BadParameter):
                    raise ConfigError(f"--leaf-hashes {path}: line {number} is not a leaf hash "
                                      "(64 hex digits)") from None
                if len(out) > _MAX_MANY:
                    raise ConfigError(f"--leaf-hashes {path}: more than {_MAX_MANY} leaf hashes")
    except OSError as e:
        raise ConfigError(f"--leaf-hashes: cannot read {path}: {e.strerror}") from e
    if not out:
        raise ConfigError(f"--leaf-hashes {path}: no leaf hashes in it")
    return out


def _verify_many(indexes: list[int] | None, leaf_file: str | None, as_json: bool,
                 opts: dict[str, Any]) -> None:
    """Many entries against one verified checkpoint, sharing its tiles: one line (or one
    JSON object) per entry, then what it cost in requests and bytes."""
    if indexes and leaf_file:
        raise click.UsageError("give --index or --leaf-hashes, not both")
    leaves = _leaf_hash_file(leaf_file) if leaf_file else []
    client = _client(opts)
    store: Any = client.store
    update = client.update_trust()
    cp = update.checkpoint
    _echo_warnings([update.warning] if update.warning else [])
    before = (store.stats.gets, store.stats.bytes_read)
    done = []
    cost = [0, 0]  # what the worker processes read
    if indexes:  # on all cores, each worker with its own client on the same disk cache
        from tlog.client.many import verify_indexes

        beyond = [i for i in indexes if i >= cp.size]
        if beyond:
            raise VerificationError(f"entry {beyond[0]}: beyond the tree size {cp.size}")
        found = verify_indexes(opts["log"], _cache(opts), key_arg(opts["vkey"]),
                               expected_origin(opts), cp, indexes, cost=cost)
    else:
        found = (client.find(leaf, cp) for leaf in leaves)
    try:
        for v in found:
            done.append(v)
            if not as_json:
                click.echo(_summary(v))
    except NotFoundError as e:  # for a verifier, "not in the log" is the check failing
        raise VerificationError(str(e)) from e
    gets = store.stats.gets - before[0] + cost[0]
    got = store.stats.bytes_read - before[1] + cost[1]
    cost = {"entries": len(done), "tree_size": cp.size, "requests": gets, "bytes": got}
    if as_json:
        click.echo(json.dumps({"verified": [_entry_json(v) for v in done], **cost},
                              indent=2, sort_keys=True))
    else:
        n = max(1, len(done))
        click.echo(f"verified {len(done)} entries at tree size {cp.size}: {gets} requests, "
                   f"{got} bytes ({gets / n:.2f} requests and {got / n:.0f} bytes per entry)",
                   err=True)


def _echo_verified(v: VerifiedEntry, as_json: bool, source: str) -> None:
    if as_json:
        doc = {**_entry_json(v), "source": source}
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    else:
        click.echo(_summary(v) + (" (offline bundle)" if source == "bundle" else ""))


# ----- tlog bundle -----------------------------------------------------------------------------


@click.command()
@_common()
@click.option("--index", type=click.IntRange(min=0), required=True, help="The entry's index.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), required=True,
              help="Where to write the bundle ('-' for stdout).")
@click.option("--format", "fmt", type=click.Choice(["json", "tlog-proof", "sigstore"]),
              default="json", show_default=True,
              help="JSON bundle, C2SP tlog-proof text, or a Sigstore bundle v0.3.")
@click.option("--dsse-envelope", type=click.Path(dir_okay=False), metavar="FILE",
              help="sigstore: the DSSE envelope the entry logs (Rekor v2 form: a hashedrekord "
                   "over its PAE); the bundle carries it instead of a message signature.")
@click.option("--timestamp", "timestamps", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.tsr",
              help="sigstore: an RFC 3161 timestamp response over the signature; repeatable.")
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL",
              help="sigstore: ask this timestamp authority for one (a certificate bundle needs "
                   "a verified time); repeatable.")
@click.option("--json", "as_json", is_flag=True,
              help="Say what was written as one JSON object (not with -o -).")
def bundle(index: int, output: str, fmt: str, dsse_envelope: str | None,
           timestamps: tuple[str, ...], tsa_urls: tuple[str, ...], as_json: bool,
           **opts: Any) -> None:
    """Write a stapled proof: entry, index, inclusion proof, signed checkpoint.

    The bundle verifies offline: ``tlog verify --vkey KEY --bundle FILE``. A Sigstore bundle
    (``--format sigstore``, for a hashedrekord entry) also verifies with Sigstore's clients
    against the log's trusted root (``tlog trusted-root``); a bundle whose signer is a
    certificate needs an RFC 3161 timestamp (``--tsa`` or ``--timestamp``) for that.

    \b
    Examples:
      tlog bundle --log https://log.example.com --vkey log.pub --index 42 -o app.bundle.json
      tlog bundle --log https://log.example.com --vkey log.pub --index 42 --format sigstore \\
          --tsa https://timestamp.example.com/api/v1/timestamp -o app.sigstore.json
    """
    if as_json and output == "-":
        raise click.UsageError("--json goes with -o FILE: with -o - the bundle is the output")
    if fmt != "sigstore" and (dsse_envelope or timestamps or tsa_urls):
        raise click.UsageError("--dsse-envelope, --timestamp and --tsa go with --format sigstore")
    v = _client(opts).entry(index)
    _echo_warnings(v.warnings)
    if fmt == "sigstore":
        data = _sigstore_bundle(v, key_arg(opts["vkey"]), dsse_envelope, timestamps, tsa_urls)
    else:
        data = (format_bundle if fmt == "json" else format_tlog_proof)(v.to_bundle())
    if not write_output(output, data):
        return
    if as_json:
        click.echo(json.dumps({"output": output, "format": fmt, "index": v.index,
                               "leaf_hash": v.leaf_hash.hex(),
                               "checkpoint": _checkpoint_json(v.checkpoint)},
                              indent=2, sort_keys=True))
        return
    click.echo(f"wrote {output}: entry {v.index} at tree size {v.checkpoint.size}", err=True)


def _sigstore_bundle(v: VerifiedEntry, vkey: str, envelope_file: str | None,
                     timestamp_files: tuple[str, ...], tsa_urls: tuple[str, ...]) -> bytes:
    from tlog.client.sigstore import check_timestamp, request_timestamp
    from tlog.entries.hashedrekord import logged_parts
    from tlog.sigstore import format_sigstore_bundle, log_id, parse_dsse_envelope

    kind, _ = _decode(v.entry)
    if not envelope_file and kind != "hashedrekord":
        raise ConfigError(
            f"entry {v.index} is {'a ' + kind if kind else 'an unreadable'} entry: --format "
            "sigstore makes a Sigstore bundle of a hashedrekord entry (with --dsse-envelope, "
            "of one a DSSE envelope's signature made); --format json or tlog-proof carry any "
            "entry")
    envelope = None
    if envelope_file:
        try:
            doc = json.loads(_read(envelope_file, "DSSE envelope"))
        except ValueError as e:
            raise MalformedError(f"{envelope_file}: not JSON: {e}", field="dsse-envelope") from e
        envelope = parse_dsse_envelope(doc, f"{envelope_file}")
    signature = envelope.signature if envelope else logged_parts(v.entry).signature
    stamps = []
    for f in timestamp_files:
        raw = _read(f, "timestamp")
        check_timestamp(raw, signature, f)
        stamps.append(raw)
    stamps += [request_timestamp(url, signature) for url in tsa_urls]
    return format_sigstore_bundle(v.to_bundle(), log_id(vkey), envelope=envelope,
                                  timestamps=stamps)


# ----- tlog consistency ------------------------------------------------------------------------


def _describe(u: TrustUpdate) -> str:
    size = u.checkpoint.size
    return {
        "first-use": f"first use: now trusting tree size {size}",
        "unchanged": f"unchanged: tree size {size}",
        "grown": f"consistent: tree size {u.previous_size} → {size}",
        "stale": f"stale: the log served size {u.served.size}; still trusting size {size}",
    }[u.status]


@click.command()
@_common()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def consistency(as_json: bool, **opts: Any) -> None:
    """Check the log only grew since you last looked (and remember its new state).

    \b
    Example:
      tlog consistency --log https://log.example.com --vkey log.pub
    """
    u = _client(opts).update_trust()
    _echo_warnings([u.warning] if u.warning else [])
    if as_json:
        cp = u.checkpoint.checkpoint
        click.echo(json.dumps({
            "status": u.status, "previous_size": u.previous_size, "size": cp.size,
            "served_size": u.served.size, "origin": cp.origin, "root_hash": cp.root_hash.hex(),
        }, indent=2, sort_keys=True))
        return
    click.echo(f"{u.checkpoint.checkpoint.origin}: {_describe(u)}")

