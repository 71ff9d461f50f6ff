"""A bounded loopback load test: 200 default-size runs from 8 client threads, all answered, memory flat."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.playground.conftest import HANG_GUARD_S

psutil = pytest.importorskip("psutil")

REQUESTS, CLIENTS = 200, 8
# generous: the fits' numbers are freed after each reply; a leak of one run per request (~50 kB of JSON
# and arrays each) would pass 10 MB, a leak of the models and trajectories far more
RSS_GROWTH_BOUND = 150 * 2**20


def _post(url: str, body: dict) -> int:
    req = urllib.request.Request(url + "/api/run", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=HANG_GUARD_S) as reply:  # a hang guard: a reply ends the wait
        json.loads(reply.read())
        return reply.status


def test_200_requests_from_8_clients(server_url: str) -> None:
    bodies = [{"seed": i % 10, "lam": [0.1, 0.05, 0.2][i % 3], "rule": ["gradient", "proximal"][i % 2]}
              for i in range(REQUESTS)]
    for body in bodies[:16]:  # warm up: numba kernels, torch, allocator pools
        assert _post(server_url, body) == 200
    process = psutil.Process()
    rss0 = process.memory_info().rss
    t0 = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        codes = list(pool.map(lambda b: _post(server_url, b), bodies))
    seconds = time.perf_counter() - t0
    growth = process.memory_info().rss - rss0
    print(f"\n{REQUESTS} requests from {CLIENTS} clients in {seconds:.2f} s; RSS growth {growth / 2**20:.1f} MiB")
    assert codes == [200] * REQUESTS
    assert growth < RSS_GROWTH_BOUND
