"""What a certificate says about its holder, as search keys: ``identity:<email or URI>`` for
each Subject Alternative Name, ``issuer:<URL>`` for the OIDC issuer Fulcio records (extension
1.3.6.1.4.1.57264.1.8, else the deprecated .1.1). Pure: DER in, strings out.

Whether the certificate is to be believed is the log's policy, not this module's: a log with
X.509 trust roots admits only certificates that chain to them (``tlog.client.admission``);
on a log without roots these are the certificate's claims.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

__all__ = ["FULCIO_ISSUER", "FULCIO_ISSUER_V1", "certificate_search_keys", "identities_of"]

FULCIO_ISSUER = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
FULCIO_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw bytes


def identities_of(der: bytes) -> tuple[list[str], str | None]:
    """(SAN emails and URIs, lowercased; the OIDC issuer or None) of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.RFC822Name)
        names += san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        pass
    issuer = None
    for oid, der_string in ((FULCIO_ISSUER, True), (FULCIO_ISSUER_V1, False)):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value.value
        except x509.ExtensionNotFound:
            continue
        issuer = _utf8_string(raw) if der_string else raw.decode("utf-8", "replace")
        break
    return sorted({n.lower() for n in names}), issuer


def _utf8_string(raw: bytes) -> str | None:
    """A DER UTF8String's text (short or long form length), or None."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    n, at = raw[1], 2
    if n & 0x80:
        width = n & 0x7F
        n, at = int.from_bytes(raw[2 : 2 + width], "big"), 2 + width
    return raw[at : at + n].decode("utf-8", "replace")


def certificate_search_keys(keys: Iterable[Any]) -> list[str]:
    """``identity:`` and ``issuer:`` search keys of the certificates among ``keys``
    (``tlog.entries.keys.PublicKey``), in order, without repeats."""
    out: dict[str, None] = {}
    for key in keys:
        if not key.is_certificate:
            continue
        names, issuer = identities_of(key.der)
        for name in names:
            out[f"identity:{name}"] = None
        if issuer:
            out[f"issuer:{issuer.lower()}"] = None
    return list(out)
