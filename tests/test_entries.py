"""Entry types: every type × every key algorithm admitted, and every failure rejected with a
one-line reason naming the field (the messages are asserted, not just the failure)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from signers import ALGOS, MESSAGE_ALGOS, Signer, signer

from tlog.client.admission import admit_many
from tlog.entries import (
    MAX_DOCUMENT,
    admit,
    canonical_json,
    describe_entry,
    entry_search_keys,
    key_search_key,
    verify_entry,
)
from tlog.entries.dsse import pae
from tlog.entries.intoto_link import sslib_canonical, sslib_keyids
from tlog.entries.keys import load_public_key
from tlog.errors import MalformedError, TlogError, VerificationError
from tlog.merkle import leaf_hash

ARTIFACT = b"tiledlog-1.2.3.tar.gz contents"
OTHER = b"something else"


def _doc(d: dict[str, Any]) -> bytes:
    return json.dumps(d).encode()


def _fails(doc: dict[str, Any] | bytes, family: type[TlogError], message: str) -> None:
    with pytest.raises(family) as e:
        admit(doc if isinstance(doc, bytes) else _doc(doc))
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def _key_field(s: Signer) -> str:
    return "certificate" if s.certificate else "public_key"


def _what(s: Signer) -> str:
    return "certificate's key" if s.certificate else "public key"


# ---------------------------------------------------------------- hashedrekord


def hashedrekord(s: Signer, artifact: bytes = ARTIFACT, **over: Any) -> dict[str, Any]:
    d = {"type": "hashedrekord", "digest": s.artifact_digest(artifact),
         "signature": base64.b64encode(s.sign_artifact(artifact)).decode(),
         _key_field(s): s.pem()}
    d.update(over)
    return d


@pytest.mark.parametrize("algo", ALGOS)
def test_hashedrekord_valid(algo: str) -> None:
    s = signer(algo)
    a = admit(_doc(hashedrekord(s)))
    body = json.loads(a.entry)
    spec = body["spec"]["hashedRekordV002"]
    assert (body["kind"], body["apiVersion"], a.type) == ("hashedrekord", "0.0.2", "hashedrekord")
    assert spec["signature"]["verifier"]["keyDetails"] == s.details
    which = "x509Certificate" if s.certificate else "publicKey"
    der = load_public_key(s.pem().encode(), "k").der
    assert base64.b64decode(spec["signature"]["verifier"][which]["rawBytes"]) == der
    assert spec["data"]["algorithm"] == {"sha256": "SHA2_256", "sha384": "SHA2_384",
                                         "sha512": "SHA2_512"}[s.digest]
    assert a.entry == canonical_json(body)  # RFC 8785, whatever the fast encoder did
    assert a.leaf_hash == leaf_hash(a.entry)
    assert s.artifact_digest(ARTIFACT) in a.search_keys
    assert key_search_key(s.pem().encode()) in a.search_keys
    assert list(a.search_keys) == entry_search_keys(a.entry)
    verify_entry(a.entry)  # monitors re-check the logged signature from the entry alone
    assert describe_entry(a.entry)["key_details"] == s.details


@pytest.mark.parametrize(("first", "then"), [("rsa-pss", "rsa-pkcs1"), ("ed25519", "ed25519ph")])
def test_a_key_s_usual_variant_is_checked_first(first: str, then: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that may sign two ways (RSA: PSS or PKCS#1 v1.5; Ed25519 over a SHA-512 digest:
    pure or Ed25519ph) signs one way every time: after one signature, the next by that key
    costs one check, not a failing one first (three PSS documents: 4 checks, not 6). A
    signature made the other way still verifies, and each entry names how it was signed."""
    from tlog.entries import keys

    checks: list[str] = []
    real = keys._verify

    def counted(key: Any, details: str, *rest: Any) -> bool:
        checks.append(details)
        return real(key, details, *rest)

    monkeypatch.setattr(keys, "_verify", counted)
    monkeypatch.setattr(keys, "_LAST", {})
    usual, other = signer(first, seed=77), signer(then, seed=77)  # one key, two ways

    def doc(s: Signer, artifact: bytes) -> bytes:
        if s.algo != "ed25519":
            return _doc(hashedrekord(s, artifact))
        digest = hashlib.sha512(artifact).digest()  # pure Ed25519 over a SHA-512 digest,
        return _doc(hashedrekord(s, artifact, digest=f"sha512:{digest.hex()}",  # which also
                                 signature=base64.b64encode(  # offers Ed25519ph
                                     s.key.sign(digest)).decode()))  # type: ignore[attr-defined]

    for i in range(3):
        a = admit(doc(usual, ARTIFACT + b"%d" % i))
        assert describe_entry(a.entry)["key_details"] == usual.details
    assert len(checks) == 4, checks
    a = admit(doc(other, ARTIFACT))
    assert describe_entry(a.entry)["key_details"] == other.details
    a = admit(doc(usual, OTHER))
    assert describe_entry(a.entry)["key_details"] == usual.details


@pytest.mark.parametrize("algo", ALGOS)
def test_hashedrekord_rejections_name_the_field(algo: str) -> None:
    s, stranger = signer(algo), signer(algo, seed=7)
    bad = f"hashedrekord.signature: does not verify with the given {_what(s)}"
    # wrong signature: the right key signed another artifact
    sig = base64.b64encode(s.sign_artifact(OTHER)).decode()
    _fails(hashedrekord(s, signature=sig), VerificationError, bad)
    # wrong key: a stranger's key of the same algorithm
    _fails(hashedrekord(s, **{_key_field(s): stranger.pem()}), VerificationError, bad)
    # wrong digest: the signature is over another artifact's digest
    _fails(hashedrekord(s, digest=s.artifact_digest(OTHER)), VerificationError, bad)
    # malformed encodings
    _fails(hashedrekord(s, signature="not*base64"), MalformedError,
           "hashedrekord.signature: not valid base64")
    _fails(hashedrekord(s, **{_key_field(s): "-----BEGIN PUBLIC KEY-----\nAAAA\n"}),
           MalformedError, f"hashedrekord.{_key_field(s)}: not a valid PEM or DER "
           + ("certificate" if s.certificate else "public key"))
    _fails(hashedrekord(s, digest=s.digest + ":zz"), MalformedError,
           'hashedrekord.digest: expected "sha256:<hex>", "sha384:<hex>" or "sha512:<hex>" '
           "(lowercase hex)")


def test_hashedrekord_shape_errors() -> None:
    s = signer("ed25519")
    d = hashedrekord(s)
    _fails(hashedrekord(s, digest="sha256:abcd"), MalformedError,
           "hashedrekord.digest: a sha256 digest is 64 hex digits, got 4")
    _fails(hashedrekord(s, signature=base64.b64encode(b"x" * 10).decode()), MalformedError,
           "hashedrekord.signature: an Ed25519 signature is 64 bytes, got 10")
    _fails(hashedrekord(s, certificate=signer("x509-p256").pem()), MalformedError,
           "hashedrekord: give exactly one of public_key or certificate")
    _fails(hashedrekord(s, colour="blue"), MalformedError,
           "hashedrekord: unknown field(s) colour (allowed: type, digest, signature, "
           "public_key, certificate, rsa_pss, key_details)")
    _fails(hashedrekord(signer("ecdsa-p256"), key_details="PKIX_ED25519"), MalformedError,
           "hashedrekord.key_details: PKIX_ED25519 does not fit a ecdsa-secp256r1 key")
    _fails(hashedrekord(signer("ecdsa-p384"), digest="sha256:" + "00" * 32), MalformedError,
           "hashedrekord.digest: a ecdsa-secp384r1 key with PKIX_ECDSA_P384_SHA_384 signs "
           "sha384 digests, not sha256")
    rsa = signer("rsa-pkcs1")
    _fails(hashedrekord(rsa, signature=base64.b64encode(b"x" * 100).decode()), MalformedError,
           "hashedrekord.signature: an RSA-2048 signature is 256 bytes, got 100")
    # --rsa-pss pins PSS: a PKCS#1 v1.5 signature no longer verifies
    _fails(hashedrekord(rsa, rsa_pss=True), VerificationError,
           "hashedrekord.signature: does not verify with the given public key")
    del d["signature"]
    _fails(d, MalformedError, "hashedrekord.signature: missing (expected base64)")


def test_document_level_rejections() -> None:
    _fails(_doc({"type": "rekord"}), MalformedError,
           'type: unknown entry type "rekord" (known: dsse, hashedrekord, intoto-link, signature)')
    _fails(_doc({"digest": "sha256:00"}), MalformedError,
           "type: missing (known: dsse, hashedrekord, intoto-link, signature)")
    _fails(b"[1, 2]", MalformedError, "document: expected a JSON object")
    _fails(b'{"type": "hashedrekord",', MalformedError,
           "document: not JSON: Expecting property name enclosed in double quotes: line 1 "
           "column 25 (char 24)")
    _fails(b'{"type": "dsse", "type": "hashedrekord"}', MalformedError,
           'document: duplicate member "type"')
    _fails(b'{"type": "hashedrekord", "n": 1.5}', MalformedError,
           "document: number 1.5 is not an integer (no fractions or exponents)")
    big = _doc({**hashedrekord(signer("ed25519")), "pad": "x" * MAX_DOCUMENT})
    _fails(big, MalformedError,
           f"document: {len(big)} bytes exceeds the {MAX_DOCUMENT}-byte limit")
    _fails(b"\xff\xfe{}", MalformedError,
           "document: not JSON: 'utf-8' codec can't decode byte 0xff in position 0: invalid "
           "start byte")


def test_rekor_v2_example_entry_bytes() -> None:
    """sigstore/rekor-tiles CLIENTS.md, "Post an entry": the ECDSA P-256 request and the
    canonicalizedBody Rekor v2 returned. Our encoder must give the same bytes for the same
    inputs. The documented body predates the proto rename of the oneof field
    ``hashed_rekord_v0_0_2`` to ``hashed_rekord_v002`` (protojson ``hashedRekordV002``, which
    the same document's decoded JSON shows); that key is the only difference."""
    body_b64 = (
        "eyJhcGlWZXJzaW9uIjoiMC4wLjIiLCJraW5kIjoiaGFzaGVkcmVrb3JkIiwic3BlYyI6eyJoYXNoZWRSZWtv"
        "cmRWMF8wXzIiOnsiZGF0YSI6eyJhbGdvcml0aG0iOiJTSEEyXzI1NiIsImRpZ2VzdCI6ImR5ajRlZG5ZSGpO"
        "NC96c2pqQmVlTGFoUzlzbHA5N1o2N0xUQVZ4anJqWHc9In0sInNpZ25hdHVyZSI6eyJjb250ZW50IjoiTUVR"
        "Q0lCK1lQYTlvM1NOMHNRNHVkdUdmK21aeHdGZk9oRlowQ2d5K3A3VnQxbzJTQWlBUEZESHFPQUpMWW12dENX"
        "T3NEeU5ZMUg0VjN6bTRORURZczNOeXZIaDFQZz09IiwidmVyaWZpZXIiOnsia2V5RGV0YWlscyI6IlBLSVhf"
        "RUNEU0FfUDI1Nl9TSEFfMjU2IiwicHVibGljS2V5Ijp7InJhd0J5dGVzIjoiTUZrd0V3WUhLb1pJemowQ0FR"
        "WUlLb1pJemowREFRY0RRZ0FFMnNsT2Y4ZVpjajJtb1cydDRVRmo3dkNMNlFwRHprRHFxU1VtbTRPSkNWdklh"
        "dUtMeG0wYUdzM1ZNUFBmYXVNUGFNdXRuMC9zM2pnMHJyb0Z4b2ljeWc9PSJ9fX19fX0="
    )
    key_der_b64 = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2slOf8eZcj2moW2t4UFj7vCL6QpDzkDqqSUmm4OJCVvIauKL"
        "xm0aGs3VMPPfauMPaMutn0/s3jg0rroFxoicyg=="
    )
    request = {
        "type": "hashedrekord",
        "digest": "sha256:"
        + base64.b64decode("dyj4ednYHjN4/zsjjBeeLahS9slp97Z67LTAVxjrjXw=").hex(),
        "signature": "MEQCIB+YPa9o3SN0sQ4uduGf+mZxwFfOhFZ0Cgy+p7Vt1o2SAiAPFDHqOAJLYmvt"
                     "CWOsDyNY1H4V3zm4NEDYs3NyvHh1Pg==",
        "public_key": key_der_b64,  # base64 DER, as Rekor's request carries it
    }
    rekor = base64.b64decode(body_b64).replace(b'"hashedRekordV0_0_2"', b'"hashedRekordV002"')
    ours = admit(_doc(request))
    assert ours.entry == rekor
    assert ours.leaf_hash == hashlib.sha256(b"\x00" + rekor).digest()
    verify_entry(rekor)  # and we read Rekor's entry back


# ---------------------------------------------------------------- dsse

STATEMENT = json.dumps({
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [{"name": "tiledlog.tgz",
                 "digest": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}}],
    "predicateType": "https://slsa.dev/provenance/v1", "predicate": {},
}).encode()
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def envelope(signers: list[Signer], payload: bytes = STATEMENT,
             signed_payload: bytes | None = None) -> dict[str, Any]:
    message = pae(PAYLOAD_TYPE, payload if signed_payload is None else signed_payload)
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": "", "sig": base64.b64encode(s.sign(message)).decode()}
                           for s in signers]}


def dsse(signers: list[Signer], keys: list[Signer] | None = None, **env: Any) -> dict[str, Any]:
    keys = signers if keys is None else keys
    d: dict[str, Any] = {"type": "dsse", "envelope": envelope(signers, **env)}
    for k in keys:
        d.setdefault("certificates" if k.certificate else "public_keys", []).append(k.pem())
    return d


def test_pae_matches_the_dsse_spec_example() -> None:
    # DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world")
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


@pytest.mark.parametrize("algo", MESSAGE_ALGOS)
def test_dsse_valid(algo: str) -> None:
    s = signer(algo)
    a = admit(_doc(dsse([s])))
    spec = json.loads(a.entry)["spec"]["dsseV002"]
    assert spec["payloadHash"] == {"algorithm": "SHA2_256", "digest": base64.b64encode(
        hashlib.sha256(STATEMENT).digest()).decode()}
    assert spec["signatures"][0]["verifier"]["keyDetails"] == (
        "PKIX_ED25519" if algo == "ed25519" else s.details)
    assert base64.b64encode(STATEMENT).decode() not in a.entry.decode()  # payload not logged
    assert f"sha256:{hashlib.sha256(STATEMENT).hexdigest()}" in a.search_keys
    assert key_search_key(s.pem().encode()) in a.search_keys
    assert list(a.search_keys) == entry_search_keys(a.entry)
    verify_entry(a.entry)


def test_dsse_several_signatures_are_sorted_and_all_checked() -> None:
    one, two = signer("ed25519"), signer("ecdsa-p256")
    d = dsse([one, two])
    a = admit(_doc(d))
    d["envelope"]["signatures"].reverse()
    d["public_keys"].reverse()
    b = admit(_doc(d))
    assert a.entry == b.entry  # order of signatures and keys does not change the entry
    assert len(json.loads(a.entry)["spec"]["dsseV002"]["signatures"]) == 2


@pytest.mark.parametrize("algo", MESSAGE_ALGOS)
def test_dsse_rejections_name_the_field(algo: str) -> None:
    s, stranger = signer(algo), signer(algo, seed=7)
    no = "dsse.envelope.signatures[0]: does not verify with any of the given keys"
    # wrong signature: signed another payload
    _fails(dsse([s], signed_payload=b"another statement"), VerificationError, no)
    # wrong key
    _fails(dsse([s], keys=[stranger]), VerificationError, no)
    # an extra key that signed nothing
    field = "certificates" if stranger.certificate else "public_keys"
    _fails(dsse([s], keys=[s, signer("ed25519", seed=9)]) if s.certificate else
           dsse([s], keys=[s, stranger]), VerificationError,
           "dsse.public_keys[0]: verifies none of the envelope's signatures"
           if s.certificate else f"dsse.{field}[1]: verifies none of the envelope's signatures")
    # malformed encodings
    d = dsse([s])
    d["envelope"]["payload"] = "%%%"
    _fails(d, MalformedError, "dsse.envelope.payload: not valid base64")
    d = dsse([s])
    d["envelope"]["signatures"] = []
    _fails(d, MalformedError, "dsse.envelope.signatures: expected 1 to 10 signatures, got 0")


def test_dsse_shape_errors() -> None:
    s = signer("ed25519")
    _fails({"type": "dsse", "envelope": envelope([s])}, MalformedError,
           "dsse: give at least one of public_keys or certificates")
    _fails({"type": "dsse", "public_keys": [s.pem()]}, MalformedError,
           "dsse.envelope: missing (expected a DSSE envelope object)")
    _fails({**dsse([s]), "public_keys": [s.pem(), s.pem()]}, MalformedError,
           "dsse.public_keys[1]: the same key as dsse.public_keys[0]")
    d = dsse([s])
    del d["envelope"]["payloadType"]
    _fails(d, MalformedError, "dsse.envelope.payloadType: missing (expected a string)")


# ---------------------------------------------------------------- intoto-link

_SCHEME = {"ed25519": "ed25519", "ecdsa-p256": "ecdsa-sha2-nistp256",
           "ecdsa-p384": "ecdsa-sha2-nistp384", "rsa-pss": "rsassa-pss-sha256",
           "rsa-pkcs1": "rsa-pkcs1v15-sha256"}
LINK_SIGNED = {
    "_type": "link", "name": "package", "command": ["tar", "zcvf", "foo.tar.gz", "foo.py"],
    "materials": {"foo.py": {
        "sha256": "74dc3727c6e89308b39e4dfedf787e37841198b1fa165a27c013544a60502549"}},
    "products": {"foo.tar.gz": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()}},
    "byproducts": {"return-value": 0, "stderr": "a foo.py\n", "stdout": ""},
    "environment": {},
}


def link(signers: list[Signer], signed: dict[str, Any] | None = None,
         keyid: str | None = None) -> dict[str, Any]:
    signed = LINK_SIGNED if signed is None else signed
    message = sslib_canonical(signed)
    sigs = [{"keyid": keyid if keyid is not None else
             sorted(sslib_keyids(load_public_key(s.pem().encode(), "k")))[0],
             "sig": s.sign(message).hex()} for s in signers]
    return {"signed": json.loads(json.dumps(LINK_SIGNED)), "signatures": sigs}


def intoto(signers: list[Signer], keys: list[Signer] | None = None, **kw: Any) -> dict[str, Any]:
    keys = signers if keys is None else keys
    return {"type": "intoto-link", "link": link(signers, **kw),
            "public_keys": [k.pem() for k in keys]}


def test_securesystemslib_canonical_json() -> None:
    # What securesystemslib.formats.encode_canonical gives: sorted keys, no spaces, only
    # backslash and quote escaped (a newline stays a raw newline byte), integers as is.
    assert sslib_canonical({"b": [1, True, None], "a": 'q"\\\n', "é": {}}) == (
        b'{"a":"q\\"\\\\\n","b":[1,true,null],"\xc3\xa9":{}}')
    with pytest.raises(MalformedError, match="canonical JSON has no floats"):
        sslib_canonical({"x": 1.5})


@pytest.mark.parametrize("algo", sorted(_SCHEME))
def test_intoto_link_valid(algo: str) -> None:
    s = signer(algo)
    a = admit(_doc(intoto([s])))
    spec = json.loads(a.entry)["spec"]["intotoLinkV001"]
    assert spec["name"] == "package"
    assert spec["signatures"][0]["scheme"] == _SCHEME[algo]
    assert spec["products"] == [{"digest": {"sha256": hashlib.sha256(ARTIFACT).hexdigest()},
                                 "uri": "foo.tar.gz"}]
    link_hash = hashlib.sha256(sslib_canonical(LINK_SIGNED)).hexdigest()
    assert f"sha256:{link_hash}" in a.search_keys  # find the link by its hash
    assert f"sha256:{hashlib.sha256(ARTIFACT).hexdigest()}" in a.search_keys  # …by its product
    assert key_search_key(s.pem().encode()) in a.search_keys
    assert list(a.search_keys) == entry_search_keys(a.entry)
    verify_entry(a.entry)
    # a keyid that matches no key is still tried against every key (and logged as given)
    other = json.loads(admit(_doc(intoto([s], keyid="00" * 32))).entry)
    assert other["spec"]["intotoLinkV001"]["signatures"][0]["keyid"] == "00" * 32


@pytest.mark.parametrize("algo", sorted(_SCHEME))
def test_intoto_link_rejections_name_the_field(algo: str) -> None:
    s, stranger = signer(algo), signer(algo, seed=7)
    no = "intoto-link.link.signatures[0]: does not verify with any of the given public keys"
    tampered = {**LINK_SIGNED, "products": {"foo.tar.gz": {"sha256": "00" * 32}}}
    _fails(intoto([s], signed=tampered), VerificationError, no)  # signed other content
    _fails(intoto([s], keys=[stranger]), VerificationError, no)  # wrong key
    d = intoto([s])
    d["link"]["signed"]["products"] = tampered["products"]  # wrong digest after signing
    _fails(d, VerificationError, no)
    d = intoto([s])
    d["link"]["signatures"][0]["sig"] = "not hex"
    _fails(d, MalformedError, "intoto-link.link.signatures[0].sig: expected a hex signature")
    _fails(intoto([s], keys=[s, stranger]), VerificationError,
           "intoto-link.public_keys[1]: verifies none of the link's signatures")


def test_intoto_link_shape_errors() -> None:
    s = signer("ed25519")
    d = intoto([s])
    d["link"]["signed"] = {**LINK_SIGNED, "_type": "layout"}
    _fails(d, MalformedError, 'intoto-link.link.signed._type: expected "link"')
    d = intoto([s])
    d["link"]["signed"] = {**LINK_SIGNED, "materials": {"foo.py": {"sha256": "xyz"}}}
    _fails(d, MalformedError,
           "intoto-link.link.signed.materials['foo.py'].sha256: expected a hex digest")
    _fails({**intoto([s]), "public_keys": []}, MalformedError,
           "intoto-link.public_keys: expected 1 to 10 keys")


# ---------------------------------------------------------------- all types


def test_same_submission_same_entry_and_leaf_hash_always() -> None:
    """Member order and whitespace of the document do not change the entry or its leaf."""
    for d in (hashedrekord(signer("ecdsa-p256")), dsse([signer("ed25519")]),
              intoto([signer("rsa-pss")])):
        a = admit(json.dumps(d).encode())
        b = admit(json.dumps(dict(reversed(list(d.items()))), indent=3).encode())
        assert (a.entry, a.leaf_hash, a.submission_id) == (b.entry, b.leaf_hash, b.submission_id)


def test_admit_many_on_a_process_pool_keeps_order_and_errors() -> None:
    s = signer("ed25519")
    docs = [_doc(hashedrekord(s, b"artifact %d" % i)) for i in range(300)]
    docs[17] = _doc(hashedrekord(s, digest=s.artifact_digest(OTHER)))
    docs[250] = b"{"
    results = admit_many(docs, workers=2)
    assert [type(r).__name__ for r in results].count("Admitted") == 298
    assert isinstance(results[17], VerificationError)
    assert str(results[17]) == "hashedrekord.signature: does not verify with the given public key"
    assert isinstance(results[250], MalformedError)
    assert results[0] == admit(docs[0])


@pytest.mark.parametrize("algo", ["ed25519", "ecdsa-p256"])
def test_a_monitor_refuses_a_logged_entry_not_in_its_exact_encoding(algo: str) -> None:
    """The same fields in another JSON form (spaces, another member order, escaped
    characters) are not the entry that was logged: the re-check says so, whichever check
    (the generic RFC 8785 one, or the type's own exact re-encoding) catches it."""
    from tlog.entries.registry import recheck_entry

    s = signer(algo)
    doc = json.dumps({"type": "hashedrekord", "digest": s.artifact_digest(b"a"),
                       "signature": base64.b64encode(s.sign_artifact(b"a")).decode(),
                       "public_key": s.pem()}).encode()
    entry = admit(doc).entry
    recheck_entry(entry)  # the logged bytes pass
    body = json.loads(entry)
    for variant in (json.dumps(body).encode(),  # spaces
                    json.dumps(body, separators=(",", ":")).encode().replace(b"/", b"\\/"),
                    json.dumps(dict(reversed(body.items())), separators=(",", ":")).encode()):
        assert variant != entry
        with pytest.raises(MalformedError, match="canonical"):
            recheck_entry(variant)
