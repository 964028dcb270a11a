"""An operator's first mistakes, through the CLI: each is one line naming the file, key or
object and what to do, with the documented exit code, and leaves nothing half done
(issue 16, items 3, 5, 6 and 7)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sequencer.config import load_config
from tlog.errors import ConfigError

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def _one_line(res: subprocess.CompletedProcess[str], code: int) -> str:
    assert res.returncode == code, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("warning:")]
    assert len(lines) == 1, res.stderr
    return lines[0]


def _keygen(tmp: Path, name: str = "op.example/log", out: str = "log") -> None:
    assert tlog(tmp, "keygen", name, "--out", out).returncode == 0


def _init(tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return tlog(tmp, "init", "--store", "public", "--origin", "op.example/log",
                "--key", "log.key", *extra)


def test_init_puts_the_queue_beside_the_log_and_refuses_it_inside(tmp_path: Path) -> None:
    _keygen(tmp_path)
    line = _one_line(_init(tmp_path, "--queue", "public/q"), 2)
    assert "inside the published store" in line and "--queue" in line
    assert not (tmp_path / "tlog.toml").exists() and not (tmp_path / "public").exists()
    res = _init(tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = load_config(tmp_path / "tlog.toml")
    assert cfg.queue == str(tmp_path / "public-queue")
    text = (tmp_path / "tlog.toml").read_text()
    # Paths relative to the config; the public key recorded for jobs that hold no secret.
    assert 'store = "public"' in text and 'file = "log.key"' in text
    assert cfg.vkey == (tmp_path / "log.pub").read_text().strip()


def test_config_with_the_queue_in_the_store_is_refused(tmp_path: Path) -> None:
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    config.write_text(config.read_text().replace('queue = "public-queue"', 'queue = "public"'))
    line = _one_line(tlog(tmp_path, "sequence"), 2)
    assert "queue:" in line and "inside the published store" in line and "public_queue" in line


@pytest.mark.parametrize(("mistake", "expected"), [
    ("[polcy]\nwitness_threshold = 1\n", "polcy: unknown table (did you mean 'policy'?)"),
    ("[sequencer]\nbatchsize = 5\n", "sequencer.batchsize: unknown key (did you mean "
     "'sequencer.batch_size'?)"),
    ('publc_url = "x"\n', "publc_url: unknown key"),
    ('[sigstore]\nca_chain = ["a.pem"]\n', "sigstore.ca_chain: unknown key (did you mean "
     "'sigstore.ca_chains'?)"),
    ('[sigstore]\ntsa_urls = ["tsa.example"]\n', "sigstore.tsa_urls: every entry must be an "
     "http(s) URL"),
    ('allow_pure_ed25519 = "yes"\n', "allow_pure_ed25519: expected bool"),
])
def test_unknown_config_keys_are_errors(tmp_path: Path, mistake: str, expected: str) -> None:
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    text = config.read_text()
    if mistake.startswith("[sequencer]"):
        text = text.replace("[sequencer]\n", "[sequencer]\nbatchsize = 5\n")
    elif mistake.startswith("["):
        text += "\n" + mistake
    else:
        text = mistake + text
    config.write_text(text)
    line = _one_line(tlog(tmp_path, "sequence"), 2)
    assert "tlog.toml: " in line and expected in line
    with pytest.raises(ConfigError):
        load_config(config)


def test_a_private_key_given_as_vkey_is_not_echoed(tmp_path: Path) -> None:
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    skey = (tmp_path / "log.key").read_text().strip()
    lines = [f'vkey = "{skey}"' if ln.startswith("vkey =") else ln
             for ln in config.read_text().splitlines()]
    config.write_text("\n".join(lines) + "\n")
    line = _one_line(tlog(tmp_path, "sequence"), 2)
    assert "vkey: holds a private key" in line
    assert skey.split("+", 4)[4] not in line


def test_init_over_an_existing_log(tmp_path: Path) -> None:
    _keygen(tmp_path)
    _keygen(tmp_path, out="other")
    assert _init(tmp_path).returncode == 0
    (tmp_path / "tlog.toml").unlink()
    # The same key: said, and adopted only when asked.
    line = _one_line(_init(tmp_path), 2)
    label = "+".join((tmp_path / "log.pub").read_text().split("+")[:2])
    assert f"a log already exists there at size 0, signed by this key ({label})" in line
    assert "--adopt" in line and not (tmp_path / "tlog.toml").exists()
    res = _init(tmp_path, "--adopt", "--json")
    assert res.returncode == 0 and '"adopted": true' in res.stdout
    (tmp_path / "tlog.toml").unlink()
    # Another key: whose it is, and nothing written.
    res = tlog(tmp_path, "init", "--store", "public", "--origin", "op.example/log",
               "--key", "other.key")
    line = _one_line(res, 3)
    assert "signed by op.example/log+" in line and "not by this key (op.example/log+" in line
    assert not (tmp_path / "tlog.toml").exists()


def test_sequencing_with_the_wrong_key_names_both_keys(tmp_path: Path) -> None:
    _keygen(tmp_path)
    _keygen(tmp_path, out="other")
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    text = config.read_text().replace('file = "log.key"', 'file = "other.key"')
    config.write_text("\n".join(ln for ln in text.splitlines()
                                if not ln.startswith("vkey =")) + "\n")
    lock_signer = (tmp_path / "log.pub").read_text().strip().split("+")
    other = (tmp_path / "other.pub").read_text().strip().split("+")
    line = _one_line(tlog(tmp_path, "sequence"), 3)
    assert f"signed by {lock_signer[0]}+{lock_signer[1]}" in line
    assert f"the configured key is {other[0]}+{other[1]}" in line
    # With the config's vkey still the log's: the mismatch is named before anything runs.
    config.write_text(text)
    line = _one_line(tlog(tmp_path, "sequence"), 2)
    assert "is not the public key of the signer key" in line


def test_public_commands_use_the_public_url(tmp_path: Path) -> None:
    """Issue 16 item 8: the site's commands name the URL the public reads, never the store's
    own; without one the page says so plainly."""
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    assert tlog(tmp_path, "site", "build").returncode == 0
    page = (tmp_path / "public" / "verify.html").read_text()
    assert "has not set its public URL" in page and "tlog verify --log LOG-URL" in page
    assert str(tmp_path) not in page and "https://LOG-URL" not in page
    line = _one_line(_init(tmp_path, "--force", "--adopt", "--public-url", "s3://b/log"), 2)
    assert "--public-url: 's3://b/log' is not an http(s) URL" in line
    res = _init(tmp_path, "--force", "--adopt", "--public-url", "https://log.example.com/")
    assert res.returncode == 0, res.stderr
    assert load_config(tmp_path / "tlog.toml").public_url == "https://log.example.com"
    assert tlog(tmp_path, "site", "build").returncode == 0
    page = (tmp_path / "public" / "verify.html").read_text()
    assert "has not set its public URL" not in page
    assert "tlog verify --log https://log.example.com --vkey" in page
    assert "curl -s https://log.example.com/checkpoint" in page


def test_config_add_witness_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    """Issue 16 item 5: a command adds a witness to the file init wrote (no second [policy]
    pasted in), and everything else in it survives."""
    from tlog.cosignature import generate_cosignature_key

    _keygen(tmp_path)
    assert _init(tmp_path, "--public-url", "https://log.example").returncode == 0
    config = tmp_path / "tlog.toml"
    text = config.read_text().replace("[sequencer]\n", "[sequencer]\nworkers = 3\n")
    config.write_text(text + "\n[site]\nenabled = false\n")
    before = load_config(config)
    _, w1 = generate_cosignature_key("witness.example/w1")
    (tmp_path / "w1.pub").write_text(w1 + "\n")
    res = tlog(tmp_path, "config", "add-witness", "--url", "https://w1.example", "--vkey",
               "w1.pub", "--threshold", "1", "--require")
    assert res.returncode == 0, res.stderr
    after = load_config(config)
    assert [(w.name, w.url, w.vkey) for w in after.witnesses] == [
        ("witness.example/w1", "https://w1.example", w1)]
    assert (after.witness_threshold, after.require_witnesses) == (1, True)
    assert (after.workers, after.site, after.public_url, after.vkey, after.queue) == (
        before.workers, before.site, before.public_url, before.vkey, before.queue) == (
        3, False, "https://log.example", before.vkey, str(tmp_path / "public-queue"))
    assert config.read_text().count("[policy]") == 1
    # A log key is not a witness key; a threshold beyond the witnesses is refused.
    line = _one_line(tlog(tmp_path, "config", "add-witness", "--url", "https://x", "--vkey",
                          "log.pub"), 2)
    assert "a log key, not a witness's cosignature key" in line
    line = _one_line(tlog(tmp_path, "config", "add-witness", "--url", "https://w1.example",
                          "--vkey", "w1.pub", "--threshold", "2"), 2)
    assert "--threshold: 2 is more than the 1 configured witnesses" in line


def test_init_on_s3_without_credentials_or_bucket(tmp_path: Path, s3_env: dict[str, str],
                                                  s3_bucket: str) -> None:
    """Issue 16 item 6: no credentials and a missing bucket are each one line saying what to
    do, at once (not six retries), and leave no tlog.toml behind."""
    import os

    _keygen(tmp_path)
    endpoint = s3_env["TLOG_S3_ENDPOINT"]
    bare = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
            "AWS_EC2_METADATA_DISABLED": "true",  # no look-up of an instance role off-box
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}

    def init(env: dict[str, str], bucket: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "tlog"), "init", "--store", f"s3://{bucket}/log", "--queue",
             f"s3://{bucket}/queue", "--origin", "op.example/log", "--key", "log.key",
             "--endpoint", endpoint], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=60)

    line = _one_line(init({**bare, "AWS_DEFAULT_REGION": "us-east-1"}, s3_bucket), 2)
    assert "no usable AWS credentials (NoCredentialsError)" in line and "gave up" not in line
    assert not (tmp_path / "tlog.toml").exists()
    line = _one_line(init({**bare, **s3_env}, "no-such-bucket-here"), 2)
    assert "bucket 'no-such-bucket-here' does not exist" in line
    assert not (tmp_path / "tlog.toml").exists()
    res = init({**bare, **s3_env}, s3_bucket)
    assert res.returncode == 0, res.stderr


def test_small_things_an_operator_sees(tmp_path: Path) -> None:
    """Issue 16 item 11: --watch says an idle state once; the progress bar and the summary
    do not share a line; `site build --help` names every page; one witness keygen."""
    import os
    import pty
    import re
    import signal
    import time

    from submissions import hashedrekord_docs

    _keygen(tmp_path)
    assert _init(tmp_path, "--batch-size", "10").returncode == 0
    assert "entry.html" in tlog(tmp_path, "site", "build", "--help").stdout
    # A terminal: the bar (stderr) ends its line before the summary (stdout) begins.
    (tmp_path / "docs.jsonl").write_bytes(b"\n".join(d for _, d in hashedrekord_docs(30)))
    assert tlog(tmp_path, "submit", "--queue", "public-queue", "--jsonl", "docs.jsonl"
                ).returncode == 0
    queue = tmp_path / "public-queue"
    for key, doc in hashedrekord_docs(12, seed=4):  # single objects too, as tlog submit makes
        (queue / key).write_bytes(doc)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(BIN / "tlog"), "sequence"], cwd=tmp_path, stdin=follower,
                            stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    text = out.decode()
    assert "sequencing" in text and "size 42 (+42 admitted" in text
    assert not [ln for ln in re.split(r"[\r\n]", text) if "sequencing" in ln and "size 42" in ln]
    # --watch on an idle log: one line, not one per interval.
    watch = subprocess.Popen([str(BIN / "tlog"), "sequence", "--watch", "--interval", "0.1",
                              "--json"], cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    time.sleep(3)
    watch.send_signal(signal.SIGTERM)
    stdout, stderr = watch.communicate(timeout=30)
    assert watch.returncode == 0, stderr
    assert len(stdout.splitlines()) == 1, stdout


def test_init_adopts_a_log_that_has_entries(tmp_path: Path) -> None:
    """A log that has sequenced batches is recognised by `tlog init` as the same key's log
    (its lock carries the committing run's nonce after the signed checkpoint)."""
    from submissions import hashedrekord_docs

    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    (tmp_path / "docs.jsonl").write_bytes(b"\n".join(d for _, d in hashedrekord_docs(3)))
    assert tlog(tmp_path, "submit", "--queue", "public-queue", "--jsonl", "docs.jsonl"
                ).returncode == 0
    assert tlog(tmp_path, "sequence").returncode == 0
    (tmp_path / "tlog.toml").unlink()
    line = _one_line(_init(tmp_path), 2)
    assert "a log already exists there at size 3, signed by this key" in line
    res = _init(tmp_path, "--adopt", "--json")
    assert res.returncode == 0 and '"adopted": true' in res.stdout, res.stderr


def test_a_key_in_the_wrong_place_names_where_it_came_from(tmp_path: Path) -> None:
    """The log's .pub where its .key belongs (`tlog init --key`, key.file, key.env), and a
    mistyped --vkey or --witness path: the error named neither the file nor the option
    ("skey: expected 5 '+'-separated fields", "vkey: expected 3 …")."""
    _keygen(tmp_path)
    line = _one_line(tlog(tmp_path, "init", "--store", "public", "--origin", "op.example/log",
                          "--key", "log.pub"), 2)
    assert line == (f"error: key.file {tmp_path / 'log.pub'}: holds a verifier key (a .pub "
                    "file's), not the log's signer key: give the .key file `tlog keygen` wrote "
                    "beside it"), line
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    config.write_text(config.read_text().replace('file = "log.key"', 'env = "TLOG_SIGNER_KEY"'))
    line = _one_line(subprocess.run([str(BIN / "tlog"), "sequence"], cwd=tmp_path, text=True,
                                    capture_output=True, timeout=120,
                                    env={**os.environ, "TLOG_SIGNER_KEY": "garbage"}), 2)
    assert line.startswith("error: key.env: environment variable TLOG_SIGNER_KEY: not a "
                           "signer key (PRIVATE+KEY+name+id+key"), line
    for option in ("--vkey", "--witness"):
        args = ["verify", "--log", "public", "--vkey", "log.pub", "--index", "0"]
        args += ["--witness", "w1.pub"] if option == "--witness" else []
        if option == "--vkey":
            args[4] = "./log.pub.typo"
        line = _one_line(tlog(tmp_path, *args), 2)
        typo = "./log.pub.typo" if option == "--vkey" else "w1.pub"
        assert line == (f"error: {option} {typo!r}: no such file (in {tmp_path}), and not a "
                        "key string (name+id+key): give the path of the key's .pub file, or "
                        "its text"), line


def test_an_empty_log_has_nothing_to_find(tmp_path: Path) -> None:
    """A log just created (size 0, no index yet): a search finds nothing (exit 0) and a leaf
    hash is not included yet (exit 1); both failed with "index/manifest/0: not found", which
    no retry mends until something is logged."""
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    base = ["--log", "public", "--vkey", "log.pub"]
    res = tlog(tmp_path, "search", *base, "--identity", "a@b.example", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["matches"] == [] and json.loads(res.stdout)["tree_size"] == 0
    res = tlog(tmp_path, "get", *base, "--state", "trust", "--leaf-hash", "ab" * 32)
    assert res.returncode == 1 and "not included yet" in res.stderr, res.stderr
    script = Path(__file__).resolve().parent.parent / "scripts" / "verify_inclusion.py"
    res = subprocess.run([sys.executable, "-I", str(script), str(tmp_path / "public"),
                          (tmp_path / "log.pub").read_text().strip(), "--leaf-hash", "ab" * 32],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 3 and "tree size 0" in res.stderr, res.stderr


def test_init_on_a_file_says_it_is_not_a_folder(tmp_path: Path) -> None:
    """`tlog init --store FILE` (or --queue): one line naming the option, exit 2; it was a
    NotADirectoryError traceback."""
    _keygen(tmp_path)
    (tmp_path / "afile").write_text("x")
    line = _one_line(tlog(tmp_path, "init", "--store", "afile", "--origin", "op.example/log",
                          "--key", "log.key"), 2)
    assert line == (f"error: --store {tmp_path / 'afile'}: a file, not a folder: a folder "
                    "log's store and queue are folders (created if missing)")
    line = _one_line(tlog(tmp_path, "init", "--store", "public", "--queue", "afile",
                          "--origin", "op.example/log", "--key", "log.key"), 2)
    assert line.startswith(f"error: --queue {tmp_path / 'afile'}: a file, not a folder")
    # A config edited to point at it: one line (exit 1), no traceback.
    assert _init(tmp_path).returncode == 0
    config = tmp_path / "tlog.toml"
    config.write_text(config.read_text().replace('store = "public"', 'store = "afile"'))
    line = _one_line(tlog(tmp_path, "sequence"), 2)  # not "try again" (1): run tlog init
    assert line.endswith("afile: no log here yet (no sequencer/lock); run `tlog init` first")


def test_a_witness_url_that_is_not_one_is_refused_when_added(tmp_path: Path) -> None:
    """`tlog config add-witness --url not-a-url` wrote it and exited 0; the next sequencing run
    failed with "unreachable (MissingSchema)", exit 4. A config edited by hand so is refused
    when read (exit 2, naming the file and the key)."""
    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    assert tlog(tmp_path, "witness", "keygen", "w.example/w1", "--out", "w1").returncode == 0
    before = (tmp_path / "tlog.toml").read_text()
    line = _one_line(tlog(tmp_path, "config", "add-witness", "--url", "not-a-url", "--vkey",
                          "w1.pub"), 2)
    assert line == ("error: --url: 'not-a-url' is not an http(s)://host URL (the witness's "
                    "address)"), line
    assert (tmp_path / "tlog.toml").read_text() == before
    assert tlog(tmp_path, "config", "add-witness", "--url", "http://127.0.0.1:9", "--vkey",
                "w1.pub").returncode == 0
    config = tmp_path / "tlog.toml"
    config.write_text(config.read_text().replace("http://127.0.0.1:9", "127.0.0.1:9"))
    line = _one_line(tlog(tmp_path, "sequence"), 2)
    assert line == ("error: tlog.toml: witnesses[0].url: '127.0.0.1:9' is not an "
                    "http(s)://host URL (the witness's address)"), line


def test_every_help_example_keeps_its_lines() -> None:
    """The examples in every command's --help are printed as written: a lone backslash at a
    line's end in a docstring swallowed the newline, and `tlog monitor --help` printed two
    example lines as one, joined by a run of spaces."""
    import click

    from tlog.cli import cli

    def walk(cmd: click.Command, path: list[str]) -> Iterator[tuple[str, str]]:
        ctx = click.Context(cmd, info_name=" ".join(path))
        yield " ".join(path), cmd.get_help(ctx)
        if isinstance(cmd, click.Group):  # commands load lazily: ask for each by name
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, name
                yield from walk(sub, [*path, name])

    helps = dict(walk(cli, ["tlog"]))
    assert {"tlog monitor", "tlog witness serve", "tlog config add-witness"} <= set(helps)
    joined = [(name, line) for name, text in helps.items()
              for line in text.splitlines()
              if line.lstrip().startswith("tlog ") and re.search(r"\S {6,}--", line)]
    assert not joined, joined


def test_a_public_key_as_signer_key_is_told_whatever_its_base64_holds(tmp_path: Path) -> None:
    """The .pub given as the signer key is recognised as a verifier key also when its base64
    holds a '+' (about half of all keys: they got the generic message, and the test above
    failed one run in two)."""
    from sequencer.config import LogConfig
    from tlog.note import generate_key

    vkey = next(v for _, v in iter(lambda: generate_key("op.example/log"), None)
                if "+" in v.split("+", 2)[2])
    (tmp_path / "log.pub").write_text(vkey + "\n")
    cfg = LogConfig(origin="op.example/log", store=str(tmp_path / "public"),
                    queue=str(tmp_path / "queue"), key_file=str(tmp_path / "log.pub"))
    with pytest.raises(ConfigError, match=r"holds a verifier key \(a \.pub file's\)"):
        cfg.signer_key()


def test_the_listen_check_binds_as_the_servers_do(tmp_path: Path) -> None:
    """`[::]:PORT` beside an IPv4 server on 0.0.0.0:PORT is free for the servers (uvicorn binds
    IPv6 only); the check called it in use. A failure other than a busy port gets no "another
    server there?" hint."""
    import socket

    from tlog.cli.options import listen_address

    with socket.socket() as v4:
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("0.0.0.0", 0))
        v4.listen()
        port = v4.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 on this machine")
        assert listen_address(f"[::]:{port}") == ("::", port)
        with pytest.raises(ConfigError, match="another server there"):
            listen_address(f"0.0.0.0:{port}")
    with pytest.raises(ConfigError) as e:
        listen_address("192.0.2.1:7380")  # TEST-NET-1: no interface has it
    assert "another server" not in str(e.value) and str(e.value).startswith(
        "--listen 192.0.2.1:7380: "), e.value


def test_a_witness_that_fails_is_told_even_when_the_log_publishes(tmp_path: Path) -> None:
    """A witness the policy does not require, down: the checkpoint is published without it,
    and stderr says so (only --json's summary did; the operator never learned it was down
    while clients that want its cosignature began to fail)."""
    import socket

    _keygen(tmp_path)
    assert _init(tmp_path).returncode == 0
    assert tlog(tmp_path, "witness", "keygen", "w.example/w1", "--out", "w1").returncode == 0
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    added = tlog(tmp_path, "config", "add-witness", "--url", f"http://127.0.0.1:{port}",
                 "--vkey", "w1.pub")
    assert added.returncode == 0
    # Daemons read the config when they start: it says so (they kept the old policy).
    assert "restart it for the change to count" in added.stderr
    from submissions import hashedrekord_docs

    (tmp_path / "docs.jsonl").write_bytes(b"\n".join(d for _, d in hashedrekord_docs(2)))
    assert tlog(tmp_path, "submit", "--queue", "public-queue", "--jsonl", "docs.jsonl"
                ).returncode == 0
    res = tlog(tmp_path, "sequence")
    assert res.returncode == 0, res.stderr
    assert "warning: witness w.example/w1 did not cosign: " in res.stderr, res.stderr


@contextlib.contextmanager
def _stub(answer: Callable[[BaseHTTPRequestHandler], tuple[int, str, bytes]]) -> Iterator[str]:
    """A loopback HTTP server whose every request gets ``answer(request)``: (status, content
    type, body). For faults the emulators cannot produce (each test says which)."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, ctype, body = answer(self)
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_PUT = do_HEAD = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_skewed_clock_is_not_called_a_credentials_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 answers a request signed by a clock too far off with 403 RequestTimeTooSkewed: the
    error says to set the clock (it said "S3 refused these credentials … check the role or
    keys"). A stub endpoint answers so: moto does not check request times."""
    from servers import S3_CREDENTIALS

    from tlog.storage import open_store

    body = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>RequestTimeTooSkewed</Code>'
            b"<Message>The difference between the request time and the current time is too "
            b"large.</Message></Error>")
    with _stub(lambda _req: (403, "application/xml", body)) as endpoint:
        for name, value in S3_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        store = open_store("s3://bucket/log", endpoint=endpoint)
        with pytest.raises(ConfigError, match=r"clock is off \(RequestTimeTooSkewed\): set it"):
            store.get("checkpoint")


def test_a_gcs_request_timeout_is_retried() -> None:
    """GCS may answer 408 (request timeout), which Google's own clients retry: the store
    retries it as it does a 503 (it was "GCS error", exit 1, at the first one). A stub endpoint
    answers 408 once: fake-gcs-server never does."""
    from tlog.storage.gcs import GCSStore

    downloads: list[str] = []

    def answer(req: BaseHTTPRequestHandler) -> tuple[int, str, bytes]:
        if not req.path.startswith("/download/"):  # the client's bucket metadata, fetched aside
            return 200, "application/json", b'{"kind": "storage#bucket", "name": "b"}'
        downloads.append(req.path)
        if len(downloads) == 1:
            return 408, "application/json", b'{"error": {"code": 408, "message": "timeout"}}'
        return 200, "application/octet-stream", b"the object"

    with _stub(answer) as endpoint:
        store = GCSStore("gs://b/log", endpoint=endpoint, backoff=0.01)
        assert store.get("checkpoint") == b"the object"
    assert downloads == ["/download/storage/v1/b/b/o/log%2Fcheckpoint?alt=media"] * 2


def test_gcs_credentials_that_cannot_be_refreshed_are_exit_2(tmp_path: Path) -> None:
    """Credentials whose token cannot be had (a revoked grant, a deleted service account) are
    one line naming them, exit 2 (it was a traceback). A stub token endpoint refuses the
    grant of a service account's key, as Google's does; no request reaches Google."""
    _keygen(tmp_path)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    refused = b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}'
    with _stub(lambda _req: (400, "application/json", refused)) as token_server:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())
        creds = tmp_path / "service-account.json"
        creds.write_text(json.dumps({
            "type": "service_account", "project_id": "tiledlog-test", "private_key_id": "1",
            "private_key": key.decode(), "client_email": "log@tiledlog-test.example",
            "client_id": "1", "token_uri": f"{token_server}/token"}))
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "NO_GCE_CHECK": "True",
               "GOOGLE_APPLICATION_CREDENTIALS": str(creds),
               "GOOGLE_CLOUD_PROJECT": "tiledlog-test"}
        res = subprocess.run([str(BIN / "tlog"), "init", "--store", "gs://b/log", "--origin",
                              "op.example/log", "--key", "log.key"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    line = _one_line(res, 2)
    assert line.startswith("error: --queue: gs://b/log-queue: GCS credentials could not be "
                           "refreshed ("), line
    assert "(invalid_grant: Invalid JWT Signature.)" in line and line.endswith(
        "check the service account or workload identity"), line
    assert not (tmp_path / "tlog.toml").exists()


def test_a_new_log_is_not_published_inside_another(tmp_path: Path) -> None:
    """A new shard's folder given inside the old shard's published folder was accepted, and
    published a log among the old one's files (which its README calls read-only). A folder
    beside it is the way."""
    _keygen(tmp_path)
    _keygen(tmp_path, "op.example/log2027", "log2027")
    tlog(tmp_path, "init", "--store", "bucket/log", "--queue", "q", "--origin",
         "op.example/log", "--key", "log.key")
    line = _one_line(tlog(tmp_path, "init", "--store", "bucket/log/y2027", "--queue", "q2",
                          "--origin", "op.example/log2027", "--key", "log2027.key",
                          "--config", "t2027.toml"), 2)
    assert line == (f"error: --store bucket/log/y2027: inside the published log at "
                    f"{tmp_path / 'bucket' / 'log'} (its checkpoint is there), whose files "
                    "are its own: give the new log a folder beside it, not in it")
    assert not (tmp_path / "bucket" / "log" / "y2027").exists()
    assert tlog(tmp_path, "init", "--store", "bucket/log2027", "--queue", "q2", "--origin",
                "op.example/log2027", "--key", "log2027.key", "--config", "t2027.toml"
                ).returncode == 0


def test_a_queue_url_with_a_double_slash_is_still_inside_the_store(tmp_path: Path) -> None:
    """`s3://pub//log/queue` is read by the store as `s3://pub/log/queue`: inside the published
    `s3://pub/log`, and refused as such (it passed the check, which compared the strings)."""
    _keygen(tmp_path)
    line = _one_line(tlog(tmp_path, "init", "--store", "s3://pub/log", "--queue",
                          "s3://pub//log/queue", "--origin", "op.example/log", "--key",
                          "log.key"), 2)
    assert "is inside the published store" in line, line
    from sequencer.config import queue_inside
    from tlog.storage.base import store_location

    assert store_location("s3://pub//log/queue/") == "s3://pub/log/queue"
    assert queue_inside("s3://pub//log/queue", "s3://pub/log")
    assert queue_inside("gs://pub/log/q", "gs://pub//log/")
    assert not queue_inside("s3://pub/log-queue", "s3://pub/log")
    assert not queue_inside("s3://priv/log/queue", "s3://pub/log")
    assert queue_inside("/srv/log/queue", "file:///srv/log")  # the folder store's own URL


def test_init_checks_the_queue_is_there(tmp_path: Path, s3_env: dict[str, str],
                                       s3_bucket: str) -> None:
    """A mistyped queue bucket is refused by `tlog init` (exit 2, nothing written or
    published); it was accepted, and every later run failed."""
    _keygen(tmp_path)
    line = _one_line(tlog(tmp_path, "init", "--store", f"s3://{s3_bucket}/log", "--queue",
                          "s3://no-such-queue-bucket/queue", "--origin", "op.example/log",
                          "--key", "log.key", "--endpoint", s3_env["TLOG_S3_ENDPOINT"]), 2)
    assert line.startswith("error: --queue: ") and "'no-such-queue-bucket' does not exist" in (
        line), line
    assert not (tmp_path / "tlog.toml").exists()
    import boto3

    listed = boto3.client("s3", endpoint_url=s3_env["TLOG_S3_ENDPOINT"]).list_objects_v2(
        Bucket=s3_bucket)
    assert listed.get("KeyCount", 0) == 0  # nothing published


def test_gcs_failures_are_quick_and_say_what_to_do(tmp_path: Path, gcs_endpoint: str) -> None:
    """GCS as S3: an endpoint nobody answers at is "cannot reach HOST: connection refused
    (after 6 tries)" within seconds, and a missing bucket is exit 2 naming it. The client's
    own retries ran two minutes before "GCS error: RetryError" (exit 1), and a missing bucket
    was "pending/: not found", exit 1 (try again)."""
    import socket
    import time

    _keygen(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    line = _one_line(tlog(tmp_path, "init", "--store", "gs://b/log", "--queue", "gs://b/queue",
                          "--origin", "op.example/log", "--key", "log.key", "--endpoint",
                          f"http://127.0.0.1:{port}"), 1)
    assert time.monotonic() - start < 60
    assert line.endswith(f"cannot reach 127.0.0.1:{port}: connection refused (after 6 tries)"
                         ), line
    line = _one_line(tlog(tmp_path, "init", "--store", "gs://no-such-gcs-bucket/log",
                          "--queue", "gs://no-such-gcs-bucket/queue", "--origin",
                          "op.example/log", "--key", "log.key", "--endpoint", gcs_endpoint), 2)
    assert "bucket 'no-such-gcs-bucket' does not exist" in line, line
    # No credentials at all (no emulator): one line, exit 2 (it was a traceback).
    bare = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "NO_GCE_CHECK": "True"}
    res = subprocess.run([str(BIN / "tlog"), "init", "--store", "gs://b/log", "--origin",
                          "op.example/log", "--key", "log.key"], cwd=tmp_path, env=bare,
                         capture_output=True, text=True, timeout=60)
    assert _one_line(res, 2) == (
        "error: gs://b/log: no usable Google credentials (DefaultCredentialsError): set "
        "GOOGLE_APPLICATION_CREDENTIALS, or run with workload identity (in GitHub Actions: "
        "the auth step)")
