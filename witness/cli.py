"""``tlog witness``: make a witness key, follow logs, serve C2SP tlog-witness.

The witness's configuration is one TOML file (paths relative to it)::

    key_file = "w1.key"          # the witness's cosignature key (type 0x04)
    state = "w1.db"              # SQLite: followed logs and what was cosigned
    listen = "127.0.0.1:7380"    # address for `tlog witness serve` (optional)

    [limits]                     # optional; these are the defaults
    head_timeout = 10.0          # seconds to send a whole request head (else 408, closed)
    idle_timeout = 5.0           # seconds a kept-alive connection may sit idle
    max_connections_per_client = 16   # beyond it: 429 and closed at once
    max_connections = 1024       # in all; beyond it: 503 and closed at once

Unknown keys are errors.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import click
import tomli_w

from tlog.cli.options import listen_address
from tlog.errors import ConfigError, MalformedError
from tlog.storage.files import read_toml

from .guard import Limits, uvicorn_settings

__all__ = ["WitnessConfig", "load_config", "witness"]

_CONFIG_HELP = "The witness's config file (TOML)."


@dataclass(frozen=True)
class WitnessConfig:
    path: Path
    key_file: Path
    state: Path
    listen: str = "127.0.0.1:7380"
    limits: Limits = field(default_factory=Limits)


_TOP_KEYS = ("key_file", "state", "listen", "limits")
_LIMIT_KEYS = {"head_timeout": ("head_timeout", float), "idle_timeout": ("idle_timeout", float),
               "max_connections_per_client": ("per_client", int),
               "max_connections": ("total", int)}


def _unknown(p: Path, table: dict[str, object], known: Iterable[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(f"{p}: unknown key {where + key!r} (known: {', '.join(known)})")


def _limits(p: Path, table: object) -> Limits:
    if not isinstance(table, dict):
        raise ConfigError(f"{p}: limits: expected a table")
    _unknown(p, table, _LIMIT_KEYS, "limits.")
    values: dict[str, float | int] = {}
    for key, (name, kind) in _LIMIT_KEYS.items():
        if key in table:
            v = table[key]
            ok = isinstance(v, (int, float)) if kind is float else isinstance(v, int)
            if not ok or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{p}: limits.{key}: expected a positive "
                                  f"{'number' if kind is float else 'integer'}, got {v!r}")
            values[name] = kind(v)
    return Limits(**values)  # type: ignore[arg-type]


def load_config(path: str) -> WitnessConfig:
    """Read witness.toml; ConfigError names the file and the key that is wrong."""
    p = Path(path)
    data = read_toml(p, missing="create it with `tlog witness keygen`")
    assert data is not None
    _unknown(p, data, _TOP_KEYS, "")
    for key in ("key_file", "state"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"{p}: {key}: required string is missing")
    listen = data.get("listen", "127.0.0.1:7380")
    if not isinstance(listen, str):
        raise ConfigError(f"{p}: listen: expected \"host:port\"")
    return WitnessConfig(p, p.parent / data["key_file"], p.parent / data["state"], listen,
                         _limits(p, data.get("limits", {})))


def _signer(cfg: WitnessConfig):  # type: ignore[no-untyped-def]
    from tlog.cosignature import new_cosignature_signer

    try:
        return new_cosignature_signer(cfg.key_file.read_text().strip(), time.time)
    except OSError as e:
        raise ConfigError(f"{cfg.path}: key_file: cannot read {cfg.key_file}: "
                          f"{e.strerror}") from e


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

    from .server import make_app
    from .state import WitnessState

    cfg = load_config(config)
    signer = _signer(cfg)
    state = WitnessState(cfg.state)
    host, port = listen_address(listen or cfg.listen)
    vkey = signer.verifier().vkey
    info = {"name": signer.name, "vkey": vkey, "url": f"http://{host}:{port}",
            "logs": [s.origin for s in state.logs()]}
    click.echo(json.dumps(info) if as_json else
               f"witness {signer.name} ({vkey}) on {info['url']}, following "
               f"{len(info['logs'])} log(s)")
    # One access-log line per request (client, method, path, status; never a body).
    # Limits (witness.guard): a deadline per request head, caps per client and in all.
    uvicorn.run(make_app(state, signer), host=host, port=port, log_level="info",
                access_log=True, **uvicorn_settings(cfg.limits))
