"""``signature``: a detached signature in the format of the tool that made it (OpenPGP, SSH,
minisign, signify, or OpenSSL's pure Ed25519), over an artifact the log never keeps.

Submission (docs/submissions.md)::

    {"type": "signature", "format": "ssh", "signature": "<base64 of the .sig file>",
     "public_key": "<base64 of the key file>", "digests": {"sha256": "<hex>", "sha512": "<hex>"},
     "namespace": "file"}                  # ssh only
     "artifact": "<base64>"                # formats that sign the whole message

Two kinds of scheme. *Prehashed* ones sign a hash of the artifact, so its digest suffices and
the logged entry can be re-verified from the entry alone: SSH (SSHSIG signs the SHA-512 or
SHA-256 of the message) and minisign's default (Ed25519 over BLAKE2b-512). *Whole-message* ones
sign the artifact itself: OpenPGP, signify, minisign's legacy mode, pure Ed25519. For those the
submission carries the artifact (at most ``MAX_ARTIFACT`` bytes); admission verifies over it and
logs only its digests, the signature and the key: anyone holding the artifact re-verifies from
the entry (``tlog verify --artifact``), a monitor without it checks only that the signature and
the key belong together (``signature_checked_by_entry`` says which).

Logged entry (RFC 8785)::

    {"apiVersion":"0.0.1","kind":"tiledlog-signature","spec":{"digests":{"sha256":"…"},
     "format":"openpgp","identities":["alice@example.com"],"keyId":"5cc3…","publicKey":"…",
     "signature":"…"}}

Search keys: ``sha256:<hex>`` of the artifact, ``keyid:<id>`` (an OpenPGP fingerprint, the
SHA-256 of an SSH key blob, a minisign or signify key number, all lowercase hex) and
``identity:<id>`` per identity: an OpenPGP user ID's email (self-signed by the key), or an SSH
principal from an ``allowed_signers`` line (asserted by the submitter, not verified).

Libraries: ``pysequoia`` (Sequoia-PGP) for OpenPGP, ``sshsig`` for SSHSIG. minisign and signify
are parsed here (a few fixed-size fields) because their libraries verify only over the whole
message, and a log holds a digest; the Ed25519 checks are ``cryptography``'s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tlog.errors import MalformedError, VerificationError

from .canonical import canonical_json
from .fields import check_fields, get
from .keys import load_public_key
from .registry import parse_entry

__all__ = ["FORMATS", "MAX_ARTIFACT", "TYPE", "detect_format", "key_queries_of", "normal_key_id",
           "prehash_of"]

MAX_ARTIFACT = 512 * 1024  # bytes of an artifact carried for a whole-message scheme
FORMATS = ("openpgp", "ssh", "minisign", "signify", "ed25519")
_FIELDS = ("type", "format", "signature", "public_key", "digests", "artifact", "namespace")
_DIGESTS = {"sha256": 32, "sha512": 64, "blake2b512": 64}
_HEX = re.compile(r"[0-9a-f]+")
_EMAIL = re.compile(r"<([^<>\s]+@[^<>\s]+)>|^([^<>\s]+@[^<>\s]+)$")


@dataclass
class Parsed:
    format: str
    signature: bytes  # the signature file's bytes
    key: bytes  # the key file's bytes
    digests: dict[str, bytes]
    artifact: bytes | None = None
    namespace: str | None = None
    key_id: str = ""
    identities: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # format-specific entry fields
    fingerprint: str = ""  # key:<hex> bound to an Ed25519 key itself, when there is one


# ----- the formats ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fields:
    """Where the signature, the key and the namespace are, for messages."""

    sig: str
    key: str
    ns: str


_SUBMISSION = _Fields("signature.signature", "signature.public_key", "signature.namespace")
_ENTRY = _Fields("entry.spec.signature", "entry.spec.publicKey", "entry.spec.namespace")


def _b64_lines(data: bytes, what: str, lines: int, f: _Fields) -> list[str]:
    """minisign/signify files: an ``untrusted comment:`` line, then base64 lines."""
    try:
        text = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise MalformedError(f"not a {what} (not text)", field=f.sig) from e
    if len(text) < lines or not text[0].startswith("untrusted comment:"):
        raise MalformedError(f"not a {what}: expected an 'untrusted comment:' line, then "
                             "base64", field=f.sig)
    return text


def _b64(text: str, size: int, what: str, where: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError(f"{what}: not base64", field=where) from e
    if len(raw) != size:
        raise MalformedError(f"{what}: {len(raw)} bytes, expected {size}", field=where)
    return raw


_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")  # DER SubjectPublicKeyInfo prefix


def _ed25519_fingerprint(raw: bytes) -> str:
    """``key:<hex>`` of a raw Ed25519 key, as ``hashedrekord`` names the same key in PEM: a
    name bound to the key itself (minisign and signify key numbers are chosen by the key's
    maker, so anyone can make a key that carries another's)."""
    return "key:" + hashlib.sha256(_ED25519_SPKI + raw).hexdigest()


def _at(where: str, message: str) -> str:
    """A message naming its field (VerificationError has no field of its own)."""
    return f"{where}: {message}"


def _ed25519(public: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, msg)
    except InvalidSignature:
        return False
    return True


def _minisign_key(data: bytes, f: _Fields) -> tuple[bytes, bytes]:
    """(key number, public key) of a minisign public key file (or its base64 line)."""
    text = data.decode("utf-8", "replace").strip().splitlines()
    raw = _b64(text[-1] if text else "", 42, "minisign public key", f.key)
    if raw[:2] != b"Ed":
        raise MalformedError("minisign public key: not an Ed25519 key", field=f.key)
    return raw[2:10], raw[10:]


def _minisign(p: Parsed, f: _Fields) -> Callable[[dict[str, bytes], bytes | None], bool]:
    lines = _b64_lines(p.signature, "minisign signature", 4, f)
    raw = _b64(lines[1], 74, "minisign signature", f.sig)
    if raw[:2] not in (b"ED", b"Ed") or not lines[2].startswith("trusted comment: "):
        raise MalformedError("not a minisign signature (algorithm ED or Ed, then a trusted "
                             "comment line)", field=f.sig)
    global_sig = _b64(lines[3], 64, "minisign global signature", f.sig)
    keynum, public = _minisign_key(p.key, f)
    if raw[2:10] != keynum:
        raise VerificationError(_at(f.key, "signed by minisign key "
                                f"{int.from_bytes(raw[2:10], 'little'):016x}, not by this key"))
    comment = lines[2].removeprefix("trusted comment: ")
    p.key_id = f"{int.from_bytes(keynum, 'little'):016x}"
    p.fingerprint = _ed25519_fingerprint(public)
    p.extra["trustedComment"] = comment
    prehashed = raw[:2] == b"ED"

    def check(digests: dict[str, bytes], artifact: bytes | None) -> bool:
        signed = digests.get("blake2b512") if prehashed else artifact
        return signed is not None and _ed25519(public, raw[10:], signed) and _ed25519(
            public, global_sig, raw[10:] + comment.encode())

    check.needs = "blake2b512" if prehashed else None  # type: ignore[attr-defined]
    return check


def _signify(p: Parsed, f: _Fields) -> Callable[[dict[str, bytes], bytes | None], bool]:
    lines = _b64_lines(p.signature, "signify signature", 2, f)
    raw = _b64(lines[1], 74, "signify signature", f.sig)
    key_lines = p.key.decode("utf-8", "replace").strip().splitlines()
    key = _b64(key_lines[-1] if key_lines else "", 42, "signify public key", f.key)
    if raw[:2] != b"Ed" or key[:2] != b"Ed":
        raise MalformedError("not a signify Ed25519 signature and key", field=f.sig)
    if raw[2:10] != key[2:10]:
        raise VerificationError(_at(
            f.key, f"signed by signify key {raw[2:10].hex()}, not by this key "
                                f"({key[2:10].hex()})"))
    p.key_id = key[2:10].hex()
    p.fingerprint = _ed25519_fingerprint(key[10:])

    def check(digests: dict[str, bytes], artifact: bytes | None) -> bool:
        return artifact is not None and _ed25519(key[10:], raw[10:], artifact)

    check.needs = None  # type: ignore[attr-defined]
    return check


def _ssh(p: Parsed, f: _Fields) -> Callable[[dict[str, bytes], bytes | None], bool]:
    from sshsig.ssh_public_key import PublicKey as SshKey
    from sshsig.sshsig import SshsigSignature, SshsigWrapper

    try:
        sig = SshsigSignature.from_armored(p.signature)
    except (ValueError, NotImplementedError, binascii.Error) as e:
        raise MalformedError(f"not an SSH signature (ssh-keygen -Y sign): {e}",
                             field=f.sig) from e
    lines = _signer_lines(p.key, f)
    namespace = sig.namespace.decode("utf-8", "replace")
    if p.namespace is not None and p.namespace != namespace:
        raise VerificationError(_at(
            f.ns, f"signed for namespace {namespace!r}, not {p.namespace!r}"))
    line = _signers_line(lines, sig.public_key, namespace, f)
    if line is None:
        try:
            embedded = SshKey.from_ssh_encoding(sig.public_key)
        except (ValueError, NotImplementedError) as e:
            raise MalformedError(f"the SSH signature's key is unreadable: {e}",
                                 field=f.sig) from e
        usable = [ln for ln in lines if ln.key is not None]
        raise VerificationError(_at(
            f.key, f"signed by SSH key {embedded.sha256_str()}, not by this key "
                   f"({usable[0].key.sha256_str()})" if len(lines) == 1 else
                   f"signed by SSH key {embedded.sha256_str()}, which none of the "
                   f"{len(lines)} keys in this file is"))
    if len(lines) > 1:  # the entry publishes the signer's line, not the whole team's file
        p.key = (line.text + "\n").encode()
    principals, blob, given = line.principals, line.blob, line.key
    p.namespace = namespace
    algo = sig.hash_algo.decode("ascii", "replace")
    if algo not in ("sha256", "sha512"):
        raise MalformedError(f"SSH signature hash {algo!r}: expected sha256 or sha512",
                             field=f.sig)
    p.key_id = hashlib.sha256(blob).hexdigest()
    p.identities = principals
    if blob.startswith(b"\x00\x00\x00\x0bssh-ed25519") and len(blob) == 51:
        p.fingerprint = _ed25519_fingerprint(blob[-32:])

    def check(digests: dict[str, bytes], artifact: bytes | None) -> bool:
        if algo not in digests:
            return False
        signed = SshsigWrapper(namespace=sig.namespace, hash_algo=sig.hash_algo,
                               hash=digests[algo]).to_bytes()
        try:
            return given.do_verify(sig.signature, signed) is None
        except Exception as e:  # the library asserts on a foreign signature blob
            raise MalformedError(f"the SSH signature blob is malformed: {e!r}",
                                 field=f.sig) from e

    check.needs = algo  # type: ignore[attr-defined]
    return check


@dataclass
class _SignerLine:
    """One key of an OpenSSH public key file or ``allowed_signers`` file; ``problem`` says
    why tiledlog cannot use it (its key type or options), ``key`` is then None."""

    text: str
    principals: list[str]
    options: dict[str, str]
    blob: bytes
    key: Any
    problem: str | None = None


_SSH_TYPES = ("ssh-", "ecdsa-", "sk-")


def _signer_lines(data: bytes, f: _Fields) -> list[_SignerLine]:
    """Every key line of an OpenSSH public key (``id_ed25519.pub``) or ``allowed_signers``
    file (principals, then options, then the key; ``#`` comments), as ssh-keygen reads it. A
    line this installation cannot use (an ECDSA or security-key key, a certificate authority,
    a time limit) is kept with the reason: it only matters if it is the signer's."""
    from sshsig.ssh_public_key import PublicKey as SshKey

    out = []
    for raw in data.decode("utf-8", "replace").splitlines():
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        words = text.split()
        at = next((i for i, w in enumerate(words) if w.startswith(_SSH_TYPES)), None)
        if at is None or at + 1 >= len(words):
            raise MalformedError("not an OpenSSH public key or allowed_signers line",
                                 field=f.key)
        try:
            blob = base64.b64decode(words[at + 1], validate=True)
        except binascii.Error as e:
            raise MalformedError(f"not an OpenSSH public key: {e}", field=f.key) from e
        principals = [w.lower() for w in words[0].split(",")] if at > 0 else []
        options = _ssh_options(" ".join(words[1:at]))
        unsupported = sorted(set(options) - {"namespaces"})
        line = _SignerLine(text, principals, options, blob, None)
        if words[at].startswith(("ecdsa-", "sk-")):
            line.problem = (f"SSH {words[at]} keys are not supported (Ed25519 and RSA are): "
                            "sign with ssh-keygen -t ed25519's key")
        elif unsupported:  # certificates are not supported; time limits would need a clock,
            # which the core does not read, and a logged entry is re-checked long after
            line.problem = (f"the allowed_signers option {unsupported[0]!r} is not supported: "
                            "give the signer's key line without it")
        else:
            try:
                line.key = SshKey.from_openssh_str(" ".join(words[at : at + 2]))
            except (ValueError, NotImplementedError) as e:
                raise MalformedError(f"not an OpenSSH public key: {e}", field=f.key) from e
        out.append(line)
    if not out:
        raise MalformedError("not an OpenSSH public key or allowed_signers line", field=f.key)
    if all(ln.key is None for ln in out):
        raise MalformedError(str(out[0].problem), field=f.key)
    return out


def _ssh_options(text: str) -> dict[str, str]:
    """An allowed_signers line's options (``namespaces="git,file"``, ``cert-authority``…):
    commas outside quotes part them."""
    out: dict[str, str] = {}
    for opt in re.findall(r'(?:[^,"]|"[^"]*")+', text):
        name, _, value = opt.strip().partition("=")
        out[name.lower()] = value.strip('"')
    return out


def _signers_line(lines: list[_SignerLine], blob: bytes, namespace: str,
                  f: _Fields) -> _SignerLine | None:
    """The line of the key ``blob`` that allows ``namespace``, as ``ssh-keygen -Y verify``
    looks for one (any of the lines holding the key); None if no line holds it."""
    holding = [ln for ln in lines if ln.blob == blob]
    if not holding:
        return None
    usable = [ln for ln in holding if ln.key is not None]
    if not usable:
        raise MalformedError(str(holding[0].problem), field=f.key)
    for ln in usable:
        allowed = ln.options.get("namespaces")
        if allowed is None or _patterns_match(namespace, allowed):
            return ln
    raise VerificationError(_at(f.key, f"the allowed_signers line of this key allows the "
                                f"namespaces {usable[0].options['namespaces']!r}, not "
                                f"{namespace!r}"))


def _patterns_match(value: str, patterns: str) -> bool:
    """OpenSSH's pattern lists: comma-separated, ``*`` and ``?`` wildcards, ``!`` negates
    (a negated match refuses, whatever else matches)."""
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                        for c in pattern.removeprefix("!"))
        if re.fullmatch(regex, value, re.DOTALL):
            if negated:
                return False
            matched = True
    return matched


def _openpgp(p: Parsed, f: _Fields) -> Callable[[dict[str, bytes], bytes | None], bool]:
    import pysequoia

    try:
        certs = pysequoia.Cert.split_bytes(p.key)
        sig = pysequoia.Sig.from_bytes(p.signature)
    except Exception as e:  # the bindings raise plain exceptions for bad packets
        raise MalformedError(f"not an OpenPGP key and detached signature: {_first_line(e)}",
                             field=f.sig) from e
    with warnings.catch_warnings():  # the bindings deprecate the property, not its meaning
        warnings.simplefilter("ignore", DeprecationWarning)
        secret = any(c.has_secret_keys for c in certs)
    if secret:
        raise MalformedError("holds a secret key: give the public key (gpg --export), never "
                             "the secret one (it would be published)", field=f.key)
    issuer = (sig.issuer_fingerprint or "").lower()
    held = _pgp_holders(p.key)
    holder = held.get(issuer) or held.get(str(sig.issuer_key_id or "").lower())
    cert = next((c for c in certs if str(c.fingerprint).lower() == holder), None)
    by_subkey = cert is None and len(certs) == 1
    if by_subkey:
        cert = certs[0]  # maybe a subkey's signature: the verification below decides
    if cert is None:
        raise VerificationError(_at(
            f.key, f"signed by OpenPGP key {issuer or sig.issuer_key_id}, which "
                                "the public key file does not hold"))
    p.key_id = str(cert.fingerprint).lower()
    ids = []
    for uid in cert.user_ids:
        m = _EMAIL.search(str(uid))
        ids.append((m.group(1) or m.group(2)) if m else str(uid))
    p.identities = sorted({i.lower() for i in ids})

    def check(digests: dict[str, bytes], artifact: bytes | None) -> bool:
        if artifact is None:
            return False
        try:
            pysequoia.verify(bytes=artifact, store=lambda _ids: [cert], signature=sig)
        except Exception as e:  # "no valid signatures found", and any other failure
            if by_subkey:  # most likely another key's signature: say whose
                raise VerificationError(_at(f.key, f"signed by OpenPGP key {issuer or '?'}, "
                                            "which this key file does not hold")) from e
            bound = _pgp_bound_since(p.key, str(cert.fingerprint).lower())
            if bound is not None and sig.created < bound:
                raise VerificationError(_at(f.sig, (
                    f"made {sig.created:%Y-%m-%d %H:%M:%S} UTC, before every self-signature "
                    f"of key {cert.fingerprint} in this key file (the first from "
                    f"{bound:%Y-%m-%d %H:%M:%S}): the key is checked as it was bound when it "
                    "signed, and GnuPG keeps only a key's newest self-signature once its "
                    "expiry changes. Not supported: give the key as exported before the "
                    "change, or sign again"))) from e
            return False
        return True

    check.needs = None  # type: ignore[attr-defined]
    return check


def _pgp_holders(key: bytes) -> dict[str, str]:
    """Each key of an OpenPGP key file (primary keys and subkeys, by fingerprint and by key
    ID) → the fingerprint of the certificate holding it: a project's KEYS file holds many, and
    a signature names the subkey that made it."""
    from pysequoia.packet import PacketPile, Tag

    out: dict[str, str] = {}
    primary = ""
    try:
        packets = list(PacketPile.from_bytes(key))
    except Exception:  # unreadable: the certificate parse above has said so
        return out
    for pkt in packets:
        if pkt.tag in (Tag.PublicKey, Tag.PublicSubkey):
            fpr = str(pkt.fingerprint).lower()
            if pkt.tag == Tag.PublicKey:
                primary = fpr
            out.setdefault(fpr, primary)
            out.setdefault(fpr[-16:], primary)
    return out


_SELF_SIGNATURES = ("PositiveCertification", "GenericCertification", "CasualCertification",
                    "PersonaCertification", "SubkeyBinding", "DirectKey")


def _pgp_bound_since(key: bytes, primary: str) -> Any:
    """When the first self-signature of the certificate ``primary`` in a key file was made
    (a datetime), or None."""
    from pysequoia.packet import PacketPile, Tag

    current, first = "", None
    try:
        packets = list(PacketPile.from_bytes(key))
    except Exception:
        return None
    for pkt in packets:
        if pkt.tag == Tag.PublicKey:
            current = str(pkt.fingerprint).lower()
        elif (pkt.tag == Tag.Signature and current == primary and str(
                pkt.signature_type).rsplit(".", 1)[-1] in _SELF_SIGNATURES
              and pkt.signature_created is not None):
            first = pkt.signature_created if first is None else min(first,
                                                                     pkt.signature_created)
    return first


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def _pure_ed25519(p: Parsed, f: _Fields) -> Callable[[dict[str, bytes], bytes | None], bool]:
    key = load_public_key(p.key, f.key, False)  # a key: a certificate's chain goes unchecked
    if key.algorithm != "ed25519" or len(p.signature) != 64:
        raise MalformedError("expected an Ed25519 public key and a 64-byte raw signature",
                             field=f.sig)
    p.key_id = key.fingerprint.removeprefix("key:")

    def check(digests: dict[str, bytes], artifact: bytes | None) -> bool:
        return artifact is not None and _ed25519(key.spki[-32:], p.signature, artifact)

    check.needs = None  # type: ignore[attr-defined]
    return check


_HANDLERS = {"openpgp": _openpgp, "ssh": _ssh, "minisign": _minisign, "signify": _signify,
             "ed25519": _pure_ed25519}


def detect_format(signature: bytes) -> str | None:
    """The format of a signature file, where its bytes say it (None: not one of these; a raw
    or DER signature for ``hashedrekord``)."""
    head = signature.lstrip()[:64]
    if head.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        return "ssh"
    if head.startswith(b"-----BEGIN PGP SIGNATURE-----"):
        return "openpgp"
    if head.startswith(b"untrusted comment:"):
        lines = signature.decode("utf-8", "replace").splitlines()
        return "minisign" if len(lines) >= 4 and lines[2].startswith("trusted comment:") \
            else "signify"
    if signature[:1] and signature[0] in (0x88, 0x89, 0x8A, 0x8B, 0xC2):  # a signature packet
        try:
            import pysequoia

            pysequoia.Sig.from_bytes(signature)
        except Exception:  # a raw RSA signature may start with the same byte
            return None
        return "openpgp"
    return None


_SSH_KEY = re.compile(rb"(^|\s)(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+)\s+AAAA")


def key_format(key: bytes) -> str | None:
    """The tool a public-key file is for, where its bytes say it: ``ssh`` (a key or an
    allowed_signers line), ``openpgp``, ``minisign``, ``signify``, or ``keybox`` (GnuPG's own
    store, not a key file); None for PEM, DER or a certificate (``hashedrekord``)."""
    if key[8:12] == b"KBXf":
        return "keybox"
    head = key.lstrip()[:200]
    if head.startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----") or head[:1] in (
            b"\x98", b"\x99", b"\x9a", b"\xc6"):
        return "openpgp"  # armored, or a binary public-key packet
    if head.startswith(b"untrusted comment:"):
        return "minisign" if b"minisign" in head.split(b"\n", 1)[0] else "signify"
    return "ssh" if _SSH_KEY.search(head.split(b"\n", 1)[0]) else None


def prehash_of(fmt: str, signature: bytes) -> str | None:
    """The digest a prehashed signature signs (``sha512``, ``sha256``, ``blake2b512``), or None
    for a scheme that signs the whole message."""
    p = Parsed(fmt, signature, b"", {})
    try:
        if fmt == "ssh":
            from sshsig.sshsig import SshsigSignature

            return SshsigSignature.from_armored(signature).hash_algo.decode("ascii")
        if fmt == "minisign":
            raw = _b64(_b64_lines(p.signature, "minisign signature", 4, _SUBMISSION)[1], 74,
                       "minisign signature", _SUBMISSION.sig)
            return "blake2b512" if raw[:2] == b"ED" else None
    except (ValueError, NotImplementedError, binascii.Error) as e:
        raise MalformedError(f"not a {fmt} signature: {e}", field=_SUBMISSION.sig) from e
    return None


def key_queries_of(key: bytes) -> list[str]:
    """The search keys that name a key file's own key in entries, or []: for a minisign or
    signify .pub its ``key:`` fingerprint (its key number is not proof of the key); for an
    OpenSSH key (or allowed_signers file) its ``key:`` fingerprint if it is Ed25519 (which its
    SSH entries carry too), else ``keyid:`` and its blob's SHA-256 and the ``key:`` of the same
    key in PEM, so that a watch of the key finds it whatever format it signed in; for an
    OpenPGP key ``keyid:`` and its fingerprint."""
    text = key.decode("utf-8", "replace")
    if "minisign public key" in text:
        return [_ed25519_fingerprint(_minisign_key(key, _SUBMISSION)[1])]
    if text.startswith("untrusted comment:"):
        lines = text.strip().splitlines()
        return [_ed25519_fingerprint(_b64(lines[-1], 42, "signify public key",
                                          _SUBMISSION.key)[10:])]
    try:
        lines = _signer_lines(key, _SUBMISSION)
    except MalformedError:
        pass
    else:
        return [q for line in lines if line.key is not None for q in _ssh_queries(line.blob)]
    try:
        import pysequoia

        certs = pysequoia.Cert.split_bytes(key)
    except Exception:  # not OpenPGP either
        return []
    return [f"keyid:{str(c.fingerprint).lower()}" for c in certs]


def _ssh_queries(blob: bytes) -> list[str]:
    if blob.startswith(b"\x00\x00\x00\x0bssh-ed25519") and len(blob) == 51:
        return [_ed25519_fingerprint(blob[-32:])]
    out = ["keyid:" + hashlib.sha256(blob).hexdigest()]
    try:
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_ssh_public_key,
        )

        from .keys import key_fingerprint

        kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")].decode("ascii", "replace")
        pub = load_ssh_public_key(f"{kind} {base64.b64encode(blob).decode()}".encode())
        out.append(key_fingerprint(pub.public_bytes(Encoding.DER,
                                                    PublicFormat.SubjectPublicKeyInfo)))
    except (ValueError, TypeError):  # a key type cryptography does not read
        pass
    return out


def normal_key_id(given: str) -> str:
    """A key ID as users copy it (``SHA256:…`` from ssh-keygen -l, hex in any case, OpenPGP
    fingerprints with spaces) as entries record it."""
    text = given.strip()
    if text.startswith("SHA256:"):
        raw = text.removeprefix("SHA256:")
        try:
            return base64.b64decode(raw + "=" * (-len(raw) % 4)).hex()
        except (binascii.Error, ValueError) as e:
            raise MalformedError("expected SHA256:<base64> as ssh-keygen -l prints it",
                                 field="key-id") from e
    out = text.replace(" ", "").lower().removeprefix("0x")
    if len(out) < 16:  # minisign prints its key number without leading zeros
        out = out.zfill(16)
    if not _HEX.fullmatch(out):
        raise MalformedError("expected hex (an OpenPGP fingerprint, a minisign or signify key "
                             "ID) or SHA256:<base64> (an SSH key)", field="key-id")
    return out


# ----- the entry type ----------------------------------------------------------------------


def _digests(value: Any, where: str) -> dict[str, bytes]:
    if not isinstance(value, dict) or not value:
        raise MalformedError('expected {"sha256": "<hex>", …}', field=where)
    out = {}
    for name, hexd in value.items():
        size = _DIGESTS.get(name)
        if size is None:
            raise MalformedError(f"unknown digest {name!r} (known: {', '.join(_DIGESTS)})",
                                 field=f"{where}.{name}")
        if not isinstance(hexd, str) or len(hexd) != 2 * size or not _HEX.fullmatch(hexd):
            raise MalformedError(f"expected {2 * size} lowercase hex digits",
                                 field=f"{where}.{name}")
        out[name] = bytes.fromhex(hexd)
    return out


def _raw(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedError("expected base64 of the file's bytes", field=where)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedError("expected base64 of the file's bytes", field=where) from e


class Signature:
    """The ``signature`` entry type: a tool's own detached signature format."""

    name = "signature"
    kind, api_version = "tiledlog-signature", "0.0.1"

    def parse(self, doc: dict[str, Any]) -> Parsed:
        check_fields(doc, _FIELDS, "signature")
        fmt = get(doc, "format", str, "signature.format")
        if fmt not in _HANDLERS:
            raise MalformedError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})",
                                 field="signature.format")
        p = Parsed(fmt, _raw(doc.get("signature"), "signature.signature"),
                   _raw(doc.get("public_key"), "signature.public_key"),
                   _digests(doc.get("digests"), "signature.digests"),
                   namespace=get(doc, "namespace", str, "signature.namespace", optional=True))
        if "artifact" in doc:
            p.artifact = _raw(doc["artifact"], "signature.artifact")
            if len(p.artifact) > MAX_ARTIFACT:
                raise MalformedError(
                    f"{len(p.artifact)} bytes, over the {MAX_ARTIFACT} a submission may carry: "
                    "sign with a scheme that signs a digest (ssh-keygen -Y sign, minisign "
                    "without -l, or a hashedrekord)", field="signature.artifact")
            for name, want in p.digests.items():
                if _hash(name, p.artifact) != want:
                    raise VerificationError(_at(f"signature.digests.{name}", "the artifact "
                                                f"does not have this {name} digest"))
        if fmt != "ssh" and p.namespace is not None:
            raise MalformedError("only for SSH signatures", field="signature.namespace")
        return p

    def verify(self, p: Parsed) -> None:
        check = _checker(p, _SUBMISSION)
        needs = check.needs  # type: ignore[attr-defined]
        if needs is None and p.artifact is None:
            raise MalformedError(f"a {p.format} signature signs the whole artifact: the "
                                 "submission must carry it (artifact)", field="signature.artifact")
        if needs is not None and p.artifact is None:
            # Only the digest the signature covers is checked: any other would be the
            # submitter's word, and search would find the signature under it.
            other = sorted(set(p.digests) - {needs})
            if other:
                raise MalformedError(
                    f"cannot be checked without the artifact: give the artifact, or only the "
                    f"{needs} digest this signature covers", field=f"signature.digests.{other[0]}")
            if needs not in p.digests:
                raise MalformedError(f"this {p.format} signature signs the artifact's {needs}: "
                                     "give that digest (or the artifact)",
                                     field=f"signature.digests.{needs}")
        elif needs is not None and needs not in p.digests:
            p.digests[needs] = _hash(needs, p.artifact)  # type: ignore[arg-type]
        if "sha256" not in p.digests and (needs is None or p.artifact is not None):
            raise MalformedError("the artifact's sha256 is required (what search finds)",
                                 field="signature.digests")
        if not check(p.digests, p.artifact):
            raise VerificationError(_at(
                "signature.signature", f"does not verify with the given {p.format} key over the "
                                    "artifact"))
        # The entry keeps the digests checked: sha256 (against the artifact) for search, and
        # the one a prehashed signature covers, so that the entry re-verifies by itself.
        p.digests = {k: v for k, v in p.digests.items() if k in ("sha256", needs)}

    def canonical(self, p: Parsed) -> bytes:
        # The body holds only strings, lists and objects with string keys: no walk needed.
        return canonical_json(_body(p), plain=True)

    def parsed_search_keys(self, p: Parsed) -> list[str]:
        # A PEM key is named as hashedrekord names it (key:<SHA-256 of its SPKI>), so one
        # search finds what it signed either way; the tools' own keys by their own IDs, and
        # an Ed25519 key also by that key-bound name (a minisign or signify key number is the
        # key maker's choice, not proof of the key).
        key = f"key:{p.key_id}" if p.format == "ed25519" else f"keyid:{p.key_id}"
        return [*(f"{name}:{d.hex()}" for name, d in sorted(p.digests.items())), key,
                *([p.fingerprint] if p.fingerprint else []),
                *(f"identity:{i}" for i in p.identities),
                *([f"namespace:{p.namespace.lower()}"] if p.namespace is not None else [])]

    def search_keys(self, entry: bytes) -> list[str]:
        p = _decode(entry)
        _checker(p, _ENTRY)  # the key-bound names come from the key itself
        return self.parsed_search_keys(p)

    def describe(self, entry: bytes) -> dict[str, Any]:
        p = _decode(entry)
        return {"type": self.name, "format": p.format,
                "digests": [f"{name}:{d.hex()}" for name, d in sorted(p.digests.items())],
                "key_id": p.key_id, "identities": p.identities,
                "signature_checked_by_entry": self.signature_checked_by_entry(entry)}

    def signature_checked_by_entry(self, entry: bytes) -> bool:
        """Whether the entry alone re-verifies the signature (prehashed schemes), rather than
        only that the signature and the key belong together."""
        p = _decode(entry)
        return _checker(p, _ENTRY).needs is not None  # type: ignore[attr-defined]

    def verify_entry(self, entry: bytes) -> None:
        """A prehashed signature re-checked over the logged digest; a whole-message one
        checked to be the given key's (its check over the artifact needs the artifact)."""
        p = _decode(entry)
        logged = (p.key_id, p.identities)
        check = _checker(p, _ENTRY)
        if logged != (p.key_id, p.identities):
            raise VerificationError(f"logged keyId {logged[0]!r} and identities {logged[1]} are "
                                    f"not the key's ({p.key_id!r}, {p.identities})")
        if canonical_json(_body(p), plain=True) != bytes(entry):  # every field re-derived
            raise VerificationError("logged fields (trustedComment, namespace…) are not what "
                                    "the signature and key say")
        if check.needs is not None and not check(p.digests, None):  # type: ignore[attr-defined]
            raise VerificationError(f"logged {p.format} signature does not verify over the "
                                    "logged digest")


def _checker(p: Parsed, f: _Fields) -> Any:
    """The format's check, once its signature and key are parsed (errors name ``f``'s fields);
    sets the key ID and identities they give."""
    return _HANDLERS[p.format](p, f)


def _hash(name: str, data: bytes) -> bytes:
    return hashlib.blake2b(data).digest() if name == "blake2b512" else hashlib.new(name,
                                                                                  data).digest()


def _body(p: Parsed) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "format": p.format,
        "digests": {k: v.hex() for k, v in sorted(p.digests.items())},
        "signature": base64.b64encode(p.signature).decode(),
        "publicKey": base64.b64encode(p.key).decode(),
        "keyId": p.key_id,
        "identities": p.identities,
    }
    if p.namespace is not None:
        spec["namespace"] = p.namespace
    spec.update(p.extra)
    return {"apiVersion": "0.0.1", "kind": "tiledlog-signature", "spec": spec}


def _decode(entry: bytes) -> Parsed:
    body = parse_entry(entry)
    check_fields(body, ("apiVersion", "kind", "spec"), "entry")
    spec = get(body, "spec", dict, "entry.spec")
    check_fields(spec, ("format", "digests", "signature", "publicKey", "keyId", "identities",
                        "namespace", "trustedComment"), "entry.spec")
    fmt = get(spec, "format", str, "entry.spec.format")
    if fmt not in _HANDLERS:
        raise MalformedError(f"unknown format {fmt!r}", field="entry.spec.format")
    if fmt != "ssh" and "namespace" in spec:
        raise MalformedError("only SSH signatures have a namespace", field="entry.spec.namespace")
    p = Parsed(fmt, _raw(spec.get("signature"), "entry.spec.signature"),
               _raw(spec.get("publicKey"), "entry.spec.publicKey"),
               _digests(spec.get("digests"), "entry.spec.digests"),
               namespace=get(spec, "namespace", str, "entry.spec.namespace", optional=True))
    p.key_id = get(spec, "keyId", str, "entry.spec.keyId")
    ids = get(spec, "identities", list, "entry.spec.identities")
    if not all(isinstance(i, str) for i in ids):
        raise MalformedError("expected strings", field="entry.spec.identities")
    p.identities = ids
    return p


TYPE = Signature()
