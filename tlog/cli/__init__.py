"""The ``tlog`` command: one click group, sub-commands grouped by user and loaded lazily.

Each sub-command lives in the package that owns it (``tlog``, ``sequencer``, ``witness``);
this module only knows their import paths, so ``tlog --help`` imports nothing heavy.
Errors from the library (``TlogError``) become one line on stderr and a non-zero exit here,
and nowhere else.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from tlog.errors import (
    ConfigError,
    MalformedError,
    NotPublishedError,
    TlogError,
    VerificationError,
)

__all__ = ["COMMANDS", "main"]

# name -> ("module:attribute", one-line help, section)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "keygen": ("tlog.cli.keys:keygen", "Generate a log signing key pair.", "Operators"),
    "init": ("sequencer.cli:init", "Create a log's config and publish the empty log.", "Operators"),
    "sequence": ("sequencer.cli:sequence", "Admit queued submissions into the log.", "Operators"),
    "config": ("sequencer.cli:config", "Change a log's tlog.toml (add a witness).", "Operators"),
    "site": ("sequencer.site_cli:site", "Build the static web pages of a log.", "Operators"),
    "submit": ("tlog.cli.submit:submit", "Check a signed statement and queue it.", "Submitters"),
    "get": ("tlog.cli.client:get", "Fetch an entry and its inclusion proof.", "Verifiers"),
    "verify": ("tlog.cli.client:verify", "Verify that an entry is in the log.", "Verifiers"),
    "bundle": ("tlog.cli.client:bundle", "Write a stapled, offline proof bundle.", "Verifiers"),
    "trust": ("tlog.cli.trust:trust", "Show or forget the checkpoints you trust.", "Verifiers"),
    "consistency": (
        "tlog.cli.client:consistency",
        "Check the log only grew since you last looked.",
        "Verifiers",
    ),
    "search": ("tlog.cli.search:search", "Find entries by digest, key or hash.", "Monitors"),
    "monitor": ("tlog.cli.monitor:monitor", "Follow the log, alert on watched keys.", "Monitors"),
    "witness": ("witness.cli:witness", "Run a C2SP tlog-witness.", "Witnesses"),
}

SECTIONS = ["Operators", "Submitters", "Verifiers", "Monitors", "Witnesses"]


class LazyGroup(click.Group):
    """A group whose sub-commands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if self._available(name)]

    def _available(self, name: str) -> bool:
        module = COMMANDS[name][0].split(":")[0]
        return importlib.util.find_spec(module) is not None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or not self._available(cmd_name):
            return None
        module, attr = COMMANDS[cmd_name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for section in SECTIONS:
            rows = [
                (name, COMMANDS[name][1])
                for name in self.list_commands(ctx)
                if COMMANDS[name][2] == section
            ]
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
