"""Threads: backward passes in several threads into one shared parameter lose nothing, and grad mode is per thread
(as in PyTorch), also when one `no_grad()` object is entered and left by two threads interleaved.

Interleavings are forced with barriers and events, not left to timing: each test is deterministic.
"""
import threading

import numpy as np
import pytest

from tinygrad_np import Tensor, enable_grad, is_grad_enabled, no_grad, set_grad_enabled

torch = pytest.importorskip("torch")

THREADS, STEPS, SIDE = 8, 200, 300


def run_threads(target, n):
    errors = []

    def guarded(i):
        try:
            target(i)
        except BaseException as e:  # reported in the main thread: a failing assert in a thread must fail the test
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_backwards_into_one_parameter_lose_nothing():
    """8 threads × 200 backwards, each adding C (small integers, so every sum is exact) into W.grad."""
    W = Tensor(np.zeros((SIDE, SIDE)), requires_grad=True)
    C = Tensor(np.random.default_rng(0).integers(-3, 4, (SIDE, SIDE)).astype(np.float64))
    start = threading.Barrier(THREADS)

    def work(i):
        start.wait()  # all at once
        for _ in range(STEPS):
            (W * C).sum().backward()

    run_threads(work, THREADS)
    np.testing.assert_array_equal(W.grad.data, C.data * (THREADS * STEPS))


def test_concurrent_backwards_through_matmul_and_a_shared_intermediate_free_graph():
    """Each thread its own batch through one weight (a matrix product: BLAS in every thread at once)."""
    rng = np.random.default_rng(1)
    W = Tensor(np.zeros((16, 8)), requires_grad=True)
    xs = [Tensor(rng.integers(-2, 3, (4, 16)).astype(np.float64)) for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def work(i):
        start.wait()
        for _ in range(STEPS // 4):
            (xs[i] @ W).sum().backward()

    run_threads(work, THREADS)
    expected = sum(x.data.T @ np.ones((4, 8)) for x in xs) * (STEPS // 4)
    np.testing.assert_array_equal(W.grad.data, expected)


def test_grad_mode_is_per_thread():
    """One thread inside no_grad while another records a graph, at the same moment."""
    x = Tensor(np.ones(3), requires_grad=True)
    inside, done = threading.Barrier(2), threading.Barrier(2)
    seen = {}

    def quiet(_):
        with no_grad():
            inside.wait()  # both threads are now inside their blocks
            seen["quiet"] = (is_grad_enabled(), (x * 2).requires_grad)
            done.wait()

    def busy(_):
        inside.wait()
        seen["busy"] = (is_grad_enabled(), (x * 2).requires_grad)
        done.wait()

    run_threads(lambda i: (quiet, busy)[i](i), 2)
    assert seen == {"quiet": (False, False), "busy": (True, True)}
    assert is_grad_enabled()


@pytest.mark.parametrize("order", ["nested", "crossed"])
def test_one_no_grad_object_shared_by_two_threads(order):
    """A module-level no_grad() entered by A, then B, then left by A first ("crossed") or B first ("nested"):
    each thread gets its own mode back. B enters with grad disabled by set_grad_enabled(False) beforehand, so a
    shared restore stack would hand one thread the other's mode."""
    shared = no_grad()
    step = [threading.Event() for _ in range(4)]
    seen = {}

    def a(_):
        shared.__enter__()
        step[0].set()
        step[1].wait()  # B is inside too
        if order == "crossed":
            shared.__exit__(None, None, None)
            seen["A after"] = is_grad_enabled()
            step[2].set()
        else:
            step[2].set()
            step[3].wait()  # B has left
            seen["A inside, after B left"] = is_grad_enabled()
            shared.__exit__(None, None, None)
            seen["A after"] = is_grad_enabled()

    def b(_):
        set_grad_enabled(False)
        step[0].wait()
        shared.__enter__()
        step[1].set()
        step[2].wait()
        seen["B inside"] = is_grad_enabled()
        shared.__exit__(None, None, None)
        seen["B after"] = is_grad_enabled()
        step[3].set()

    run_threads(lambda i: (a, b)[i](i), 2)
    assert seen["A after"] is True
    assert seen["B inside"] is False
    assert seen["B after"] is False  # B's own mode before it entered
    if order == "nested":
        assert seen["A inside, after B left"] is False


def test_a_thread_started_inside_no_grad_starts_with_grad_enabled():
    seen = {}
    for name, ctx, check in (("ours", no_grad, is_grad_enabled), ("torch", torch.no_grad, torch.is_grad_enabled)):
        with ctx():
            t = threading.Thread(target=lambda name=name, check=check: seen.__setitem__(name, check()))
            t.start()
            t.join()
            assert not check()
    assert seen == {"ours": True, "torch": True}


def test_set_grad_enabled_in_a_thread_leaves_others_alone():
    flipped, checked = threading.Event(), threading.Event()
    seen = {}

    def flipper(_):
        set_grad_enabled(False)
        flipped.set()
        checked.wait()
        seen["flipper"] = is_grad_enabled()

    def other(_):
        flipped.wait()
        seen["other"] = is_grad_enabled()
        with no_grad():
            with enable_grad():
                seen["nested"] = is_grad_enabled()
        checked.set()

    run_threads(lambda i: (flipper, other)[i](i), 2)
    assert seen == {"flipper": False, "other": True, "nested": True}
    assert is_grad_enabled()


# ---------------------------------------------------------------------------------------------------------------
# the grad-mode API itself, against torch's (the modes the threads above rely on)


def _grad_mode_script(lib):
    seen = []

    @lib.no_grad()
    def generator():
        seen.append(("body", lib.is_grad_enabled()))
        sent = yield 1
        seen.append(("resumed", lib.is_grad_enabled(), sent))
        yield 2
        return "done"

    g = generator()
    next(g)
    seen.append(("caller between yields", lib.is_grad_enabled()))
    g.send("s")
    try:
        next(g)
    except StopIteration as stop:
        seen.append(("returned", stop.value))

    @lib.no_grad
    def bare():
        return lib.is_grad_enabled()

    seen.append(("bare decorator", bare()))
    with lib.set_grad_enabled(False):
        seen.append(("with set_grad_enabled(False)", lib.is_grad_enabled()))
        with lib.set_grad_enabled(True):
            seen.append(("nested True", lib.is_grad_enabled()))
        seen.append(("back to False", lib.is_grad_enabled()))
    seen.append(("after", lib.is_grad_enabled()))
    lib.set_grad_enabled(False)  # a plain call stays in force
    seen.append(("called", lib.is_grad_enabled()))
    lib.set_grad_enabled(True)

    @lib.set_grad_enabled(False)
    def decorated():
        return lib.is_grad_enabled()

    seen.append(("decorated", lib.is_grad_enabled(), decorated(), lib.is_grad_enabled()))
    try:
        with lib.no_grad():
            raise KeyError
    except KeyError:
        seen.append(("restored after an exception", lib.is_grad_enabled()))
    return seen


def test_grad_mode_api_matches_torch():
    import tinygrad_np

    assert _grad_mode_script(tinygrad_np) == _grad_mode_script(torch)
