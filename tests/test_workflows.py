"""The GitHub Actions workflows and the submit action: linted, and their `run:` steps executed
locally with the environment they set, against a folder and against the moto S3 server.

Steps that only exist on GitHub's runners (checkout, setup-python, cloud credentials, cache) are
`uses:` steps and are not run; "Install tiledlog" is skipped because this venv already has it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from gha import Runner, StepFailed
from servers import S3_CREDENTIALS, StaticServer
from submissions import ed25519_key

from sequencer.config import load_config
from tlog.note import generate_key
from tlog.storage import open_store

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTION = ROOT / ".github" / "actions" / "submit" / "action.yml"
BIN = Path(sys.executable).parent


def test_actionlint_passes(tmp_path: Path) -> None:
    """actionlint, with shellcheck on every `run:` script (without it actionlint skips them
    silently), over the workflows and the composite action wrapped in a throwaway workflow
    (actionlint reads workflows only)."""
    exe = shutil.which("actionlint", path=str(BIN)) or shutil.which("actionlint")
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck")
    assert exe and shellcheck, "actionlint and shellcheck are installed by the test extras"
    action = yaml.safe_load(ACTION.read_text())
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        assert step.get("shell") == "bash", step["name"]
    inputs = {k: {"description": str(v.get("description", k)), "required": False,
                  "type": "string"} for k, v in action["inputs"].items()}
    wrapped = {"name": "action", "on": {"workflow_dispatch": {"inputs": inputs}},
               "permissions": {"contents": "read"},
               "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}}}
    (tmp_path / "action.yml").write_text(yaml.safe_dump(wrapped, sort_keys=False))
    res = subprocess.run([exe, "-shellcheck", shellcheck, *map(str, WORKFLOWS),
                          str(tmp_path / "action.yml")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


SEQUENCE = ROOT / ".github/workflows/sequence.yml"


def _tlog(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res


def _operator_log(repo: Path, backend: str, request: pytest.FixtureRequest,
                  ) -> tuple[str, str, dict[str, str], dict[str, str]]:
    """A log made as the README tells an operator: keygen, then init with the key in an
    environment variable, in the repository that will hold the workflow. Returns the store
    URL, the signer key (the repository secret), the repository variables and the
    credentials a cloud action would export."""
    shell = {"PATH": os.environ["PATH"], "HOME": str(repo.parent / "operator-home")}
    _tlog(repo.parent, shell, "keygen", "ci.example/log", "--out", "log")
    skey = (repo.parent / "log.key").read_text().strip()
    args = ["--origin", "ci.example/log", "--key-env", "TLOG_SIGNER_KEY", "--batch-size", "100"]
    creds: dict[str, str] = {}
    variables = {"TLOG_CLOUD": "none"}
    if backend == "s3":
        endpoint = request.getfixturevalue("s3_env")["TLOG_S3_ENDPOINT"]
        url = f"s3://{request.getfixturevalue('s3_bucket')}/log"
        args += ["--store", url, "--endpoint", endpoint]
        creds = dict(S3_CREDENTIALS)
        variables = {"TLOG_CLOUD": "aws", "AWS_ROLE_ARN": "arn:aws:iam::1:role/seq",
                     "AWS_REGION": "us-east-1"}
    else:
        url = str(repo.parent / "public")
        args += ["--store", url]
    _tlog(repo, {**shell, **creds, "TLOG_SIGNER_KEY": skey}, "init", *args)
    return url, skey, variables, creds


def _queue(url: str, creds: dict[str, str], cwd: Path, n: int, seed: int) -> None:
    from submissions import hashedrekord_docs

    (cwd / "docs.jsonl").write_bytes(b"\n".join(d for _, d in hashedrekord_docs(n, seed=seed)))
    config = load_config(cwd / "tlog.toml")
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent / "operator-home"), **creds}
    args = ["submit", "--queue", config.queue, "--jsonl", str(cwd / "docs.jsonl")]
    if config.endpoint:
        args += ["--endpoint", config.endpoint]
    _tlog(cwd, env, *args)


def _runner(tmp: Path, name: str, repo: Path, skey: str, variables: dict[str, str],
            creds: dict[str, str], run_id: int) -> Runner:
    """A fresh runner: a new checkout of the repository (its tlog.toml), a new home."""
    workspace = tmp / name  # beside the repository: relative paths in tlog.toml still hold
    workspace.mkdir()
    shutil.copy(repo / "tlog.toml", workspace / "tlog.toml")
    # A folder log (TLOG_CLOUD none) needs a runner whose folder outlives the job.
    hosted = "self-hosted" if variables.get("TLOG_CLOUD") == "none" else "github-hosted"
    return Runner(workspace, secrets={"TLOG_SIGNER_KEY": skey}, vars=variables,
                  cache=tmp / "gha-cache", credentials=creds, run_id=run_id,
                  environment=hosted)


@pytest.mark.parametrize("backend", ["folder", "s3"])
def test_sequence_workflow_steps(tmp_path: Path, backend: str,
                                 request: pytest.FixtureRequest) -> None:
    """Each step with only the environment it declares: the site step holds no signer key."""
    repo = tmp_path / "repo"
    repo.mkdir()
    url, skey, variables, creds = _operator_log(repo, backend, request)
    _queue(url, creds, repo, 30, seed=9)
    first = _runner(tmp_path, "run1", repo, skey, variables, creds, 1)
    (tmp_path / "gha-cache").mkdir()
    first.run_job(SEQUENCE, "sequence")
    out = (first.workspace / "sequence.json").read_text()
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["size"] == 30 and summary["admitted"] == 30
    md = (tmp_path / "run1-home" / "summary.md").read_text()
    assert "| Tree size | 30 |" in md and "Checkpoint published | yes" in md
    config = load_config(repo / "tlog.toml")
    store = open_store(url, endpoint=config.endpoint)
    assert b"ci.example/log\n30\n" in store.get("checkpoint")
    assert b"<html" in store.get("index.html")


def test_sequencer_state_is_cached_between_runners(tmp_path: Path,
                                                   request: pytest.FixtureRequest) -> None:
    """The path the workflow caches is the path the sequencer keeps its state in: after a run
    it holds the index cache, and the next run, on a fresh runner, gets it back."""
    repo = tmp_path / "repo"
    repo.mkdir()
    url, skey, variables, creds = _operator_log(repo, "s3", request)
    (tmp_path / "gha-cache").mkdir()
    _queue(url, creds, repo, 30, seed=1)
    first = _runner(tmp_path, "run1", repo, skey, variables, creds, 1)
    first.run_job(SEQUENCE, "sequence")
    (saved,) = (tmp_path / "gha-cache").iterdir()
    cached = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
    assert any(p.startswith("index/index/") for p in cached), cached
    _queue(url, creds, repo, 30, seed=2)
    second = _runner(tmp_path, "run2", repo, skey, variables, creds, 2)
    second.run_job(SEQUENCE, "sequence")
    summary = json.loads((second.workspace / "sequence.json").read_text().splitlines()[-1])
    assert summary["size"] == 60
    # The restored cache was where the second run looked: nothing of it was read again.
    restored = second.workspace / ".tlog-state"
    assert all((restored / p).exists() for p in cached)


def test_sequence_workflow_fails_when_the_log_cannot_advance(tmp_path: Path,
                                                             request: pytest.FixtureRequest,
                                                             ) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _, skey, variables, creds = _operator_log(repo, "folder", request)
    (tmp_path / "gha-cache").mkdir()
    wrong = _runner(tmp_path, "run1", repo, "PRIVATE+KEY+wrong", variables, creds, 1)
    with pytest.raises(StepFailed) as failed:
        wrong.run_job(SEQUENCE, "sequence")
    assert failed.value.step == "Sequence"
    assert failed.value.result.returncode == 2 and "skey" in failed.value.result.stderr
    # An empty queue is not a failure.
    _runner(tmp_path, "run2", repo, skey, variables, creds, 2).run_job(SEQUENCE, "sequence")


def test_submit_action_yields_a_bundle_that_verifies(tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """The action as a release job uses it: its inputs only, no log key anywhere."""
    repo = tmp_path / "repo"
    repo.mkdir()
    url, skey, _, _ = _operator_log(repo, "folder", request)
    vkey = (tmp_path / "log.pub").read_text().strip()
    queue = load_config(repo / "tlog.toml").queue
    release = tmp_path / "release"
    release.mkdir()
    key, pem = ed25519_key(11)
    art = release / "release.tar.gz"
    art.write_bytes(b"release bytes")
    (release / "release.tar.gz.sig").write_text(
        base64.b64encode(key.sign(hashlib.sha256(art.read_bytes()).digest())).decode())
    (release / "signer.pub").write_text(pem)
    inputs = {"queue": queue, "artifact": "release.tar.gz", "signature": "release.tar.gz.sig",
              "public-key": "signer.pub", "install": "", "timeout": "60",
              "bundle": "bundle.json", "wait": "false"}
    submitter = Runner(release)
    submitter.run_action(ACTION, inputs)
    leaf = submitter.outputs["submit"]["leaf-hash"]
    # The log's own scheduled run includes it; then a second job waits for the proof.
    shell = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "operator-home"),
             "TLOG_SIGNER_KEY": skey}
    _tlog(repo, shell, "sequence", "--config", "tlog.toml")
    with StaticServer(Path(url)) as server:
        waiter = Runner(release, run_id=2)
        waiter.run_action(ACTION, {**inputs, "wait": "true", "log": server.url, "vkey": vkey})
    assert waiter.outputs["wait"]["bundle"] == "bundle.json"
    index = waiter.outputs["wait"]["index"]
    summary = (tmp_path / "release-home" / "summary.md").read_text()
    assert f"| Leaf hash | `{leaf}` |" in summary and f"| Entry index | {index} |" in summary
    assert f"({server.url}/entry.html?index={index})" in summary
    check = subprocess.run([str(BIN / "tlog"), "verify", "--vkey", vkey, "--bundle",
                            str(release / "bundle.json")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def _release(tmp: Path, name: str) -> tuple[Path, Any]:
    folder = tmp / name
    folder.mkdir()
    key, pem = ed25519_key(12)
    (folder / "signer.pub").write_text(pem)
    return folder, key


def test_submit_action_fails_fast_with_tlogs_message(tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """A wrong vkey is final: the wait step stops at once with tlog's own one-line error and
    exit code, not a time-out after a stream of hidden tracebacks."""
    repo = tmp_path / "repo"
    repo.mkdir()
    url, _, _, _ = _operator_log(repo, "folder", request)
    queue = load_config(repo / "tlog.toml").queue
    release, key = _release(tmp_path, "release")
    art = release / "a.tgz"
    art.write_bytes(b"a")
    (release / "a.tgz.sig").write_bytes(key.sign(hashlib.sha256(b"a").digest()))
    _, other = generate_key("other.example/log")
    with StaticServer(Path(url)) as server:
        runner = Runner(release)
        started = time.monotonic()
        with pytest.raises(StepFailed) as failed:
            runner.run_action(ACTION, {"queue": queue, "artifact": "a.tgz",
                                       "signature": "a.tgz.sig", "public-key": "signer.pub",
                                       "install": "", "wait": "true", "log": server.url,
                                       "vkey": other, "timeout": "600"})
    assert time.monotonic() - started < 60  # not the 600 s time-out
    assert failed.value.step == "Wait for inclusion" and failed.value.result.returncode == 3
    out = failed.value.result.stdout
    assert out.startswith("::error::tlog get exited 3: error: ") and "Traceback" not in out


def test_submit_action_takes_links_and_certificates(tmp_path: Path,
                                                    request: pytest.FixtureRequest) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    from tlog.entries.intoto_link import sslib_canonical

    repo = tmp_path / "repo"
    repo.mkdir()
    _operator_log(repo, "folder", request)
    queue = load_config(repo / "tlog.toml").queue
    release, key = _release(tmp_path, "release")
    signed = {"_type": "link", "name": "package", "command": ["tar", "czf", "out.tgz"],
              "materials": {}, "products": {"out.tgz": {"sha256": "ab" * 32}},
              "byproducts": {}, "environment": {}}
    (release / "package.link").write_text(json.dumps(
        {"signed": signed, "signatures": [{"keyid": "",
                                           "sig": key.sign(sslib_canonical(signed)).hex()}]}))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "release signer")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, None))
    (release / "signer.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    art = release / "b.tgz"
    art.write_bytes(b"b")
    (release / "b.tgz.sig").write_bytes(key.sign(hashlib.sha256(b"b").digest()))
    runner = Runner(release)
    runner.run_action(ACTION, {"queue": queue, "link": "package.link",
                               "public-key": "signer.pub", "install": ""})
    link_leaf = runner.outputs["submit"]["leaf-hash"]
    runner.run_action(ACTION, {"queue": queue, "artifact": "b.tgz", "signature": "b.tgz.sig",
                               "certificate": "signer.crt", "install": ""})
    assert runner.outputs["submit"]["leaf-hash"] != link_leaf
    assert len(list(open_store(queue).list("pending/"))) == 2


def test_workflows_pin_what_they_run() -> None:
    """Issue 16 item 10: jobs that hold signing keys and cloud credentials run third-party
    actions by commit SHA (the tag in a comment) and install a pinned tiledlog (TLOG_INSTALL:
    a version, a commit or a hash; the Install step refuses anything else)."""
    for path in [*WORKFLOWS, ACTION]:
        text = path.read_text()
        for line in text.splitlines():
            if "uses:" in line:
                m = re.search(r"uses:\s*([\w.-]+/[\w./-]+)@(\S+)(\s+#\s*v\d+\.\d+\.\d+)?", line)
                assert m and re.fullmatch(r"[0-9a-f]{40}", m[2]) and m[3], (path.name, line)
            if "pip install" in line and not line.lstrip().startswith("#"):  # pinned, as the
                # step itself checks
                assert '"$TLOG_INSTALL"' in line, (path.name, line)
        if path != ACTION and "pip install" in text:
            assert "grep -Eq '@[0-9a-f]{40}([#&[:space:]]|$)|sha256=[0-9a-f]{64}'" in text, (
                path.name)


def test_sequence_workflow_refuses_what_would_lose_or_leak(tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    """A folder log (TLOG_CLOUD none, the default) on a GitHub-hosted runner is lost when the
    job ends: the job fails saying so (it was green, "Checkpoint published | yes", and the
    next run started from nothing). tiledlog is not on PyPI: the Install step needs a pinned
    TLOG_INSTALL (it installed "tiledlog==0.1.0", which no index has)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _, skey, variables, creds = _operator_log(repo, "folder", request)
    (tmp_path / "gha-cache").mkdir()
    hosted = _runner(tmp_path, "run1", repo, skey, variables, creds, 1)
    hosted.environment = "github-hosted"
    with pytest.raises(StepFailed) as failed:
        hosted.run_job(SEQUENCE, "sequence")
    assert failed.value.step == "Check where the log lives"
    assert "a folder log there is lost when the job ends" in failed.value.result.stdout
    # None, not pinned, or pinned by a version (tiledlog is not on PyPI: whoever takes the
    # name there would be installed into the job that holds the signing key).
    commit = "tiledlog[s3,gcs] @ git+https://github.com/o/tiledlog@" + "0123abcd" * 5
    for n, install in enumerate(("", "tiledlog[s3,gcs]", "tiledlog==0.1.0", commit[:-40] + "main",
                                 commit[:-1])):
        runner = _runner(tmp_path, f"bad-{n}", repo, skey, {**variables, "TLOG_INSTALL": install},
                         creds, 2)
        runner.skip = ()
        with pytest.raises(StepFailed) as failed:
            runner.run_job(SEQUENCE, "sequence")
        assert failed.value.step == "Install tiledlog", install
        assert "set the repository variable TLOG_INSTALL to tiledlog pinned by commit or hash" in (
            failed.value.result.stdout)
    fake = tmp_path / "fake-pip"  # pinned ones reach pip, which says what it was asked
    fake.mkdir()
    (fake / "python").write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$PIP_ASKED"\n')
    (fake / "python").chmod(0o755)
    asked = tmp_path / "pip-asked.txt"

    class Installing(Runner):
        def defaults(self) -> dict[str, str]:
            env = super().defaults()
            return {**env, "PATH": f"{fake}:{env['PATH']}", "PIP_ASKED": str(asked)}

    wheel = "https://example.org/tiledlog-0.1.0-py3-none-any.whl#sha256=" + "ab" * 32
    for n, install in enumerate((commit, wheel)):
        work = tmp_path / f"good-{n}"
        work.mkdir()
        shutil.copy(repo / "tlog.toml", work / "tlog.toml")
        runner = Installing(work, vars={**variables, "TLOG_INSTALL": install},
                            cache=tmp_path / "gha-cache", environment="self-hosted", run_id=3,
                            skip=())
        with pytest.raises(StepFailed) as failed:  # no signer key given: Sequence stops it
            runner.run_job(SEQUENCE, "sequence")
        assert failed.value.step == "Sequence", failed.value
    assert asked.read_text().splitlines() == [f"-m pip install --quiet {commit}",
                                              f"-m pip install --quiet {wheel}"]


def test_workflow_steps_see_no_more_than_they_need() -> None:
    """No checkout leaves the job's token in .git/config, and in the sequencing job nothing
    runs with cloud credentials before tiledlog is installed (pip runs third-party code)."""
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step.get("with", {}).get("persist-credentials") is False, path.name
    steps = [s.get("name", s.get("uses", "")) for s in
             yaml.safe_load(SEQUENCE.read_text())["jobs"]["sequence"]["steps"]]
    install = steps.index("Install tiledlog")
    assert install < steps.index("AWS credentials (OIDC role)")
    assert install < steps.index("Google Cloud credentials (workload identity)")


MONITOR = ROOT / ".github/workflows/monitor.yml"


def test_monitor_workflow_opens_issues_as_it_says(tmp_path: Path) -> None:
    """monitor.yml run as GitHub would (no test ran it before): the release key used is an
    issue (exit 4); a run with nothing new opens none; a fork is an issue that says where the
    evidence is kept (the files it named lived only on the finished runner)."""
    from submissions import hashedrekord_doc

    from tlog.checkpoint import Checkpoint, format_checkpoint
    from tlog.note import new_signer, sign_note

    repo = tmp_path / "op"
    repo.mkdir()
    shell = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "operator-home")}
    _tlog(repo, shell, "keygen", "ci.example/log", "--out", "log")
    _tlog(repo, shell, "init", "--origin", "ci.example/log", "--key", "log.key", "--store",
          str(tmp_path / "public"))
    key, pem = ed25519_key(5)
    (tmp_path / "doc.json").write_bytes(hashedrekord_doc(key, pem, b"release 1"))
    _tlog(repo, shell, "submit", "--queue", load_config(repo / "tlog.toml").queue,
          str(tmp_path / "doc.json"))
    _tlog(repo, shell, "sequence")
    fake = tmp_path / "fakebin"  # `gh issue …`: what it was asked, the body, open issues
    fake.mkdir()
    (fake / "gh").write_text(f"#!{sys.executable}\n" + FAKE_GH)
    (fake / "gh").chmod(0o755)
    issues = tmp_path / "issues"
    issues.mkdir()
    (tmp_path / "gha-cache").mkdir()
    calls = tmp_path / "gh-calls.txt"

    class Monitoring(Runner):
        def defaults(self) -> dict[str, str]:
            env = super().defaults()
            return {**env, "PATH": f"{fake}:{env['PATH']}", "GH_CALLS": str(calls),
                    "GH_ISSUES": str(issues)}

    def run(n: int, url: str) -> str:
        calls.write_text("")
        work = tmp_path / f"run{n}"
        (work / ".github").mkdir(parents=True)
        (work / ".github" / "release-signing.pub").write_text(pem)
        Monitoring(work, vars={"TLOG_LOG_URL": url, "TLOG_LOG_VKEY": vkey},
                   cache=tmp_path / "gha-cache", run_id=n).run_job(MONITOR, "monitor")
        return calls.read_text()

    vkey = (repo / "log.pub").read_text().strip()
    with StaticServer(tmp_path / "public") as server:
        first = run(1, server.url)
        assert ("issue create --title Release key used in the transparency log --body-file "
                "body.md\n") in first, first
        assert '"event": "match"' in first
        assert run(2, server.url) == ""  # nothing new: no issue
        forged = sign_note(format_checkpoint(Checkpoint("ci.example/log", 1, b"\x07" * 32)),
                           new_signer((repo / "log.key").read_text().strip()))
        (tmp_path / "public" / "checkpoint").write_bytes(forged)
        third = run(3, server.url)
        fourth = run(4, server.url)  # the same fork, an hour later
        (tmp_path / "public" / "checkpoint").write_bytes(sign_note(format_checkpoint(
            Checkpoint("ci.example/log", 1, b"\x08" * 32)),
            new_signer((repo / "log.key").read_text().strip())))
        fifth = run(5, server.url)  # another fork: told in the open issue
    assert "issue create --title Transparency log misbehaved" in third, third
    assert ("The evidence files the events name are the artifact tlog-evidence-3 of "
            "https://github.com/owner/repo/actions/runs/3 (kept 90 days).") in third
    # An hour later the monitor sees the same fork (its state is kept until someone acts):
    # no second issue (one was opened every hour), no comment either.
    assert "issue create" not in fourth and "issue comment" not in fourth, fourth
    assert "issue comment 2 --body-file body.md" in fifth, fifth  # issue 1: the key's
    assert sorted(p.name for p in issues.iterdir()) == ["1", "2"]


# `gh`, as the workflow calls it: issues are files (title, then body and comments), searched
# by a word of the body or comments, or by title.
FAKE_GH = """
import json, os, pathlib, sys
args = sys.argv[1:]
calls = pathlib.Path(os.environ["GH_CALLS"])
calls.write_text(calls.read_text() + " ".join(args) + "\\n")
issues = pathlib.Path(os.environ["GH_ISSUES"])
def opt(name):
    return args[args.index(name) + 1]
if args[:2] == ["issue", "create"]:
    n = len(list(issues.iterdir())) + 1
    body = pathlib.Path(opt("--body-file")).read_text()
    (issues / str(n)).write_text(opt("--title") + "\\n" + body)
    calls.write_text(calls.read_text() + body)
elif args[:2] == ["issue", "comment"]:
    body = pathlib.Path(opt("--body-file")).read_text()
    with open(issues / args[2], "a") as f:
        f.write(body)
    calls.write_text(calls.read_text() + body)
elif args[:2] == ["issue", "list"]:
    query = opt("--search")
    found = []
    for f in sorted(issues.iterdir(), key=lambda p: int(p.name)):
        title, _, text = f.read_text().partition("\\n")
        if query.startswith("in:title "):
            hit = query.removeprefix("in:title ").strip('"') in title
        else:
            hit = query.split()[0] in text
        if hit:
            found.append({"number": int(f.name), "title": title})
    print(found[0]["number"] if found else "")
"""
