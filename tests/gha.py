"""Runs a GitHub Actions job's `run:` steps here, each with exactly the environment GitHub would
give it: the runner's default variables, then the workflow's, the job's and the step's own
`env:`, with `${{ … }}` expressions evaluated from the secrets, variables and inputs the test
declares. Nothing of the test process's environment leaks in (a step that reads a secret it
does not declare fails here as it would on GitHub).

Composite actions (`run_action`) run the same way, with their inputs and `steps.<id>.outputs`.
`uses:` steps are not run, except the few whose effect later steps depend on, emulated:
`actions/cache` (restore before, save after the job, from a folder standing for GitHub's cache)
and the cloud credential actions (they export credentials to the job's later steps).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

BIN = Path(sys.executable).parent
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class StepFailed(AssertionError):
    """A step exited non-zero; ``result`` holds what it printed."""

    def __init__(self, step: str, result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"step {step!r} exited {result.returncode}:\n"
                         f"{result.stdout}{result.stderr}")
        self.step, self.result = step, result


@dataclass
class Runner:
    """One fresh runner: its own workspace and home, and what GitHub would hold for it."""

    workspace: Path
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    cache: Path | None = None  # stands for GitHub's cache store (shared between runners)
    credentials: dict[str, str] = field(default_factory=dict)  # what an OIDC action exports
    run_id: int = 1
    environment: str = "github-hosted"  # RUNNER_ENVIRONMENT: or "self-hosted"
    skip: tuple[str, ...] = ("Install tiledlog",)  # this venv already has it
    results: list[subprocess.CompletedProcess[str]] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # steps.<id>.outputs

    def defaults(self) -> dict[str, str]:
        home = self.workspace.parent / f"{self.workspace.name}-home"
        home.mkdir(exist_ok=True)
        return {
            "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "CI": "true",
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_RUN_ID": str(self.run_id), "RUNNER_TEMP": str(home / "tmp"),
            "RUNNER_ENVIRONMENT": self.environment, "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "owner/repo",
            "GITHUB_STEP_SUMMARY": str(home / "summary.md"),
            "GITHUB_OUTPUT": str(home / "output.txt"),
            "GITHUB_ENV": str(home / "github-env.txt"),
        }

    def evaluate(self, text: str, env: dict[str, str]) -> str:
        """``${{ … }}`` substituted: ``secrets.X``, ``vars.X``, ``inputs.x``, ``env.X``,
        ``github.run_id``, string literals, ``a || b`` and ``a == b``. Any other expression
        fails the test, so none is silently blanked."""
        return _EXPR.sub(lambda m: self._expr(m[1], env), text)

    def _expr(self, expr: str, env: dict[str, str]) -> str:
        if "||" in expr:
            for part in expr.split("||"):
                value = self._expr(part.strip(), env)
                if value:
                    return value
            return ""
        if "==" in expr:
            a, b = (self._expr(x.strip(), env) for x in expr.split("=="))
            return "true" if a == b else ""
        if m := re.fullmatch(r"'([^']*)'", expr):
            return m[1]
        contexts = {"secrets": self.secrets, "vars": self.vars, "inputs": self.inputs,
                    "env": env, "github": {"run_id": str(self.run_id), "token": "test-token"}}
        ctx, _, name = expr.partition(".")
        if ctx in contexts and re.fullmatch(r"[\w-]+", name):
            return contexts[ctx].get(name, "")
        if m := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expr):
            return self.outputs.get(m[1], {}).get(m[2], "")
        raise AssertionError(f"expression the test runner does not know: {expr!r}")

    def run_job(self, workflow: Path, job: str) -> None:
        """Run every step of ``job``; a failing step fails the test with its output."""
        wf = yaml.safe_load(workflow.read_text())
        spec = wf["jobs"][job]
        env = self.defaults()
        for scope in (wf.get("env", {}), spec.get("env", {})):
            for k, v in scope.items():
                env[k] = self.evaluate(str(v), env)
        saves: list[tuple[str, Path]] = []
        for step in spec["steps"]:
            cond = step.get("if")
            if cond and not self.evaluate("${{ " + cond + " }}", env):
                continue
            if "uses" in step:
                self._uses(step, env, saves)
            elif step.get("name") not in self.skip:
                self._run(step, env)
        for key, path in saves:  # actions/cache saves when the job succeeds
            assert self.cache is not None
            target = self.cache / key
            shutil.rmtree(target, ignore_errors=True)
            if path.exists():
                shutil.copytree(path, target)

    def _step_env(self, step: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
        out = dict(env)
        for k, v in step.get("env", {}).items():
            out[k] = self.evaluate(str(v), env)
        return out

    def run_action(self, action: Path, inputs: dict[str, str]) -> None:
        """Run a composite action's steps as a job's step using it would (``with:`` =
        ``inputs``, the action's defaults for the rest)."""
        spec = yaml.safe_load(action.read_text())
        declared = spec.get("inputs", {})
        unknown = set(inputs) - set(declared)
        assert not unknown, f"inputs the action does not declare: {sorted(unknown)}"
        self.inputs = {k: str(v.get("default", "")) for k, v in declared.items()} | inputs
        env = self.defaults()
        for step in spec["runs"]["steps"]:
            cond = step.get("if")
            if cond and not self.evaluate("${{ " + cond + " }}", env):
                continue
            if step.get("name") not in self.skip:
                self._run(step, env)

    def _run(self, step: dict[str, Any], env: dict[str, str]) -> None:
        step_env = self._step_env(step, env)
        script = self.evaluate(step["run"], step_env)
        out = Path(step_env["GITHUB_OUTPUT"])
        out.write_text("")
        shell = ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c"] \
            if step.get("shell") == "bash" else ["bash", "-e", "-c"]  # GitHub's two defaults
        res = subprocess.run([*shell, script], cwd=self.workspace, env=step_env,
                             capture_output=True, text=True, timeout=300)
        self.results.append(res)
        if "id" in step:
            self.outputs[step["id"]] = dict(
                line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        if res.returncode != 0:
            raise StepFailed(step.get("name", step.get("id", "?")), res)

    def _uses(self, step: dict[str, Any], env: dict[str, str],
              saves: list[tuple[str, Path]]) -> None:
        action = step["uses"].split("@")[0]
        with_ = {k: self.evaluate(str(v), env) for k, v in step.get("with", {}).items()}
        if action == "actions/cache":
            assert self.cache is not None, "the job uses actions/cache: give the runner one"
            path = self.workspace / with_["path"]
            prefix = with_.get("restore-keys", with_["key"])
            hits = sorted((p for p in self.cache.glob("*") if p.name.startswith(prefix)),
                          key=lambda p: p.stat().st_mtime)
            if hits:  # the newest entry whose key starts with the prefix, as GitHub picks
                shutil.copytree(hits[-1], path, dirs_exist_ok=True)
            saves.append((with_["key"], path))
        elif action in ("aws-actions/configure-aws-credentials", "google-github-actions/auth"):
            env.update(self.credentials)
