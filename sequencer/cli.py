"""``tlog init`` and ``tlog sequence``: thin click commands over ``sequencer.pipeline``."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from tlog.errors import ConfigError, ConflictError, NotFoundError, NotPublishedError, StoreError

from .config import LogConfig, WitnessConfig, format_config, load_config, queue_inside

__all__ = ["config", "init", "sequence", "site"]


def open_stores(cfg: LogConfig) -> tuple[Any, Any]:
    """The log store and the queue store named by a config (one object if they are the same)."""
    from tlog.storage import open_store

    store = open_store(cfg.store, endpoint=cfg.endpoint)
    queue = store if cfg.queue == cfg.store else open_store(cfg.queue, endpoint=cfg.endpoint)
    return store, queue


@click.command()
@click.option(
    "--store", required=True, help="Where the log is published: a folder, s3://…, gs://…."
)
@click.option("--origin", required=True, help="The log's origin line, e.g. example.com/log.")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), help="Signer key file (.key).")
@click.option("--key-env", help="Read the signer key from this environment variable instead.")
@click.option("--queue", help="Private queue of submissions (default: <store>-queue, beside it).")
@click.option("--public-queue", is_flag=True,
              help="Allow the queue inside the published store (rejected submissions and all "
                   "become public).")
@click.option("--public-url", help="Where people read the log (https://…): the commands "
              "the site shows use it.")
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--endpoint", help="S3/GCS endpoint URL (MinIO, R2, emulators).")
@click.option("--batch-size", default=10_000, show_default=True, type=click.IntRange(1))
@click.option("--adopt", is_flag=True,
              help="A log signed by this key already exists there: write a config for it.")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def init(
    store: str,
    origin: str,
    key_file: str | None,
    key_env: str | None,
    queue: str | None,
    public_queue: bool,
    public_url: str | None,
    config_path: str,
    endpoint: str | None,
    batch_size: int,
    adopt: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Publish the empty log (a signed checkpoint of size 0) and write its config.

    Nothing is written unless the log is published (or, with --adopt, found). Paths in the
    config are written relative to its folder; it records the log's public key (vkey), so
    that only sequencing needs the private one.

    \b
    Examples:
      tlog keygen example.com/log --out log
      tlog init --store ./public --queue ./queue --origin example.com/log --key log.key
      TLOG_SIGNER_KEY=… tlog init --store s3://bucket/log --queue s3://private/queue \\
          --origin example.com/log --key-env TLOG_SIGNER_KEY
    """
    from tlog.note import new_signer

    from .lock import existing_log, publish_empty_log

    if bool(key_file) == bool(key_env):
        raise ConfigError("--key or --key-env: give exactly one")
    cfg_file = Path(config_path)
    if cfg_file.exists() and not force:
        raise ConfigError(f"{cfg_file} exists; use --force to overwrite it")
    store_url = _location(store)
    queue_url = _location(queue) if queue else _sibling(store_url)
    for option, url in (("--store", store_url), ("--queue", queue_url)):
        if "://" not in url and Path(url).exists() and not Path(url).is_dir():
            raise ConfigError(f"{option} {url}: a file, not a folder: a folder log's "
                              "store and queue are folders (created if missing)")
    if "://" not in store_url and (outer := _published_log_around(Path(store_url))):
        raise ConfigError(f"--store {store}: inside the published log at {outer} (its "
                          "checkpoint is there), whose files are its own: give the new log a "
                          "folder beside it, not in it")
    if queue_inside(queue_url, store_url):
        if not public_queue:
            raise ConfigError(
                f"--queue {queue or '(default)'}: {queue_url} is inside the published store "
                f"{store_url}: submissions and rejections would be public, and submitters "
                "would need write access to the log; give a private --queue (or "
                "--public-queue to accept that)")
        click.echo("warning: the queue is inside the published store: its submissions and "
                   "rejections are public", err=True)
    cfg = LogConfig(
        origin=origin,
        store=store_url,
        queue=queue_url,
        key_file=str(Path(key_file).resolve()) if key_file else None,
        key_env=key_env,
        endpoint=endpoint,
        batch_size=batch_size,
        public_queue=public_queue,
        public_url=public_url.rstrip("/") if public_url else None,
    )
    if public_url and not public_url.startswith(("https://", "http://")):
        raise ConfigError(f"--public-url: {public_url!r} is not an http(s) URL (the address "
                          "people read the log from, not the store's s3:// or gs:// URL)")
    skey = cfg.signer_key()
    signer = new_signer(skey)
    cfg = dataclasses.replace(cfg, vkey=signer.verifier().vkey)
    if signer.name != origin:
        click.echo(
            f"warning: key name {signer.name!r} differs from origin {origin!r} "
            "(tlog-checkpoint recommends they match)",
            err=True,
        )
    if public_url:
        from tlog.client.sigstore import naming_problem

        problem = naming_problem(origin, signer.name, public_url)
        if problem:
            click.echo(f"note: this log will not be Sigstore-compatible: {problem}", err=True)
    log_store, queue_store = open_stores(cfg)
    try:  # the queue is reachable: a mistyped bucket fails here, not at every later run
        next(iter(queue_store.list("pending/")), None)
    except NotFoundError as e:
        raise ConfigError(f"--queue {queue_url}: {e} (does the bucket exist?)") from e
    except ConfigError as e:
        raise ConfigError(f"--queue: {e}") from e
    found = existing_log(log_store, origin, cfg.vkey)
    if found is not None and not adopt:
        raise ConfigError(
            f"{log_store.url}: a log already exists there at size {found.size}, signed by this "
            f"key ({'+'.join(cfg.vkey.split('+')[:2])}); pass --adopt to write a config for it")
    note = found_note = None
    if found is None:
        note = publish_empty_log(log_store, origin, skey)
    else:
        found_note = log_store.get("checkpoint")
    text = format_config(cfg, relative_to=cfg_file.resolve().parent)
    cfg_file.write_text(text)  # last: a failed init leaves nothing to clean up
    shown = (note or found_note or b"").decode()
    result = {"config": str(cfg_file), "store": log_store.url, "queue": queue_url,
              "adopted": found is not None, "checkpoint": shown}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    elif found is not None:
        click.echo(f"wrote {cfg_file} for the existing log {origin} at {log_store.url} "
                   f"(size {found.size})")
    else:
        click.echo(f"wrote {cfg_file}; log {origin} published at {log_store.url}; "
                   f"queue at {queue_url}")


def _location(value: str) -> str:
    """A store URL as the config holds it: local folders absolute."""
    return value.rstrip("/") if "://" in value else str(Path(value).resolve())


def _published_log_around(folder: Path) -> Path | None:
    """The folder log (a folder with a checkpoint) that ``folder`` would be inside, if any."""
    return next((p for p in folder.parents if (p / "checkpoint").is_file()), None)


def _sibling(store: str) -> str:
    """The default queue: beside the published store, never inside it."""
    head, _, tail = store.rstrip("/").rpartition("/")
    if "://" in store and (not tail or head.endswith(":/")):
        raise ConfigError(f"--queue: {store} is a bucket's root, so there is no place beside "
                          "it; give a private --queue (another bucket or prefix)")
    return f"{store}-queue"


@click.command()
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--max-entries", type=click.IntRange(1), help="Stop after this many submissions.")
@click.option("--watch", is_flag=True, help="Keep running: sequence every --interval seconds.")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.05))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (one per run).")
@click.option(
    "--summary-file",
    type=click.Path(dir_okay=False),
    help="Also append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY).",
)
def sequence(
    config_path: str,
    max_entries: int | None,
    watch: bool,
    interval: float,
    as_json: bool,
    summary_file: str | None,
) -> None:
    """Admit queued submissions into the log: verify, dedup, integrate, sign, publish.

    One run drains the queue in batches and exits 0 (also when the queue is empty). A crash at
    any point is repaired by the next run. With --watch it loops until SIGTERM/SIGINT, stopping
    at a batch boundary.

    \b
    Examples:
      tlog sequence --config tlog.toml
      tlog sequence --json --max-entries 50000
      tlog sequence --watch --interval 2
    """
    from .pipeline import Sequencer

    cfg = load_config(config_path)
    store, queue = open_stores(cfg)
    stop = {"now": False}

    def _stop(signum: int, frame: Any) -> None:
        stop["now"] = True

    if watch:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    bar = None
    if not as_json and not watch and sys.stderr.isatty():
        from tlog.queue import LEGACY_QUEUE_PREFIX, QUEUE_PREFIX

        queued = sum(1 for p in (QUEUE_PREFIX, LEGACY_QUEUE_PREFIX) for _ in queue.list(p))
        total = min(queued, max_entries) if max_entries else queued
        if total:
            bar = click.progressbar(length=total, label="sequencing", file=sys.stderr)
    seq = Sequencer(
        cfg,
        store,
        queue,
        cosign=_cosigner(cfg, store),
        after_publish=site_builder(cfg, store),
        progress=(lambda n: bar.update(n)) if bar else None,
    )
    last: tuple[Any, ...] | None = None  # what the last run reported
    summary = None
    pause = interval  # between runs; grows while runs fail on a passing store error
    while True:
        try:
            summary = seq.run(max_entries=max_entries, should_stop=lambda: stop["now"])
            pause = interval
        except StoreError as e:
            if not watch:
                raise
            # A daemon outlives a flaky network or a store's bad minute: nothing is lost (the
            # next run recovers what this one committed), so wait longer and try again.
            pause = min(_MAX_PAUSE, pause * 2)
            click.echo(f"warning: this run failed: {e}; trying again in {pause:g} s", err=True)
            if _sleep(pause, stop):
                break
            continue
        if bar is not None:
            bar.render_finish()  # the bar's line ends before the summary's begins
            bar = None
        # With --watch an idle run repeats the last state: said once, not every interval.
        state = (summary.size, summary.root, summary.published, sorted(summary.witnesses.items()))
        busy = summary.stats.admitted or summary.stats.rejected or summary.stats.duplicates
        if not watch or busy or state != last or summary.lost_race:
            _report(summary, as_json, summary_file)
            if summary.published:  # published without them: the operator must still hear of it
                for name, status in sorted(summary.witnesses.items()):
                    if status != "cosigned":
                        click.echo(f"warning: witness {name} did not cosign: {status}", err=True)
        last = state
        if summary.lost_race:
            if not watch:  # what this run did is reported above; then the race, as an error
                raise ConflictError(summary.lost_race)
            click.echo(f"warning: {summary.lost_race}", err=True)
        if not watch or stop["now"] or _sleep(pause, stop):
            break
    if summary is not None and summary.witnesses and not summary.published:
        got = sum(v == "cosigned" for v in summary.witnesses.values())
        why = "; ".join(f"{name}: {status}" for name, status in sorted(summary.witnesses.items())
                        if status != "cosigned")
        raise NotPublishedError(
            f"witness policy not met: tree {summary.size} is committed but its checkpoint is "
            f"not published (needs {cfg.witness_threshold} cosignatures, got {got}: {why}); "
            "nothing is lost, the next run retries publishing")


_MAX_PAUSE = 60.0  # seconds, at most, between a daemon's failed runs


def _sleep(seconds: float, stop: dict[str, bool]) -> bool:
    """Wait, waking for a stop request; whether one came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not stop["now"]:
        time.sleep(min(0.1, seconds))
    return stop["now"]


def _report(summary: Any, as_json: bool, summary_file: str | None) -> None:
    data = summary.as_json()
    if as_json:
        click.echo(json.dumps(data, sort_keys=True))
    else:
        click.echo(
            f"{data['origin']}: size {data['size']} (+{data['admitted']} admitted, "
            f"{data['rejected']} rejected, {data['duplicates']} duplicates) in "
            f"{data['seconds']} s; root {data['root']}"
        )
    if summary_file:
        with open(summary_file, "a") as f:
            f.write(_markdown(data))


def _markdown(d: dict[str, Any]) -> str:
    rows = [
        ("Log", f"`{d['origin']}`"),
        ("Tree size", str(d["size"])),
        ("Root", f"`{d['root']}`"),
        ("Admitted", str(d["admitted"])),
        ("Rejected", str(d["rejected"])),
        ("Duplicates", str(d["duplicates"])),
        ("Objects written", str(d["objects_written"])),
        ("Checkpoint published", "yes" if d["published"] else "**no**"),
    ]
    rows += [(f"Witness {name}", status) for name, status in sorted(d["witnesses"].items())]
    body = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return f"### tiledlog sequencing run\n\n| | |\n|---|---|\n{body}\n\n"


def _cosigner(cfg: LogConfig, store: Any) -> Any:
    if not cfg.witnesses:
        return None
    from .witnessing import make_cosigner

    return make_cosigner(cfg, store)


def site_builder(cfg: LogConfig, store: Any, every: float = 0.0) -> Any:
    """What rebuilds the pages after a publish (``SiteUpdater``), or None without a site."""
    if not cfg.site:
        return None
    try:
        from .site import SiteUpdater
    except ImportError:
        return None

    def warn(e: Exception) -> None:
        # The log advanced; only its pages are stale. Say so, and let `tlog site build` retry.
        click.echo(f"warning: the site was not rebuilt: {e}", err=True)

    return SiteUpdater(cfg, store, every=every, warn=warn)


@click.group()
def config() -> None:
    """Change a log's tlog.toml without editing it by hand."""


def _save_witnesses(cfg: LogConfig, config_path: str, as_json: bool) -> None:
    """Write ``cfg`` (its witnesses and policy changed) back to tlog.toml, and say so."""
    path = Path(config_path)
    path.write_text(format_config(cfg, relative_to=path.resolve().parent))
    load_config(path)  # what was written reads back
    click.echo("note: a running `tlog sequence --watch` or `tlog serve` read the config when it "
               "started: restart it for the change to count", err=True)
    if as_json:
        click.echo(json.dumps({
            "config": config_path, "witnesses": [w.name for w in cfg.witnesses],
            "witness_threshold": cfg.witness_threshold,
            "require_witnesses": cfg.require_witnesses}, indent=2, sort_keys=True))
        return
    click.echo(f"{config_path}: {len(cfg.witnesses)} witnesses, threshold "
               f"{cfg.witness_threshold}, {'required' if cfg.require_witnesses else 'optional'}")


@config.command("add-witness")
@click.option("--name", help="The witness's name (default: its key's name).")
@click.option("--url", required=True, help="The witness's submission URL prefix.")
@click.option("--vkey", required=True, help="The witness's cosignature key (or a file of it).")
@click.option("--threshold", type=click.IntRange(0),
              help="Set policy.witness_threshold (cosignatures a checkpoint needs).")
@click.option("--require/--no-require", default=None,
              help="Publish only once the threshold is met (policy.require_witnesses).")
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the resulting policy as JSON.")
def add_witness(name: str | None, url: str, vkey: str, threshold: int | None,
                require: bool | None, config_path: str, as_json: bool) -> None:
    """Add (or update, by name) a witness the sequencer asks for cosignatures.

    \b
    Example:
      tlog config add-witness --url https://w1.example --vkey w1.pub --threshold 1 --require
    """
    from tlog.cli.keys import key_arg
    from tlog.cosignature import CosignatureVerifier, parse_any_verifier
    from tlog.errors import MalformedError

    from .config import witness_url_problem

    if problem := witness_url_problem(url):
        raise ConfigError(f"--url: {problem}")
    cfg = load_config(config_path)
    text = key_arg(vkey)
    try:
        verifier = parse_any_verifier(text)
    except MalformedError as e:
        raise ConfigError(f"--vkey: not a witness key ({e})") from e
    if not isinstance(verifier, CosignatureVerifier):
        raise ConfigError("--vkey: a log key, not a witness's cosignature key (type 0x04); "
                          "witnesses make theirs with `tlog witness keygen`")
    witness = WitnessConfig(name or verifier.name, url, text)
    witnesses = [w for w in cfg.witnesses if w.name != witness.name] + [witness]
    cfg = dataclasses.replace(
        cfg, witnesses=tuple(witnesses),
        witness_threshold=cfg.witness_threshold if threshold is None else threshold,
        require_witnesses=cfg.require_witnesses if require is None else require)
    if cfg.witness_threshold > len(cfg.witnesses):
        raise ConfigError(f"--threshold: {cfg.witness_threshold} is more than the "
                          f"{len(cfg.witnesses)} configured witnesses")
    _save_witnesses(cfg, config_path, as_json)


@config.command("remove-witness")
@click.argument("name")
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the resulting policy as JSON.")
def remove_witness(name: str, config_path: str, as_json: bool) -> None:
    """Stop asking the witness NAME (one retired, or renamed when its key rotated).

    \b
    Example:
      tlog config remove-witness witness.example/w1
    """
    cfg = load_config(config_path)
    names = [w.name for w in cfg.witnesses]
    if name not in names:
        raise ConfigError(f"{config_path}: no witness named {name!r} (configured: "
                          f"{', '.join(names) or 'none'})")
    witnesses = tuple(w for w in cfg.witnesses if w.name != name)
    if cfg.witness_threshold > len(witnesses):
        raise ConfigError(f"{config_path}: policy.witness_threshold {cfg.witness_threshold} "
                          f"would be more than the {len(witnesses)} witnesses left: lower it "
                          "first (tlog config add-witness ... --threshold N), or add the "
                          "witness that replaces this one before removing it")
    cfg = dataclasses.replace(cfg, witnesses=witnesses)
    _save_witnesses(cfg, config_path, as_json)


@click.group()
def site() -> None:
    """The log's static web pages."""


@site.command()
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def build(config_path: str, as_json: bool) -> None:
    """Render index.html, entry.html (the in-browser verifier) and verify.html for the
    published checkpoint and upload them beside the log. Needs no private key.

    \b
    Example:
      tlog site build --config tlog.toml
    """
    from .site import build_site

    cfg = load_config(config_path)
    store, _ = open_stores(cfg)
    pages = build_site(cfg, store, store.get("checkpoint"))
    if as_json:
        click.echo(json.dumps({"store": store.url, "pages": pages}))
    else:
        click.echo(f"wrote {', '.join(pages)} to {store.url}")


@click.command()
@click.option("--config", "config_path", default="tlog.toml", show_default=True)
@click.option("--listen", default="127.0.0.1:3000", show_default=True, metavar="HOST:PORT")
@click.option("--interval", default=0.25, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between sequencing runs (sooner when a request arrives).")
@click.option("--no-sequence", is_flag=True,
              help="Only verify, queue and answer: another process sequences this log.")
@click.option("--serve-files", is_flag=True,
              help="Also serve a folder log's files (a self-contained demo; in production "
                   "the files come from the bucket or CDN).")
@click.option("--max-request", default=128 << 10, show_default=True, type=click.IntRange(1024),
              help="Largest request body, in bytes (413 beyond).")
@click.option("--rate", default=50.0, show_default=True, type=click.FloatRange(0.1),
              help="Requests per second per client address (429 beyond).")
@click.option("--burst", default=100, show_default=True, type=click.IntRange(1),
              help="Requests a client may send at once.")
@click.option("--answer-timeout", default=25.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for a published checkpoint before answering 503 (retry).")
@click.option("--site-every", default=10.0, show_default=True, type=click.FloatRange(0),
              help="Rebuild the site's pages at most this often, in seconds (the checkpoint "
                   "itself is published with every batch).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True, metavar="IPS",
              help="Load balancers whose X-Forwarded-For names the client (comma-separated, "
                   "or *): the rate limit is per client, not per balancer.")
@click.option("--head-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a connection has from its opening to send a whole request head, "
                   "and then as long for its body (then 408 and closed: a slow or silent client "
                   "does not hold a connection; between requests it may wait 5 s).")
@click.option("--max-connections", default=1024, show_default=True, type=click.IntRange(1),
              help="Open connections in all (503 beyond); fewer if the process may not open "
                   "that many files beside its own (ulimit -n), which it says at start.")
@click.option("--max-connections-per-address", default=None, type=click.IntRange(1),
              help="Open connections from one address (429 beyond; default: no cap of its own, "
                   "as behind a load balancer every connection comes from it).")
@click.option("--json", "as_json", is_flag=True, help="Print the start-up line as JSON.")
def serve(config_path: str, listen: str, interval: float, no_sequence: bool, serve_files: bool,
          max_request: int, rate: float, burst: int, answer_timeout: float, site_every: float,
          forwarded_allow_ips: str, head_timeout: float, max_connections: int,
          max_connections_per_address: int | None, as_json: bool) -> None:
    """Run the log as a Rekor v2 write endpoint: POST /api/v2/log/entries.

    Each request is checked as admission checks it, queued, sequenced in this process every
    --interval, and answered with its TransparencyLogEntry (inclusion proof and signed
    checkpoint) once a published checkpoint includes it; a duplicate answers 409 with its
    index. Several `tlog serve` processes may share one store and queue: the store's lock
    lets one sequence at a time. Reads stay static files. SIGTERM stops at a batch boundary.

    \b
    Examples:
      tlog serve --config tlog.toml --listen 0.0.0.0:3000
      tlog serve --config tlog.toml --serve-files          # a folder log, self-contained
    """
    import logging

    import uvicorn

    from tlog.cli.options import listen_address
    from tlog.guard import Limits, uvicorn_settings

    from .frontend import Frontend, FrontendLimits
    from .pipeline import Sequencer

    cfg = load_config(config_path)
    store, queue = open_stores(cfg)
    files = None
    if serve_files:
        if "://" in cfg.store:
            raise ConfigError("--serve-files serves a folder log; this log is at "
                              f"{cfg.store}: serve its files from the bucket or a CDN")
        files = Path(cfg.store)
    sequence = pages = None
    if not no_sequence:
        pages = site_builder(cfg, store, every=site_every)
        seq = Sequencer(cfg, store, queue, cosign=_cosigner(cfg, store), after_publish=pages)

        def sequence(should_stop: Any) -> Any:
            return seq.run(should_stop=should_stop)

    from tlog.client.admission import clean_workers

    clean_workers()  # workers must not hold copies of the server's sockets
    frontend = Frontend(cfg, store, queue, sequence, interval=interval, files=files,
                        limits=FrontendLimits(max_request, rate, burst, answer_timeout,
                                              body_timeout=head_timeout),
                        pages=pages)
    host, port = listen_address(listen)
    url = f"http://{host}:{port}"
    info = {"origin": cfg.origin, "url": url, "write": f"{url}/api/v2/log/entries",
            "sequencing": not no_sequence, "size": frontend.checkpoint.checkpoint.size,
            "sigstore_compatible": cfg.sigstore_compatible}
    click.echo(json.dumps(info) if as_json else
               f"log {cfg.origin} (size {info['size']}): Rekor v2 write endpoint at "
               f"{info['write']}" + ("" if not no_sequence else " (not sequencing)"))
    if not cfg.sigstore_compatible:
        from tlog.client.sigstore import naming_problem

        name = cfg.vkey.split("+", 1)[0] if cfg.vkey else cfg.origin
        click.echo("note: Sigstore clients will not verify this log's checkpoints: "
                   f"{naming_problem(cfg.origin, name, cfg.public_url)}", err=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # tlog.guard: a deadline for each request head, and caps on connections.
    limits = Limits(head_timeout=head_timeout, per_client=max_connections_per_address
                    or max_connections, total=max_connections)
    uvicorn.run(frontend.app(), host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=int(answer_timeout) + 5, proxy_headers=True,
                forwarded_allow_ips=forwarded_allow_ips,
                **uvicorn_settings(limits, "tiledlog.serve"))
