"""``tlog submit``: check signed statements locally, exactly as the log will, and queue them.

The queue is any store (``tlog.storage.open_store``); each submission goes to
``pending/<submission id>.json`` in its queue, in its RFC 8785 form, so resubmitting is harmless.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from tlog.cli.options import queue_option, write_output
from tlog.client.submit import queue_documents
from tlog.entries.build import build_dsse, build_intoto_link, build_statement
from tlog.errors import ConfigError, MalformedError, VerificationError

__all__ = ["statement_options", "submit"]


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
    return build_statement(
        _read(o["artifact"], "--artifact") if o["artifact"] else None, o["digest"],
        _read(o["signature"], "--signature"), (keys or certs)[0], certificate=bool(certs),
        rsa_pss=o["rsa_pss"], key_details=o["key_details"], fmt=_format(o["format"]),
        namespace=o["namespace"],
    )


def _format(value: str) -> str | None:
    return None if value == "auto" else value


def _jsonl(path: str) -> list[tuple[str, bytes]]:
    return [(f"{path}:{n}", line) for n, line in enumerate(_read(path, "--jsonl").splitlines(), 1)
            if line.strip()]


_FILE = click.Path(dir_okay=False)
_STATEMENT_OPTIONS = [
    click.option("--artifact", type=_FILE, help="The artifact that was signed."),
    click.option("--signature", type=_FILE,
                 help="The artifact's signature file: raw or base64 (cosign, openssl), or "
                      "as GnuPG, ssh-keygen -Y sign, minisign or signify wrote it."),
    click.option("--public-key", multiple=True, type=_FILE,
                 help="Signer's public key: PEM/DER, an OpenPGP key (armored or binary), an "
                      "OpenSSH key or allowed_signers line, a minisign or signify .pub; "
                      "repeat for --dsse and --link."),
    click.option("--format", "format", default="auto", show_default=True,
                 type=click.Choice(["auto", "hashedrekord", "openpgp", "ssh", "minisign",
                                    "signify", "ed25519"]),
                 help="The signature's format (auto: read off the signature file)."),
    click.option("--namespace", help="SSH signatures: the namespace it was made for "
                                     "(ssh-keygen -n; default: the signature's own)."),
    click.option("--certificate", multiple=True, type=_FILE,
                 help="Signer's X.509 certificate: its key is used; its chain, expiry and "
                      "usage are checked only by a log with [[trust.x509]] roots, not here."),
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
@click.option("--sigstore-bundle", type=_FILE,
              help="A Sigstore bundle: log its message signature (or DSSE envelope, as a "
                   "hashedrekord over its PAE) with its certificate (or --public-key).")
@click.option("--wait", is_flag=True,
              help="Block until a published checkpoint includes the entry (needs --log and "
                   "--vkey); verify it there.")
@click.option("--log", metavar="URL", envvar="TLOG_LOG", help="--wait: the log's URL or folder.")
@click.option("--vkey", metavar="KEY", envvar="TLOG_VKEY",
              help="--wait: the log's verifier key (or a file holding it).")
@click.option("--wait-timeout", default=60.0, show_default=True, type=click.FloatRange(0),
              help="--wait: seconds before giving up (exit 4; the entry stays queued).")
@click.option("--bundle-out", type=_FILE,
              help="--wait: write the entry's proof bundle here.")
@click.option("--bundle-format", type=click.Choice(["json", "tlog-proof", "sigstore"]),
              help="--bundle-out's format (default: sigstore for --sigstore-bundle, else json).")
@click.option("--tsa", "tsa_urls", multiple=True, metavar="URL",
              help="--bundle-out sigstore: also ask this timestamp authority to timestamp the "
                   "signature (a certificate bundle needs one; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print receipts as JSON.")
def submit(documents: tuple[str, ...], queue: str, endpoint: str | None, jsonl: str | None,
           workers: int | None, sigstore_bundle: str | None, wait: bool, log: str | None,
           vkey: str | None, wait_timeout: float, bundle_out: str | None,
           bundle_format: str | None, tsa_urls: tuple[str, ...], as_json: bool,
           **flags: Any) -> None:
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
      tlog submit --queue s3://bucket/queue --sigstore-bundle app.sigstore.json --wait \\
          --log https://log.example.com --vkey log.pub --bundle-out app.log.sigstore.json
    """
    from tlog.entries.canonical import canonical_json
    from tlog.storage import open_store

    if (bundle_out or bundle_format or tsa_urls) and not wait:
        raise click.UsageError("--bundle-out, --bundle-format and --tsa go with --wait")
    if wait and not (log and vkey):
        raise click.UsageError("--wait needs --log and --vkey (or $TLOG_LOG and $TLOG_VKEY)")
    docs: list[tuple[str, bytes]] = []
    given = None
    if sigstore_bundle:
        given, doc = _from_sigstore_bundle(sigstore_bundle, flags)
        docs.append((sigstore_bundle, canonical_json(doc)))
        flags["public_key"] = ()  # the bundle's key, not another statement's
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
    queued_at = time.time()
    with bar if bar is not None else _Null() as progress:
        receipts = queue_documents(store, docs, workers=workers or os.cpu_count(),
                                   progress=progress)
    if wait:
        _wait(receipts, store, str(log), str(vkey), wait_timeout, bundle_out,
              bundle_format or ("sigstore" if sigstore_bundle else "json"), given, tsa_urls,
              queued_at)
    if as_json:
        click.echo(json.dumps(receipts, indent=2))  # always a list, one receipt per document
        return
    for r in receipts:
        where = f" from {r['source']}" if r["source"] else ""
        said = f"logged at index {r['index']}" if "index" in r else "queued"
        click.echo(f"{said} {r['type']} {r['submission_id']} "
                   f"(leaf hash {r['leaf_hash']}){where}")


def _from_sigstore_bundle(path: str, flags: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The bundle's parts and the hashedrekord submission that logs them."""
    from tlog.sigstore import parse_sigstore_bundle, submission_from_bundle

    keys = flags["public_key"]
    if len(keys) > 1 or flags["certificate"]:
        raise ConfigError("--sigstore-bundle takes at most one --public-key (for a bundle that "
                          "names its key only by a hint), and no --certificate")
    try:
        b = parse_sigstore_bundle(_read(path, "--sigstore-bundle"), entries=False)
        try:
            pem = _read(keys[0], "--public-key").decode("ascii") if keys else None
        except UnicodeDecodeError as e:
            raise MalformedError(f"{keys[0]}: not a PEM public key (a Sigstore bundle's key "
                                 "is given as PEM)", field="--public-key") from e
        return b, submission_from_bundle(b, pem)
    except (MalformedError, VerificationError) as e:
        raise type(e)(f"{path}: {e}") from e


def _wait(receipts: list[dict[str, Any]], queue: Any, log: str, vkey: str, timeout: float,
          bundle_out: str | None, fmt: str, given: Any, tsa_urls: tuple[str, ...],
          queued_at: float) -> None:
    """Block until each entry is in a published checkpoint; note its index in the receipt."""
    import platformdirs

    from tlog.bundle import format_bundle, format_tlog_proof
    from tlog.cli.keys import key_arg
    from tlog.client import LogClient
    from tlog.client.submit import wait_for_entry
    from tlog.sigstore import format_sigstore_bundle, log_id
    from tlog.storage import open_store

    if bundle_out and len(receipts) != 1:
        raise click.UsageError("--bundle-out writes one entry's bundle: submit one statement")
    cache = str(Path(platformdirs.user_cache_dir()) / "tiledlog" / "tiles")
    key = key_arg(vkey)
    client = LogClient(open_store(log, cache_dir=cache), key)
    for r in receipts:
        v = wait_for_entry(client, bytes.fromhex(r["leaf_hash"]), queue=queue,
                           submission_id=r["submission_id"], pending=r["queue_object"],
                           queued_at=queued_at, timeout=timeout)
        r["index"] = v.index
    if not bundle_out:
        return
    if fmt == "sigstore":
        from tlog.client.sigstore import request_timestamp
        from tlog.entries.hashedrekord import logged_parts

        signature = given.signature if given else logged_parts(v.entry).signature
        stamps = [*(given.timestamps if given else ()),
                  *(request_timestamp(url, signature) for url in tsa_urls)]
        data = format_sigstore_bundle(v.to_bundle(), log_id(key),
                                      envelope=given.envelope if given else None,
                                      timestamps=stamps)
    else:
        data = (format_bundle if fmt == "json" else format_tlog_proof)(v.to_bundle())
    write_output(bundle_out, data)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
