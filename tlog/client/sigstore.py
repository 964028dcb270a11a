"""This log as Sigstore clients see it: its trusted root, its signing config, RFC 3161
timestamps for its bundles, and whether its names let Sigstore's verifiers find its key.

The trusted root (protobuf-specs ``TrustedRoot``, media type ``…trustedroot+json;version=0.1``,
the only one sigstore-python and sigstore-go read) lists the log as a ``tlogs`` entry: its
``baseUrl`` (the public URL), its Ed25519 checkpoint key as DER with ``PKIX_ED25519``, the key's
validity and ``logId.keyId`` = the C2SP key ID. A private Sigstore also needs the CA that issues
its signing certificates, the CT log that gives them SCTs and the timestamp authority that gives
certificate bundles their verified time: each comes from a file the operator names.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from tlog.entries.keys import load_public_key
from tlog.errors import ConfigError, MalformedError, StoreError, VerificationError
from tlog.sigstore import client_key_details, log_id, log_public_key
from tlog.storage.bounded import bounded_post, transport_reason

__all__ = [
    "CLIENT_TRUST_CONFIG_MEDIA_TYPE",
    "SIGNING_CONFIG_MEDIA_TYPE",
    "TRUSTED_ROOT_MEDIA_TYPE",
    "check_timestamp",
    "client_trust_config",
    "naming_problem",
    "request_timestamp",
    "signing_config",
    "trusted_root",
]

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
MAX_TIMESTAMP_RESPONSE = 64 << 10  # a token with a certificate chain is a few KiB
EPOCH = "1970-01-01T00:00:00Z"


def naming_problem(origin: str, key_name: str, public_url: str | None) -> str | None:
    """Why Sigstore's verifiers would not find this log's checkpoint key, or None.

    sigstore-go expects the key's name and the checkpoint's origin to be the hostname of the
    trusted root's ``baseUrl``; sigstore-js wants the name inside ``baseUrl``."""
    if not public_url:
        return ("no public URL: Sigstore clients find a log's checkpoint key by its public URL "
                "(set public_url, e.g. https://" + key_name.split("/")[0] + ")")
    host = urlsplit(public_url).hostname or ""
    if key_name != host or origin != host:
        return (f"Sigstore clients verify checkpoints only when the origin and key name are the "
                f"public URL's hostname {host!r} (sigstore-go); this log's origin is {origin!r} "
                f"and its key is named {key_name!r}")
    return None


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _valid_for(start: str, end: str | None = None) -> dict[str, str]:
    return {"start": start, **({"end": end} if end else {})}


def _authority(chain: Sequence[x509.Certificate], what: str) -> dict[str, Any]:
    """A ``CertificateAuthority``: the chain leaf (or intermediate) first, root last."""
    if not chain:
        raise ConfigError(f"{what}: no certificate in the file")
    first = chain[0]
    org = first.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    cn = first.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    subject = {k: str(v[0].value) for k, v in (("organization", org), ("commonName", cn)) if v}
    der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    return {
        "subject": subject,
        "uri": "",
        "certChain": {"certificates": [{"rawBytes": base64.b64encode(d).decode()} for d in der]},
        "validFor": _valid_for(_iso(max(c.not_valid_before_utc for c in chain)),
                               _iso(min(c.not_valid_after_utc for c in chain))),
    }


def _ctlog(spki_pem: bytes, what: str) -> dict[str, Any]:
    """A CT log's ``TransparencyLogInstance``: its key (which signs SCTs as such: pure
    Ed25519 for an Ed25519 key), its log ID the SHA-256 of the key."""
    try:
        key = load_public_key(spki_pem, what)
    except MalformedError as e:
        raise ConfigError(f"{what}: {e}") from e
    details = "PKIX_ED25519" if key.algorithm == "ed25519" else client_key_details(key.algorithm)
    return {
        "baseUrl": "",
        "hashAlgorithm": "SHA2_256",
        "publicKey": {"rawBytes": base64.b64encode(key.spki).decode(), "keyDetails": details,
                      "validFor": _valid_for(EPOCH)},
        "logId": {"keyId": base64.b64encode(hashlib.sha256(key.spki).digest()).decode()},
    }


def trusted_root(
    vkey: str,
    base_url: str,
    *,
    valid_from: str = EPOCH,
    certificate_authorities: Sequence[Sequence[x509.Certificate]] = (),
    ct_log_keys: Sequence[bytes] = (),
    timestamp_authorities: Sequence[Sequence[x509.Certificate]] = (),
) -> dict[str, Any]:
    """The ``TrustedRoot`` for this log (and, if given, its CA, CT logs and TSAs)."""
    der, details = log_public_key(vkey)
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [{
            "baseUrl": base_url.rstrip("/"),
            "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": base64.b64encode(der).decode(), "keyDetails": details,
                          "validFor": _valid_for(valid_from)},
            "logId": {"keyId": base64.b64encode(log_id(vkey)).decode()},
        }],
        "certificateAuthorities": [_authority(c, "certificate authority")
                                   for c in certificate_authorities],
        "ctlogs": [_ctlog(k, "CT log key") for k in ct_log_keys],
        "timestampAuthorities": [_authority(c, "timestamp authority")
                                 for c in timestamp_authorities],
    }


def _service(url: str, version: int, valid_from: str, operator: str) -> dict[str, Any]:
    return {"url": url.rstrip("/"), "majorApiVersion": version,
            "validFor": _valid_for(valid_from), "operator": operator}


def signing_config(
    rekor_url: str,
    *,
    operator: str,
    valid_from: str = EPOCH,
    ca_urls: Sequence[str] = (),
    oidc_urls: Sequence[str] = (),
    tsa_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """A ``SigningConfig`` v0.2 naming this log's Rekor v2 write endpoint (``tlog serve``)."""
    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [_service(u, 1, valid_from, operator) for u in ca_urls],
        "oidcUrls": [_service(u, 1, valid_from, operator) for u in oidc_urls],
        "rekorTlogUrls": [_service(rekor_url, 2, valid_from, operator)],
        "tsaUrls": [_service(u, 1, valid_from, operator) for u in tsa_urls],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config(root: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Both in one ``ClientTrustConfig`` (what ``sigstore --trust-config`` reads)."""
    return {"mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE, "trustedRoot": root,
            "signingConfig": config}


def check_timestamp(response: bytes, signature: bytes, what: str = "timestamp") -> dt.datetime:
    """The time an RFC 3161 ``TimeStampResp`` attests for ``signature`` (what Sigstore
    timestamps), checking it was granted and covers exactly that signature. The TSA's own
    signature is checked by the verifier, against the trusted root's TSA."""
    from rfc3161_client import decode_timestamp_response

    if len(response) > MAX_TIMESTAMP_RESPONSE:
        raise MalformedError(f"larger than {MAX_TIMESTAMP_RESPONSE} bytes", field=what)
    try:
        tsr = decode_timestamp_response(bytes(response))
        if tsr.status not in (0, 1):  # granted, granted with modifications
            raise VerificationError(f"{what}: the TSA did not grant it (status {tsr.status})")
        info = tsr.tst_info  # a granted answer without a token fails here
        imprint = info.message_imprint
    except ValueError as e:
        raise MalformedError(f"not an RFC 3161 timestamp response: {e}", field=what) from e
    algs = {"2.16.840.1.101.3.4.2.1": hashes.SHA256(), "2.16.840.1.101.3.4.2.2": hashes.SHA384(),
            "2.16.840.1.101.3.4.2.3": hashes.SHA512()}
    alg = algs.get(imprint.hash_algorithm.dotted_string)
    if alg is None:
        raise MalformedError(f"unsupported imprint hash {imprint.hash_algorithm.dotted_string}",
                             field=what)
    h = hashes.Hash(alg)
    h.update(signature)
    if h.finalize() != imprint.message:
        raise VerificationError(f"{what} is over other data, not this entry's signature")
    return info.gen_time


def request_timestamp(tsa_url: str, signature: bytes, *, timeout: float = 20.0,
                      session: requests.Session | None = None) -> bytes:
    """Ask a TSA (RFC 3161 over HTTP) to timestamp ``signature``; the checked response."""
    from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

    req = (TimestampRequestBuilder().data(signature).hash_algorithm(HashAlgorithm.SHA256)
           .cert_request(cert_request=True).nonce(nonce=True).build())
    http = session or requests.Session()
    http.headers["Content-Type"] = "application/timestamp-query"
    try:
        resp, body = bounded_post(http, tsa_url, f"TSA {tsa_url}", MAX_TIMESTAMP_RESPONSE,
                                  req.as_bytes(), timeout)
    except requests.RequestException as e:
        raise StoreError(f"TSA {tsa_url}: {transport_reason(e, timeout)}") from e
    if resp.status_code != 200:
        raise StoreError(f"TSA {tsa_url}: HTTP {resp.status_code}")
    check_timestamp(body, signature, f"TSA {tsa_url}")
    if decode_timestamp_response(body).tst_info.nonce != req.nonce:
        raise VerificationError(f"TSA {tsa_url}: the answer's nonce is not the request's")
    return body
