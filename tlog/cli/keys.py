"""``tlog keygen``: a note key pair as C2SP key strings (signer key file mode 0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from tlog.errors import ConfigError

__all__ = ["key_arg", "keygen", "write_key_pair"]


def key_arg(value: str, option: str = "--vkey") -> str:
    """A verifier key given inline or as the path of a file holding it (every ``--vkey``);
    neither (no file there, and no '+' as every key string has: a mistyped path) is an error
    naming ``option``."""
    if value and os.path.isfile(value):
        try:
            return Path(value).read_text().strip()
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{option}: cannot read key file {value}: {e}") from e
    if "+" not in value:
        where = "" if os.path.isabs(value) else f" (in {os.getcwd()})"
        raise ConfigError(f"{option} {value!r}: no such file{where}, and not a key string "
                          "(name+id+key): give the path of the key's .pub file, or its text")
    return value.strip()


def write_key_pair(prefix: str, skey: str, vkey: str, *, force: bool = False) -> tuple[Path, Path]:
    """Write PREFIX.key (0600, created exclusively) and PREFIX.pub."""
    key_file, pub_file = Path(prefix + ".key"), Path(prefix + ".pub")
    if not force:
        for f in (key_file, pub_file):
            if f.exists():
                raise ConfigError(f"{f} exists; use --force to overwrite it")
    key_file.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (0 if force else os.O_EXCL)
    try:
        fd = os.open(key_file, flags, 0o600)
    except OSError as e:
        raise ConfigError(f"cannot create {key_file}: {e.strerror}") from e
    with os.fdopen(fd, "w") as f:
        f.write(skey + "\n")
    os.chmod(key_file, 0o600)
    pub_file.write_text(vkey + "\n")
    return key_file, pub_file


@click.command()
@click.argument("name")
@click.option("--out", "prefix", required=True, help="Write PREFIX.key and PREFIX.pub.")
@click.option("--witness", is_flag=True, hidden=True)  # moved: `tlog witness keygen`
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def keygen(name: str, prefix: str, witness: bool, force: bool, as_json: bool) -> None:
    """Generate a signing key pair named NAME (use the log's origin, e.g. example.com/log).

    \b
    Examples:
      tlog keygen example.com/log --out log          # log.key (secret), log.pub

    A witness's cosignature key is made by `tlog witness keygen`.
    """
    from tlog.note import generate_key

    if witness:
        raise ConfigError("--witness: witness keys are made by `tlog witness keygen NAME "
                          "--out PREFIX` (one command for them)")
    skey, vkey = generate_key(name)
    key_file, pub_file = write_key_pair(prefix, skey, vkey, force=force)
    if as_json:
        out = {"name": name, "vkey": vkey, "key_file": str(key_file), "pub_file": str(pub_file)}
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(f"wrote {key_file} (secret, mode 0600) and {pub_file}\nverifier key: {vkey}")
