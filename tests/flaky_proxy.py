"""A flaky network on loopback: a TCP proxy in front of a real server (moto's S3) that resets a
share of connections in the middle of the response (RST, after a random number of bytes) and
delays others. Seeded, so a campaign is repeatable; it counts what it injected."""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class FlakyProxy:
    def __init__(self, upstream: tuple[str, int], reset: float, delay: float = 0.0,
                 seed: int = 0) -> None:
        self.upstream, self.reset, self.delay = upstream, reset, delay
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.connections = self.resets = self.delays = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.down = False  # an outage: every connection, new or open, is cut

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _plan(self) -> tuple[int | None, float]:
        """For one connection: reset after this many response bytes (None: never), delay."""
        with self.lock:
            self.connections += 1
            cut = self.rng.randint(1, 4000) if self.rng.random() < self.reset else None
            wait = 0.05 + self.rng.random() * 0.2 if self.rng.random() < self.delay else 0.0
            self.resets += cut is not None
            self.delays += wait > 0
        return cut, wait

    def serve(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        if self.down:
            client.close()
            return
        cut, wait = self._plan()
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        threading.Thread(target=_pump, args=(client, upstream, None, 0.0, self),
                         daemon=True).start()
        _pump(upstream, client, cut, wait, self)

    def close(self) -> None:
        self.closed = True
        self.listener.close()


def _pump(src: socket.socket, dst: socket.socket, cut: int | None, wait: float,
          proxy: FlakyProxy) -> None:
    """Copy src to dst; with ``cut``, reset dst after that many bytes (a connection dropped
    mid-response); during an outage, at once."""
    sent = 0
    try:
        while data := src.recv(65536):
            if proxy.down:
                cut = sent
            if wait:
                time.sleep(wait)
                wait = 0.0
            if cut is not None and sent + len(data) >= cut:
                dst.sendall(data[: max(0, cut - sent)])
                dst.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # shutdown wakes the other direction's thread, blocked in recv on this
                # socket (a close alone would wait for it); the close then resets.
                for s in (dst, src):
                    with suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                break
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with suppress(OSError):
                s.close()


@contextmanager
def flaky_proxy(endpoint: str, reset: float, delay: float = 0.0,
                seed: int = 0) -> Iterator[FlakyProxy]:
    host, port = endpoint.removeprefix("http://").rsplit(":", 1)
    proxy = FlakyProxy((host, int(port)), reset, delay, seed)
    threading.Thread(target=proxy.serve, daemon=True).start()
    try:
        yield proxy
    finally:
        proxy.close()
