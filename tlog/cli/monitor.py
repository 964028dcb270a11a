"""``tlog monitor``: follow a log, re-verify every entry, alert on watched keys and digests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from tlog.cli.keys import key_arg
from tlog.cli.options import expected_origin, log_option, vkey_option
from tlog.errors import ConfigError, MalformedError, StoreError

__all__ = ["monitor"]


@click.command()
@log_option()
@vkey_option()
@click.option(
    "--state",
    "state_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder holding the last verified checkpoint and the partial entry bundle and "
         "hash tiles at its right edge (resumable; the next run reads only what follows).",
)
@click.option("--origin", metavar="ORIGIN",
              help="Expected checkpoint origin (default: the key's name).")
@click.option(
    "--watch-key",
    "watch_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Alert when this public key signs an entry (repeatable).",
)
@click.option(
    "--watch-digest",
    "watch_digests",
    multiple=True,
    help="Alert when this digest (sha256:<hex>, or bare hex as sha256sum prints it) is logged "
         "(repeatable).",
)
@click.option(
    "--watch-identity",
    "watch_identities",
    multiple=True,
    help="Alert when an entry's identity (a certificate's email or URI, an OpenPGP user ID's "
         "email, an SSH principal) matches this regular expression, whole (repeatable).",
)
@click.option(
    "--watch-issuer",
    "watch_issuers",
    multiple=True,
    help="Alert when a certificate's OIDC issuer (Fulcio's extension) is this URL "
         "(repeatable; with --watch-identity, both must match, as rekor-monitor does: only "
         "certificates carry an issuer, so SSH principals and OpenPGP user IDs then match "
         "nothing; watch them with a --watch-identity of their own, in another run).",
)
@click.option("--exec", "exec_cmd", help="Run this shell command per event, event JSON on stdin.")
@click.option("--once", is_flag=True, help="One pass, then exit (the default).")
@click.option("--interval", type=click.FloatRange(1),
              help="Keep following, every N seconds; a poll that cannot reach the log (exit 1's "
                   "failures) is told on stderr and retried at the next.")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
def monitor(
    log: str,
    vkey: str,
    origin: str | None,
    state_dir: str,
    watch_keys: tuple[str, ...],
    watch_digests: tuple[str, ...],
    watch_identities: tuple[str, ...],
    watch_issuers: tuple[str, ...],
    exec_cmd: str | None,
    once: bool,
    interval: float | None,
    as_json: bool,
) -> None:
    """Follow a log from the last verified checkpoint and report what concerns you.

    Proves each new checkpoint consistent with the last one, re-verifies every new entry (the
    signature itself where the entry allows: one made over the whole artifact, which the log
    does not keep, has only its key checked, and the summary counts those), and emits an event
    per entry that mentions a watched key, digest or identity. An --exec command that fails
    keeps the state, so the next pass hands out the events again (at least once).

    \b
    Exit codes: 0 nothing new for you, 4 events were emitted (a watched key or digest, or an
    entry of a type this installation cannot re-verify), 5 the log misbehaved: a fork, a
    rollback, a tile or entry bundle the signed checkpoint does not vouch for, or a committed
    entry that is malformed or whose signature does not verify. Each misbehaviour event has a
    "kind" and names its evidence files (checkpoints, or a proof bundle of the bad entry that
    `tlog verify --bundle` checks) in the --state folder. A server that answers as no honest
    one does (too large, too slow, redirected) stops the run with exit 3, the state unchanged.
    \b
    Examples:
      tlog monitor --log https://log.example/ --vkey "$(cat log.pub)" --state .mon \\
          --watch-key release-signing.pub --json
      tlog monitor … --watch-identity '.*@example\\.com' \\
          --watch-issuer https://token.actions.githubusercontent.com
      tlog monitor … --exec 'mail -s "tiledlog alert" me@example.org' --interval 300
    """
    from tlog.client.monitor import EXIT_EVENTS, EXIT_MISBEHAVIOUR, Monitor
    from tlog.entries import key_search_key
    from tlog.entries.signature import key_queries_of
    from tlog.storage import open_store

    keys = []
    for k in watch_keys:
        try:
            data = Path(k).read_bytes()
            keys += key_queries_of(data) or [key_search_key(data)]
        except OSError as e:
            raise ConfigError(f"--watch-key {k}: cannot read it: {e.strerror}") from e
        except MalformedError as e:  # an artifact or a signature given for the key
            raise ConfigError(f"--watch-key {k}: not a public key file ({e})") from e
    from tlog.cli.search import digest_query

    digests = [digest_query(d, "--watch-digest") for d in watch_digests]
    mon = Monitor(
        open_store(log), key_arg(vkey), state_dir, watch_keys=keys, watch_digests=digests,
        watch_identities=watch_identities, watch_issuers=watch_issuers,
        origin=expected_origin({"origin": origin}),
    )

    def emit(event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True)
        if as_json:
            click.echo(line)
        else:
            where = f"entry {event['index']}: " if "index" in event else ""
            what = event.get("reason") or f"matched {', '.join(event['matched'])}"
            if event["event"] == "match":  # what was signed: to tell a release of yours
                what = (f"{event['type']} of {', '.join(event['digests']) or 'no digest'}: "
                        f"{what}")
            click.echo(f"{event['event']}: {where}{what}")
            if event.get("evidence"):
                click.echo(f"  evidence: {' '.join(event['evidence'])} (keep these: anyone "
                           "can check them with the log's key)")
        if exec_cmd:
            done = subprocess.run(exec_cmd, shell=True, input=line + "\n", text=True,
                                  check=False)
            if done.returncode:  # the alert did not go out: the pass is not done
                of = f" of entry {event['index']}" if "index" in event else ""
                raise StoreError(f"--exec exited {done.returncode} on the {event['event']} "
                                 f"event{of}: the state is kept, so the next pass hands out "
                                 "this pass's events again")

    code = 0
    while True:
        try:
            result = mon.run_once(emit)
        except StoreError as e:  # exit 1's failures (network, storage): a watch of months
            if once or interval is None:  # outlives them, told at each poll
                raise
            click.echo(f"warning: {e}; again in {interval:g} s", err=True)
            time.sleep(interval)
            continue
        if not as_json:
            unchecked = (f" ({result.signatures_not_rechecked} signed over the whole artifact: "
                         "their key checked, their signature not, as that needs the artifact)"
                         if result.signatures_not_rechecked else "")
            if result.entries_not_reverified:
                unchecked += (f"; {result.entries_not_reverified} more not re-verified: of "
                              "types this installation cannot check (only their encoding, if "
                              "their plugin is installed)")
            if result.misbehaviour:  # the tree served was refused: not "up to" it
                click.echo(f"checked {result.entries_checked} new entries of the tree of size "
                           f"{result.new_size}{unchecked}; the log misbehaved, so the state "
                           f"is kept at size {result.old_size}", err=True)
            else:
                click.echo(f"checked {result.entries_checked} new entries up to size "
                           f"{result.new_size}{unchecked}", err=True)
        code = max(code, result.exit_code)
        if code == EXIT_MISBEHAVIOUR or once or interval is None:
            break
        time.sleep(interval)
    if code in (EXIT_EVENTS, EXIT_MISBEHAVIOUR):
        sys.exit(code)
