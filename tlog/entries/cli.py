"""``tlog submit``: check signed statements locally, exactly as the log will, and queue them.

The queue is any store (``tlog.storage.open_store``); each submission goes to
``pending/<submission id>.json`` in its queue, in its RFC 8785 form, so resubmitting is harmless.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from tlog.client_options import queue_option
from tlog.errors import ConfigError, ConflictError, MalformedError, TlogError, VerificationError

__all__ = [
    "build_dsse",
    "build_hashedrekord",
    "build_intoto_link",
    "queue_documents",
    "signature_bytes",
    "statement_options",
    "submit",
]


_CHECK_CHUNK = 4096  # documents verified between progress updates


def signature_bytes(data: bytes) -> bytes:
    """A signature file holds raw bytes, or base64 text (as cosign and ``openssl base64``
    write it; whitespace and line breaks ignored). Text that decodes is taken as base64:
    raw signature bytes are practically never all base64 characters."""
    text = b"".join(data.split())
    if text and len(text) % 4 == 0:
        try:
            decoded = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return data
        if decoded and base64.b64encode(decoded) == text:
            return decoded
    return data


def _pem(data: bytes, field: str, certificate: bool | None) -> tuple[str, Any]:
    """A key or certificate file (PEM, DER or base64 DER) as PEM text, and the parsed key."""
    from .keys import load_public_key

    key = load_public_key(data, field, certificate)
    label = "CERTIFICATE" if key.is_certificate else "PUBLIC KEY"
    b64 = base64.encodebytes(key.der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n", key


def _artifact_digest(artifact: bytes, key: Any, sig: bytes, requested: str | None) -> str:
    """The digest to log for an artifact: the one the key's algorithm signs with. For
    Ed25519 the signature decides: Ed25519ph (SHA-512, Rekor's form) or pure Ed25519 over
    the SHA-256 digest (tiledlog's); pure Ed25519 over the artifact cannot be logged."""
    from .keys import DETAILS, candidate_details, verify_message

    if requested:
        name = DETAILS[requested][1] if requested in DETAILS else None
        return _spec(name or "sha256", artifact)
    if key.algorithm.startswith("ecdsa-"):  # each curve signs with its own hash
        (details,) = candidate_details(key, None, "--public-key")
        return _spec(DETAILS[details][1] or "sha256", artifact)
    if key.algorithm == "ed25519":
        sha512 = hashlib.sha512(artifact).digest()
        if verify_message(key, ["PKIX_ED25519_PH"], sig, artifact, "signature"):
            return "sha512:" + sha512.hex()
        if not verify_message(key, ["PKIX_ED25519"], sig, hashlib.sha256(artifact).digest(),
                              "signature") and verify_message(key, ["PKIX_ED25519"], sig,
                                                              artifact, "signature"):
            raise VerificationError(
                "--signature: a pure Ed25519 signature over the artifact itself cannot be "
                "logged (the log only sees a digest): sign its SHA-256 digest, or use "
                "Ed25519ph (what Rekor v2 does)"
            )
    return _spec("sha256", artifact)


def _spec(name: str, data: bytes) -> str:
    return f"{name}:{hashlib.new(name, data).hexdigest()}"


def build_hashedrekord(
    artifact: bytes | None,
    digest: str | None,
    signature: bytes,
    key_pem: bytes,
    *,
    certificate: bool = False,
    rsa_pss: bool = False,
    key_details: str | None = None,
) -> dict[str, Any]:
    """A hashedrekord submission document from an artifact (or its digest ``alg:hex``), a
    signature (raw or base64) and the signer's key or certificate (PEM or DER)."""
    field = "--certificate" if certificate else "--public-key"
    pem, key = _pem(key_pem, field, True if certificate else None)
    sig = signature_bytes(signature)
    if digest is None:
        if artifact is None:
            raise ConfigError("--artifact or --digest is required")
        digest = _artifact_digest(artifact, key, sig, key_details)
    doc: dict[str, Any] = {
        "type": "hashedrekord",
        "digest": digest.strip().lower(),
        "signature": base64.b64encode(sig).decode(),
        ("certificate" if key.is_certificate else "public_key"): pem,
    }
    if rsa_pss:
        doc["rsa_pss"] = True
    if key_details:
        doc["key_details"] = key_details
    return doc


def _keys(public_keys: Sequence[bytes], certificates: Sequence[bytes]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, files, cert in (("public_keys", public_keys, None),
                              ("certificates", certificates, True)):
        for i, data in enumerate(files):
            pem, key = _pem(data, f"--{name[:-1].replace('_', '-')}[{i}]", cert)
            out.setdefault("certificates" if key.is_certificate else "public_keys", []).append(pem)
    return out


def _json_file(data: bytes, field: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise MalformedError("not a JSON file", field=field) from e


def build_dsse(envelope: bytes, public_keys: Sequence[bytes],
               certificates: Sequence[bytes] = ()) -> dict[str, Any]:
    """A dsse submission document from a DSSE envelope file and the signers' keys."""
    return {"type": "dsse", "envelope": _json_file(envelope, "--dsse"),
            **_keys(public_keys, certificates)}


def build_intoto_link(link: bytes, public_keys: Sequence[bytes]) -> dict[str, Any]:
    """An intoto-link submission document from a link file and the functionaries' keys."""
    return {"type": "intoto-link", "link": _json_file(link, "--link"), **_keys(public_keys, ())}


def _put(store: Any, key: str, data: bytes, sid: str) -> None:
    from .submission import submission_id

    try:
        store.put(key, data)
    except ConflictError:
        # Same statement queued earlier in another byte form: still the same submission.
        if submission_id(store.get(key)) != sid:
            raise


def queue_documents(
    store: Any, docs: Sequence[tuple[str, bytes]], *, workers: int | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Check every (source, document) as admission will, then queue them all; nothing is
    queued if any fails (the error names the source and the field). Returns receipts.
    ``progress.update(n)`` (a click progress bar) counts checks, then writes."""
    from tlog.queue import BULK_BYTES, BULK_MAX, bulk_key, single_key

    from .canonical import canonical_json
    from .submission import Admitted, admit_many, load_document

    results: list[Any] = []
    for i in range(0, len(docs), _CHECK_CHUNK):
        part = docs[i : i + _CHECK_CHUNK]
        results += admit_many([d for _, d in part], workers=workers)
        if progress is not None:
            progress.update(len(part))
    bad = [(src, r) for (src, _), r in zip(docs, results, strict=True)
           if not isinstance(r, Admitted)]
    if bad:
        src, err = bad[0]
        more = f" (and {len(bad) - 1} more invalid)" if len(bad) > 1 else ""
        family = type(err) if isinstance(err, MalformedError | VerificationError) else TlogError
        raise family(f"{src + ': ' if src else ''}{err}{more}")
    admitted: list[Admitted] = [r for r in results if isinstance(r, Admitted)]
    receipts = [{"submission_id": adm.submission_id, "type": adm.type,
                 "leaf_hash": adm.leaf_hash.hex(), "search_keys": list(adm.search_keys),
                 "source": src} for (src, _), adm in zip(docs, admitted, strict=True)]
    bodies = [canonical_json(load_document(data)) for _, data in docs]
    if len(bodies) == 1:  # one submission: its own object, named by its id
        _put(store, single_key(admitted[0].submission_id), bodies[0], admitted[0].submission_id)
        objects = [single_key(admitted[0].submission_id)]
        where = [0]
    else:  # many: bulk objects of up to BULK_MAX lines and BULK_BYTES, written in parallel
        where, groups, size = [], [[]], 0
        for body in bodies:
            if groups[-1] and (len(groups[-1]) == BULK_MAX or size + len(body) > BULK_BYTES):
                groups.append([])
                size = 0
            groups[-1].append(body)
            size += len(body) + 1
            where.append(len(groups) - 1)
        parts = [b"\n".join(g) + b"\n" for g in groups]
        objects = [bulk_key(p, len(g)) for p, g in zip(parts, groups, strict=True)]
        with ThreadPoolExecutor(min(8, len(parts))) as pool:
            list(pool.map(lambda kp: store.put(*kp), zip(objects, parts, strict=True)))
    for i, r in enumerate(receipts):
        r["queue_object"] = objects[where[i]]
    if progress is not None:
        progress.update(len(docs))
    return receipts


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror}") from e


def _flag_document(o: dict[str, Any]) -> dict[str, Any] | None:
    """The submission the flags describe, if any (one kind at a time)."""
    hashed = bool(o["artifact"] or o["digest"] or o["signature"])
    modes = [m for m, on in (("--artifact/--digest/--signature", hashed),
                             ("--dsse", bool(o["dsse"])), ("--link", bool(o["link"]))) if on]
    if len(modes) > 1:
        raise ConfigError(f"give one of {', '.join(modes)}, not several")
    keys = [_read(p, "--public-key") for p in o["public_key"]]
    certs = [_read(p, "--certificate") for p in o["certificate"]]
    if o["dsse"]:
        if not keys and not certs:
            raise ConfigError("--dsse needs --public-key or --certificate (repeatable)")
        return build_dsse(_read(o["dsse"], "--dsse"), keys, certs)
    if o["link"]:
        if certs or not keys:
            raise ConfigError("--link needs --public-key (repeatable), not --certificate")
        return build_intoto_link(_read(o["link"], "--link"), keys)
    if not hashed:
        if keys or certs:
            raise ConfigError("--public-key/--certificate need --artifact, --digest, --dsse "
                              "or --link")
        return None
    if not o["signature"] or len(keys) + len(certs) != 1:
        raise ConfigError("--signature and one --public-key (or --certificate) are required")
    if o["artifact"] and o["digest"]:
        raise ConfigError("give --artifact or --digest, not both")
    return build_hashedrekord(
        _read(o["artifact"], "--artifact") if o["artifact"] else None, o["digest"],
        _read(o["signature"], "--signature"), (keys or certs)[0], certificate=bool(certs),
        rsa_pss=o["rsa_pss"], key_details=o["key_details"],
    )


def _jsonl(path: str) -> list[tuple[str, bytes]]:
    return [(f"{path}:{n}", line) for n, line in enumerate(_read(path, "--jsonl").splitlines(), 1)
            if line.strip()]


_FILE = click.Path(dir_okay=False)
_STATEMENT_OPTIONS = [
    click.option("--artifact", type=_FILE, help="The artifact that was signed."),
    click.option("--signature", type=_FILE,
                 help="The artifact's signature file (raw bytes or base64 text)."),
    click.option("--public-key", multiple=True, type=_FILE,
                 help="Signer's public key (PEM/DER); repeat for --dsse and --link."),
    click.option("--certificate", multiple=True, type=_FILE,
                 help="Signer's X.509 certificate: only its key is used; the chain is NOT "
                      "validated (no roots, expiry or identity checks)."),
    click.option("--rsa-pss", is_flag=True, help="Only accept RSA-PSS (default: detect)."),
    click.option("--dsse", type=_FILE,
                 help="A DSSE envelope (JSON); keys by --public-key/--certificate."),
    click.option("--link", type=_FILE,
                 help="An in-toto link metadata file; keys by --public-key."),
]


def statement_options(f: Any) -> Any:
    """The flags that describe a signed statement, shared by ``tlog submit`` and
    ``tlog verify`` so both read the same inputs the same way."""
    for option in reversed(_STATEMENT_OPTIONS):
        f = option(f)
    return f


@click.command()
@click.argument("documents", nargs=-1, type=click.Path(dir_okay=False))
@queue_option()
@click.option("--endpoint", help="S3/GCS endpoint URL (MinIO, R2, emulators).")
@statement_options
@click.option("--digest", help="The artifact's digest instead of the artifact (sha256:<hex>).")
@click.option("--key-details", help="Pin the algorithm by its sigstore name "
                                    "(e.g. PKIX_ED25519_PH).")
@click.option("--jsonl", type=click.Path(dir_okay=False),
              help="Bulk import: a file of submission documents, one per line.")
@click.option("--workers", type=int, help="Processes verifying bulk input (default: all cores).")
@click.option("--json", "as_json", is_flag=True, help="Print receipts as JSON.")
def submit(documents: tuple[str, ...], queue: str, endpoint: str | None, jsonl: str | None,
           workers: int | None, as_json: bool, **flags: Any) -> None:
    """Check signed statements exactly as the log will, and queue them.

    Build one from flags (an artifact or its digest with a signature and key: hashedrekord;
    --dsse ENVELOPE; --link FILE), or give submission documents (JSON files, or --jsonl with
    one per line; format: docs/submissions.md). Everything is verified here first, and
    nothing is queued if anything fails: the error names the file and the field. The queue
    key is the submission's hash, so resubmitting is harmless.

    Certificates: only their key is used. Chain validation is out of scope: the log does not
    check roots, expiry or identities.

    \b
    Examples:
      tlog submit --queue s3://bucket/queue --artifact tool.tgz --signature tool.tgz.sig \\
          --public-key release.pub
      tlog submit --queue ./queue --digest sha256:9f86d0… --signature s.sig --certificate c.pem
      tlog submit --queue ./queue --dsse att.intoto.json --public-key builder.pub
      tlog submit --queue ./queue --link package.2f89b927.link --public-key carl.pub
      tlog submit --queue ./queue --jsonl submissions.jsonl --json
    """
    from tlog.storage import open_store

    from .canonical import canonical_json

    docs: list[tuple[str, bytes]] = []
    flag_doc = _flag_document(flags)
    if flag_doc is not None:
        docs.append(("", canonical_json(flag_doc)))
    docs += [(d, _read(d, "document")) for d in documents]
    if jsonl:
        docs += _jsonl(jsonl)
    if not docs:
        raise ConfigError("nothing to submit: give --artifact/--digest with --signature and "
                          "--public-key, --dsse, --link, document files, or --jsonl")
    store = open_store(queue, endpoint=endpoint)
    show = len(docs) > 1 and not as_json and sys.stderr.isatty()
    bar = click.progressbar(length=2 * len(docs), label="checking and queueing",
                            file=sys.stderr) if show else None
    with bar if bar is not None else _Null() as progress:
        receipts = queue_documents(store, docs, workers=workers or os.cpu_count(),
                                   progress=progress)
    if as_json:
        click.echo(json.dumps(receipts, indent=2))  # always a list, one receipt per document
        return
    for r in receipts:
        where = f" from {r['source']}" if r["source"] else ""
        click.echo(f"queued {r['type']} {r['submission_id']} "
                   f"(leaf hash {r['leaf_hash']}){where}")


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
