"""The client interface's conventions (issue 17), driven as a shell user drives them: every
command's `--json` checked against the schema `docs/json.md` documents for it; `--vkey` as a
string, a file, `$TLOG_VKEY` or the client config file; `$TLOG_LOG` and `$TLOG_QUEUE`; one
name per thing in `--help` (old names still parse); network failures as sentences."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from submissions import ed25519_key

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ORIGIN = "json.example/log"


def _schemas() -> dict[str, Any]:
    blocks = re.findall(r"```json schema=([\w-]+)\n(.*?)```", (ROOT / "docs/json.md").read_text(),
                        re.S)
    return {name: json.loads(text) for name, text in blocks}


SCHEMAS = _schemas()


def check(name: str, text: str) -> Any:
    """Parse a command's stdout and validate it against its documented schema."""
    doc = json.loads(text)
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": SCHEMAS,
              "$ref": f"#/$defs/{name}"}
    jsonschema.validate(doc, schema, cls=jsonschema.Draft202012Validator)
    return doc


class Shell:
    """A user's shell in a folder: a clean environment (no client config unless set)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TLOG_")}
        self.env["TLOG_CLIENT_CONFIG"] = str(cwd / "no-client.toml")
        (cwd / "no-client.toml").write_text("")

    def run(self, *args: str, env: dict[str, str] | None = None,
            ok: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([str(BIN / "tlog"), *args], cwd=self.cwd, capture_output=True,
                             text=True, timeout=120, env={**self.env, **(env or {})})
        assert "Traceback" not in res.stderr, res.stderr
        if ok:
            assert res.returncode in (0, 4), (args, res.stdout + res.stderr)
        return res

    def json(self, schema: str, *args: str, env: dict[str, str] | None = None) -> Any:
        return check(schema, self.run(*args, "--json", env=env).stdout)


@pytest.fixture(scope="module")
def sh(tmp_path_factory: pytest.TempPathFactory) -> Shell:
    """A log made from nothing with the CLI: keys, init, a witness, a submission, a run."""
    sh = Shell(tmp_path_factory.mktemp("cli-json"))
    sh.json("keygen", "keygen", ORIGIN, "--out", "log")
    sh.json("init", "init", "--store", "./public", "--origin", ORIGIN, "--key", "log.key")
    sh.json("witness-keygen", "witness", "keygen", "witness.example/w1", "--out", "w1")
    added = sh.json("witness-add-log", "witness", "add-log", "--origin", ORIGIN, "--vkey",
                    "log.pub")
    assert added["new"] is True and added["origin"] == ORIGIN
    shutil.copy(sh.cwd / "tlog.toml", sh.cwd / "other.toml")
    policy = sh.json("config-add-witness", "config", "add-witness", "--url",
                     "http://127.0.0.1:9", "--vkey", "w1.pub", "--config", "other.toml")
    assert policy["witnesses"] == ["witness.example/w1"]
    policy = sh.json("config-add-witness", "config", "remove-witness", "witness.example/w1",
                     "--config", "other.toml")
    assert policy["witnesses"] == []
    assert sh.json("witness-forks", "witness", "forks") == []
    (sh.cwd / "w2.toml").write_text('key_file = "w1.key"\nstate = "w2.db"\n')
    made = sh.json("witness-new-state", "witness", "new-state", "--yes", "--config", "w2.toml")
    assert made["state"].endswith("w2.db") and made["vkey"].startswith("witness.example/w1+")
    sh.json("witness-add-log", "witness", "add-log", "--origin", ORIGIN, "--vkey", "log.pub",
            "--config", "w2.toml")
    frozen = sh.json("witness-freeze-log", "witness", "freeze-log", "--origin", ORIGIN,
                     "--config", "w2.toml")
    assert frozen["size"] == 0 and frozen["origin"] == ORIGIN
    key, pem = ed25519_key(7)
    (sh.cwd / "a.pub").write_text(pem)
    (sh.cwd / "a.tgz").write_bytes(b"release 1.0")
    (sh.cwd / "a.sig").write_bytes(key.sign(hashlib.sha256(b"release 1.0").digest()))
    receipts = sh.json("submit", "submit", "--artifact", "a.tgz", "--signature", "a.sig",
                       "--public-key", "a.pub", env={"TLOG_QUEUE": "./public-queue"})
    assert len(receipts) == 1  # a list, even for one document
    run = sh.json("sequence", "sequence", "--config", "tlog.toml")
    assert run["size"] == 1 and run["published"] is True
    sh.json("site-build", "site", "build", "--config", "tlog.toml")
    root = sh.json("trusted-root", "trusted-root", "--vkey", "log.pub", "--base-url",
                   "https://log.example.com", "-o", "trusted_root.json")
    assert root["sigstore_compatible"] is (ORIGIN == "log.example.com")
    return sh


VKEY_WAYS = ["string", "file", "env", "client-config"]


def _ways(sh: Shell, way: str) -> tuple[list[str], dict[str, str]]:
    """The --log/--vkey arguments and environment of one way of giving them."""
    vkey = (sh.cwd / "log.pub").read_text().strip()
    if way == "string":
        return ["--log", "./public", "--vkey", vkey], {}
    if way == "file":
        return ["--log", "./public", "--vkey", "log.pub"], {}
    if way == "env":
        return [], {"TLOG_LOG": "./public", "TLOG_VKEY": vkey}
    cfg = sh.cwd / "client.toml"
    cfg.write_text('log = "./public"\nvkey = "log.pub"\n')
    return [], {"TLOG_CLIENT_CONFIG": str(cfg)}


@pytest.mark.parametrize("way", VKEY_WAYS)
def test_every_client_command_every_way(sh: Shell, way: str) -> None:
    args, env = _ways(sh, way)
    state = ["--state", f"trust-{way}"]
    got = sh.json("get", "get", *args, *state, "--index", "0", env=env)
    leaf = got["leaf_hash"]
    assert got["checkpoint"]["size"] == 1 and got["type"] == "hashedrekord"
    assert sh.json("get", "get", *args, *state, "--leaf-hash", leaf, env=env)["index"] == 0
    assert sh.json("verify", "verify", *args, *state, "--artifact", "a.tgz", "--signature",
                   "a.sig", "--public-key", "a.pub", env=env)["source"] == "log"
    many = sh.json("verify-many", "verify", *args, *state, "--index", "0,0-0", env=env)
    assert [v["index"] for v in many["verified"]] == [0, 0] and many["tree_size"] == 1
    (sh.cwd / "leaves.txt").write_text(f"{leaf}\n\n{leaf}\n")
    assert sh.json("verify-many", "verify", *args, *state, "--leaf-hashes", "leaves.txt",
                   env=env)["entries"] == 2
    written = sh.json("bundle", "bundle", *args, *state, "--index", "0", "-o", f"{way}.json",
                      env=env)
    assert written["leaf_hash"] == leaf
    offline = [a for a in args if a != "./public" and a != "--log"]
    assert sh.json("verify", "verify", *offline, *state, "--bundle", f"{way}.json",
                   env=env)["source"] == "bundle"
    assert sh.json("consistency", "consistency", *args, *state, env=env)["status"] == "unchanged"
    digest = "sha256:" + hashlib.sha256(b"release 1.0").hexdigest()
    found = sh.json("search", "search", *args, "--cache", "cache", "--digest", digest, env=env)
    assert [(m["index"], m["digests"]) for m in found["matches"]] == [(0, [digest])]
    assert sh.json("search", "search", *args, "--leaf-hash", leaf, env=env)["matches"][0][
        "leaf_hash"] == leaf
    mon = sh.run("monitor", *args, "--state", f"mon-{way}", "--watch-key", "a.pub", "--json",
                 env=env)
    assert mon.returncode == 4
    events = [check("monitor-event", line) for line in mon.stdout.splitlines()]
    assert [e["event"] for e in events] == ["match"]
    shown = sh.json("trust-show", "trust", "show", *state)
    assert [(x["origin"], x["size"]) for x in shown["logs"]] == [(ORIGIN, 1)]
    gone = sh.json("trust-forget", "trust", "forget", ORIGIN, "--yes", *state)
    assert len(gone["forgotten"]) == 1


def test_witness_serve_start_up_line(sh: Shell) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(BIN / "tlog"), "witness", "serve", "--listen",
                             f"127.0.0.1:{port}", "--json"], cwd=sh.cwd, env=sh.env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        info = check("witness-serve", proc.stdout.readline())
        assert info["logs"] == [ORIGIN] and info["url"] == f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _leaves() -> Iterator[tuple[str, click.Command]]:
    from tlog.cli import cli

    def walk(name: str, cmd: click.Command) -> Iterator[tuple[str, click.Command]]:
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(click.Context(cmd)):
                yield from walk(f"{name} {sub}".strip(), cmd.get_command(click.Context(cmd), sub))
        else:
            yield name, cmd

    yield from walk("", cli)


def test_every_command_has_json_and_one_name_per_thing() -> None:
    leaves = dict(_leaves())
    assert {"get", "verify", "bundle", "witness keygen", "trust forget"} <= set(leaves)
    for name, cmd in leaves.items():
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert "--json" in opts, f"tlog {name} has no --json"
        text = cmd.get_help(click.Context(cmd, info_name=name))
        assert "--entry-hash" not in text and "--cache-dir" not in text, name


def test_old_names_still_parse(sh: Shell) -> None:
    args, _ = _ways(sh, "file")
    leaf = sh.json("get", "get", *args, "--state", "old", "--index", "0")["leaf_hash"]
    got = sh.json("search", "search", *args, "--cache-dir", "cache", "--entry-hash", leaf)
    assert got["matches"][0]["index"] == 0


def test_flags_beat_env_beats_client_config(sh: Shell) -> None:
    cfg = sh.cwd / "precedence.toml"
    cfg.write_text('log = "./nowhere-config"\nvkey = "log.pub"\n')
    env = {"TLOG_CLIENT_CONFIG": str(cfg)}
    res = sh.run("get", "--index", "0", "--state", "p", env=env, ok=False)
    assert res.returncode == 1  # the config's log is used, and named
    assert f"no checkpoint at {sh.cwd}/nowhere-config: is that the log's URL or" in res.stderr
    env["TLOG_LOG"] = "./nowhere-env"
    res = sh.run("get", "--index", "0", "--state", "p", env=env, ok=False)
    assert "nowhere-env" in res.stderr  # the environment beats the config
    flag = sh.run("get", "--log", "./public", "--index", "0", "--state", "p", env=env)
    assert flag.returncode == 0  # the flag beats both


def test_a_client_config_mistake_names_the_file_and_key(sh: Shell) -> None:
    cfg = sh.cwd / "typo.toml"
    cfg.write_text('log = "./public"\nvkye = "log.pub"\n')
    res = sh.run("get", "--index", "0", env={"TLOG_CLIENT_CONFIG": str(cfg)}, ok=False)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {cfg}: unknown key 'vkye' (did you mean 'vkey'?)"
    cfg.write_text("witness_threshold = \"two\"\n")
    res = sh.run("get", "--index", "0", env={"TLOG_CLIENT_CONFIG": str(cfg)}, ok=False)
    assert res.returncode == 2 and "witness_threshold must be int" in res.stderr
    # Commands that are not the client's do not read it.
    assert sh.run("keygen", "x.example/k", "--out", "k", env={"TLOG_CLIENT_CONFIG": str(cfg)})


def test_network_failures_read_as_sentences(sh: Shell) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    res = sh.run("get", "--log", f"http://127.0.0.1:{port}", "--vkey", "log.pub", "--index",
                 "0", "--state", "n", ok=False)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"error: checkpoint: cannot reach 127.0.0.1:{port}: "
                                  "connection refused (after 5 tries)")
    # The same through S3 (an endpoint nobody listens on): the same sentence, not botocore's.
    res = sh.run("get", "--log", "s3://bucket/log", "--vkey", "log.pub", "--index", "0",
                 "--state", "n", ok=False,
                 env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                      "AWS_DEFAULT_REGION": "us-east-1",
                      "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    assert res.returncode == 1
    assert res.stderr.strip() == (f"error: checkpoint: cannot reach 127.0.0.1:{port}: "
                                  "connection refused (after 6 tries)")
