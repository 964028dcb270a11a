"""The options every client command spells the same way, and where their defaults come from.

One name per thing: ``--log``, ``--vkey`` (a key string or a file holding it), ``--cache``,
``--leaf-hash`` (hex), ``--queue``, ``--json``. A value comes from the command line, else the
environment (``TLOG_LOG``, ``TLOG_VKEY``, ``TLOG_QUEUE``, as ``REKOR_SERVER`` for rekor-cli),
else the client config file, so the long key need not be typed each time::

    # ~/.config/tiledlog/client.toml (or the file $TLOG_CLIENT_CONFIG names)
    log = "https://log.example.com"
    vkey = "example.com/log+3ab2f1c0+AU0Ld…"   # or the path of a .pub file
    witnesses = ["witness.example/w1+9c1d…+BP2…"]
    witness_threshold = 1
    queue = "s3://example-log-queue"
"""

from __future__ import annotations

import difflib
import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import platformdirs

from tlog.errors import ConfigError
from tlog.storage.files import read_toml

__all__ = [
    "CLIENT_KEYS",
    "cache_option",
    "client_config_path",
    "client_defaults",
    "expected_origin",
    "leaf_hash_option",
    "listen_address",
    "log_option",
    "queue_option",
    "vkey_option",
    "write_output",
]

# client.toml key -> (type, the option's parameter name)
CLIENT_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "log": (str, "log"),
    "vkey": (str, "vkey"),
    "origin": (str, "origin"),
    "witnesses": (list, "witness"),
    "witness_threshold": (int, "witness_threshold"),
    "state": (str, "state"),
    "cache": (str, "cache"),
    "queue": (str, "queue"),
}


def client_config_path() -> Path:
    """``$TLOG_CLIENT_CONFIG``, else ``client.toml`` in the user's config folder."""
    env = os.environ.get("TLOG_CLIENT_CONFIG")
    return Path(env) if env else Path(platformdirs.user_config_dir("tiledlog")) / "client.toml"


def client_defaults() -> dict[str, Any]:
    """Option defaults (by parameter name) from the client config file; {} without one.
    Unknown keys and wrong types are errors naming the file and the key."""
    path = client_config_path()
    named = "TLOG_CLIENT_CONFIG" in os.environ
    data = read_toml(path, missing="$TLOG_CLIENT_CONFIG names it" if named else None)
    if data is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key not in CLIENT_KEYS:
            close = difflib.get_close_matches(key, list(CLIENT_KEYS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(CLIENT_KEYS)}"
            raise ConfigError(f"{path}: unknown key {key!r} ({hint})")
        kind, param = CLIENT_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool) or (
                kind is list and not all(isinstance(v, str) for v in value)):
            want = "a list of key strings" if kind is list else kind.__name__  # type: ignore[union-attr]
            raise ConfigError(f"{path}: {key} must be {want}")
        out[param] = value
    return out


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def expected_origin(opts: dict[str, Any]) -> str | None:
    """The expected origin: --origin, else client.toml's, but only with client.toml's key: a
    key given on the command line or in $TLOG_VKEY (another log, a new shard) is not held to
    the origin written beside another key (that was exit 3, naming no file)."""
    origin = opts.get("origin")
    ctx = click.get_current_context(silent=True)
    if origin is None or ctx is None:
        return origin
    from click.core import ParameterSource

    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    if (ctx.get_parameter_source("origin") == ParameterSource.DEFAULT_MAP
            and ctx.get_parameter_source("vkey") in given
            and "vkey" in (ctx.default_map or {})):  # a config without a key: its origin holds
        return None
    return origin  # type: ignore[no-any-return]


def log_option(required: bool = True) -> Decorator:
    return click.option("--log", "log", required=required, metavar="URL", envvar="TLOG_LOG",
                        show_envvar=True, help="The log's URL prefix (https://…) or folder.")


def vkey_option() -> Decorator:
    return click.option("--vkey", required=True, metavar="KEY", envvar="TLOG_VKEY",
                        show_envvar=True,
                        help="The log's verifier key (name+id+base64), or a file holding it.")


def queue_option() -> Decorator:
    return click.option("--queue", required=True, envvar="TLOG_QUEUE", show_envvar=True,
                        help="The log's queue: a folder, s3://…, gs://….")


class _RenamedOption(click.Option):
    """An option whose old name still parses but is not listed in ``--help``."""

    def __init__(self, *args: Any, old_name: str, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.old_name = old_name
        self.opts.append(old_name)

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        opts = self.opts
        self.opts = [o for o in opts if o != self.old_name]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = opts


def cache_option() -> Decorator:
    """``--cache`` (``--cache-dir``, its old name in ``tlog search``, still parses)."""
    return click.option("--cache", "cache", cls=_RenamedOption, old_name="--cache-dir",
                        type=click.Path(file_okay=False), metavar="DIR",
                        help="Tile cache folder (default: the user cache dir).")


def leaf_hash_option(help_text: str = "The entry's leaf hash, in hex.") -> Decorator:
    """``--leaf-hash`` (``--entry-hash``, its old name, still parses)."""
    return click.option("--leaf-hash", "leaf_hash", cls=_RenamedOption, old_name="--entry-hash",
                        metavar="HEX", help=help_text)


def write_output(output: str, data: bytes) -> bool:
    """Write a command's document to ``output`` ('-': stdout); True when it went to a file."""
    if output == "-":
        click.echo(data.decode(), nl=False)
        return False
    try:
        Path(output).write_bytes(data)
    except OSError as e:
        raise ConfigError(f"cannot write {output}: {e.strerror}") from e
    return True


def listen_address(listen: str, option: str = "--listen") -> tuple[str, int]:
    """``--listen host:port`` (``[::1]:port`` for IPv6) as (host, port), checked to be free:
    a server's own failure to bind is a page of log lines and exit 3. ``option`` names where
    the value came from."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f'{option}: expected "host:port", got {listen!r}')
    address = host.strip("[]") or "127.0.0.1", int(port)
    try:
        (family, kind, proto, _, where), *_ = socket.getaddrinfo(
            *address, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        with socket.socket(family, kind, proto) as s:  # bound as the servers bind
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(where)
    except OSError as e:  # gaierror included
        hint = (" (another server there? give another address or port)"
                if e.errno == errno.EADDRINUSE else "")
        raise ConfigError(f"{option} {listen}: {e.strerror or e}{hint}") from e
    return address
