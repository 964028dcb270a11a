"""The log's configuration: one TOML file (origin, stores, key source, witnesses, policy).

Example::

    origin = "example.com/log"
    store = "./public"            # where the log is published (folder, s3://, gs://)
    queue = "./queue"             # private queue of submissions (any backend)
    public_url = "https://log.example.com"  # where people read the log (commands on pages)
    vkey = "example.com/log+…"    # the log's public key: all that pages and witnesses need

    [key]
    file = "log.key"              # or: env = "TLOG_SIGNER_KEY" (only signing reads it)

    [sequencer]
    batch_size = 10000
    index_keep = 64               # index manifests kept; older ones and what only they name go
    state_dir = ".tlog-state"     # default: $TLOG_STATE_DIR, else the user's cache folder

    [[witnesses]]
    name = "witness.example/w1"
    url = "http://127.0.0.1:7380"
    vkey = "witness.example/w1+20324abe+BCms…"

    allow_pure_ed25519 = false    # Ed25519 over a digest (not Ed25519ph); default: refused
                                  # when the log is Sigstore-compatible, accepted otherwise

    [[trust.x509]]                # optional: certificates must chain to these roots
    roots = "ca.pem"              # PEM file, one or more root certificates

    [sigstore]                    # optional: what the site's trusted_root.json and
    write_url = "https://log.example.com"  # signing_config.json add (write_url: tlog serve,
    ca_chains = ["fulcio.pem"]    # default public_url); a private Sigstore's CA, CT log keys,
    ctlog_keys = ["ctfe.pub"]     # TSA chains and service URLs
    tsa_chains = ["tsa.pem"]
    ca_urls = ["https://fulcio.example.com"]
    oidc_urls = ["https://oauth2.example.com/auth"]
    tsa_urls = ["https://tsa.example.com/api/v1/timestamp"]
    operator = "example.com"

    [policy]
    witness_threshold = 1         # cosignatures a checkpoint needs
    require_witnesses = false     # publish only once the threshold is met

Relative paths are resolved against the folder of the config file. Unknown tables and keys
are errors (a misspelt ``[polcy]`` would otherwise drop the witness policy unnoticed).
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tlog.errors import ConfigError, MalformedError
from tlog.storage.files import read_toml

__all__ = ["LogConfig", "SigstoreConfig", "WitnessConfig", "format_config", "load_config",
           "queue_inside", "witness_url_problem"]

DEFAULT_BATCH = 10_000
DEFAULT_INDEX_KEEP = 64  # batches: hours of a cron schedule, minutes of a busy daemon
DEFAULT_WITNESS_TIMEOUT = 10.0  # seconds per witness
STATE_ENV = "TLOG_STATE_DIR"  # where the sequencer keeps its state when the config does not say

# Every table and key a config may hold ("witnesses" is an array of tables).
_SCHEMA: dict[str, set[str]] = {
    "": {"origin", "store", "queue", "public_queue", "public_url", "endpoint", "vkey", "key",
         "sequencer", "policy", "witnesses", "site", "trust", "allow_pure_ed25519",
         "sigstore"},
    "key": {"file", "env"},
    "sequencer": {"batch_size", "index_keep", "workers", "state_dir"},
    "policy": {"witness_threshold", "require_witnesses", "witness_timeout"},
    "witnesses": {"name", "url", "vkey"},
    "site": {"enabled"},
    "trust": {"x509"},
    "trust.x509": {"roots"},
    "sigstore": {"write_url", "ca_chains", "ctlog_keys", "tsa_chains", "ca_urls", "oidc_urls",
                 "tsa_urls", "operator"},
}


def witness_url_problem(url: str) -> str | None:
    """What is wrong with a witness's URL, if anything: it must be http(s)://host[…]."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as e:
        return f"{url!r} is not a URL ({e})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s)://host URL (the witness's address)"
    return None


def queue_inside(queue: str, store: str) -> bool:
    """Whether the queue's objects would be among the store's (as the stores read the URLs:
    ``s3://b//log/queue`` is inside ``s3://b/log``)."""
    from tlog.storage.base import store_location

    queue, store = store_location(queue), store_location(store)
    return queue == store or queue.startswith(store.rstrip("/") + "/")


def _signer_key(value: str, source: str) -> str:
    """``value`` if it is a note signer key string, else an error naming ``source``."""
    from tlog.note import new_signer, new_verifier

    try:
        new_signer(value)
    except MalformedError as e:
        try:
            new_verifier(value)
            public = True
        except MalformedError:
            public = False
        if public:
            raise ConfigError(f"{source}: holds a verifier key (a .pub file's), not the log's "
                              "signer key: give the .key file `tlog keygen` wrote beside "
                              "it") from e
        raise ConfigError(f"{source}: not a signer key (PRIVATE+KEY+name+id+key, as "
                          f"`tlog keygen` writes to its .key file): {e}") from e
    return value


@dataclass(frozen=True)
class WitnessConfig:
    """One witness the sequencer asks for cosignatures."""

    name: str
    url: str
    vkey: str


@dataclass(frozen=True)
class SigstoreConfig:
    """``[sigstore]``: the trust material a private Sigstore publishes beside the log."""

    write_url: str | None = None
    ca_chains: tuple[str, ...] = ()
    ctlog_keys: tuple[str, ...] = ()
    tsa_chains: tuple[str, ...] = ()
    ca_urls: tuple[str, ...] = ()
    oidc_urls: tuple[str, ...] = ()
    tsa_urls: tuple[str, ...] = ()
    operator: str = ""


@dataclass(frozen=True)
class LogConfig:
    """Everything a sequencing run needs to know about one log."""

    origin: str
    store: str
    queue: str
    key_file: str | None = None
    key_env: str | None = None
    vkey: str | None = None
    public_queue: bool = False  # the queue may sit inside the published store
    public_url: str | None = None  # where the public reads the log (https://…), for pages
    batch_size: int = DEFAULT_BATCH
    index_keep: int = DEFAULT_INDEX_KEEP  # 0: keep every index manifest and level object
    workers: int = 0
    state_dir: str | None = None
    endpoint: str | None = None
    witnesses: tuple[WitnessConfig, ...] = ()
    witness_threshold: int = 0
    require_witnesses: bool = False
    witness_timeout: float = DEFAULT_WITNESS_TIMEOUT
    site: bool = True
    x509_roots: tuple[str, ...] = ()  # PEM files of the roots certificates must chain to
    pure_ed25519: bool | None = None  # allow_pure_ed25519 as the file says it (None: not said)
    sigstore: SigstoreConfig = field(default_factory=SigstoreConfig)
    path: str | None = field(default=None, compare=False)

    @property
    def sigstore_compatible(self) -> bool:
        """Whether Sigstore's clients find this log's key: origin and key name are the public
        URL's hostname (``tlog.client.sigstore.naming_problem``)."""
        from tlog.client.sigstore import naming_problem

        name = self.vkey.split("+", 1)[0] if self.vkey else self.origin
        return naming_problem(self.origin, name, self.public_url) is None

    @property
    def allow_pure_ed25519(self) -> bool:
        """Whether pure Ed25519 over a digest is admitted: as the config says, else only by a
        log that is not Sigstore-compatible (Rekor v2 accepts Ed25519ph alone)."""
        return self.pure_ed25519 if self.pure_ed25519 is not None else \
            not self.sigstore_compatible

    def signer_key(self) -> str:
        """The log's note signer key string, from the file or the environment variable,
        checked to be one: a mistake names where it came from."""
        if self.key_env:
            value = os.environ.get(self.key_env, "").strip()
            if not value:
                raise ConfigError(f"key.env: environment variable {self.key_env} is empty or unset")
            return _signer_key(value, f"key.env: environment variable {self.key_env}")
        if self.key_file:
            try:
                value = Path(self.key_file).read_text().strip()
            except (OSError, UnicodeDecodeError) as e:
                why = e.strerror if isinstance(e, OSError) else "not text"
                raise ConfigError(f"key.file: cannot read {self.key_file}: {why}") from e
            return _signer_key(value, f"key.file {self.key_file}")
        raise ConfigError("key: set key.file or key.env")

    def verifier_key(self) -> str:
        """The log's public (verifier) key: ``vkey`` when set, else derived from the signer
        key. Publishing pages or asking witnesses needs no more, so jobs that hold no
        secret (a site build) work from ``vkey`` alone."""
        if self.vkey:
            return self.vkey
        from tlog.note import vkey_for_skey

        try:
            return vkey_for_skey(self.signer_key())
        except ConfigError as e:
            raise ConfigError(
                f"vkey: not set in {self.path or 'the config'}, and the signer key is not "
                f"available to derive it ({e}); add vkey = \"<the contents of the log's .pub "
                "file>\" at the top of the config"
            ) from e

    def state_path(self) -> Path:
        """Where the sequencer keeps its state (index cache, witness sizes):
        ``sequencer.state_dir``, else ``$TLOG_STATE_DIR``, else a folder per store under the
        user's cache folder. A CI job caches the same variable it sets, so the two agree."""
        if self.state_dir:
            return Path(self.state_dir)
        if os.environ.get(STATE_ENV):
            return Path(os.environ[STATE_ENV]).resolve()
        import platformdirs

        tag = hashlib.sha256(self.store.encode()).hexdigest()[:16]
        return Path(platformdirs.user_cache_dir("tiledlog")) / "sequencer" / tag


def _resolve(base: Path, value: str) -> str:
    if "://" in value or os.path.isabs(value):
        return value
    return str((base / value).resolve())


def _get(table: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where}{key}: expected int, got bool")
    return value


def load_config(path: str | os.PathLike[str]) -> LogConfig:
    """Read and check a log config file; errors name the file and the offending key."""
    p = Path(path)
    try:
        return _load(p)
    except ConfigError as e:
        if str(p) in str(e):
            raise
        raise ConfigError(f"{p}: {e}") from e


def _load(p: Path) -> LogConfig:
    data = read_toml(p, missing="create one with `tlog init`")
    assert data is not None
    _check_keys(data, p)
    base = p.resolve().parent
    for key in ("origin", "store"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{p}: {key}: required string is missing")
    key = data.get("key", {})
    seq = data.get("sequencer", {})
    policy = data.get("policy", {})
    witnesses = []
    for i, w in enumerate(data.get("witnesses", [])):
        for k in ("name", "url", "vkey"):
            if not isinstance(w.get(k), str) or not w[k]:
                raise ConfigError(f"{p}: witnesses[{i}].{k}: required string is missing")
        if problem := witness_url_problem(w["url"]):
            raise ConfigError(f"{p}: witnesses[{i}].url: {problem}")
        witnesses.append(WitnessConfig(w["name"], w["url"], w["vkey"]))
    key_file = _get(key, "file", str, "key.")
    batch = _get(seq, "batch_size", int, "sequencer.", DEFAULT_BATCH)
    if batch < 1:
        raise ConfigError(f"{p}: sequencer.batch_size: must be at least 1")
    keep = _get(seq, "index_keep", int, "sequencer.", DEFAULT_INDEX_KEEP)
    if keep < 0:
        raise ConfigError(f"{p}: sequencer.index_keep: must be 0 (keep all) or more")
    threshold = _get(policy, "witness_threshold", int, "policy.", 0)
    if not 0 <= threshold <= len(witnesses):
        raise ConfigError(
            f"{p}: policy.witness_threshold: {threshold} is not between 0 and the "
            f"{len(witnesses)} configured witnesses"
        )
    state_dir = _get(seq, "state_dir", str, "sequencer.")
    store = _resolve(base, data["store"])
    queue = _resolve(base, _get(data, "queue", str, "", data["store"]))
    public_queue = bool(_get(data, "public_queue", bool, "", False))
    if not public_queue and queue_inside(queue, store):
        raise ConfigError(
            f"{p}: queue: {queue} is inside the published store {store} (submissions and "
            "rejections would be public); set queue to a private location, or "
            "public_queue = true to accept that")
    return LogConfig(
        origin=data["origin"],
        store=store,
        queue=queue,
        public_queue=public_queue,
        public_url=_public_url(_get(data, "public_url", str, ""), p),
        key_file=_resolve(base, key_file) if key_file else None,
        key_env=_get(key, "env", str, "key."),
        vkey=_vkey(_get(data, "vkey", str, ""), p),
        batch_size=batch,
        index_keep=keep,
        workers=_get(seq, "workers", int, "sequencer.", 0),
        state_dir=_resolve(base, state_dir) if state_dir else None,
        endpoint=_get(data, "endpoint", str, ""),
        witnesses=tuple(witnesses),
        witness_threshold=threshold,
        require_witnesses=bool(_get(policy, "require_witnesses", bool, "policy.", False)),
        witness_timeout=float(_get(policy, "witness_timeout", int | float, "policy.",
                                       DEFAULT_WITNESS_TIMEOUT)),
        site=bool(_get(data.get("site", {}), "enabled", bool, "site.", True)),
        x509_roots=tuple(_resolve(base, t["roots"])
                         for t in data.get("trust", {}).get("x509", [])),
        pure_ed25519=_get(data, "allow_pure_ed25519", bool, "", None),
        sigstore=_sigstore(data.get("sigstore", {}), base, p),
        path=str(p),
    )


def _check_keys(data: dict[str, Any], p: Path) -> None:
    """Unknown tables and keys are errors naming the key and the closest known one."""
    def unknown(where: str, table: Any, known: set[str]) -> None:
        if not isinstance(table, dict):
            raise ConfigError(f"{p}: {where}: expected a table, got {type(table).__name__}")
        for k in table:
            if k not in known:
                close = difflib.get_close_matches(k, sorted(known), n=1, cutoff=0.6)
                hint = f" (did you mean {(where + '.' if where else '') + close[0]!r}?)" \
                    if close else f" (known: {', '.join(sorted(known))})"
                raise ConfigError(f"{p}: {(where + '.') if where else ''}{k}: unknown "
                                  f"{'table' if isinstance(table[k], dict) else 'key'}{hint}")

    unknown("", data, _SCHEMA[""])
    for name in ("key", "sequencer", "policy", "site", "sigstore"):
        if name in data:
            unknown(name, data[name], _SCHEMA[name])
    witnesses = data.get("witnesses", [])
    if not isinstance(witnesses, list):
        raise ConfigError(f"{p}: witnesses: expected an array of tables ([[witnesses]])")
    for i, w in enumerate(witnesses):
        unknown(f"witnesses[{i}]", w, _SCHEMA["witnesses"])
    trust = data.get("trust", {})
    unknown("trust", trust, _SCHEMA["trust"])
    roots = trust.get("x509", [])
    if not isinstance(roots, list):
        raise ConfigError(f"{p}: trust.x509: expected an array of tables ([[trust.x509]])")
    for i, t in enumerate(roots):
        unknown(f"trust.x509[{i}]", t, _SCHEMA["trust.x509"])
        if not isinstance(t.get("roots"), str) or not t["roots"]:
            raise ConfigError(f"{p}: trust.x509[{i}].roots: required: a PEM file of root "
                              "certificates")


def _sigstore(t: dict[str, Any], base: Path, p: Path) -> SigstoreConfig:
    def strings(key: str, files: bool) -> tuple[str, ...]:
        value = t.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(f"{p}: sigstore.{key}: expected a list of "
                              f"{'file names' if files else 'URLs'}")
        if not files and not all(v.startswith(("https://", "http://")) for v in value):
            raise ConfigError(f"{p}: sigstore.{key}: every entry must be an http(s) URL")
        return tuple(_resolve(base, v) if files else v.rstrip("/") for v in value)

    write = _get(t, "write_url", str, "sigstore.")
    return SigstoreConfig(
        write_url=_public_url(write, p, "sigstore.write_url") if write else None,
        ca_chains=strings("ca_chains", True), ctlog_keys=strings("ctlog_keys", True),
        tsa_chains=strings("tsa_chains", True), ca_urls=strings("ca_urls", False),
        oidc_urls=strings("oidc_urls", False), tsa_urls=strings("tsa_urls", False),
        operator=_get(t, "operator", str, "sigstore.", ""))


def _public_url(value: str | None, p: Path, key: str = "public_url") -> str | None:
    if value is None:
        return None
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{p}: {key}: {value!r} is not an http(s) URL; it is the address "
                          "people read the log from (a CDN or the bucket's website), not the "
                          "store's own s3:// or gs:// URL")
    return value.rstrip("/")


def _vkey(value: str | None, p: Path) -> str | None:
    if value is None:
        return None
    if value.startswith("PRIVATE+KEY+"):
        raise ConfigError(f"{p}: vkey: holds a private key; remove it from the file (and "
                          "rotate it if the file was shared) and give the log's .pub instead")
    from tlog.note import new_verifier

    try:
        new_verifier(value)
    except MalformedError as e:
        raise ConfigError(f"{p}: vkey: not a verifier key ({e}); it is the log's .pub "
                          "file, name+hash+key") from None
    return value


def format_config(cfg: LogConfig, relative_to: str | os.PathLike[str] | None = None) -> str:
    """Render a config as TOML (what `tlog init` writes); local paths are written relative to
    ``relative_to`` (the config's folder) when given, so the folder can be moved whole."""
    def path(value: str) -> str:
        if relative_to is None or "://" in value or not os.path.isabs(value):
            return value
        return os.path.relpath(value, relative_to)

    doc: dict[str, Any] = {"origin": cfg.origin, "store": path(cfg.store),
                           "queue": path(cfg.queue)}
    if cfg.public_queue:
        doc["public_queue"] = True
    if cfg.public_url:
        doc["public_url"] = cfg.public_url
    if cfg.vkey:
        doc["vkey"] = cfg.vkey
    if cfg.endpoint:
        doc["endpoint"] = cfg.endpoint
    doc["key"] = {"env": cfg.key_env} if cfg.key_env else \
        {"file": path(cfg.key_file)} if cfg.key_file else {}
    seq: dict[str, Any] = {"batch_size": cfg.batch_size}
    if cfg.index_keep != DEFAULT_INDEX_KEEP:
        seq["index_keep"] = cfg.index_keep
    if cfg.state_dir:
        seq["state_dir"] = path(cfg.state_dir)
    if cfg.workers:
        seq["workers"] = cfg.workers
    doc["sequencer"] = seq
    doc["policy"] = {"witness_threshold": cfg.witness_threshold,
                     "require_witnesses": cfg.require_witnesses}
    if cfg.witness_timeout != DEFAULT_WITNESS_TIMEOUT:
        doc["policy"]["witness_timeout"] = cfg.witness_timeout
    if not cfg.site:
        doc["site"] = {"enabled": False}
    if cfg.witnesses:
        doc["witnesses"] = [{"name": w.name, "url": w.url, "vkey": w.vkey}
                            for w in cfg.witnesses]
    if cfg.pure_ed25519 is not None:
        doc["allow_pure_ed25519"] = cfg.pure_ed25519
    if cfg.x509_roots:
        doc["trust"] = {"x509": [{"roots": path(r)} for r in cfg.x509_roots]}
    sg = cfg.sigstore
    table: dict[str, Any] = {"write_url": sg.write_url, "operator": sg.operator or None}
    for name in ("ca_chains", "ctlog_keys", "tsa_chains"):
        table[name] = [path(v) for v in getattr(sg, name)]
    for name in ("ca_urls", "oidc_urls", "tsa_urls"):
        table[name] = list(getattr(sg, name))
    table = {k: v for k, v in table.items() if v}
    if table:
        doc["sigstore"] = table
    return tomli_w.dumps(doc)
