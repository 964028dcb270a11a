"""Reading JSON fields of submissions and entries with errors that name the field.

Every accessor takes the dotted path of the field (``hashedrekord.signature``,
``dsse.envelope.signatures[1].sig``) and raises MalformedError with it and what was expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tlog.errors import MalformedError

from .keys import HASHES, PublicKey, load_public_key

__all__ = [
    "b64",
    "check_fields",
    "digest_spec",
    "get",
    "hash_output",
    "hash_output_parts",
    "object_list",
    "parse_hash_output",
    "parse_verifier",
    "pem_keys",
    "verifier_json",
    "verifier_parts",
]

_DIGEST = re.compile(r"(sha256|sha384|sha512):([0-9a-f]*)")
_ALG_NAMES = {v[0]: k for k, v in HASHES.items()}
_JSON_TYPES = {str: "a string", list: "an array", dict: "an object", bool: "true or false",
               int: "an integer"}


def get(obj: dict[str, Any], key: str, kind: type, field: str, *, optional: bool = False) -> Any:
    """``obj[key]`` checked to be of JSON type ``kind`` (None if optional and absent)."""
    if key not in obj:
        if optional:
            return None
        raise MalformedError(f"missing (expected {_JSON_TYPES[kind]})", field=field)
    value = obj[key]
    wrong = not isinstance(value, kind) or (kind is int and isinstance(value, bool))
    if wrong:
        raise MalformedError(f"expected {_JSON_TYPES[kind]}", field=field)
    return value


def check_fields(obj: dict[str, Any], allowed: tuple[str, ...], field: str) -> None:
    """Refuse members the format does not define (a typo must not pass silently)."""
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        # Names are the submitter's text: shown so that the message stays one line.
        shown = ", ".join(n if n.isprintable() and n else json.dumps(n)[:60] for n in unknown)
        raise MalformedError(
            f"unknown field(s) {shown} (allowed: {', '.join(allowed)})", field=field
        )


def object_list(obj: dict[str, Any], key: str, allowed: tuple[str, ...], field: str,
                most: int) -> list[tuple[str, dict[str, Any]]]:
    """``obj[key]``: an array of 1 to ``most`` objects with only ``allowed`` members, as
    (field name of the item, item) pairs."""
    items = get(obj, key, list, field)
    if not 1 <= len(items) <= most:
        raise MalformedError(f"expected 1 to {most} {key}, got {len(items)}", field=field)
    out = []
    for i, item in enumerate(items):
        name = f"{field}[{i}]"
        if not isinstance(item, dict):
            raise MalformedError("expected an object", field=name)
        check_fields(item, allowed, name)
        out.append((name, item))
    return out


def pem_keys(items: list[Any], field: str,
             certificate: bool | None = None) -> list[tuple[PublicKey, str]]:
    """An array of PEM keys (or certificates) loaded, each with its field name."""
    keys = []
    for i, text in enumerate(items):
        name = f"{field}[{i}]"
        if not isinstance(text, str):
            raise MalformedError("expected a PEM string", field=name)
        keys.append((load_public_key(text.encode(), name, certificate), name))
    return keys


def b64(value: Any, field: str, *, empty_ok: bool = False) -> bytes:
    """Standard base64 (padded, no whitespace) to bytes."""
    if not isinstance(value, str):
        raise MalformedError(
            "missing (expected base64)" if value is None else "expected a base64 string",
            field=field,
        )
    try:
        raw = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("not valid base64", field=field) from e
    if not raw and not empty_ok:
        raise MalformedError("is empty", field=field)
    return raw


def digest_spec(value: Any, field: str) -> tuple[str, bytes]:
    """``"sha256:<hex>"`` (or sha384/sha512, lowercase hex) to (hash name, digest)."""
    if isinstance(value, str):  # the common case, without a regular expression
        name, _, hexed = value.partition(":")
        spec = HASHES.get(name)
        if spec and len(hexed) == 2 * spec[2]:
            try:
                digest = bytes.fromhex(hexed)
            except ValueError:
                digest = b""
            if digest.hex() == hexed:  # refuses upper case and spaces
                return name, digest
    m = _DIGEST.fullmatch(value) if isinstance(value, str) else None
    if not m:
        raise MalformedError(
            'expected "sha256:<hex>", "sha384:<hex>" or "sha512:<hex>" (lowercase hex)',
            field=field,
        )
    size = HASHES[m[1]][2]
    raise MalformedError(f"a {m[1]} digest is {2 * size} hex digits, got {len(m[2])}",
                         field=field)


def hash_output(hash_name: str, digest: bytes) -> dict[str, str]:
    """sigstore ``HashOutput`` in protojson form."""
    return {"algorithm": HASHES[hash_name][0], "digest": base64.b64encode(digest).decode()}


def parse_hash_output(obj: Any, field: str) -> tuple[str, bytes]:
    if not isinstance(obj, dict):
        raise MalformedError("expected an object", field=field)
    check_fields(obj, ("algorithm", "digest"), field)
    alg = get(obj, "algorithm", str, f"{field}.algorithm")
    return hash_output_parts(alg, get(obj, "digest", str, f"{field}.digest"), field)


def hash_output_parts(alg: str, digest_b64: str, field: str) -> tuple[str, bytes]:
    """A ``HashOutput``'s algorithm name and base64 digest, read from wherever they were
    found, to (hash name, digest)."""
    if alg not in _ALG_NAMES:
        raise MalformedError(f"unsupported hash algorithm {alg!r}", field=f"{field}.algorithm")
    digest = b64(digest_b64, f"{field}.digest")
    name = _ALG_NAMES[alg]
    if len(digest) != HASHES[name][2]:
        raise MalformedError(f"not a {name} digest", field=f"{field}.digest")
    return name, digest


def verifier_json(key: PublicKey, details: str) -> dict[str, Any]:
    """Rekor v2 ``Verifier`` in protojson form: key details and the DER key or certificate."""
    raw = {"rawBytes": key.der_b64}
    return {"keyDetails": details, ("x509Certificate" if key.is_certificate else "publicKey"): raw}


def parse_verifier(obj: Any, field: str) -> tuple[PublicKey, str]:
    """A logged ``Verifier`` back to (key, key details), checking that they fit each other."""
    if not isinstance(obj, dict):
        raise MalformedError("expected an object", field=field)
    is_cert = "x509Certificate" in obj
    which = "x509Certificate" if is_cert else "publicKey"
    check_fields(obj, ("keyDetails", which), field)
    details = get(obj, "keyDetails", str, f"{field}.keyDetails")
    inner = get(obj, which, dict, f"{field}.{which}")
    check_fields(inner, ("rawBytes",), f"{field}.{which}")
    return verifier_parts(details, is_cert,
                          get(inner, "rawBytes", str, f"{field}.{which}.rawBytes"), field)


def verifier_parts(details: str, is_cert: bool, der_b64: str, field: str,
                   ) -> tuple[PublicKey, str]:
    """A ``Verifier``'s key details and base64 DER key (or certificate), read from wherever
    they were found, to (key, key details), checking that they fit each other."""
    from .keys import candidate_details

    which = "x509Certificate" if is_cert else "publicKey"
    der = b64(der_b64, f"{field}.{which}.rawBytes")
    if der[:1] != b"\x30":
        raise MalformedError("not DER", field=f"{field}.{which}.rawBytes")
    key = load_public_key(der, f"{field}.{which}.rawBytes", is_cert)
    candidate_details(key, None, f"{field}.keyDetails", requested=details)
    return key, details
