"""Sequencer → two real witnesses (`tlog witness serve`, uvicorn on loopback) → a checkpoint
carrying both cosignatures → `tlog verify` with a witness threshold; then with witnesses down."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from servers import witness_server
from submissions import hashedrekord_docs

from tlog.cosignature import parse_any_verifier
from tlog.note import open_note

BIN = Path(sys.executable).parent


def tlog(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "tlog"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stderr
    return res.stdout


def _make_witness(root: Path, name: str, log_pub: Path) -> tuple[Path, str]:
    wdir = root / name.split("/")[-1]
    wdir.mkdir()
    _ok(tlog(wdir, "witness", "keygen", name, "--out", "key"))
    _ok(tlog(wdir, "witness", "add-log", "--origin", "e2e.example/log", "--vkey", str(log_pub)))
    return wdir / "witness.toml", (wdir / "key.pub").read_text().strip()


def _queue(tmp: Path, seed: int, n: int = 5) -> None:
    (tmp / f"batch{seed}.jsonl").write_bytes(b"\n".join(d for _, d in
                                                        hashedrekord_docs(n, seed=seed)))
    _ok(tlog(tmp, "submit", "--queue", "queue", "--jsonl", f"batch{seed}.jsonl"))


def _verify(tmp: Path, vkey: str, witnesses: list[str], k: int) -> subprocess.CompletedProcess:
    args = ["verify", "--log", "public", "--vkey", vkey, "--state", f"trust-{k}-{len(witnesses)}",
            "--index", "0", "--witness-threshold", str(k)]
    for w in witnesses:
        args += ["--witness", w]
    return tlog(tmp, *args)


def test_sequencer_gathers_cosignatures_and_clients_enforce_the_threshold(tmp_path: Path) -> None:
    _ok(tlog(tmp_path, "keygen", "e2e.example/log", "--out", "log"))
    _ok(tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin",
             "e2e.example/log", "--key", "log.key"))
    vkey = (tmp_path / "log.pub").read_text().strip()
    cfg1, w1 = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    cfg2, w2 = _make_witness(tmp_path, "witness.example/w2", tmp_path / "log.pub")

    with witness_server(cfg1) as url1:
        with witness_server(cfg2) as url2:
            config = (tmp_path / "tlog.toml").read_text()
            config = config.replace("witness_threshold = 0", "witness_threshold = 1")
            config = config.replace("require_witnesses = false", "require_witnesses = true")
            for name, url, key in (("witness.example/w1", url1, w1),
                                   ("witness.example/w2", url2, w2)):
                config += f'\n[[witnesses]]\nname = "{name}"\nurl = "{url}"\nvkey = "{key}"\n'
            (tmp_path / "tlog.toml").write_text(config)

            # Both witnesses up: the published checkpoint carries both cosignatures.
            _queue(tmp_path, 1)
            run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
            assert run["witnesses"] == {"witness.example/w1": "cosigned",
                                        "witness.example/w2": "cosigned"}
            cp = (tmp_path / "public" / "checkpoint").read_bytes()
            opened = open_note(cp, [parse_any_verifier(vkey), parse_any_verifier(w1),
                                    parse_any_verifier(w2)])
            assert len(opened.sigs) == 3
            assert _verify(tmp_path, vkey, [w1, w2], 2).returncode == 0

        # w2 is down: the threshold of 1 is met by w1 alone.
        _queue(tmp_path, 2)
        run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
        assert run["witnesses"]["witness.example/w1"] == "cosigned"
        assert run["witnesses"]["witness.example/w2"].startswith("failed: ")
        assert run["size"] == 10 and run["published"]
        res = _verify(tmp_path, vkey, [w1, w2], 2)
        assert res.returncode == 3 and "need 2 witness cosignatures, got 1" in res.stderr
        assert _verify(tmp_path, vkey, [w1, w2], 1).returncode == 0

    # Both down: required policy not met, so nothing is published, and the run says why.
    _queue(tmp_path, 3)
    res = tlog(tmp_path, "sequence")
    assert res.returncode != 0
    assert "witness policy not met" in res.stderr and "connection refused" in res.stderr
    public = (tmp_path / "public" / "checkpoint").read_bytes()
    assert public.split(b"\n")[1] == b"10"  # still the last witnessed tree
    # A witness is back: the next run publishes the committed tree (recovery path).
    with witness_server(cfg1, port=int(url1.rsplit(":", 1)[1])):
        run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
    assert run["size"] == 15
    assert (tmp_path / "public" / "checkpoint").read_bytes().split(b"\n")[1] == b"15"


def test_a_witness_outage_fails_only_runs_that_have_something_to_publish(tmp_path: Path) -> None:
    """Issue 16 item 4: an idle cron run during a witness outage succeeds with a warning; a
    run that committed but could not publish exits 4 and says, per witness, in plain words,
    why; the next run with the witness back publishes."""
    from servers import free_port

    _ok(tlog(tmp_path, "keygen", "e2e.example/log", "--out", "log"))
    _ok(tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin",
             "e2e.example/log", "--key", "log.key"))
    cfg, wkey = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    port = free_port()
    (tmp_path / "w1.pub").write_text(wkey + "\n")
    _ok(tlog(tmp_path, "config", "add-witness", "--url", f"http://127.0.0.1:{port}", "--vkey",
             "w1.pub", "--threshold", "1", "--require"))
    with witness_server(cfg, port=port):
        _queue(tmp_path, 1)
        run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
        assert run["published"] and run["size"] == 5
    # The witness is down and the queue is empty: nothing new, so nothing failed.
    idle = tlog(tmp_path, "sequence", "--json")
    assert idle.returncode == 0, idle.stderr
    assert json.loads(idle.stdout.splitlines()[-1])["published"] is True
    # Something new, the witness still down: committed, not published, exit 4, plain words.
    _queue(tmp_path, 2)
    res = tlog(tmp_path, "sequence")
    assert res.returncode == 4, res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert "tree 10 is committed but its checkpoint is not published" in line
    assert "needs 1 cosignatures, got 0" in line
    assert "witness.example/w1: failed: witness witness.example/w1 at http://127.0.0.1:" in line
    assert line.endswith("connection refused); nothing is lost, the next run retries publishing")
    assert "{" not in line  # no Python dict
    assert (tmp_path / "public" / "checkpoint").read_bytes().split(b"\n")[1] == b"5"
    # An idle run now has something to publish (tree 10): it still fails, the same way.
    assert tlog(tmp_path, "sequence").returncode == 4
    with witness_server(cfg, port=port):
        run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
    assert run["published"] and run["size"] == 10
    assert (tmp_path / "public" / "checkpoint").read_bytes().split(b"\n")[1] == b"10"


def test_witness_serve_logs_one_line_per_request(tmp_path: Path) -> None:
    """Issue 16 item 11: each request is one line (client, method, path, status), no body."""
    import requests

    _ok(tlog(tmp_path, "keygen", "e2e.example/log", "--out", "log"))
    cfg, _ = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    log = tmp_path / "witness.log"
    secret_body = b"old 0\n\nnot-a-checkpoint-but-a-secret-looking-body\n"
    with witness_server(cfg, log=log) as url:
        refused = requests.post(f"{url}/add-checkpoint", data=secret_body, timeout=10)
        assert refused.status_code in (400, 404)
        assert requests.get(f"{url}/", timeout=10).status_code == 200
    text = log.read_text()
    assert f'"POST /add-checkpoint HTTP/1.1" {refused.status_code}' in text
    assert '"GET / HTTP/1.1" 200' in text
    assert "secret-looking" not in text


def test_an_idle_run_does_not_wait_again_for_a_witness_that_is_down(tmp_path: Path) -> None:
    """Threshold 1 of 2, the second witness a black hole (accepts, never answers): the tree is
    published with the first's cosignature, and an idle run, finding it public with what the
    policy asks, does not ask the silent one again (each ask costs its timeout: `tlog serve`
    runs every quarter second)."""
    import socket
    import threading

    _ok(tlog(tmp_path, "keygen", "e2e.example/log", "--out", "log"))
    _ok(tlog(tmp_path, "init", "--store", "public", "--queue", "queue", "--origin",
             "e2e.example/log", "--key", "log.key"))
    cfg1, w1 = _make_witness(tmp_path, "witness.example/w1", tmp_path / "log.pub")
    _, w2 = _make_witness(tmp_path, "witness.example/w2", tmp_path / "log.pub")  # never served
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(16)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(hole.accept()[0]) for _ in iter(int, 1)],
                     daemon=True).start()
    with witness_server(cfg1) as url1:
        config = (tmp_path / "tlog.toml").read_text()
        config = config.replace("witness_threshold = 0", "witness_threshold = 1")
        config = config.replace("require_witnesses = false", "require_witnesses = true")
        config = config.replace("[policy]", "[policy]\nwitness_timeout = 2")
        config += (f'\n[[witnesses]]\nname = "witness.example/w1"\nurl = "{url1}"\n'
                   f'vkey = "{w1}"\n[[witnesses]]\nname = "witness.example/w2"\n'
                   f'url = "http://127.0.0.1:{hole.getsockname()[1]}"\nvkey = "{w2}"\n')
        (tmp_path / "tlog.toml").write_text(config)
        _queue(tmp_path, 1)
        run = json.loads(_ok(tlog(tmp_path, "sequence", "--json")).splitlines()[-1])
        assert run["published"] and run["witnesses"]["witness.example/w1"] == "cosigned"
        asked = len(accepted)
        assert asked >= 1
        _ok(tlog(tmp_path, "sequence", "--json"))  # idle
        assert len(accepted) == asked
    hole.close()
