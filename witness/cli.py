"""``tlog witness``: make a witness key, follow logs, serve C2SP tlog-witness.

The configuration file, witness.toml, is described in ``witness.config``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click
import tomli_w

from tlog.cli.options import listen_address
from tlog.errors import ConfigError, MalformedError
from tlog.guard import uvicorn_settings

from . import access
from .config import WitnessConfig, load_config, load_signer

if TYPE_CHECKING:
    from .state import WitnessState as WitnessStateType

__all__ = ["WitnessConfig", "load_config", "witness"]  # the config's names, as before

_CONFIG_HELP = "The witness's config file (TOML)."


@click.group()
def witness() -> None:
    """Run a C2SP tlog-witness: cosign the checkpoints of the logs you follow.

    \b
    Examples:
      tlog witness keygen witness.example/w1 --out w1      # w1.key, w1.pub, witness.toml
      tlog witness add-log --origin example.com/log --vkey "$(cat log.pub)"
      tlog witness serve --config witness.toml --listen 127.0.0.1:7380
    """


@witness.command()
@click.argument("name")
@click.option("--out", "prefix", required=True, help="Write PREFIX.key and PREFIX.pub.")
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def keygen(name: str, prefix: str, config: str, force: bool, as_json: bool) -> None:
    """Make the witness key NAME and, if missing, the config file that uses it.

    \b
    Example:
      tlog witness keygen witness.example/w1 --out w1
    """
    from tlog.cli.keys import write_key_pair
    from tlog.cosignature import generate_cosignature_key

    skey, vkey = generate_cosignature_key(name)
    key_file, pub_file = write_key_pair(prefix, skey, vkey, force=force)
    cfg = Path(config)
    wrote_config = not cfg.exists()
    if wrote_config:
        rel = Path(prefix).name if Path(prefix).parent.resolve() == cfg.parent.resolve() \
            else str(Path(prefix).resolve())
        cfg.write_text(tomli_w.dumps({"key_file": f"{rel}.key", "state": f"{rel}.db",
                                      "listen": "127.0.0.1:7380"}))
        _new_state(load_config(str(cfg)), vkey)  # a new key: its state starts empty
    if as_json:
        click.echo(json.dumps({"key_file": str(key_file), "pub_file": str(pub_file),
                               "vkey": vkey, "config": str(cfg) if wrote_config else None},
                              indent=2, sort_keys=True))
        return
    if wrote_config:
        click.echo(f"wrote {cfg}")
    click.echo(f"wrote {key_file} (secret, mode 0600) and {pub_file}\nverifier key: {vkey}")


def _new_state(cfg: WitnessConfig, vkey: str) -> None:
    from .state import WitnessState

    WitnessState(cfg.state).bind(vkey)


def _open_state(cfg: WitnessConfig) -> WitnessStateType:
    """The config's state, which must exist: a lost state started afresh would let the same
    key cosign a tree smaller than, or forking, one it already cosigned."""
    from .state import WitnessState, state_exists

    if not state_exists(cfg.state):
        raise ConfigError(
            f"{cfg.path}: state: {cfg.state} does not exist or is empty. A witness whose "
            "state is lost must not cosign with the same key again (it could cosign a smaller "
            "or forked tree): make a new key (tlog witness keygen NAME --out PREFIX), set "
            "key_file to it and run `tlog witness new-state`; if this witness has never "
            "cosigned, `tlog witness new-state` alone")
    return WitnessState(cfg.state)


@witness.command("new-state")
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--yes", is_flag=True, help="Do not ask: the key has never cosigned.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def new_state(config: str, yes: bool, as_json: bool) -> None:
    """Start an empty state for the config's key (`keygen` does, when it writes the config).

    Only for a key that has never cosigned: a witness that lost its state, or whose state
    was restored from a backup, could cosign a tree smaller than, or forking, one it
    cosigned before. Such a witness needs a new key (`tlog witness keygen`).

    \b
    Example:
      tlog witness new-state --config witness.toml
    """
    from .state import state_exists

    cfg = load_config(config)
    signer = load_signer(cfg)
    if state_exists(cfg.state):
        raise ConfigError(f"{cfg.path}: state: {cfg.state} exists already; it is kept")
    vkey = signer.verifier().vkey
    if not yes:
        try:
            confirmed = click.confirm(f"start an empty state {cfg.state} for {vkey}? (only if "
                                      "this key has never cosigned a checkpoint)", err=True)
        except click.exceptions.Abort:  # no answer (end of input)
            confirmed = False
        if not confirmed:
            raise ConfigError("not confirmed: no state made (--yes skips the question)")
    _new_state(cfg, vkey)
    if as_json:
        click.echo(json.dumps({"state": str(cfg.state), "vkey": vkey}, indent=2, sort_keys=True))
        return
    click.echo(f"wrote {cfg.state}: an empty state for {signer.name}")


@witness.command("add-log")
@click.option("--origin", required=True, help="The log's origin (its checkpoints' first line).")
@click.option("--vkey", "vkeys", required=True, multiple=True,
              help="The log's verifier key (or a file holding it); repeatable.")
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def add_log(origin: str, vkeys: tuple[str, ...], config: str, as_json: bool) -> None:
    """Follow a log: cosign checkpoints of ORIGIN signed by one of its keys.

    \b
    Example:
      tlog witness add-log --origin example.com/log --vkey log.pub
    """
    from tlog.cli.keys import key_arg
    from tlog.cosignature import CosignatureVerifier, parse_any_verifier

    cfg = load_config(config)
    if not origin.strip() or origin != origin.strip() or any(c in origin for c in "\r\n"):
        raise ConfigError(f"--origin: {origin!r} cannot be a checkpoint's first line (give "
                          "the log's origin, such as example.com/log)")
    keys = []
    for v in vkeys:
        text = key_arg(v, "--vkey")
        try:
            verifier = parse_any_verifier(text)
        except MalformedError as e:
            raise ConfigError(f"--vkey: not a verifier key ({e})") from e
        if isinstance(verifier, CosignatureVerifier):
            raise ConfigError(f"--vkey: {verifier.name} is a witness's cosignature key, not "
                              "a log's: give the key the log signs its checkpoints with "
                              "(its log.pub)")
        if verifier.name != origin:
            click.echo(f"note: key name {verifier.name!r} differs from the origin", err=True)
        keys.append(text)
    new = _open_state(cfg).add_log(origin, keys)
    if as_json:
        click.echo(json.dumps({"origin": origin, "vkeys": keys, "new": new}, indent=2,
                              sort_keys=True))
        return
    click.echo(f"{'following' if new else 'updated keys of'} {origin}")


@witness.command()
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--listen", help="host:port (default: the config's listen).")
@click.option("--json", "as_json", is_flag=True, help="Print the start-up line as JSON.")
def serve(config: str, listen: str | None, as_json: bool) -> None:
    """Serve POST /add-checkpoint (and GET /<origin hash>/checkpoint) until stopped.

    \b
    Example:
      tlog witness serve --config witness.toml --listen 127.0.0.1:7380
    """
    import uvicorn

    from .server import CONFIG_ENV, make_app

    cfg = load_config(config)
    signer = load_signer(cfg)
    state = _open_state(cfg)
    host, port = listen_address(listen or cfg.listen,
                                "--listen" if listen else f"{cfg.path}: listen")
    vkey = signer.verifier().vkey
    rotated = state.bind(vkey)
    if rotated:
        click.echo(f"note: {cfg.state} served before with {', '.join(rotated)}; the logs "
                   f"(tlog config add-witness) and verifiers (--witness) must now list {vkey}",
                   err=True)
    info = {"name": signer.name, "vkey": vkey, "url": f"http://{host}:{port}",
            "logs": [s.origin for s in state.logs()]}
    click.echo(json.dumps(info) if as_json else
               f"witness {signer.name} ({vkey}) on {info['url']}, following "
               f"{len(info['logs'])} log(s)")
    # One access-log line per request, ours (witness.access), not uvicorn's.
    # Limits (tlog.guard): a deadline per request head, caps per client and in all.
    settings = uvicorn_settings(cfg.limits, access.LOGGER)
    if cfg.workers == 1:
        access.configure()
        uvicorn.run(make_app(state, signer), host=host, port=port, log_level="info",
                    access_log=False, **settings)
        return
    # Several processes on one socket: uvicorn starts each from import strings, which read
    # the same config file.
    os.environ[CONFIG_ENV] = str(cfg.path.resolve())
    settings["http"] = "witness.server:GuardedFromEnviron"
    uvicorn.run("witness.server:app_from_environ", factory=True, workers=cfg.workers,
                host=host, port=port, log_level="info", access_log=False, **settings)
    from .state import state_exists

    if not state_exists(cfg.state):  # a worker found it gone, and stopped the witness
        raise ConfigError(f"{cfg.path}: state: {cfg.state} was lost while the witness served: "
                          "it stopped rather than start a new one. A lost state needs a new "
                          "key (tlog witness keygen, then tlog witness new-state)")


@witness.command()
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--origin", help="Only this log's.")
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON.")
def forks(config: str, origin: str | None, as_json: bool) -> None:
    """The forks this witness refused: for each, the note it had cosigned and the validly
    signed note of the same size with another root (proof, for anyone, that the log forked).

    \b
    Example:
      tlog witness forks --json > forks.json
    """
    import time

    cfg = load_config(config)
    found = _open_state(cfg).forks(origin)
    if as_json:
        click.echo(json.dumps([{"origin": f.origin, "size": f.size,
                                "detected_at": f.detected_at,
                                "cosigned_note": f.cosigned_note.decode("utf-8", "replace"),
                                "offered_note": f.offered_note.decode("utf-8", "replace")}
                               for f in found], indent=2, sort_keys=True))
        return
    if not found:
        click.echo("no forks recorded" + (f" for {origin}" if origin else ""))
    for f in found:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(f.detected_at))
        click.echo(f"fork of {f.origin} at size {f.size}, detected {when}\n"
                   f"-- cosigned by this witness:\n{f.cosigned_note.decode('utf-8', 'replace')}"
                   f"-- offered, another root:\n{f.offered_note.decode('utf-8', 'replace')}")


@witness.command("freeze-log")
@click.option("--origin", required=True, help="The log's origin.")
@click.option("--config", default="witness.toml", show_default=True, help=_CONFIG_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the frozen state as JSON.")
def freeze_log(origin: str, config: str, as_json: bool) -> None:
    """Cosign nothing of ORIGIN beyond the tree this witness cosigned last: for a log whose
    operator froze it, or whose key leaked (whoever holds the key could otherwise extend it,
    and clients requiring this witness would accept the extension). The same tree is still
    cosigned again. A running witness applies it at its next request.

    \b
    Example:
      tlog witness freeze-log --origin example.com/log2026
    """
    import base64

    cfg = load_config(config)
    state = _open_state(cfg).freeze(origin)
    if state is None:
        raise ConfigError(f"{cfg.state}: this witness does not follow {origin!r}")
    root = base64.b64encode(state.root).decode()
    if as_json:
        click.echo(json.dumps({"origin": origin, "size": state.size, "root": root},
                              indent=2, sort_keys=True))
        return
    click.echo(f"froze {origin} at size {state.size} (root {root}): nothing beyond it is "
               "cosigned")
