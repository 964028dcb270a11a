// tiledlog in-browser verifier: checks one entry of this log from its static files alone.
// Fetches (same origin) the checkpoint, verifies the log's Ed25519 signature with WebCrypto,
// reads the entry bundle and the hash tiles (C2SP tlog-tiles), recomputes the entry's leaf
// hash and its RFC 6962 inclusion proof, and compares the root with the checkpoint's.
// No dependencies, no build step. Exposed as window.tiledlog for tests and the console.
"use strict";
(function () {
  const enc = new TextEncoder();
  const TILE = 256;

  // Three kinds of "no": a check that failed (the log or the server is wrong), a question
  // the log cannot answer (bad input, not in the log), and a browser that cannot check.
  class VerifyError extends Error { get kind() { return "failed"; } }
  class InputError extends VerifyError { get kind() { return "input"; } }
  class UnsupportedError extends VerifyError { get kind() { return "unsupported"; } }
  // An object the server does not have (HTTP 404): a failure, unless the caller can do without.
  class MissingError extends VerifyError {}
  // Two signed views of the log that cannot both be honest: both checkpoints are kept to show.
  class ForkError extends VerifyError {
    constructor(message, trusted, served) { super(message); this.trusted = trusted; this.served = served; }
  }

  function requireCrypto() {
    if (!(globalThis.crypto && crypto.subtle)) {
      throw new UnsupportedError("this page needs a secure context for WebCrypto: open it over " +
                                 "HTTPS (or from localhost), or verify with `tlog verify`");
    }
  }

  function b64dec(s) {
    let bin;
    try { bin = atob(s); } catch (e) { throw new VerifyError("bad base64: " + s.slice(0, 20)); }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const hex = (u8) => Array.from(u8, (b) => b.toString(16).padStart(2, "0")).join("");
  function unhex(s) {
    if (!/^([0-9a-f]{2})*$/.test(s)) throw new VerifyError("not lowercase hex: " + s.slice(0, 20));
    return new Uint8Array(s.match(/../g) ? s.match(/../g).map((h) => parseInt(h, 16)) : []);
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  async function sha256(u8) {
    requireCrypto();
    return new Uint8Array(await crypto.subtle.digest("SHA-256", u8));
  }
  const leafHash = (entry) => sha256(concat(new Uint8Array([0]), entry));
  const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

  // ----- signed note and checkpoint (c2sp.org/signed-note, c2sp.org/tlog-checkpoint) -----

  // A log key (type 0x01) or a witness's cosignature key (0x04, c2sp.org/tlog-cosignature).
  async function parseVkey(vkey, type = 1) {
    const first = vkey.indexOf("+"), second = vkey.indexOf("+", first + 1);
    if (first < 1 || second < 0) throw new VerifyError("verifier key is malformed");
    const name = vkey.slice(0, first), id = unhex(vkey.slice(first + 1, second).toLowerCase());
    const raw = b64dec(vkey.slice(second + 1));
    if (raw.length !== 33 || raw[0] !== type) {
      throw new VerifyError(`verifier key ${name} is not an Ed25519 ${type === 1 ? "log" : "cosignature"} key`);
    }
    const want = await sha256(concat(enc.encode(name + "\n"), raw));
    if (!equal(want.slice(0, 4), id)) throw new VerifyError(`verifier key ${name}: its id does not match`);
    return { name, id, pub: raw.slice(1) };
  }

  async function ed25519(pub) {
    requireCrypto();
    try {
      return await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e && e.name === "NotSupportedError") {
        throw new UnsupportedError("this browser has no Ed25519 in WebCrypto: use a current " +
                                   "Chromium, Firefox or Safari, or verify with `tlog verify`");
      }
      throw e;
    }
  }

  // One witness's cosignature line (cosignature/v1): key id, 8-byte timestamp, Ed25519 over
  // "cosignature/v1\ntime <t>\n" + the checkpoint text. The time, or null if it fails.
  async function checkCosignature(witness, raw, text) {
    if (raw.length !== 4 + 8 + 64) return null;
    const t = new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0);
    if (t === 0n || t >= 2n ** 63n) return null;
    const msg = enc.encode(`cosignature/v1\ntime ${t}\n${text}`);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, await ed25519(witness.pub), raw.slice(12), msg);
    return ok ? Number(t) : null;
  }

  // Opens a checkpoint: the log's signature must verify; each other line is a verified
  // witness cosignature only if it matches one of `witnesses` (name and key id) and its
  // signature verifies; anything else is listed as an unverified signature, never as a witness.
  async function openCheckpoint(note, key, origin, witnesses = [], threshold = 0) {
    const cut = note.lastIndexOf("\n\n");
    if (cut < 0 || !note.endsWith("\n")) throw new VerifyError("checkpoint: not a signed note");
    const text = note.slice(0, cut + 1);
    const lines = note.slice(cut + 2, -1).split("\n");
    const pub = await ed25519(key.pub);
    let signed = false;
    const cosigners = [], unverified = [];
    for (const line of lines) {
      if (!line.startsWith("\u2014 ")) throw new VerifyError("checkpoint: bad signature line");
      const [name, b64] = line.slice(2).split(" ");
      let raw;
      try { raw = b64dec(b64 || ""); } catch (e) { unverified.push(name); continue; }
      if (name === key.name && equal(raw.slice(0, 4), key.id)) {
        const ok = await crypto.subtle.verify({ name: "Ed25519" }, pub, raw.slice(4), enc.encode(text));
        if (!ok) throw new VerifyError("checkpoint: the log's signature does not verify");
        signed = true;
        continue;
      }
      const w = witnesses.find((k) => k.name === name && equal(raw.slice(0, 4), k.id));
      const time = w ? await checkCosignature(w, raw, text) : null;
      if (time === null) unverified.push(name);
      else if (!cosigners.some((c) => c.name === name)) cosigners.push({ name, time });
    }
    if (!signed) throw new VerifyError("checkpoint: not signed by the log's key");
    const body = text.split("\n");
    if (body[0] !== origin) throw new VerifyError(`checkpoint: origin is "${body[0]}", expected "${origin}"`);
    if (!/^(0|[1-9][0-9]{0,15})$/.test(body[1])) throw new VerifyError("checkpoint: bad tree size");
    const root = b64dec(body[2]);
    if (root.length !== 32) throw new VerifyError("checkpoint: bad root hash");
    if (cosigners.length < threshold) {
      throw new VerifyError(`checkpoint: needs ${threshold} witness cosignatures, ${cosigners.length} verified`);
    }
    return { size: Number(body[1]), root, cosigners, unverified };
  }

  // ----- tiles (c2sp.org/tlog-tiles) -----

  function tilePath(level, n, width) {
    const groups = [];
    do { groups.unshift(String(n % 1000).padStart(3, "0")); n = Math.floor(n / 1000); } while (n > 0);
    const path = groups.map((g, i) => (i < groups.length - 1 ? "x" + g : g)).join("/");
    return `tile/${level}/${path}` + (width < TILE ? `.p/${width}` : "");
  }

  // A log MAY delete a partial tile once its full tile exists: then the full one is read and
  // cut to the partial's width (as the CLI does).
  function makeFetcher(base) {
    const cache = new Map();
    const load = async (path) => {
      const r = await fetch(base + path);
      const partial = path.match(/^(.*)\.p\/([0-9]+)$/);
      if (r.status === 404 && partial) return cutToWidth(path, await load(partial[1]), Number(partial[2]));
      if (r.status === 404) throw new MissingError(`${path}: HTTP 404`);
      if (!r.ok) throw new VerifyError(`${path}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    return function get(path) {
      if (!cache.has(path)) cache.set(path, load(path));
      return cache.get(path);
    };
  }

  function cutToWidth(path, full, width) {
    if (!path.startsWith("tile/entries/")) return full.slice(0, 32 * width);
    let pos = 0;
    for (let i = 0; i < width && pos + 2 <= full.length; i++) pos += 2 + ((full[pos] << 8) | full[pos + 1]);
    return full.slice(0, pos);
  }

  // What a manifest may point at: the index's own relative paths, nothing else (a hostile
  // manifest must not send the page to another origin or another part of the site).
  const INDEX_PATH = /^index\/[1-3]\/[0-9a-f]\/[0-9]{1,16}$/;
  function indexPath(ref) {
    if (!ref || typeof ref.path !== "string" || !INDEX_PATH.test(ref.path)) {
      throw new VerifyError(`index manifest: ${JSON.stringify(String(ref && ref.path)).slice(0, 80)} ` +
                            "is not a path of the index layout");
    }
    return ref.path;
  }

  // The hash of perfect node (height h, index k) of a tree of `size` leaves, from its tile.
  async function perfectNode(get, h, k, size) {
    const L = Math.floor(h / 8), r = h - 8 * L, span = 2 ** r;
    const first = k * span, n = Math.floor(first / TILE);
    const width = Math.min(TILE, Math.floor(size / 2 ** (8 * L)) - n * TILE);
    const path = tilePath(L, n, width);
    const tile = await get(path);
    if (tile.length !== 32 * width) {
      throw new VerifyError(`${path}: ${tile.length} bytes, expected ${32 * width}`);
    }
    let level = [];
    for (let i = first - n * TILE; i < first - n * TILE + span; i++) level.push(tile.slice(32 * i, 32 * i + 32));
    while (level.length > 1) {
      const up = [];
      for (let i = 0; i < level.length; i += 2) up.push(await nodeHash(level[i], level[i + 1]));
      level = up;
    }
    return level[0];
  }

  // The hash of the aligned range [lo, hi): its perfect subtrees, folded from the right.
  async function rangeHash(get, lo, hi, size) {
    const nodes = [];
    while (lo < hi) {
      let p = Math.floor(Math.log2(hi - lo));
      while (2 ** p > hi - lo) p--;
      while (lo % 2 ** p) p--;
      nodes.push(await perfectNode(get, p, lo / 2 ** p, size));
      lo += 2 ** p;
    }
    let acc = nodes[nodes.length - 1];
    for (let i = nodes.length - 2; i >= 0; i--) acc = await nodeHash(nodes[i], acc);
    return acc;
  }

  async function inclusionProof(get, index, size) {
    const ranges = [];
    let lo = 0, hi = size;
    while (hi - lo > 1) {
      let k = 1;
      while (k * 2 < hi - lo) k *= 2;
      if (index < lo + k) { ranges.push([lo + k, hi]); hi = lo + k; } else { ranges.push([lo, lo + k]); lo += k; }
    }
    ranges.reverse();
    return Promise.all(ranges.map(([a, b]) => rangeHash(get, a, b, size)));
  }

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFromProof(index, size, leaf, proof) {
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new VerifyError("inclusion proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new VerifyError("inclusion proof is too short");
    return r;
  }

  // RFC 6962 SUBPROOF(m, D[0:n]) as the ranges whose hashes make it, from the bottom up.
  function consistencyRanges(m, n) {
    const out = [];
    let lo = 0, hi = n, whole = true;
    while (m !== hi) {
      let k = 1;
      while (k * 2 < hi - lo) k *= 2;
      if (m <= lo + k) { out.push([lo + k, hi]); hi = lo + k; } else { out.push([lo, lo + k]); lo += k; whole = false; }
    }
    if (!whole) out.push([lo, hi]);
    return out.reverse();
  }

  // RFC 9162 §2.1.4.2: the proof must lead to both roots. Sizes stay below 2^53, so no bit
  // operators (they cut to 32 bits).
  async function checkConsistency(proof, m, n, oldRoot, newRoot) {
    const path = 2 ** Math.round(Math.log2(m)) === m ? [oldRoot, ...proof] : proof.slice();
    if (!path.length) throw new VerifyError("consistency proof is empty");
    let fn = m - 1, sn = n - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    let fr = path[0], sr = path[0];
    for (const c of path.slice(1)) {
      if (sn === 0) throw new VerifyError("consistency proof is too long");
      if (fn % 2 === 1 || fn === sn) {
        fr = await nodeHash(c, fr); sr = await nodeHash(c, sr);
        if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      } else {
        sr = await nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new VerifyError("consistency proof is too short");
    if (!equal(fr, oldRoot) || !equal(sr, newRoot)) {
      throw new VerifyError(`tree ${n} is not consistent with tree ${m}`);
    }
  }

  // Proves checkpoint `older` a prefix of `newer` from the tiles of `newer`'s tree.
  async function proveConsistent(get, older, newer) {
    if (older.size === 0) {
      if (!equal(older.root, await sha256(new Uint8Array(0)))) throw new VerifyError("a tree of size 0 has the empty tree's root");
      return;
    }
    if (older.size === newer.size) {
      if (!equal(older.root, newer.root)) throw new VerifyError(`two different roots for tree size ${older.size}`);
      return;
    }
    const ranges = consistencyRanges(older.size, newer.size);
    const proof = await Promise.all(ranges.map(([a, b]) => rangeHash(get, a, b, newer.size)));
    await checkConsistency(proof, older.size, newer.size, older.root, newer.root);
  }

  // ----- the browser's trusted state and pinned key (as `tlog trust` keeps them for the CLI) -----

  const PREFIX = "tiledlog:";
  function storage() {
    try { const s = window.localStorage; s.getItem(PREFIX); return s; } catch (e) { return null; }
  }
  const pinSlot = (origin) => `${PREFIX}pin:${origin}`;
  const trustSlot = (origin, key) => `${PREFIX}trust:${origin}|${key.name}+${hex(key.id)}`;
  function pinnedKey(origin) { const s = storage(); return s ? s.getItem(pinSlot(origin)) : null; }
  function pinKey(origin, vkey) { const s = storage(); if (!s) return false; s.setItem(pinSlot(origin), vkey); return true; }
  function unpinKey(origin) { const s = storage(); if (s) s.removeItem(pinSlot(origin)); }
  // "name+id" of a verifier key string (its base64 may hold "+" too; a name may not).
  const keyName = (vkey) => vkey.split("+", 2).join("+");
  function forgetTrust(origin, vkey) {
    const s = storage();
    if (s) s.removeItem(`${PREFIX}trust:${origin}|${keyName(vkey)}`);
  }

  // Checks the served checkpoint against the last one this browser verified for this log and
  // key, and remembers the newer: same size needs the same root; a larger tree must be proven
  // consistent from its tiles; a smaller one is a stale copy only if proven a prefix of the
  // trusted tree (from that tree's tiles), else a rollback. Forks and rollbacks keep both notes.
  async function checkTrust(get, o, key, cp, note) {
    const s = storage();
    if (!s) return { status: "no-storage" };
    const slot = trustSlot(o.origin, key), saved = s.getItem(slot);
    let old = null;
    if (saved) { try { old = await openCheckpoint(saved, key, o.origin); } catch (e) { old = null; } }
    if (!old) { s.setItem(slot, note); return { status: saved ? "reset" : "first-use", size: cp.size }; }
    if (old.size === cp.size) {
      if (!equal(old.root, cp.root)) throw new ForkError(`fork: this site serves another tree of size ${cp.size} than the one this browser verified before`, saved, note);
      return { status: "unchanged", size: cp.size };
    }
    if (old.size < cp.size) {
      try { await proveConsistent(get, old, cp); } catch (e) {
        if (!(e instanceof VerifyError) || e instanceof MissingError) throw e;
        throw new ForkError(`fork: checkpoint ${cp.size} is not consistent with checkpoint ${old.size} that this browser verified before (${e.message})`, saved, note);
      }
      s.setItem(slot, note);
      return { status: "grown", previous: old.size, size: cp.size };
    }
    try { await proveConsistent(get, cp, old); } catch (e) {
      if (e instanceof MissingError) return { status: "stale-unproven", previous: old.size, size: cp.size };
      if (!(e instanceof VerifyError)) throw e;
      throw new ForkError(`rollback: checkpoint ${cp.size} is not a prefix of checkpoint ${old.size} that this browser verified before (${e.message})`, saved, note);
    }
    return { status: "stale", previous: old.size, size: cp.size };
  }

  // The key to check with: one given (a URL parameter), else the one pinned in this browser,
  // else the one this site serves. A pinned or given key that differs from the served one is
  // refused outright: the site's pages, checkpoint and key are no longer the log you chose.
  function options(opts) {
    const o = Object.assign({ base: "", origin: window.TLOG_ORIGIN, served: window.TLOG_VKEY,
                              witnesses: window.TLOG_WITNESSES || [], threshold: window.TLOG_WITNESS_THRESHOLD || 0 }, opts || {});
    if (o.vkey) o.keySource = o.keySource || "given";
    else if (pinnedKey(o.origin)) { o.vkey = pinnedKey(o.origin); o.keySource = "pinned"; }
    else { o.vkey = o.served; o.keySource = "served"; }
    return o;
  }

  async function openLog(o) {
    const key = await parseVkey(o.vkey);
    if (o.keySource !== "served" && o.served && o.served.trim() !== o.vkey.trim()) {
      throw new VerifyError(`log key: this site serves ${keyName(o.served)}, ` +
                            `not the key ${o.keySource === "pinned" ? "you pinned" : "given in the link"}, ` +
                            `${keyName(o.vkey)}: refused`);
    }
    const get = makeFetcher(o.base);
    const note = new TextDecoder().decode(await get("checkpoint"));
    const cp = await openCheckpoint(note, key, o.origin, await witnessKeys(o.witnesses), o.threshold);
    const trust = await checkTrust(get, o, key, cp, note);
    // The whole hash the 4-byte key id is cut from: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key).
    const fingerprint = hex(await sha256(concat(enc.encode(key.name + "\n"), new Uint8Array([1]), key.pub)));
    return { get, cp, note, trust, key: { name: key.name, id: hex(key.id), fingerprint, source: o.keySource, vkey: o.vkey } };
  }

  function bundleEntry(bundle, width, offset, path) {
    let pos = 0, entry = null;
    for (let i = 0; i < width; i++) {
      if (pos + 2 > bundle.length) throw new VerifyError(`${path}: ends before entry ${i}`);
      const n = (bundle[pos] << 8) | bundle[pos + 1];
      if (pos + 2 + n > bundle.length) throw new VerifyError(`${path}: entry ${i} is truncated`);
      if (i === offset) entry = bundle.slice(pos + 2, pos + 2 + n);
      pos += 2 + n;
    }
    if (pos !== bundle.length) throw new VerifyError(`${path}: bytes after ${width} entries`);
    return entry;
  }

  // ----- entries: what a person wants to see -----

  const ALGS = { SHA2_256: "sha256", SHA2_384: "sha384", SHA2_512: "sha512" };
  const digestOf = (h) => `${ALGS[h.algorithm] || h.algorithm}:${hex(b64dec(h.digest))}`;

  async function keyOf(verifier) {
    if (verifier.publicKey) return "key:" + hex(await sha256(b64dec(verifier.publicKey.rawBytes)));
    if (verifier.x509Certificate) return "certificate sha256:" + hex(await sha256(b64dec(verifier.x509Certificate.rawBytes)));
    return "";
  }

  async function describe(entry) {
    let body;
    try { body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry)); } catch (e) {
      return { type: "unknown (not JSON)", rows: [] };
    }
    const spec = body.spec || {};
    if (body.kind === "hashedrekord" && spec.hashedRekordV002) {
      const s = spec.hashedRekordV002;
      return { type: "hashedrekord", rows: [["Artifact digest", digestOf(s.data)],
        ["Signing key", await keyOf(s.signature.verifier)], ["Algorithm", s.signature.verifier.keyDetails]] };
    }
    if (body.kind === "dsse" && spec.dsseV002) {
      const s = spec.dsseV002, keys = [];
      for (const sig of s.signatures) keys.push(await keyOf(sig.verifier));
      return { type: "dsse", rows: [["Payload digest", digestOf(s.payloadHash)], ["Signing keys", keys.join("\n")]] };
    }
    if (body.kind === "intoto-link" && spec.intotoLinkV001) {
      const s = spec.intotoLinkV001, keys = [];
      for (const sig of s.signatures) keys.push(await keyOf(sig.verifier));
      const list = (a) => a.map((m) => `${m.uri} ${Object.entries(m.digest).map(([k, v]) => k + ":" + v).join(" ")}`).join("\n");
      return { type: "intoto-link", rows: [["Step", s.name], ["Products", list(s.products)],
        ["Materials", list(s.materials)], ["Signing keys", keys.join("\n")]] };
    }
    if (body.kind === "tiledlog-signature" && typeof spec.format === "string") {
      const rows = [["Signature format", spec.format],
        ["Artifact digests", Object.entries(spec.digests || {}).map(([k, v]) => `${k}:${v}`).join("\n")],
        ["Key ID", String(spec.keyId || "")]];
      if ((spec.identities || []).length) rows.push(["Identities (as the entry records them)", spec.identities.join("\n")]);
      if (spec.namespace) rows.push(["SSH namespace", String(spec.namespace)]);
      if (spec.trustedComment) rows.push(["minisign trusted comment", String(spec.trustedComment)]);
      // This page proves the entry is in the log; it does not check the signature itself.
      rows.push(["Signature checked in this page", "no: the log checked it at admission; with the artifact, `tlog verify --artifact … --signature … --public-key …` checks it again"]);
      return { type: "signature", rows };
    }
    return { type: String(body.kind || "unknown"), rows: [] };
  }

  // ----- the whole check -----

  async function verifyIndex(index, opts, opened) {
    const o = options(opts);
    const { get, cp, trust, key } = opened || await openLog(o);
    if (!(Number.isInteger(index) && index >= 0)) throw new InputError("index must be a whole number");
    if (index >= cp.size) throw new InputError(`index ${index} is beyond the tree size ${cp.size}`);
    const n = Math.floor(index / TILE), width = Math.min(TILE, cp.size - n * TILE);
    const path = tilePath("entries", n, width);
    const entry = bundleEntry(await get(path), width, index - n * TILE, path);
    const leaf = await leafHash(entry);
    const proof = await inclusionProof(get, index, cp.size);
    const root = await rootFromProof(index, cp.size, leaf, proof);
    if (!equal(root, cp.root)) throw new VerifyError("the inclusion proof does not lead to the checkpoint's root hash");
    return { ok: true, index, size: cp.size, leafHash: hex(leaf), root: hex(cp.root), entry,
             cosigners: cp.cosigners, unverified: cp.unverified, trust, key };
  }

  // Find an entry by its leaf hash through the static index (index/manifest/<size>), then
  // verify it; the index itself is not trusted: the found entry must hash to the leaf hash.
  async function findLeafHash(leafHex, opts) {
    const o = options(opts);
    const opened = await openLog(o);
    const { get, cp } = opened;
    const want = unhex(leafHex.toLowerCase());
    if (want.length !== 32) throw new InputError("a leaf hash is 64 hex digits");
    const mpath = `index/manifest/${cp.size}`;
    let shard;
    try {
      shard = JSON.parse(new TextDecoder().decode(await get(mpath))).shards[want[0] >> 4];
      if (!Array.isArray(shard)) throw new Error("no such shard");
    } catch (e) {
      if (e instanceof VerifyError) throw e;
      throw new VerifyError(`${mpath}: the log's index manifest is malformed (${e.message || e})`);
    }
    const found = [];
    for (const ref of shard) {
      if (!ref || !ref.records) continue;
      const data = await levelRecords(o.base, get, ref, want);
      let lo = 0, hi = data.length / 40;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compare(data.subarray(mid * 40, mid * 40 + 32), want) < 0) lo = mid + 1; else hi = mid;
      }
      for (let i = lo; i < data.length / 40 && equal(data.subarray(i * 40, i * 40 + 32), want); i++) {
        found.push(Number(new DataView(data.buffer, data.byteOffset + i * 40 + 32, 8).getBigUint64(0)));
      }
    }
    for (const index of found) {
      if (index >= cp.size) continue;  // the index is untrusted: checked below, not followed
      const v = await verifyIndex(index, o, opened);
      if (v.leafHash === hex(want)) return v;
    }
    if (found.length) {
      throw new VerifyError(`index/manifest/${cp.size}: the index names entries ${found.slice(0, 8).join(", ")} ` +
                            "for this leaf hash, and none of them has it: the index is broken");
    }
    throw new InputError("no entry with this leaf hash in the log");
  }

  // The records of one index level that can hold `key`: one range read of the block its fence
  // keys (every stride-th record's 8-byte prefix, in the manifest) leave, as the Python client
  // reads it; a level without fences (a manifest from before they were published) whole. A
  // server that ignores Range sends the whole object, which is cut here.
  async function levelRecords(base, get, ref, key) {
    const path = indexPath(ref);
    if (!ref.fences || !ref.stride) return get(path);
    const raw = atob(ref.fences), fences = [];
    for (let i = 0; i < raw.length; i += 8) {
      const f = new Uint8Array(8);
      for (let j = 0; j < 8; j++) f[j] = raw.charCodeAt(i + j);
      fences.push(f);
    }
    const prefix = key.subarray(0, 8);
    let lo = 0, hi = fences.length;  // first fence >= prefix
    while (lo < hi) { const m = (lo + hi) >> 1; if (compare(fences[m], prefix) < 0) lo = m + 1; else hi = m; }
    let top = lo, end = fences.length;  // first fence > prefix
    while (top < end) { const m = (top + end) >> 1; if (compare(fences[m], prefix) <= 0) top = m + 1; else end = m; }
    const first = lo ? (lo - 1) * ref.stride : 0, last = Math.min(top * ref.stride, ref.records);
    if (last <= first) return new Uint8Array(0);
    const r = await fetch(base + path, { headers: { Range: `bytes=${first * 40}-${last * 40 - 1}` } });
    if (!r.ok) throw new VerifyError(`${path}: HTTP ${r.status}`);
    const data = new Uint8Array(await r.arrayBuffer());
    return r.status === 206 ? data : data.subarray(first * 40, last * 40);
  }

  const witnessKeys = (vkeys) => Promise.all((vkeys || []).map((v) => parseVkey(v, 4)));

  function compare(a, b) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  }

  window.tiledlog = { verifyIndex, findLeafHash, describe, tilePath, openCheckpoint, parseVkey, VerifyError,
    InputError, UnsupportedError, ForkError, pinnedKey, pinKey, unpinKey, forgetTrust, consistencyRanges,
    checkConsistency,
    // For tests: is (m, oldRoot) a prefix of (n, newRoot), proven from this site's tiles?
    async consistent(m, oldHex, n, newHex) {
      try { await proveConsistent(makeFetcher(""), { size: m, root: unhex(oldHex) }, { size: n, root: unhex(newHex) }); return "ok"; }
      catch (e) { return String(e.message || e); }
    },
    // For tests: a plain object either way, never a rejected promise.
    async check(index) {
      try { const v = await verifyIndex(index); return { ok: true, leafHash: v.leafHash, root: v.root, size: v.size }; }
      catch (e) { return { ok: false, kind: e.kind || "failed", reason: String(e.message || e) }; }
    } };
})();
