"""The README's operator walkthrough ("From nothing to a witnessed, published log") runs as
written: on a folder, and on S3 (moto on loopback) with only STORE and QUEUE changed, as the
README says. Its witness listens on the port the README names, so the two runs take turns
(and no other test may use that port)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tlog.checkpoint import parse_checkpoint
from tlog.cosignature import parse_any_verifier
from tlog.note import open_note
from tlog.storage import open_store

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def walkthrough() -> str:
    section = ROOT.joinpath("README.md").read_text().split(
        "### From nothing to a witnessed, published log", 1)[1].split("\n### ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    return block


def _run(tmp: Path, text: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    out, err = tmp / "stdout.txt", tmp / "stderr.txt"
    with open(out, "w") as o, open(err, "w") as e:  # files: the witness outlives bash
        proc = subprocess.Popen(["bash", "-euo", "pipefail", "-c", text], cwd=tmp, env=env,
                                stdout=o, stderr=e, start_new_session=True)
        try:
            code = proc.wait(timeout=240)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the background witness goes with it
    return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())


def _check(store_url: str, tmp: Path) -> None:
    store = open_store(store_url)
    note = store.get("checkpoint")
    log_key = parse_any_verifier((tmp / "log.pub").read_text().strip())
    witness_key = parse_any_verifier((tmp / "w1.pub").read_text().strip())
    opened = open_note(note, [log_key, witness_key])
    assert {s.name for s in opened.sigs} == {"example.com/log", "witness.example/w1"}
    assert parse_checkpoint(opened.text).size == 1
    page = store.get("verify.html").decode()
    assert "tlog verify --log https://log.example.com" in page


def test_the_operator_walkthrough_runs_as_written(tmp_path: Path,
                                                  s3_env: dict[str, str], s3_bucket: str) -> None:
    # One test, both stores in turn: the witness port is the README's, fixed.
    for backend in ("folder", "s3"):
        work = tmp_path / backend
        work.mkdir()
        text = walkthrough()
        env = {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(work)}
        store = str(work / "public")
        if backend == "s3":
            store = f"s3://{s3_bucket}/log"
            text, n = re.subn(r"^STORE=\S+", f"STORE={store}", text, flags=re.M)
            text, m = re.subn(r"^QUEUE=\S+", f"QUEUE=s3://{s3_bucket}/queue", text, flags=re.M)
            assert n == m == 1
            env |= {**s3_env, "AWS_EC2_METADATA_DISABLED": "true"}
        res = _run(work, text, env)
        assert res.returncode == 0, backend + ": " + res.stdout + res.stderr
        assert "verified: entry 0" in res.stdout
        _check(store, work)
