"""Crash points for the failure tests: ``TLOG_CRASH_AT=<step>`` makes the process SIGKILL itself.

Steps, in order: ``admitted``, ``staged``, ``committed``, ``applied``, ``published``, ``cleaned``.
The kill is real (no cleanup handlers run), which is what a power cut or an OOM kill looks like.
"""

from __future__ import annotations

import os
import signal

__all__ = ["STEPS", "crashpoint"]

STEPS = ("admitted", "staged", "committed", "applied", "published", "cleaned")


def crashpoint(step: str) -> None:
    """Die here, hard, if the environment asks for it."""
    if os.environ.get("TLOG_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
