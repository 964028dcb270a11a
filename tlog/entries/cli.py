"""``tlog submit``: check a signed statement locally and put it in a log's queue."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from pathlib import Path
from typing import Any

import click

from tlog.errors import ConfigError, MalformedError

__all__ = ["build_hashedrekord", "submit"]


def _signature_bytes(data: bytes) -> bytes:
    """A signature file may be raw bytes or base64 text (as cosign writes it)."""
    text = data.strip()
    try:
        decoded = base64.b64decode(text, validate=True)
        if decoded and base64.b64encode(decoded) == text:
            return decoded
    except (binascii.Error, ValueError):
        pass
    return data


def build_hashedrekord(
    artifact: bytes | None,
    digest: str | None,
    signature: bytes,
    key_pem: bytes,
    *,
    certificate: bool = False,
    rsa_pss: bool = False,
) -> dict[str, Any]:
    """A hashedrekord submission document from an artifact (or its digest) and a signature."""
    if digest is None:
        if artifact is None:
            raise ConfigError("--artifact or --digest is required")
        digest = "sha256:" + hashlib.sha256(artifact).hexdigest()
    doc: dict[str, Any] = {
        "type": "hashedrekord",
        "digest": digest.lower(),
        "signature": base64.b64encode(_signature_bytes(signature)).decode(),
        ("certificate" if certificate else "public_key"): key_pem.decode(),
    }
    if rsa_pss:
        doc["rsa_pss"] = True
    return doc


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{what}: cannot read {path}: {e.strerror}") from e


@click.command()
@click.argument("documents", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--queue", required=True, help="The log's queue: a folder, s3://…, gs://….")
@click.option("--artifact", type=click.Path(dir_okay=False), help="The artifact that was signed.")
@click.option("--digest", help="The artifact's digest instead of the artifact (sha256:<hex>).")
@click.option(
    "--signature", type=click.Path(dir_okay=False), help="Signature file (raw or base64)."
)
@click.option(
    "--public-key", type=click.Path(dir_okay=False), help="Signer's public key (PEM/DER)."
)
@click.option(
    "--certificate",
    type=click.Path(dir_okay=False),
    help="Signer's X.509 certificate; only its key is used, the chain is NOT validated.",
)
@click.option("--rsa-pss", is_flag=True, help="The RSA signature uses PSS padding.")
@click.option("--jsonl", type=click.Path(dir_okay=False), help="Bulk: one submission per line.")
@click.option("--endpoint", help="S3/GCS endpoint URL (MinIO, R2, emulators).")
@click.option("--json", "as_json", is_flag=True, help="Print receipts as JSON.")
def submit(
    documents: tuple[str, ...],
    queue: str,
    artifact: str | None,
    digest: str | None,
    signature: str | None,
    public_key: str | None,
    certificate: str | None,
    rsa_pss: bool,
    jsonl: str | None,
    endpoint: str | None,
    as_json: bool,
) -> None:
    """Check signed statements exactly as the log will, and queue them.

    Give the parts of a signed artifact (hashedrekord), or submission documents (JSON files, or
    --jsonl with one per line; format: docs/submissions.md). Each is verified here first, so a
    bad signature is refused at once with the field at fault. Resubmitting is harmless: the
    queue key is the submission's hash. Certificates: only the key is used; chains are not
    validated.

    \b
    Examples:
      tlog submit --queue s3://bucket/queue --artifact tool.tgz --signature tool.tgz.sig \\
          --public-key release.pub
      tlog submit --queue ./queue --digest sha256:9f86d0… --signature s.sig --certificate c.pem
      tlog submit --queue ./queue --jsonl submissions.jsonl --json
    """
    from tlog.entries import admit
    from tlog.storage import open_store

    docs: list[tuple[str, bytes]] = []
    if artifact or digest or signature:
        if not signature or not (public_key or certificate):
            raise ConfigError("--signature and --public-key (or --certificate) are required")
        doc = build_hashedrekord(
            _read(artifact, "--artifact") if artifact else None,
            digest,
            _read(signature, "--signature"),
            _read(public_key or certificate or "", "--public-key"),
            certificate=bool(certificate),
            rsa_pss=rsa_pss,
        )
        docs.append(("flags", json.dumps(doc).encode()))
    docs += [(d, _read(d, "document")) for d in documents]
    if jsonl:
        for n, line in enumerate(_read(jsonl, "--jsonl").splitlines(), 1):
            if line.strip():
                docs.append((f"{jsonl}:{n}", line))
    if not docs:
        raise ConfigError(
            "nothing to submit: give --artifact/--signature/--public-key, documents, or --jsonl"
        )
    store = open_store(queue, endpoint=endpoint)
    receipts = []
    items: Any = docs
    bar = None
    if len(docs) > 50 and not as_json:
        bar = click.progressbar(docs, label="submitting", file=click.get_text_stream("stderr"))
        items = bar.__enter__()
    try:
        for where, data in items:
            try:
                adm = admit(data)
            except MalformedError as e:
                raise MalformedError(f"{where}: {e}") from e
            canonical = json.dumps(json.loads(data), sort_keys=True).encode()
            store.put(f"queue/{adm.submission_id}.json", canonical)
            receipts.append(
                {
                    "submission_id": adm.submission_id,
                    "type": adm.type,
                    "leaf_hash": adm.leaf_hash.hex(),
                    "source": where,
                }
            )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps(receipts[0] if len(receipts) == 1 else receipts, indent=2))
    else:
        for r in receipts:
            click.echo(f"queued {r['type']} {r['submission_id']} (leaf hash {r['leaf_hash']})")
