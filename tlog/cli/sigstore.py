"""``tlog trusted-root``: this log's Sigstore trust material, for Sigstore's own clients."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
from cryptography import x509

from tlog.cli.keys import key_arg
from tlog.cli.options import log_option, vkey_option, write_output
from tlog.client.sigstore import (
    EPOCH,
    client_trust_config,
    naming_problem,
    signing_config,
    trusted_root,
)
from tlog.errors import ConfigError
from tlog.note import parse_vkey

__all__ = ["trusted_root_command"]


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror}") from e


def _chain(path: str, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError as e:
        raise ConfigError(f"{path}: not PEM certificates ({what}): {e}") from e
    return certs


def _rfc3339(value: str) -> str:
    """``--valid-from`` as the trusted root writes it (UTC, seconds, ``Z``)."""
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 time such as "
                                 "2026-01-31T00:00:00Z", param_hint="--valid-from") from e
    if t.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no time zone (end it in Z for UTC)",
                                 param_hint="--valid-from")
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@click.command("trusted-root")
@log_option(required=False)
@vkey_option()
@click.option("--base-url", metavar="URL",
              help="Where Sigstore clients reach the log (default: --log when it is a URL).")
@click.option("--valid-from", default=EPOCH, show_default=True, metavar="RFC3339",
              help="Since when the log key signs checkpoints.")
@click.option("--ca-chain", "ca_chains", multiple=True, type=click.Path(dir_okay=False),
              metavar="PEM", help="A certificate authority's chain (issuing certificate first, "
                                  "root last), e.g. your Fulcio's; repeatable.")
@click.option("--ctlog-key", "ctlog_keys", multiple=True, type=click.Path(dir_okay=False),
              metavar="PEM", help="A CT log's public key (the SCTs in signing certificates); "
                                  "repeatable.")
@click.option("--tsa-chain", "tsa_chains", multiple=True, type=click.Path(dir_okay=False),
              metavar="PEM", help="A timestamp authority's chain (its signing certificate "
                                  "first, root last); repeatable.")
@click.option("--signing-config", "what", flag_value="signing-config",
              help="Print the SigningConfig v0.2 instead (this log as the Rekor v2 write "
                   "endpoint, with --ca-url, --oidc-url, --tsa-url).")
@click.option("--client-trust-config", "what", flag_value="client-trust-config",
              help="Print both as one ClientTrustConfig (`sigstore --trust-config FILE`).")
@click.option("--ca-url", "ca_urls", multiple=True, metavar="URL", help="A Fulcio URL.")
@click.option("--oidc-url", "oidc_urls", multiple=True, metavar="URL", help="An OIDC issuer.")
@click.option("--tsa-url", "tsa_urls", multiple=True, metavar="URL", help="A TSA URL.")
@click.option("--operator", default="", help="Who runs these services (SigningConfig).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
              show_default=True, help="Where to write it.")
@click.option("--json", "as_json", is_flag=True,
              help="With -o FILE: say what was written as one JSON object.")
def trusted_root_command(log: str | None, vkey: str, base_url: str | None, valid_from: str,
                         ca_chains: tuple[str, ...], ctlog_keys: tuple[str, ...],
                         tsa_chains: tuple[str, ...], what: str | None, ca_urls: tuple[str, ...],
                         oidc_urls: tuple[str, ...], tsa_urls: tuple[str, ...], operator: str,
                         output: str, as_json: bool) -> None:
    """Print the log's Sigstore TrustedRoot (or SigningConfig), so that cosign,
    sigstore-python, sigstore-js and sigstore-go verify this log's Sigstore bundles.

    The log's checkpoint key goes in as a Rekor v2 log at --base-url. Sigstore clients look the
    key up by that URL's hostname: the log's origin and key name must be that hostname (a
    warning says when they are not). A private Sigstore adds its CA, CT log and TSA.

    \b
    Examples:
      tlog trusted-root --vkey log.pub --base-url https://log.example.com > trusted_root.json
      tlog trusted-root --vkey log.pub --base-url https://log.example.com \\
          --ca-chain fulcio-chain.pem --ctlog-key ctfe.pub --tsa-chain tsa-chain.pem \\
          --client-trust-config --ca-url https://fulcio.example.com -o trust_config.json
    """
    if as_json and output == "-":
        raise click.UsageError("--json goes with -o FILE: with -o - the document is the output")
    valid_from = _rfc3339(valid_from)
    url = base_url or (log if log and log.startswith(("https://", "http://")) else None)
    if not url:
        raise click.UsageError("give --base-url (or --log as an http(s) URL): Sigstore clients "
                               "find the log's key by it")
    key = key_arg(vkey)
    name = parse_vkey(key)[0]
    problem = naming_problem(name, name, url)
    if problem and not as_json:
        click.echo(f"warning: {problem}", err=True)
    root = trusted_root(
        key, url, valid_from=valid_from,
        certificate_authorities=[_chain(p, "CA chain") for p in ca_chains],
        ct_log_keys=[_read(p, "CT log key") for p in ctlog_keys],
        timestamp_authorities=[_chain(p, "TSA chain") for p in tsa_chains])
    config = signing_config(url, operator=operator, valid_from=valid_from, ca_urls=ca_urls,
                            oidc_urls=oidc_urls, tsa_urls=tsa_urls)
    doc: dict[str, Any] = {None: root, "signing-config": config,
                           "client-trust-config": client_trust_config(root, config)}[what]
    if not write_output(output, (json.dumps(doc, indent=2) + "\n").encode()):
        return
    if as_json:
        click.echo(json.dumps({
            "output": output, "document": doc["mediaType"], "base_url": url.rstrip("/"),
            "key_name": name, "log_id": root["tlogs"][0]["logId"]["keyId"],
            "sigstore_compatible": problem is None, "problem": problem}, indent=2))
        return
    click.echo(f"wrote {output}", err=True)
