"""``tlog trust show`` and ``tlog trust forget``: the verifier's trusted state, in the open."""

from __future__ import annotations

import json

import click

from tlog.client.trust import TrustStore, default_state_dir
from tlog.errors import ConfigError

__all__ = ["trust"]

_STATE = click.option("--state", type=click.Path(file_okay=False), metavar="DIR",
                      help="Trusted-state folder (default: <user state dir>/tiledlog/trust).")


@click.group()
def trust() -> None:
    """The checkpoints this machine trusts (rollback and fork protection)."""


def _store(state: str | None) -> TrustStore:
    return TrustStore(state or default_state_dir())


@trust.command()
@_STATE
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show(state: str | None, as_json: bool) -> None:
    """List the logs with a trusted checkpoint: origin, tree size, key, folder.

    \b
    Example:
      tlog trust show
    """
    store = _store(state)
    logs = store.logs()
    if as_json:
        click.echo(json.dumps({"state": str(store.root), "logs": logs},
                              indent=2))
        return
    click.echo(f"trusted state in {store.root}")
    for log in logs:
        click.echo(f"{log['origin']}\tsize {_size(log['size'])}\t{str(log['vkey']).split('+')[1]}\t"
                   f"{log['folder']}")


@trust.command()
@click.argument("origin")
@_STATE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the folders forgotten as JSON.")
def forget(origin: str, state: str | None, yes: bool, as_json: bool) -> None:
    """Forget the trusted checkpoint of ORIGIN: the next check trusts what it is served.

    Do this only when the log's operator announced a reset; after a fork or rollback, keep
    the evidence and report it instead.

    \b
    Example:
      tlog trust forget example.com/log
    """
    store = _store(state)
    known = [log for log in store.logs() if log["origin"] == origin]
    if not known:
        raise ConfigError(f"no trusted state for {origin} in {store.root}")
    if not yes:
        try:
            confirmed = click.confirm(
                f"forget the trusted checkpoint of {origin} (size {_size(known[0]['size'])}), "
                "so that the next check trusts on first use?", err=True)
        except click.exceptions.Abort:  # no answer (end of input)
            confirmed = False
        if not confirmed:
            raise ConfigError("not confirmed: nothing forgotten (--yes skips the question)")
    folders = [str(f) for f in store.forget(origin)]
    if as_json:
        click.echo(json.dumps({"origin": origin, "forgotten": folders}, indent=2))
        return
    for folder in folders:
        click.echo(f"forgot {folder}")


def _size(size: object) -> str:
    return "-" if size is None else str(size)
