"""The GitHub Actions workflows and the submit action: linted, and their `run:` steps executed
locally with the environment they set, against a folder and against the moto S3 server.

Steps that only exist on GitHub's runners (checkout, setup-python, cloud credentials, cache) are
`uses:` steps and are not run; "Install tiledlog" is skipped because this venv already has it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from servers import StaticServer
from submissions import ed25519_key

from sequencer.config import LogConfig, format_config
from sequencer.pipeline import publish_empty_log
from tlog.note import generate_key
from tlog.storage import open_store

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / ".github" / "actions" / "submit" / "action.yml"
BIN = Path(sys.executable).parent


def test_actionlint_passes() -> None:
    exe = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    assert exe, "actionlint is installed by the test extras"
    res = subprocess.run([exe, *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    # actionlint checks workflows; check the composite action's scripts with it too by
    # wrapping them in a throwaway workflow.
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert step.get("shell") == "bash", step["name"]


def _run_steps(steps: list[dict[str, Any]], env: dict[str, str], cwd: Path,
               outputs: Path) -> None:
    for step in steps:
        if "run" not in step or step.get("name", "").startswith("Install"):
            continue
        script = step["run"]
        step_env = {**env, **{k: str(v) for k, v in step.get("env", {}).items()}}
        # Expressions GitHub would substitute: use what the test set in env.
        for k, v in step_env.items():
            step_env[k] = re.sub(r"\$\{\{[^}]*\}\}", lambda m, k=k: env.get(f"EXPR_{k}", ""), v)
        script = re.sub(r"\$\{\{[^}]*\}\}", "", script)
        res = subprocess.run(["bash", "-c", script], cwd=cwd, env=step_env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, f"step {step.get('name')}: {res.stdout}{res.stderr}"


def _log(tmp: Path, store_url: str, endpoint: str | None) -> tuple[str, str]:
    skey, vkey = generate_key("ci.example/log")
    cfg = LogConfig(origin="ci.example/log", store=store_url, queue=str(tmp / "queue"),
                    key_env="TLOG_SIGNER_KEY", batch_size=100, endpoint=endpoint,
                    state_dir=str(tmp / ".tlog-state"))
    (tmp / "tlog.toml").write_text(format_config(cfg))
    publish_empty_log(open_store(store_url, endpoint=endpoint), cfg.origin, skey)
    return skey, vkey


def _base_env(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    wf = yaml.safe_load((ROOT / ".github/workflows/sequence.yml").read_text())
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}",
           "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
           "GITHUB_OUTPUT": str(tmp / "output.txt"), **extra}
    for k, v in wf["env"].items():
        env[k] = re.sub(r"\$\{\{[^}]*\}\}", "", str(v)) or env.get(k, "")
    env["TLOG_CLOUD"] = "none"
    return env


@pytest.mark.parametrize("backend", ["folder", "s3"])
def test_sequence_workflow_steps(tmp_path: Path, backend: str,
                                 request: pytest.FixtureRequest) -> None:
    endpoint = None
    if backend == "s3":
        env_s3 = request.getfixturevalue("s3_env")
        endpoint = env_s3["TLOG_S3_ENDPOINT"]
        url = f"s3://{request.getfixturevalue('s3_bucket')}/log"
    else:
        url = str(tmp_path / "public")
    skey, vkey = _log(tmp_path, url, endpoint)
    key, pem = ed25519_key(5)
    from submissions import hashedrekord_docs

    queue = open_store(str(tmp_path / "queue"))
    for k, doc in hashedrekord_docs(30, seed=9):
        queue.put(k, doc)
    env = _base_env(tmp_path, {"TLOG_SIGNER_KEY": skey, "EXPR_TLOG_SIGNER_KEY": skey})
    wf = yaml.safe_load((ROOT / ".github/workflows/sequence.yml").read_text())
    _run_steps(wf["jobs"]["sequence"]["steps"], env, tmp_path, tmp_path / "output.txt")
    summary = json.loads((tmp_path / "sequence.json").read_text().strip().splitlines()[-1])
    assert summary["size"] == 30 and summary["admitted"] == 30
    md = (tmp_path / "summary.md").read_text()
    assert "| Tree size | 30 |" in md and "Checkpoint published | yes" in md
    store = open_store(url, endpoint=endpoint)
    assert b"ci.example/log\n30\n" in store.get("checkpoint")
    assert b"<html" in store.get("index.html")
    assert key and pem and vkey


def test_sequence_workflow_fails_when_the_log_cannot_advance(tmp_path: Path) -> None:
    url = str(tmp_path / "public")
    skey, _ = _log(tmp_path, url, None)
    env = _base_env(tmp_path, {"TLOG_SIGNER_KEY": "PRIVATE+KEY+wrong", "EXPR_TLOG_SIGNER_KEY": ""})
    wf = yaml.safe_load((ROOT / ".github/workflows/sequence.yml").read_text())
    step = next(s for s in wf["jobs"]["sequence"]["steps"] if s.get("name") == "Sequence")
    step_env = {**env, "TLOG_SIGNER_KEY": "PRIVATE+KEY+wrong"}
    res = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path, env=step_env,
                         capture_output=True, text=True)
    assert res.returncode != 0 and "skey" in res.stderr
    # An empty queue is not a failure.
    ok = subprocess.run(["bash", "-c", step["run"]], cwd=tmp_path,
                        env={**env, "TLOG_SIGNER_KEY": skey}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_submit_action_yields_a_bundle_that_verifies(tmp_path: Path) -> None:
    url = str(tmp_path / "public")
    skey, vkey = _log(tmp_path, url, None)
    key, pem = ed25519_key(11)
    art = tmp_path / "release.tar.gz"
    art.write_bytes(b"release bytes")
    import base64
    import hashlib

    (tmp_path / "release.tar.gz.sig").write_text(
        base64.b64encode(key.sign(hashlib.sha256(art.read_bytes()).digest())).decode())
    (tmp_path / "signer.pub").write_text(pem)
    action = yaml.safe_load(ACTION.read_text())
    inputs = {"queue": str(tmp_path / "queue"), "artifact": str(art),
              "signature": f"{art}.sig", "public-key": str(tmp_path / "signer.pub"), "dsse": "",
              "endpoint": "", "install": "", "timeout": "60", "bundle": "bundle.json",
              "wait": "true", "vkey": vkey}
    env = _base_env(tmp_path, {"TLOG_SIGNER_KEY": skey})
    steps = action["runs"]["steps"]
    submit = next(s for s in steps if s.get("id") == "submit")
    wait = next(s for s in steps if s.get("id") == "wait")

    def step_env(step: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
        out = dict(env)
        for k, v in step.get("env", {}).items():
            m = re.fullmatch(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", str(v))
            out[k] = inputs.get(m[1], "") if m else extra.get(k, "")
        out.update(extra)
        return out

    res = subprocess.run(["bash", "-c", submit["run"]], cwd=tmp_path,
                         env=step_env(submit, {}), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output.txt").read_text().split())
    # The log's own scheduled run includes it; then the action's wait step finds the proof.
    seq = subprocess.run([str(BIN / "tlog"), "sequence", "--config", "tlog.toml"], cwd=tmp_path,
                         env={**env, "TLOG_SIGNER_KEY": skey}, capture_output=True, text=True)
    assert seq.returncode == 0, seq.stderr
    with StaticServer(Path(url)) as server:
        res = subprocess.run(
            ["bash", "-c", wait["run"]], cwd=tmp_path, capture_output=True, text=True,
            env=step_env(wait, {"TLOG_LOG": server.url, "TLOG_LEAF": outputs["leaf-hash"]}),
        )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "bundle=bundle.json" in (tmp_path / "output.txt").read_text()
    check = subprocess.run([str(BIN / "tlog"), "verify", "--vkey", vkey, "--bundle",
                            str(tmp_path / "bundle.json")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
