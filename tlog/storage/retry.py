"""One retry policy for the stores' passing failures (a reset connection, a 503, a body cut
short): ``tenacity``, a bounded number of tries with exponential backoff and jitter.

The clients underneath retry nothing themselves (botocore is set to one attempt, ``requests``
has no retrying adapter), so tries are never multiplied by a second loop, and a read whose
body dies halfway is retried with a new request, which the libraries' own retries do not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from tlog.errors import StoreError

__all__ = ["Passing", "with_retries"]

T = TypeVar("T")


class Passing(Exception):
    """Raised by an attempt whose failure may pass: retry. ``error`` is what to report if the
    tries run out."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def with_retries(attempt: Callable[[], T], *, tries: int, backoff: float,
                 give_up: Callable[[Exception], StoreError]) -> T:
    """``attempt()`` until it returns or raises anything but ``Passing``, at most ``tries``
    times; when they run out, ``give_up(last failure)`` is raised."""
    policy = Retrying(stop=stop_after_attempt(tries),
                      wait=wait_exponential(multiplier=backoff, max=30) + wait_random(0, backoff),
                      retry=retry_if_exception_type(Passing), reraise=True)
    try:
        return policy(attempt)
    except Passing as p:
        raise give_up(p.error) from p.error
