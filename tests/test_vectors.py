"""Every vector of ../shared/specs/vectors.md, byte for byte (section numbers follow that file)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tlog.checkpoint import Checkpoint, format_checkpoint, open_checkpoint, parse_checkpoint
from tlog.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    cosignature_message,
    cosignature_timestamp,
    parse_any_verifier,
    subtree_message,
)
from tlog.errors import MalformedError, VerificationError
from tlog.integrate import integrate
from tlog.merkle import (
    EMPTY_ROOT,
    check_consistency,
    check_inclusion,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    tree_root,
)
from tlog.note import (
    InvalidSignatureError,
    UnverifiedNoteError,
    key_id,
    new_signer,
    new_verifier,
    open_note,
    sign_note,
)
from tlog.tiles import (
    ENTRIES,
    TileHashReader,
    _tiles_between,
    decode_entry_bundle,
    encode_entry_bundle,
    new_tiles,
    parse_tile_path,
    tile_path,
    tiles_for_size,
)

b64 = base64.b64decode

# §1 RFC 6962 reference tree
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
LEAF_HASHES = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


class ListReader:
    """Perfect-node hashes over a list of leaf hashes (the naive reader for vectors)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves

    def node(self, h: int, k: int) -> bytes:
        if h == 0:
            return self.leaves[k]
        return node_hash(self.node(h - 1, 2 * k), self.node(h - 1, 2 * k + 1))

    def read_hashes(self, nodes):  # type: ignore[no-untyped-def]
        return [self.node(h, k) for h, k in nodes]


RFC = ListReader([leaf_hash(e) for e in LEAVES])


def test_leaf_and_node_hashes() -> None:
    assert [leaf_hash(e).hex() for e in LEAVES] == LEAF_HASHES
    assert EMPTY_ROOT.hex() == ROOTS[0]
    assert leaf_hash(b"hello world") == b64("TszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=")
    assert RFC.node(1, 1).hex().startswith("5f083f0a1a33ca07")
    assert (
        RFC.node(1, 2).hex() == "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
    )
    assert (
        RFC.node(1, 3).hex() == "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
    )
    assert (
        RFC.node(2, 1).hex() == "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
    )


@pytest.mark.parametrize("n", range(9))
def test_roots(n: int) -> None:
    assert tree_root(n, ListReader(RFC.leaves[:n])).hex() == ROOTS[n]


INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        5,
        8,
        [
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (2, 3, ["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="]),
    (
        1,
        5,
        [
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
    (
        6,
        7,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs(index: int, size: int, proof: list[str]) -> None:
    reader = ListReader(RFC.leaves[:size])
    got = prove_inclusion(index, size, reader)
    assert got == [b64(p) for p in proof]
    check_inclusion(got, index, size, RFC.leaves[index], bytes.fromhex(ROOTS[size]))


CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        6,
        8,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        5,
        [
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
    (
        6,
        7,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        3,
        7,
        [
            "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
            "B1Bqhf2d0vEg62lPhgEeW7RmLlxBWmKRcDPUqWJEh+c=",
            "+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=",
            "g327FS6bB5AQcX6E6GXaTrwPoZioBtWdMb8VrM7yLQ4=",
        ],
    ),
    (4, 8, ["a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ="]),
]


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    got = prove_consistency(old, new, ListReader(RFC.leaves[:new]))
    assert got == [b64(p) for p in proof]
    check_consistency(got, old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]))


def test_consistency_must_fail_cases() -> None:
    r1, r2 = bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[2])
    bad = [
        ([], 1, 0, r1, EMPTY_ROOT),
        ([], 2, 1, r2, r1),
        ([r1], 0, 1, EMPTY_ROOT, r1),
        ([r1], 1, 1, r1, r1),
        ([], 1, 1, r1, r2),
        ([], 1, 2, r1, r2),
    ]
    for proof, old, new, ro, rn in bad:
        with pytest.raises(VerificationError):
            check_consistency(proof, old, new, ro, rn)
    with pytest.raises(MalformedError):
        check_consistency([], 1, 1, b"x" * 12, b"x" * 12)
    with pytest.raises(MalformedError):
        check_inclusion([], 0, 1, b"", r1)


def test_consistency_from_the_empty_tree() -> None:
    """0 -> n is decided on purpose (merkle.md, edge cases): the empty tree is a prefix of
    every tree, so the proof is empty and it is accepted, which tlog-witness needs (a witness
    at size 0 cosigns the log's first tree). vectors.md 1.3 lists 0 -> 0 as must-fail, after
    transparency-dev/merkle; we accept 0 -> 0 only between two empty trees, because a size-0
    root other than H(b"") is not the empty tree (before, any roots passed)."""
    r1, r2 = bytes.fromhex(ROOTS[1]), bytes.fromhex(ROOTS[2])
    check_consistency([], 0, 2, EMPTY_ROOT, r2)
    check_consistency([], 0, 0, EMPTY_ROOT, EMPTY_ROOT)
    for old_root, new, new_root in ((r1, 2, r2), (EMPTY_ROOT, 0, r1), (r1, 0, r1)):
        with pytest.raises(VerificationError, match="a tree of size 0 has the empty tree"):
            check_consistency([], 0, new, old_root, new_root)


# §2 the "leaf %d" tree and its tiles
LEAF_ROOTS = {
    1: "1bb97dcc21635d47e2663efdfd0a174686d98dd701352dd2cd06e8b43fd3d305",
    2: "fc5f6b88ff8554f75bb2f9e6f39c31b1936d44b69276edf7b1205a955b9761e3",
    3: "d4f92c8fbb89720eb3b55677c7d7efaddfeb10d11a1a84a0ba8f1a23337faa95",
    7: "5a61fc2b54f9cfa71774f2432143dd40c6cb2b11947faf65a7d3da5cb65199c8",
    8: "c5c2c820ed342fdda8ce896b6b9cf5b8c00a21cc4b20714cc6e5d3c05c35240b",
    255: "d71592a219d4067663eede247f9b54c3f9e0290682d55de09b495b07f1de41c9",
    256: "cf5effdb11d0927a2edf53b0e73c7837f659414e00537da5d90eb5c4c49ff274",
    257: "855b936aa00cb98b5114484249ad39d78a6be93623e26c01e8e487dc02184a5a",
    511: "ca6b4f3db2b4e8d03a833ca7381f1a667728338c6d1641f0e6d0b2da4ec4a934",
    512: "d9579873166aa59bc8d37da864923bf63dacf0fff19ea2caba63b20cab82cd30",
    1000: "2ff33fb9d8f14f89ca306289633336a168ff3f4532e8f741a0019dcb4c1d60a1",
    65535: "b592480df20f0dd456e39db9cdb0a1fa85f3617ec2d30cffc52760c38776f393",
    65536: "e100ba54d69a91012fc13b7890feac78d6996a097268b6f735d17311c7402a60",
    65537: "689b22742cab2adeb36ba622ff2736336464858f5de4a2c02f33bf163e7dca5f",
    70000: "da0532ff7b2ee56f4067110fc964e9f27b5959f9527bfff3fa501aa7584deaf3",
}


@pytest.fixture(scope="module")
def big_leaves() -> list[bytes]:
    return [leaf_hash(b"leaf %d" % i) for i in range(70000)]


@pytest.mark.parametrize("size", sorted(LEAF_ROOTS))
def test_leaf_tree_roots(big_leaves: list[bytes], size: int) -> None:
    assert integrate(0, {}, big_leaves[:size]).root.hex() == LEAF_ROOTS[size]


def test_70000_tiles_and_proofs_from_tiles(big_leaves: list[bytes]) -> None:
    tiles = integrate(0, {}, big_leaves).tiles
    by_path = {t.path: b for t, b in tiles.items()}
    want = {
        "tile/0/000": "3658d44ebeb979b996b87ac966392dffbe9a628e34cb70bbff0ba844e74c31c6",
        "tile/0/273.p/112": "a8e4ee4e4f31c2fac9bb546b9b57c22f6c92e15c11adee487d09ebc926ab3ad7",
        "tile/1/000": "7b8fc3b25031a7c9b1a317c9453f6f293b414e958d0e80a765be6f00930c3984",
        "tile/1/001.p/17": "f1b11556adcce30fcd3fca6ef542ccf6a4319ab92143fb7c8f6c8f1d2e08209e",
        "tile/2/000.p/1": "d84406334bc5243eb04ecd6b99e64380d67aaa2b2880a838a123e1b539927708",
    }
    for path, digest in want.items():
        assert hashlib.sha256(by_path[path]).hexdigest() == digest
    assert by_path["tile/0/273.p/112"][:32].hex().startswith("bcd1440f33c2e571")
    assert by_path["tile/1/001.p/17"][:32].hex().startswith("62da088c6586b3e5")
    assert sorted(by_path) == sorted(t.path for t in tiles_for_size(70000))
    root = bytes.fromhex(LEAF_ROOTS[70000])
    reader = TileHashReader(70000, root, lambda ts: [by_path[t.path] for t in ts])
    proof = prove_inclusion(1234, 70000, reader)
    assert len(proof) == 17
    assert proof[0] == b64("k0fJkQrcYeL6IzdP3A1i5n41DrmGlZzDpvkWyIaLWmg=")
    assert proof[-1] == b64("RUNbvEwmlDPHdr5nj1JLwizxuCTGFTrjPTuLv/S9eVQ=")
    assert big_leaves[1234] == b64("Kxq/qmUP/+RxPYcUyeOOZ4CbPMoUdBmoq6iSTrukP3o=")
    check_inclusion(proof, 1234, 70000, big_leaves[1234], root)
    cons = prove_consistency(1000, 70000, reader)
    assert len(cons) == 15
    assert cons[0] == b64("mVKoiU0Q86d48KHQxKcsxZicy7lcAUHptMIzPn5kD3c=")
    assert cons[9] == b64("mqwucL1gifDQgKLiI2yKT53g6R4lZCYSz9Fhy8ruwI8=")
    check_consistency(cons, 1000, 70000, bytes.fromhex(LEAF_ROOTS[1000]), root)


# §3 tile paths
PATHS = [
    ((0, 0, 256), "tile/0/000"),
    ((0, 255, 256), "tile/0/255"),
    ((0, 256, 256), "tile/0/256"),
    ((0, 999, 256), "tile/0/999"),
    ((0, 1000, 256), "tile/0/x001/000"),
    ((0, 1001, 256), "tile/0/x001/001"),
    ((0, 123456, 256), "tile/0/x123/456"),
    ((0, 1234067, 256), "tile/0/x001/x234/067"),
    ((0, 1234067, 8), "tile/0/x001/x234/067.p/8"),
    ((2, 1000, 7), "tile/2/x001/000.p/7"),
    ((3, 0, 1), "tile/3/000.p/1"),
    ((0, 1000000, 256), "tile/0/x001/x000/000"),
    ((0, 123456789, 256), "tile/0/x123/x456/789"),
    ((0, 2**40, 256), "tile/0/x001/x099/x511/x627/776"),
    ((ENTRIES, 0, 256), "tile/entries/000"),
    ((ENTRIES, 1234067, 1), "tile/entries/x001/x234/067.p/1"),
]


@pytest.mark.parametrize(("args", "path"), PATHS)
def test_tile_paths(args: tuple[int, int, int], path: str) -> None:
    assert tile_path(*args) == path
    t = parse_tile_path(path)
    assert (t.level, t.n, t.width) == args


@pytest.mark.parametrize(
    "bad",
    [
        "tile/0/x000/001",
        "tile/0/1",
        "tile/0/001/002",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/01/000",
        "tile/64/000",
        "tile/8/0/000",
    ],
)
def test_tile_path_rejections(bad: str) -> None:
    with pytest.raises(MalformedError):
        parse_tile_path(bad)


# §4 tiles per size and tiles to write
def test_tiles_per_size() -> None:
    paths = lambda s: sorted(t.path for t in tiles_for_size(s))  # noqa: E731
    assert paths(1) == ["tile/0/000.p/1"]
    assert paths(255) == ["tile/0/000.p/255"]
    assert paths(256) == ["tile/0/000", "tile/1/000.p/1"]
    assert paths(257) == ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]
    p = paths(65536)
    assert len(p) == 258 and "tile/1/000" in p and "tile/2/000.p/1" in p
    p = paths(70000)
    partial = [x for x in p if ".p/" in x]
    assert partial == ["tile/0/273.p/112", "tile/1/001.p/17", "tile/2/000.p/1"]
    assert len(p) - len(partial) == 274
    nt = lambda a, b: [t.path for t in new_tiles(a, b)]  # noqa: E731
    assert nt(0, 256) == ["tile/0/000", "tile/1/000.p/1"]
    assert nt(255, 257) == ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]
    assert nt(70000, 70001) == ["tile/0/273.p/113"]


@pytest.mark.parametrize(
    ("old", "new", "count"),
    [
        (1, 1, 0),
        (100, 101, 1),
        (1023, 1025, 3),
        (1024, 1030, 1),
        (1030, 2000, 1),
        (1030, 10000, 10),
        (49516517, 49516586, 3),
    ],
)
def test_go_height_10_new_tiles_table(old: int, new: int, count: int) -> None:
    assert len(_tiles_between(old, new, height=10)) == count


# §5 entry bundle
def test_entry_bundle_vector() -> None:
    entries = [b"", b"a", b"hello world"]
    data = encode_entry_bundle(entries)
    assert data.hex() == "0000000161000b68656c6c6f20776f726c64"
    assert decode_entry_bundle(data, 3) == entries
    assert [leaf_hash(e).hex()[:16] for e in entries] == [
        "6e340b9cffb37a98",
        "022a6979e6dab7aa",
        "4eccf34608d31bac",
    ]
    for bad_width in (2, 4):
        with pytest.raises(MalformedError):
            decode_entry_bundle(data, bad_width)


# §6 signed notes
SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE"
    "6RyyBwJnAM=\n"
)
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
ENOCH = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1"
    "RvMc+QQ=\n"
)


def test_sign_and_keys() -> None:
    signer = new_signer(SKEY)
    assert (
        signer.public_key.hex()
        == "1a5cd907143c384c41e830c5bce12aa8817ec5649aaabf2c31388b35b2d744d6"
    )
    assert key_id("PeterNeumann", 1, signer.public_key).hex() == "c74f20a3"
    assert sign_note(TEXT, signer) == (TEXT + "\n" + PETER).encode()


def test_open_rows() -> None:
    peter, enoch = new_verifier(VKEY), new_verifier(ENOCH_VKEY)
    msg = (TEXT + "\n" + PETER + ENOCH).encode()
    n = open_note(msg, [peter])
    assert [s.name for s in n.sigs] == ["PeterNeumann"]
    assert [s.name for s in n.unverified] == ["EnochRoot"]
    n = open_note(msg, [peter, enoch])
    assert [s.name for s in n.sigs] == ["PeterNeumann", "EnochRoot"]
    with pytest.raises(UnverifiedNoteError) as e:
        open_note(msg, [])
    assert len(e.value.note.unverified) == 2
    with pytest.raises(VerificationError, match=r"ambiguous key EnochRoot\+af0cfe78"):
        open_note((TEXT + "\n" + ENOCH).encode(), [enoch, peter, new_verifier(ENOCH_VKEY)])
    with pytest.raises(MalformedError):
        open_note((TEXT + "\n" + PETER * 101).encode(), [peter])
    mangled = PETER[:60] + "ABCD" + PETER[60:]
    with pytest.raises(InvalidSignatureError, match="PeterNeumann\\+c74f20a3"):
        open_note((TEXT + "\n" + mangled).encode(), [peter])
    enoch_bad = ENOCH[:60] + "ABCD" + ENOCH[60:]
    n = open_note((TEXT + "\n" + PETER + PETER + ENOCH + ENOCH + enoch_bad).encode(), [peter])
    assert len(n.sigs) == 1 and len(n.unverified) == 2


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER[:-1],
        "\x01" + TEXT + "\n" + PETER,
        TEXT
        + "\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
        "RZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER + "Unexpected line.\n",
    ],
)
def test_malformed_notes(msg: str) -> None:
    with pytest.raises(MalformedError):
        open_note(msg.encode(), [new_verifier(VKEY)])
    with pytest.raises(MalformedError):
        open_note(b"\xff" + TEXT.encode() + b"\n" + PETER.encode(), [new_verifier(VKEY)])


def test_vkey_rejections() -> None:
    for i in range(len(VKEY)):
        for j in range(i + 1, len(VKEY) + 1):
            if (i, j) == (0, len(VKEY)):
                continue
            with pytest.raises(MalformedError):
                new_verifier(VKEY[i:j])
    for i in range(len(VKEY)):
        bumped = VKEY[:i] + chr(ord(VKEY[i]) + 1) + VKEY[i + 1 :]
        with pytest.raises(MalformedError):
            new_verifier(bumped)
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]:
        with pytest.raises(MalformedError):
            new_verifier(bad)


def test_c2sp_example_and_sumdb_checkpoint() -> None:
    v = new_verifier("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    note = (
        "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2O"
        "NncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
    )
    assert open_note(note.encode(), [v]).text == "This is an example message.\n"
    sumdb = new_verifier("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8")
    msg = (
        "go.sum database tree\n65664258\nWVVNVD2qx+fTq31zkj6UAqxT5X6HvGphGM+o8Thnbsg=\n\n"
        "— sum.golang.org Az3grligJmgX7KGyGPKybykNTh3VgsbLvUuvOwrM5zLVlulmFp2wdvbxOw74/gcNxURSh"
        "XEpb7RXcs3+BYflYN+w0gQ=\n"
    )
    cp = parse_checkpoint(open_note(msg.encode(), [sumdb]).text)
    assert (cp.origin, cp.size) == ("go.sum database tree", 65664258)
    text_end = msg.index("\n\n")
    for i in range(text_end):
        changed = msg[:i] + ("0" if msg[i] != "0" else "1") + msg[i + 1 :]
        with pytest.raises((VerificationError, MalformedError)):
            open_note(changed.encode(), [sumdb])


# §8 our own checkpoint, cosignature and witness request
LOG_SKEY = "PRIVATE+KEY+example.com/log+d455c521+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
LOG_VKEY = "example.com/log+d455c521+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
CP8 = (
    "example.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n— example.com/log 1FXFIQghEbt48JV"
    "0nbbvyoj51oOGWi8PWVu51z3js1zWy2qLhh2zcvy6M2X+e8pEVRpGR/9z7MVVru29jIzLkdPuEwg=\n"
)
W_LINE = (
    "— witness.example/w1 IDJKvgAAAABlU/EA5qoXb2upYCVvwU57HyfnAEFRmLcQJPcjxRBvQm06RwFL5yc6USs37aZK"
    "NWAqDA8Mlem5PPKrnJ0Kitk8yjXCDA==\n"
)


def test_own_checkpoint_and_cosignature() -> None:
    signer = new_signer(LOG_SKEY)
    assert (
        signer.public_key.hex()
        == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    )
    assert signer.verifier().vkey == LOG_VKEY
    cp = Checkpoint("example.com/log", 8, bytes.fromhex(ROOTS[8]))
    assert sign_note(format_checkpoint(cp), signer) == CP8.encode()
    assert format_checkpoint(Checkpoint("example.com/log", 0, EMPTY_ROOT)) == (
        "example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    )
    w = CosignatureSigner("witness.example/w1", bytes(range(0x20, 0x40)), clock=lambda: 1700000000)
    assert w.public_key.hex() == "29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7"
    assert (
        w.verifier().vkey
        == "witness.example/w1+20324abe+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X"
    )
    assert key_id("witness.example/w1", 1, w.public_key).hex() == "484bc619"
    assert cosignature_message(format_checkpoint(cp), 1700000000) == (
        b"cosignature/v1\ntime 1700000000\nexample.com/log\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    )
    opened = open_note(CP8.encode(), [new_verifier(LOG_VKEY)])
    cosigned = sign_note(opened, w)
    assert cosigned == (CP8 + W_LINE).encode()
    both = open_note(cosigned, [new_verifier(LOG_VKEY), w.verifier()])
    assert len(both.sigs) == 2 and cosignature_timestamp(both.sigs[1]) == 1700000000
    only_log = open_note(cosigned, [new_verifier(LOG_VKEY)])
    assert len(only_log.sigs) == 1 and len(only_log.unverified) == 1
    with pytest.raises(InvalidSignatureError, match=r"example\.com/log\+d455c521"):
        open_note(cosigned.replace(b"\n8\n", b"\n9\n"), [new_verifier(LOG_VKEY)])
    resigned = sign_note(only_log, new_signer(SKEY))
    assert resigned.decode().splitlines()[-1] == (
        "— PeterNeumann x08go8md6KH/K8nsTyCpMroEpsokvZnLjgKBwfmwqiP5VtzG9OOz0MvF+3swZXnW5cfj5dOF4rToWcwT"
        "H6a7b582ZAQ="
    )
    assert resigned.decode().splitlines()[-2] == W_LINE.strip()
    cp2, _ = open_checkpoint(cosigned, "example.com/log", [new_verifier(LOG_VKEY)])
    assert cp2.size == 8


def test_subtree_message_vector() -> None:
    msg = subtree_message(
        "witness.example/w1", 1700000000, "example.com/log", 0, 8, bytes.fromhex(ROOTS[8])
    )
    assert len(msg) == 103
    assert msg.hex() == (
        "737562747265652f76310a00"
        "12"
        "7769746e6573732e6578616d706c652f7731"
        "000000006553f100"
        "0f"
        "6578616d706c652e636f6d2f6c6f67"
        "0000000000000000"
        "0000000000000008" + ROOTS[8]
    )


# §9 key IDs, §10 cosignature timestamps, §11 rejected vkeys, §12 parsing pitfalls
@pytest.mark.parametrize(
    ("vkey", "kid"),
    [
        (VKEY, "c74f20a3"),
        (ENOCH_VKEY, "af0cfe78"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "530d903a"),
        ("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8", "033de0ae"),
        ("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", "da77ade7"),
    ],
)
def test_key_ids(vkey: str, kid: str) -> None:
    assert parse_any_verifier(vkey).key_id.hex() == kid


def test_vkey_whose_base64_contains_plus() -> None:
    # formats' TEST+7997405c+AQcC+FTVK… vector: split at the first two '+' only.
    from tlog.note import Ed25519Signer

    seed = 0
    while True:
        s = Ed25519Signer("TEST", seed.to_bytes(32, "big"))
        vkey = s.verifier().vkey
        if "+" in vkey.split("+", 2)[2]:
            break
        seed += 1
    assert new_verifier(vkey).public_key == s.public_key


def test_cosignature_timestamps() -> None:
    raw = b64(
        "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcF"
        "iEBYJXORmnFBOBA=="
    )
    assert len(raw) == 76 and raw[:4].hex() == "646846b9"
    assert cosignature_timestamp(raw) == 1727964367
    with pytest.raises(MalformedError, match="not a cosignature"):
        cosignature_timestamp(raw[:4] + raw[12:])  # a plain 68-byte signature
    line = b64("jWbPPwAAAABkGFDL") + bytes(64)  # C2SP example: only the prefix is given
    assert line[:4].hex() == "8d66cf3f" and cosignature_timestamp(line) == 1679315147
    assert not CosignatureVerifier("x.example/w", bytes(32)).verify(b"m", raw[4:12])


def test_strict_parsers() -> None:
    with pytest.raises(MalformedError):
        parse_any_verifier("test+5893dc2c+BtMcAAAA")  # formats' ML-DSA test key: id mismatch
    for size in ("+12", "012", "1_2", " 12", "9223372036854775808"):
        with pytest.raises(MalformedError):
            parse_checkpoint(f"o\n{size}\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
    for root in ("QQ==QQ==", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", "Q Q=="):
        with pytest.raises(MalformedError):
            parse_checkpoint(f"o\n1\n{root}\n")
    for hex_id in ("0x123456", " 1234567", "1_234567"):
        with pytest.raises(MalformedError):
            new_verifier(f"PeterNeumann+{hex_id}+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
