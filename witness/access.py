"""The witness's log: one access line per request, written once per turn of the event loop.

Each request gets one line (client, method, path, status and, for a cosigned checkpoint, the
log and size; never a body). The lines a turn of the event loop produces (the witness answers
many requests a turn under load) go to stderr in one write rather than one each: under load a
write per line cost as much as a tenth of a request. A line is written before the loop waits
again, so nothing waits on a timer; lines logged outside the loop (the writer thread, start-up)
are written at once, and whatever is left is written when the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import IO

__all__ = ["TurnBufferedHandler", "access_line", "configure"]

LOGGER = "tiledlog.witness"
_logger = logging.getLogger(LOGGER)
_access: TurnBufferedHandler | None = None  # where access lines go, once configured


class TurnBufferedHandler(logging.Handler):
    """Formats each record at once; writes the lines of one event-loop turn together."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self._lines: list[str] = []
        self._pending = False
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # logging's own convention: report, never raise into the caller
            self.handleError(record)
            return
        self.add(line)

    def add(self, line: str) -> None:
        """Write ``line`` (ending in a newline) with the others of this loop turn."""
        with self._guard:
            self._lines.append(line)
            if self._pending:
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the event loop: write now
                loop = None
            else:
                self._pending = True
        if loop is None:
            self.flush()
        else:
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._guard:  # written under the lock too: lines keep their order across threads
            text, self._lines, self._pending = "".join(self._lines), [], False
            if text:
                try:
                    self.stream.write(text)
                    self.stream.flush()
                except (OSError, ValueError):  # stderr closed or gone: nowhere left to write
                    pass


def _aligned(level: str, text: str) -> str:
    return f"{level + ':':<9} {text}"


class _Aligned(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _aligned(record.levelname, super().format(record))


def configure(stream: IO[str] | None = None) -> TurnBufferedHandler:
    """Send the witness's INFO lines and above to ``stream`` (stderr) through one
    ``TurnBufferedHandler``, aligned as uvicorn's own lines are (``INFO:     ...``)."""
    logger = _logger
    for old in [h for h in logger.handlers if isinstance(h, TurnBufferedHandler)]:
        logger.removeHandler(old)
    handler = TurnBufferedHandler(stream)
    handler.setFormatter(_Aligned())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    global _access
    _access = handler
    return handler


def access_line(text: str) -> None:
    """One access line, handed to the configured handler as it is: no ``LogRecord`` (its
    clock, pid and thread lookups cost a twentieth of a request). Dropped until
    ``configure`` (an app in a test)."""
    if _access is not None and _logger.isEnabledFor(logging.INFO):
        _access.add(_aligned("INFO", text) + "\n")
