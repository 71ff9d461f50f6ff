"""A playground server on a free loopback port, in a thread, for the load and browser tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


# a guard against a hang only, never a race: every wait ends as soon as its event happens
HANG_GUARD_S = 600.0


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    from reglab.playground import create_app

    # the socket is bound here and handed to uvicorn (no free-port race); the fits never wait on a clock:
    # the tests assert that every request is answered, whatever the machine's speed
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(queue_timeout=HANG_GUARD_S), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + HANG_GUARD_S
    while not server.started:  # set once the server listens; polled, as uvicorn offers no event
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the playground server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=HANG_GUARD_S)
    sock.close()
