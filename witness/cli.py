"""``tlog witness``: make a witness key, follow logs, serve C2SP tlog-witness.

The configuration file, witness.toml, is described in ``witness.config``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import tomli_w

from tlog.cli.options import listen_address
from tlog.errors import ConfigError, MalformedError
from tlog.guard import uvicorn_settings

from . import access
from .config import WitnessConfig, load_config, load_signer

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
    if as_json:
        click.echo(json.dumps({"key_file": str(key_file), "pub_file": str(pub_file),
                               "vkey": vkey, "config": str(cfg) if wrote_config else None},
                              indent=2, sort_keys=True))
        return
    if wrote_config:
        click.echo(f"wrote {cfg}")
    click.echo(f"wrote {key_file} (secret, mode 0600) and {pub_file}\nverifier key: {vkey}")


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
    from tlog.cosignature import parse_any_verifier

    from .state import WitnessState

    cfg = load_config(config)
    keys = []
    for v in vkeys:
        text = key_arg(v)
        try:
            verifier = parse_any_verifier(text)
        except MalformedError as e:
            raise ConfigError(f"--vkey: not a verifier key ({e})") from e
        if verifier.name != origin:
            click.echo(f"note: key name {verifier.name!r} differs from the origin", err=True)
        keys.append(text)
    new = WitnessState(cfg.state).add_log(origin, keys)
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
    from .state import WitnessState

    cfg = load_config(config)
    signer = load_signer(cfg)
    state = WitnessState(cfg.state)
    host, port = listen_address(listen or cfg.listen,
                                "--listen" if listen else f"{cfg.path}: listen")
    vkey = signer.verifier().vkey
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
