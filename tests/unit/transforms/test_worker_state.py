"""WorkerState.hand_over: coroutines handed over from a bundle's thread run on
the worker's event loop, with their results, errors and cancellations, as
run_coroutine_threadsafe's would be."""
import asyncio
import concurrent.futures as futures
import threading

import pytest

from transforms.vertex_connection import WorkerState


@pytest.fixture
def worker():
    return WorkerState()


def test_results_and_errors_come_back(worker):
    async def double(x):
        await asyncio.sleep(0.001)
        return 2 * x

    async def fail():
        raise ValueError("no")
    handed = [worker.hand_over(double(i)) for i in range(200)]
    failed = worker.hand_over(fail())
    assert [f.result(timeout=5) for f in handed] == [2 * i for i in range(200)]
    with pytest.raises(ValueError, match="no"):
        failed.result(timeout=5)


def test_many_arrivals_share_one_wake_up(worker):
    wake_ups = []
    start_arrivals = worker._start_arrivals
    worker._start_arrivals = lambda: (wake_ups.append(1), start_arrivals())
    blocker, release = _busy(worker)

    async def nothing():
        pass
    handed = [worker.hand_over(nothing()) for _ in range(50)]
    release.set()
    blocker.result(timeout=5)
    assert futures.wait(handed, timeout=5).not_done == set()
    assert wake_ups == [1]


def _busy(worker) -> tuple[futures.Future, threading.Event]:
    """Keeps the loop itself busy (as a burst of answers would) until the
    returned event is set; returns once the loop is busy."""
    started, release = threading.Event(), threading.Event()

    async def block():
        started.set()
        while not release.is_set():
            pass
    blocker = worker.submit(block())
    assert started.wait(5)
    return blocker, release


def test_cancelled_before_it_starts_it_never_runs(worker):
    blocker, release = _busy(worker)
    ran = []

    async def work():
        ran.append(True)
    future = worker.hand_over(work())
    assert future.cancel()
    release.set()
    blocker.result(timeout=5)
    worker.submit(asyncio.sleep(0)).result(timeout=5)  # the loop has seen the arrival
    assert ran == []


def test_cancelled_while_running_the_work_stops(worker):
    started, stopped = threading.Event(), threading.Event()

    async def work():
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            stopped.set()
            raise
    future = worker.hand_over(work())
    assert started.wait(5)
    future.cancel()
    assert stopped.wait(5)


def test_a_new_client_is_made_while_records_arrive(worker):
    # client() waits for the loop to make a client; records handed over
    # meanwhile from another thread must not make the loop wait for client().
    from transforms.vertex_connection import VertexConnection
    blocker, release = _busy(worker)  # so that both queue up behind it
    made = futures.ThreadPoolExecutor(1).submit(
        worker.client, VertexConnection(endpoint_url="http://127.0.0.1:9"))

    async def nothing():
        pass
    handed = worker.hand_over(nothing())
    release.set()
    blocker.result(timeout=5)
    assert made.result(timeout=5) is not None
    assert handed.result(timeout=5) is None
