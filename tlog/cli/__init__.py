"""The ``tlog`` command: one click group, sub-commands grouped by user and loaded lazily.

Each sub-command lives in the package that owns it (``tlog.cli``, ``sequencer.cli``,
``witness.cli``) and is declared in the entry-point group ``tiledlog.commands``
(pyproject.toml), so this module imports none of them until one is invoked, and ``tlog``
never depends on the sequencer or the witness. Errors from the library (``TlogError``)
become one line on stderr and a non-zero exit here, and nowhere else.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import click

from tlog.errors import (
    ConfigError,
    MalformedError,
    NotPublishedError,
    TlogError,
    VerificationError,
)

__all__ = ["HELP", "main"]

# How `tlog --help` presents each command: name -> (one-line help, section). Presentation
# only: where a command lives is its entry point's business.
HELP: dict[str, tuple[str, str]] = {
    "keygen": ("Generate a log signing key pair.", "Operators"),
    "init": ("Create a log's config and publish the empty log.", "Operators"),
    "sequence": ("Admit queued submissions into the log.", "Operators"),
    "config": ("Change a log's tlog.toml (add a witness).", "Operators"),
    "site": ("Build the static web pages of a log.", "Operators"),
    "serve": ("Run the log as a Rekor v2 write endpoint.", "Operators"),
    "submit": ("Check a signed statement and queue it.", "Submitters"),
    "get": ("Fetch an entry and its inclusion proof.", "Verifiers"),
    "verify": ("Verify that an entry is in the log.", "Verifiers"),
    "bundle": ("Write a stapled, offline proof bundle.", "Verifiers"),
    "trust": ("Show or forget the checkpoints you trust.", "Verifiers"),
    "consistency": ("Check the log only grew since you last looked.", "Verifiers"),
    "trusted-root": ("Print the log's Sigstore trusted root.", "Verifiers"),
    "search": ("Find entries by digest, key or hash.", "Monitors"),
    "monitor": ("Follow the log, alert on watched keys.", "Monitors"),
    "witness": ("Run a C2SP tlog-witness.", "Witnesses"),
}

SECTIONS = ["Operators", "Submitters", "Verifiers", "Monitors", "Witnesses", "Other"]


@cache
def _commands() -> dict[str, EntryPoint]:
    """The installed commands (a package that is not installed contributes none)."""
    return {ep.name: ep for ep in entry_points(group="tiledlog.commands")}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        known = [name for name in HELP if name in _commands()]
        return known + sorted(set(_commands()) - set(known))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        ep = _commands().get(cmd_name)
        return ep.load() if ep is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section in SECTIONS:
            rows = []
            for name in self.list_commands(ctx):
                line, where = HELP.get(name, ("", "Other"))
                if where == section:
                    command = None if line else self.get_command(ctx, name)
                    rows.append((name, line or (command.get_short_help_str() if command else "")))
            if rows:
                with formatter.section(f"Commands for {section.lower()}"):
                    formatter.write_dl(rows)


# Commands whose options may default from the client config file (tlog.cli.options).
CLIENT_COMMANDS = {"submit", "get", "verify", "bundle", "consistency", "search", "monitor"}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tiledlog")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """tiledlog: a static, tiled transparency log for the software supply chain.

    \b
    Quick start (a log in a local folder):
      tlog keygen example.com/log --out log
      tlog init --store ./public --queue ./queue --origin example.com/log --key log.key
      tlog submit --queue ./queue --artifact a.tgz --signature a.sig --public-key a.pub
      tlog sequence --config tlog.toml
      tlog verify --log ./public --vkey "$(cat log.pub)" --artifact a.tgz \\
          --signature a.sig --public-key a.pub

    \b
    Client defaults: --log, --vkey and --queue from $TLOG_LOG, $TLOG_VKEY and $TLOG_QUEUE,
    else from ~/.config/tiledlog/client.toml ($TLOG_CLIENT_CONFIG): log, vkey, origin,
    witnesses, witness_threshold, state, cache, queue.
    """
    if ctx.invoked_subcommand in CLIENT_COMMANDS:
        from tlog.cli.options import client_defaults

        defaults = client_defaults()
        if defaults:
            ctx.default_map = {ctx.invoked_subcommand: defaults}


def _exit_code(err: TlogError) -> int:
    if isinstance(err, NotPublishedError):
        return 4
    if isinstance(err, VerificationError):
        return 3
    if isinstance(err, MalformedError | ConfigError):
        return 2
    return 1


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the group, turning library errors into one line and an exit code."""
    try:
        return cli.main(args=argv, prog_name="tlog", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except TlogError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(_exit_code(e))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
