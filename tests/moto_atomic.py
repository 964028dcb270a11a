"""moto's S3 server with each write atomic, as S3's are: ``python tests/moto_atomic.py HOST PORT``.

moto checks If-Match and If-None-Match and only then writes, with no lock between: two
conditional PUTs racing can both succeed, which S3 never allows (CI saw it once, in
``test_cas_race_between_processes[s3]``). This serves moto's own application with every request
that is not a read under one lock, so each condition and its write are one step.
``--switch-interval`` makes the interpreter switch threads more often, so a test can make a race
likely (``test_storage.test_s3_double_conditional_writes_are_atomic``)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def atomic_writes(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """A WSGI application that runs ``app`` for writes one at a time, to the end of the body."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in _READS:
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serve


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--switch-interval", type=float)
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, atomic_writes(app), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
