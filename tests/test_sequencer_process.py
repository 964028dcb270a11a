"""Real `tlog sequence` processes: SIGKILL at every step, and two sequencers racing.

These run the installed command in subprocesses with real signed submissions, so they exercise
admission in a process pool, the folder and S3 backends, and recovery after a hard kill.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from seqhelpers import check_published, snapshot
from submissions import hashedrekord_docs

from sequencer.config import LogConfig, format_config
from sequencer.crash import STEPS
from sequencer.lock import publish_empty_log
from tlog.note import generate_key
from tlog.storage import open_store

ORIGIN = "example.com/proclog"
N = 300
BATCH = 64


def _setup(tmp: Path, store_url: str | None = None, env: dict[str, str] | None = None) -> Path:
    skey, vkey = generate_key(ORIGIN)
    (tmp / "log.key").write_text(skey + "\n")
    (tmp / "log.pub").write_text(vkey + "\n")
    cfg = LogConfig(
        origin=ORIGIN,
        store=store_url or str(tmp / "public"),
        queue=str(tmp / "queue"),
        key_file=str(tmp / "log.key"),
        batch_size=BATCH,
        state_dir=str(tmp / "state"),
        endpoint=(env or {}).get("TLOG_S3_ENDPOINT"),
        site=False,
    )
    (tmp / "tlog.toml").write_text(format_config(cfg))
    publish_empty_log(open_store(cfg.store, endpoint=cfg.endpoint), ORIGIN, skey)
    queue = open_store(cfg.queue)
    for key, doc in hashedrekord_docs(N, seed=1):
        queue.put(key, doc)
    return tmp / "tlog.toml"


def _sequence(
    config: Path, env: dict[str, str] | None = None, **kw: str
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {}), **kw}
    return subprocess.run(
        [sys.executable, "-m", "tlog.cli", "sequence", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=full,
        timeout=240,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("ref")
    config = _setup(tmp)
    res = _sequence(config)
    assert res.returncode == 0, res.stderr
    return snapshot(tmp / "public")


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_rerun(
    tmp_path: Path, reference: dict[str, bytes], step: str
) -> None:
    config = _setup(tmp_path)
    vkey = (tmp_path / "log.pub").read_text().strip()
    store = open_store(str(tmp_path / "public"))
    killed = _sequence(config, TLOG_CRASH_AT=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    check_published(store, vkey)  # whatever is public right after the kill is whole
    again = _sequence(config)
    assert again.returncode == 0, again.stderr
    size, _, entries = check_published(store, vkey)
    assert size == N and len(set(entries)) == N
    assert snapshot(tmp_path / "public") == reference
    assert list(open_store(str(tmp_path / "queue")).list("pending/")) == []


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_rerun_on_s3(
    tmp_path: Path, reference: dict[str, bytes], step: str, s3_env: dict[str, str],
    s3_bucket: str,
) -> None:
    """The SIGKILL table on S3 (moto as a real server), issue 18 item 11: the bundle staging,
    the conditional writes and recovery as a bucket runs them."""
    url = f"s3://{s3_bucket}/kill-{step}"
    config = _setup(tmp_path, url, env=s3_env)
    vkey = (tmp_path / "log.pub").read_text().strip()
    store = open_store(url, endpoint=s3_env["TLOG_S3_ENDPOINT"])
    killed = _sequence(config, s3_env, TLOG_CRASH_AT=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    check_published(store, vkey)
    again = _sequence(config, s3_env)
    assert again.returncode == 0, again.stderr
    size, _, entries = check_published(store, vkey)
    assert size == N and len(set(entries)) == N
    assert snapshot(url) == reference
    assert list(open_store(str(tmp_path / "queue")).list("pending/")) == []
    assert list(store.list("sequencer/staging/")) == []


def _race(
    config: Path, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    full = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-m", "tlog.cli", "sequence", "--config", str(config), "--json"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)
        for _ in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr))
    return out


def _check_race(
    results: list[subprocess.CompletedProcess[str]],
    store_url: str,
    vkey: str,
    config: Path,
    env: dict[str, str] | None = None,
) -> None:
    reported = 0
    for r in results:
        # Either it finished, or it lost a commit race and said so in one line.
        assert r.returncode == 0 or "another sequencer committed" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        reported += sum(json.loads(line)["admitted"] for line in r.stdout.splitlines())
    # Drain whatever the loser left queued, then the log must hold every entry exactly once.
    drain = _sequence(config, env)
    assert drain.returncode == 0
    reported += json.loads(drain.stdout.splitlines()[-1])["admitted"]
    store = open_store(store_url, endpoint=(env or {}).get("TLOG_S3_ENDPOINT"))
    size, _, entries = check_published(store, vkey)
    assert size == N and len(set(entries)) == N
    # Issue 18 item 10: every entry is reported admitted by exactly one run, the one that
    # committed it (a loser reports what it committed before it lost, and nothing more).
    assert reported == N, [r.stdout for r in results]


def test_two_sequencers_on_a_folder(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    vkey = (tmp_path / "log.pub").read_text().strip()
    _check_race(_race(config), str(tmp_path / "public"), vkey, config)


def test_two_sequencers_on_s3(tmp_path: Path, s3_env: dict[str, str], s3_bucket: str) -> None:
    url = f"s3://{s3_bucket}/race-{tmp_path.name}"
    os.environ.update(s3_env)
    config = _setup(tmp_path, url, env=s3_env)
    vkey = (tmp_path / "log.pub").read_text().strip()
    _check_race(_race(config, s3_env), url, vkey, config, s3_env)


def test_two_sequencers_on_gcs(tmp_path: Path, gcs_endpoint: str, gcs_bucket: str) -> None:
    """Issue 18 item 13: the race on GCS, against fake-gcs-server, which enforces the
    generation preconditions the commit protocol relies on."""
    url = f"gs://{gcs_bucket}/race-{tmp_path.name}"
    env = {"STORAGE_EMULATOR_HOST": gcs_endpoint}
    config = _setup(tmp_path, url, env=env)
    vkey = (tmp_path / "log.pub").read_text().strip()
    _check_race(_race(config, env), url, vkey, config, env)
