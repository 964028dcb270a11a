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
    const cosigners = [], unverified = [], failed = [];  // failed: a listed witness's name and
    for (const line of lines) {  // key id over a signature that does not verify
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
      if (time === null) {
        unverified.push(name);
        if (w) failed.push(name);
      } else if (!cosigners.some((c) => c.name === name)) cosigners.push({ name, time });
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
    return { size: Number(body[1]), root, cosigners, unverified, failed };
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
  // What the page asked the server for, and how many bytes came back (a search shows it).
  const spent = { requests: 0, bytes: 0 };
  async function counted(url, init) {
    const r = await fetch(url, init);
    spent.requests += 1;
    const data = new Uint8Array(await r.arrayBuffer());
    spent.bytes += data.length;
    return { status: r.status, ok: r.ok, data };
  }

  function makeFetcher(base) {
    const cache = new Map();
    const load = async (path) => {
      const r = await counted(base + path);
      const partial = path.match(/^(.*)\.p\/([0-9]+)$/);
      if (r.status === 404 && partial) return cutToWidth(path, await load(partial[1]), Number(partial[2]));
      if (r.status === 404) throw new MissingError(`${path}: HTTP 404`);
      if (!r.ok) throw new VerifyError(`${path}: HTTP ${r.status}`);
      return r.data;
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
  // trusted tree (from that tree's tiles), a rollback if proven not, else not verified. Forks and rollbacks keep both notes.
  // Every checkpoint this browser came to trust, oldest first (at most HISTORY): the history
  // page proves each one a prefix of the tree served now.
  const HISTORY = 50;
  const historySlot = (origin, vkey) => `${PREFIX}history:${origin}|${keyName(vkey)}`;
  function history(origin, vkey) {
    const s = storage();
    try { return JSON.parse((s && s.getItem(historySlot(origin, vkey))) || "[]"); } catch (e) { return []; }
  }
  function remember(s, origin, vkey, note) {
    const list = history(origin, vkey).filter((h) => h.note !== note);
    list.push({ note, seen: new Date().toISOString().slice(0, 19) + "Z" });
    s.setItem(historySlot(origin, vkey), JSON.stringify(list.slice(-HISTORY)));
  }

  async function checkTrust(get, o, key, cp, note) {
    const s = storage();
    if (!s) return { status: "no-storage" };
    const slot = trustSlot(o.origin, key), saved = s.getItem(slot);
    let old = null;
    if (saved) { try { old = await openCheckpoint(saved, key, o.origin); } catch (e) { old = null; } }
    if (!old) {
      s.setItem(slot, note);
      remember(s, o.origin, o.vkey, note);
      return { status: saved ? "reset" : "first-use", size: cp.size };
    }
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
      remember(s, o.origin, o.vkey, note);
      return { status: "grown", previous: old.size, size: cp.size };
    }
    try { await proveConsistent(get, cp, old); } catch (e) {
      // No proof either way (a rollback can withhold them as well as a CDN can lack them):
      // not verified, as the command-line client says; not a proven rollback, so no conflict.
      if (e instanceof MissingError) throw new VerifyError(`this site serves checkpoint size ${cp.size}, older than size ${old.size} that this browser verified before, and not the tiles to show it is a stale copy of it (${e.message})`);
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
      const s = spec.hashedRekordV002, rows = [["Artifact digest", digestOf(s.data)],
        ["Signing key", await keyOf(s.signature.verifier)], ["Algorithm", s.signature.verifier.keyDetails]];
      if (s.signature.verifier.x509Certificate) {
        try {
          const c = certificateFacts(b64dec(s.signature.verifier.x509Certificate.rawBytes));
          rows.push(["Certificate identities (not checked here against any CA)", c.names.join("\n") || "none"]);
          if (c.issuer) rows.push(["OIDC issuer (as the certificate records it)", c.issuer]);
        } catch (e) { if (!(e instanceof VerifyError)) throw e; }
      }
      return { type: "hashedrekord", rows };
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
    opened = opened || await openLog(o);
    const { get, cp, trust, key } = opened;
    if (!(Number.isInteger(index) && index >= 0)) throw new InputError("index must be a whole number");
    if (index >= cp.size) throw new InputError(`index ${index} is beyond the tree size ${cp.size}`);
    const n = Math.floor(index / TILE), width = Math.min(TILE, cp.size - n * TILE);
    const path = tilePath("entries", n, width);
    const entry = bundleEntry(await get(path), width, index - n * TILE, path);
    const leaf = await leafHash(entry);
    const used = new Set();
    const proof = await inclusionProof((p) => { used.add(p); return get(p); }, index, cp.size);
    const root = await rootFromProof(index, cp.size, leaf, proof);
    // The entry's own slot in its hash tile: once the proof holds, the signed tree has this
    // leaf hash there, so a tile that says otherwise is not the tree's (and fails the proofs
    // of the entries beside it). On a failed proof, it tells the entry from the tiles.
    const path0 = tilePath(0, n, width), tile0 = await get(path0);
    const slot = tile0.slice(32 * (index - n * TILE), 32 * (index - n * TILE + 1));
    if (!equal(root, cp.root)) {
      if (!equal(slot, leaf)) {
        throw new VerifyError(`entry ${index}: ${path} does not match its leaf hash in ${path0}: a tampered entry bundle or hash tile`);
      }
      throw new VerifyError(`entry ${index}: the inclusion proof read from ${[...used].sort().join(", ")} does not lead to the checkpoint's root hash: a tampered hash tile`);
    }
    if (!equal(slot, leaf)) {
      throw new VerifyError(`entry ${index}: ${path0} holds another leaf hash for this entry than the one its inclusion proof proves: a tampered hash tile`);
    }
    return { ok: true, index, size: cp.size, leafHash: hex(leaf), root: hex(cp.root), entry,
             proof, note: opened ? opened.note : undefined,
             cosigners: cp.cosigners, unverified: cp.unverified, failed: cp.failed, trust, key };
  }

  // The indexes the static index (index/manifest/<size>) names for a 32-byte key: a leaf
  // hash, or SHA-256 of a search key string. Untrusted, and by the key's first 8 bytes (what a
  // record keeps of it, tlog/index.py; all 32 in a version-1 manifest's 40-byte records): the
  // caller checks each entry.
  async function indexLookup(key, opened, base) {
    const { get, cp } = opened;
    if (!cp.size) return [];  // an empty tree holds nothing, and a new log has no index yet
    const mpath = `index/manifest/${cp.size}`;
    let shard, version;
    try {
      const doc = JSON.parse(new TextDecoder().decode(await get(mpath)));
      version = doc.version;
      if (Number.isInteger(version) && version > 2) {
        throw new UnsupportedError(`${mpath}: index manifest version ${version} is newer than this page reads: reload the page`);
      }
      if (version !== 1 && version !== 2) throw new Error(`unsupported version ${JSON.stringify(version)}`);
      shard = (version === 1 ? doc.shards : doc.levels)[key[0] >> 4];
      if (!Array.isArray(shard)) throw new Error("no such shard");
    } catch (e) {
      if (e instanceof VerifyError) throw e;
      throw new VerifyError(`${mpath}: the log's index manifest is malformed (${e.message || e})`);
    }
    const found = [];
    for (const ref of shard) {
      if (!ref || !ref.records) continue;
      const rs = version === 1 ? 40 : ref.record;
      if (rs !== 13 && rs !== 40) throw new VerifyError(`${mpath}: unsupported index record size ${JSON.stringify(rs)}`);
      const kl = rs === 40 ? 32 : 8, want = key.subarray(0, kl);
      const data = await levelRecords(base, get, ref, key, rs);
      const n = Math.floor(data.length / rs);
      let lo = 0, hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compare(data.subarray(mid * rs, mid * rs + kl), want) < 0) lo = mid + 1; else hi = mid;
      }
      for (let i = lo; i < n && equal(data.subarray(i * rs, i * rs + kl), want); i++) {
        const at = new DataView(data.buffer, data.byteOffset + i * rs + kl, rs - kl);
        found.push(rs === 40 ? Number(at.getBigUint64(0)) : at.getUint8(0) * 2 ** 32 + at.getUint32(1));
      }
    }
    return found;
  }

  // Whether a verified entry that does not carry what was asked still has a key whose first 8
  // bytes are `key`'s: a collision of the prefix the index keeps, not a lying index.
  async function sharesPrefix(v, key) {
    const want = key.subarray(0, 8);
    if (equal(unhex(v.leafHash).subarray(0, 8), want)) return true;
    for (const k of (await searchKeysOf(v.entry)) || []) {
      if (equal((await sha256(enc.encode(k.toLowerCase()))).subarray(0, 8), want)) return true;
    }
    return false;
  }

  // Find an entry by its leaf hash through the static index, then verify it; the index itself
  // is not trusted: the found entry must hash to the leaf hash.
  async function findLeafHash(leafHex, opts) {
    const o = options(opts);
    const opened = await openLog(o);
    const want = unhex(leafHex.toLowerCase());
    if (want.length !== 32) throw new InputError("a leaf hash is 64 hex digits");
    const found = (await indexLookup(want, opened, o.base)).filter((i) => i < opened.cp.size);
    const wrong = [];
    for (const index of found) {
      const v = await verifyIndex(index, o, opened);
      if (v.leafHash === hex(want)) return v;
      if (!(await sharesPrefix(v, want))) wrong.push(index);
    }
    if (wrong.length) {
      throw new VerifyError(`index/manifest/${opened.cp.size}: the index names entries ${wrong.slice(0, 8).join(", ")} ` +
                            "for this leaf hash, and none of them has it: the index is broken");
    }
    throw new InputError("no entry with this leaf hash in the log, according to its index (which can leave entries out unseen)");
  }

  // The records of one index level that can hold `key`: one range read of the block its fence
  // keys (every stride-th record's 8-byte prefix, in the manifest) leave, as the Python client
  // reads it; a level without fences (a manifest from before they were published) whole. A
  // server that ignores Range sends the whole object, which is cut here.
  async function levelRecords(base, get, ref, key, rs) {
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
    const r = await counted(base + path, { headers: { Range: `bytes=${first * rs}-${last * rs - 1}` } });
    if (!r.ok) throw new VerifyError(`${path}: HTTP ${r.status}`);
    return r.status === 206 ? r.data : r.data.subarray(first * rs, last * rs);
  }


  // ----- what an entry can be found by (as the log's own search keys, tlog/entries) -----

  // Just enough DER to read a certificate's SubjectPublicKeyInfo, SAN emails and URIs, and
  // Fulcio's OIDC issuer extension (1.3.6.1.4.1.57264.1.8, else .1.1).
  function derAt(u8, pos) {
    if (pos + 2 > u8.length) throw new VerifyError("certificate: truncated DER");
    let len = u8[pos + 1], p = pos + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n < 1 || n > 3) throw new VerifyError("certificate: unsupported DER length");
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + u8[p++];
    }
    if (p + len > u8.length) throw new VerifyError("certificate: truncated DER");
    return { tag: u8[pos], from: pos, start: p, end: p + len };
  }
  function derChildren(u8, el) {
    const out = [];
    for (let p = el.start; p < el.end;) { const c = derAt(u8, p); out.push(c); p = c.end; }
    return out;
  }
  const OID_SAN = "551d11", OID_ISSUER_V2 = "2b0601040183bf300108", OID_ISSUER_V1 = "2b0601040183bf300101";
  function certificateFacts(der) {
    const tbs = derChildren(der, derAt(der, 0))[0];
    let f = derChildren(der, tbs);
    if (f[0].tag === 0xa0) f = f.slice(1);  // version
    const spki = der.slice(f[5].from, f[5].end);
    const names = [];
    let v1 = null, v2 = null;
    const ext = f.find((e) => e.tag === 0xa3);
    for (const e of ext ? derChildren(der, derChildren(der, ext)[0]) : []) {
      const parts = derChildren(der, e), oid = hex(der.slice(parts[0].start, parts[0].end));
      const value = parts[parts.length - 1];
      if (oid === OID_SAN) {
        for (const n of derChildren(der, derAt(der, value.start))) {
          if (n.tag === 0x81 || n.tag === 0x86) names.push(new TextDecoder().decode(der.slice(n.start, n.end)).toLowerCase());
        }
      } else if (oid === OID_ISSUER_V2) {
        const s = derAt(der, value.start);
        v2 = new TextDecoder().decode(der.slice(s.start, s.end));
      } else if (oid === OID_ISSUER_V1) {
        v1 = new TextDecoder().decode(der.slice(value.start, value.end));
      }
    }
    return { spki, names, issuer: v2 || v1 };
  }

  async function verifierKeys(verifier, out) {
    if (verifier.publicKey) out.add("key:" + hex(await sha256(b64dec(verifier.publicKey.rawBytes))));
    if (verifier.x509Certificate) {
      const c = certificateFacts(b64dec(verifier.x509Certificate.rawBytes));
      out.add("key:" + hex(await sha256(c.spki)));
      c.names.forEach((n) => out.add("identity:" + n));
      if (c.issuer) out.add("issuer:" + c.issuer);
    }
  }

  const SEARCHABLE = { sha256: 64, sha384: 96, sha512: 128 };
  // The search keys of an entry, as strings; null when this page cannot derive them all.
  async function searchKeysOf(entry) {
    let body;
    try { body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(entry)); } catch (e) { return null; }
    const spec = body.spec || {}, out = new Set();
    if (body.kind === "hashedrekord" && spec.hashedRekordV002) {
      const s = spec.hashedRekordV002;
      out.add(digestOf(s.data));
      await verifierKeys(s.signature.verifier, out);
    } else if (body.kind === "dsse" && spec.dsseV002) {
      out.add(digestOf(spec.dsseV002.payloadHash));
      for (const sig of spec.dsseV002.signatures) await verifierKeys(sig.verifier, out);
    } else if (body.kind === "intoto-link" && spec.intotoLinkV001) {
      const s = spec.intotoLinkV001;
      for (const h of s.signedHashes || []) if (h.algorithm === "SHA2_256") out.add(digestOf(h));
      for (const a of [...s.materials, ...s.products]) {
        for (const [alg, d] of Object.entries(a.digest)) if (SEARCHABLE[alg] === d.length) out.add(`${alg}:${d}`);
      }
      for (const sig of s.signatures) await verifierKeys(sig.verifier, out);
    } else if (body.kind === "tiledlog-signature") {
      for (const [alg, d] of Object.entries(spec.digests || {})) out.add(`${alg}:${d}`);
      out.add((spec.format === "ed25519" ? "key:" : "keyid:") + spec.keyId);
      for (const i of spec.identities || []) out.add("identity:" + i);
      if (typeof spec.namespace === "string") out.add("namespace:" + spec.namespace.toLowerCase());
      const pem = /^-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*$/.exec(spec.publicKey || "");
      if (pem) out.add("key:" + hex(await sha256(b64dec(pem[1].replace(/\s+/g, "")))));
    } else {
      return null;
    }
    return out;
  }

  // The artifact digest a person looks for in a list: an in-toto link's products', not the
  // link's own hash.
  function artifactDigest(entry) {
    let body;
    try { body = JSON.parse(new TextDecoder().decode(entry)); } catch (e) { return ""; }
    const spec = body.spec || {};
    if (spec.hashedRekordV002) return digestOf(spec.hashedRekordV002.data);
    if (spec.dsseV002) return digestOf(spec.dsseV002.payloadHash) + " (payload)";
    if (spec.intotoLinkV001) {
      const products = spec.intotoLinkV001.products.map((p) => Object.entries(p.digest).map(([a, d]) => `${a}:${d}`)[0]);
      return products.length ? products.join(" ") : "(no products)";
    }
    if (body.kind === "tiledlog-signature") return Object.entries(spec.digests || {}).map(([a, d]) => `${a}:${d}`).join(" ");
    return "";
  }

  // ----- search -----

  // What a query asks the index: leaf hashes are their own keys, every other key string is
  // looked up as SHA-256 of its text (tlog/index.py). A bare 64-hex value is tried both as a
  // leaf hash and as a sha256 digest.
  function queryKeys(q) {
    q = q.trim();
    const lower = q.toLowerCase();
    if (/^[0-9a-f]{64}$/.test(lower)) return [{ kind: "leaf hash", text: lower }, { kind: "digest", text: "sha256:" + lower }];
    if (/^leaf:[0-9a-f]{64}$/.test(lower)) return [{ kind: "leaf hash", text: lower.slice(5) }];
    if (/^[0-9a-f]{96}$/.test(lower)) return [{ kind: "digest", text: "sha384:" + lower }];
    if (/^[0-9a-f]{128}$/.test(lower)) return [{ kind: "digest", text: "sha512:" + lower }];
    const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(lower);
    if (m) {
      if (m[2].length !== SEARCHABLE[m[1]]) throw new InputError(`a ${m[1]} digest is ${SEARCHABLE[m[1]]} hex digits`);
      return [{ kind: "digest", text: lower }];
    }
    if (/^key:[0-9a-f]{64}$/.test(lower)) return [{ kind: "key fingerprint", text: lower }];
    if (/^keyid:[0-9a-f]+$/.test(lower)) return [{ kind: "key ID", text: lower }];
    if (/^issuer:\S+$/.test(q)) return [{ kind: "OIDC issuer", text: q }];
    if (/^namespace:\S+$/.test(lower)) return [{ kind: "SSH namespace", text: lower }];
    const id = lower.startsWith("identity:") ? lower.slice(9) : lower;
    if (/^[^\s@]+@[^\s@]+$/.test(id) || /^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(id)) return [{ kind: "identity", text: "identity:" + id }];
    throw new InputError("search by an artifact digest (sha256:…, or 64, 96 or 128 hex digits), a leaf hash, " +
                         "key:<fingerprint>, keyid:<id>, an identity (email or URI) or issuer:<URL>");
  }

  // Search: every candidate the index names is proven in the log (inclusion against the
  // checkpoint) and checked to carry what was asked before it is shown as a hit; a page of
  // `limit` from `offset`, newest first. The index is untrusted, so a candidate that fails
  // either check is shown as such, never as a hit.
  async function search(q, opts, offset = 0, limit = 20, opened = null) {
    const o = options(opts);
    const before = { ...spent };
    opened = opened || await openLog(o);
    const asks = queryKeys(q);
    const candidates = new Map();  // index -> the query forms whose keys named it
    for (const a of asks) {
      a.key = a.kind === "leaf hash" ? unhex(a.text) : await sha256(enc.encode(a.text));
      for (const i of await indexLookup(a.key, opened, o.base)) candidates.set(i, [...(candidates.get(i) || []), a]);
    }
    const beyond = [...candidates.keys()].filter((i) => i >= opened.cp.size);
    const order = [...candidates.keys()].filter((i) => i < opened.cp.size).sort((a, b) => b - a);
    const hits = [];
    let collisions = 0;  // candidates that only share the key prefix the index keeps: not shown
    const page = order.slice(offset, offset + limit);
    for (const index of page) {
      const named = candidates.get(index);
      try {
        const v = await verifyIndex(index, o, opened);
        const keys = named.some((a) => a.kind !== "leaf hash") ? await searchKeysOf(v.entry) : null;
        const verdicts = named.map((a) => a.kind === "leaf hash" ? v.leafHash === a.text : keys === null ? null : keys.has(a.text));
        const k = [true, null, false].map((x) => verdicts.indexOf(x)).find((j) => j >= 0);
        const a = named[k], carries = verdicts[k];
        if (carries === false && (await Promise.all(named.map((n) => sharesPrefix(v, n.key)))).every(Boolean)) {
          collisions++;
          continue;
        }
        const d = await describe(v.entry);
        hits.push({ index, ok: true, carries, type: d.type, digest: artifactDigest(v.entry), leafHash: v.leafHash, asked: a.kind });
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        hits.push({ index, ok: false, reason: String(e.message || e), asked: named[0].kind });
      }
    }
    // `next`: where the next page starts among the candidates (hits and collisions both
    // consume one).
    return { query: q, asked: asks.map((a) => a.kind), size: opened.cp.size, total: order.length,
             beyond: beyond.length, collisions, offset, next: offset + page.length, hits,
             requests: spent.requests - before.requests, bytes: spent.bytes - before.bytes, opened };
  }

  // ----- entries in order (browse) -----

  // Entries [lo, hi) of the tree, each proven against the checkpoint, newest first.
  async function entriesBetween(lo, hi, opts, opened = null) {
    const o = options(opts);
    opened = opened || await openLog(o);
    const out = [];
    for (let index = Math.min(hi, opened.cp.size) - 1; index >= lo; index--) {
      try {
        const v = await verifyIndex(index, o, opened);
        const d = await describe(v.entry);
        out.push({ index, ok: true, type: d.type, digest: artifactDigest(v.entry), leafHash: v.leafHash,
                   key: (d.rows.find((r) => /key/i.test(r[0])) || ["", ""])[1] });
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        out.push({ index, ok: false, reason: String(e.message || e) });
      }
    }
    return { size: opened.cp.size, entries: out, opened };
  }

  // ----- downloads: the proof bundles the CLI writes, built from what this page verified -----

  const b64enc = (u8) => btoa(Array.from(u8, (b) => String.fromCharCode(b)).join(""));

  function jsonBundle(v) {
    return JSON.stringify({ format: "tiledlog-bundle/v1", index: v.index, entry: b64enc(v.entry),
                            inclusion_proof: v.proof.map(b64enc), checkpoint: v.note }, null, 2) + "\n";
  }

  function tlogProof(v) {
    return ["c2sp.org/tlog-proof@v1", "extra " + b64enc(v.entry), `index ${v.index}`,
            ...v.proof.map(b64enc)].join("\n") + "\n\n" + v.note;
  }

  // A Sigstore bundle v0.3 for a hashedrekord entry (tlog/sigstore.py builds the same); null
  // for other types. Without a timestamp: a certificate bundle needs one to verify with
  // Sigstore's clients (`tlog bundle --format sigstore --tsa URL` adds it).
  async function sigstoreBundle(v) {
    let body;
    try { body = JSON.parse(new TextDecoder().decode(v.entry)); } catch (e) { return null; }
    const s = body.spec && body.spec.hashedRekordV002;
    if (!s) return null;
    const ver = s.signature.verifier;
    // Sigstore's clients rebuild the entry with the key's default details: pure Ed25519 and
    // RSA-PSS entries would not verify there (tlog/sigstore.py refuses them too).
    if (ver.keyDetails === "PKIX_ED25519" || ver.keyDetails.includes("_PSS_")) return null;
    const material = ver.x509Certificate ? { certificate: { rawBytes: ver.x509Certificate.rawBytes } }
      : { publicKey: { hint: b64enc(await sha256(b64dec(ver.publicKey.rawBytes))) } };
    const noteText = v.note.slice(0, v.note.indexOf("\n\n") + 1).split("\n");
    material.tlogEntries = [{
      logIndex: String(v.index), logId: { keyId: b64enc(unhex(v.key.fingerprint)) },
      kindVersion: { kind: "hashedrekord", version: "0.0.2" }, integratedTime: "0",
      inclusionProof: { logIndex: String(v.index), rootHash: noteText[2], treeSize: noteText[1],
                        hashes: v.proof.map(b64enc), checkpoint: { envelope: v.note } },
      canonicalizedBody: b64enc(v.entry) }];
    return JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", verificationMaterial: material,
      messageSignature: { messageDigest: s.data, signature: s.signature.content } }, null, 2) + "\n";
  }

  // Each proof hash with the subtree it stands for: its level (0: a leaf) and its side.
  function proofSteps(index, size) {
    const ranges = [];
    let lo = 0, hi = size;
    while (hi - lo > 1) {
      let k = 1;
      while (k * 2 < hi - lo) k *= 2;
      if (index < lo + k) { ranges.push([lo + k, hi, "right"]); hi = lo + k; } else { ranges.push([lo, lo + k, "left"]); lo += k; }
    }
    return ranges.reverse().map(([a, b, side]) => ({ first: a, last: b - 1, level: Math.ceil(Math.log2(b - a)), side }));
  }


  // ----- history: the checkpoints this browser trusted, each proven a prefix of today's -----

  async function checkHistory(opts) {
    const o = options(opts);
    const opened = await openLog(o);
    const key = await parseVkey(o.vkey), out = [];
    for (const h of history(o.origin, o.vkey).slice().reverse()) {
      try {
        const old = await openCheckpoint(h.note, key, o.origin);
        // One kept that is later than the tree served (a stale copy): the served tree must be
        // a prefix of it, proven from its tiles, as checkTrust does.
        const later = old.size > opened.cp.size;
        await (later ? proveConsistent(opened.get, opened.cp, old) : proveConsistent(opened.get, old, opened.cp));
        out.push({ size: old.size, root: hex(old.root), seen: h.seen, ok: true, later });
      } catch (e) {
        if (!(e instanceof VerifyError)) throw e;
        // Tiles not served prove nothing either way: not checked, not evidence of a fork.
        out.push({ size: null, root: "", seen: h.seen, ok: false, missing: e instanceof MissingError,
                   reason: String(e.message || e) });
      }
    }
    return { size: opened.cp.size, root: hex(opened.cp.root), cosigners: opened.cp.cosigners,
             unverified: opened.cp.unverified, trust: opened.trust, history: out };
  }

  // A page's status badge for a failure: which "no" it is (see the error classes above).
  function showFailure(el, e, failed = "verification failed: ") {
    const kind = e instanceof VerifyError ? e.kind : "failed";
    el.className = kind === "failed" ? "badge bad" : "badge notice";
    el.textContent = ({ input: "", unsupported: "cannot check here: ", failed }[kind]) +
      (e && e.message ? e.message : String(e));
  }

  const witnessKeys = (vkeys) => Promise.all((vkeys || []).map((v) => parseVkey(v, 4)));

  function compare(a, b) {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return 0;
  }

  window.tiledlog = { verifyIndex, findLeafHash, describe, tilePath, search, queryKeys, searchKeysOf,
    entriesBetween, artifactDigest, checkHistory, showFailure, certificateFacts, jsonBundle, tlogProof, sigstoreBundle, proofSteps, openLog, options,
    spent, openCheckpoint, parseVkey, VerifyError,
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
