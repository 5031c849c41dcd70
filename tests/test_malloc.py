"""The allocator policy `import tinygrad_np` applies (tinygrad_np/malloc.py), each case in a fresh subprocess.

What a test can hold without timing anything: what `policy()` reports, what glibc then does (whether a 16 MiB block
comes from the heap or from a fresh mmap, read from `mallinfo2`), and minor page faults per training step, which
are deterministic enough to assert (~0.1 against hundreds or thousands). The fault tests run a history that puts
glibc's dynamic thresholds low and check both sides: ~0 faults per step with the policy, and the cliff without it
(so that the check is known to be able to fail).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False


glibc_only = pytest.mark.skipif(not _is_glibc(), reason="the allocator policy applies to glibc's malloc only")

# Settings that decide the outcome, removed from the children's environment unless a test sets them.
_CONTROLLED = ("TINYGRAD_NP_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
               "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES", "OPENBLAS_NUM_THREADS", "LD_PRELOAD")

# In the child: where a 16 MiB block comes from (glibc's default mmaps anything above its 128 KiB starting threshold
# until the process has freed a larger mmapped block, which importing tinygrad_np does not).
_PROBE = """
import ctypes
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2().hblks
block = libc.malloc(16 << 20)
mmapped = libc.mallinfo2().hblks > before
libc.free(block)
"""


def run(code: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run `code` (with `args` as sys.argv[1:]) in a fresh interpreter, cwd the repository, in a controlled
    environment."""
    child_env = {k: v for k, v in os.environ.items() if k not in _CONTROLLED}
    child_env["PYTHONPATH"] = ROOT + os.pathsep + child_env.get("PYTHONPATH", "")
    child_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          env=child_env, cwd=ROOT, timeout=300)


def run_child(code: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> dict:
    """`run`, for code that prints one JSON object as its last line: that object."""
    done = run(code, env, args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


REPORT = """
import json
import tinygrad_np
""" + _PROBE + """
print(json.dumps({"policy": tinygrad_np.malloc.policy(), "describe": tinygrad_np.malloc.describe(),
                  "mmapped": mmapped}))
"""


@glibc_only
def test_import_applies_the_policy_by_default():
    from tinygrad_np import malloc

    out = run_child(REPORT)
    policy = out["policy"]
    assert policy["state"] == "applied", policy
    assert policy["by"] == "default policy"
    assert (policy["mmap_threshold"], policy["trim_threshold"]) == (malloc.MMAP_THRESHOLD, malloc.TRIM_THRESHOLD)
    assert "32 MiB" in out["describe"] and "128 MiB" in out["describe"]
    assert out["mmapped"] is False  # glibc took it: a 16 MiB block now comes from the heap


@glibc_only
@pytest.mark.parametrize("value", ["off", "default", "0", "OFF"])
def test_env_var_turns_the_policy_off(value):
    out = run_child(REPORT, {"TINYGRAD_NP_MALLOC": value})
    assert out["policy"]["state"] == "off"
    assert out["policy"]["mmap_threshold"] is None and out["policy"]["trim_threshold"] is None
    assert value in out["policy"]["reason"]
    assert out["mmapped"] is True  # glibc's own default: mmapped


@glibc_only
@pytest.mark.parametrize("env", [{"MALLOC_MMAP_THRESHOLD_": "65536"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"MALLOC_TOP_PAD_": "0"}, {"MALLOC_MMAP_MAX_": "65536"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}],
                         ids=lambda env: next(iter(env)) + ("=" + env["GLIBC_TUNABLES"].split("=")[0]
                                                            if "GLIBC_TUNABLES" in env else ""))
def test_a_users_own_glibc_setting_is_left_alone(env):
    out = run_child(REPORT, env)
    assert out["policy"]["state"] == "user", out["policy"]
    name = next(iter(env))
    assert name in out["policy"]["reason"]
    assert out["mmapped"] is True  # the user's setting (or glibc's default) in force, not ours


@glibc_only
def test_an_unrelated_glibc_variable_does_not_turn_it_off():
    out = run_child(REPORT, {"MALLOC_ARENA_MAX": "2"})
    assert out["policy"]["state"] == "applied"


@glibc_only
def test_an_unrecognised_value_warns_and_leaves_malloc_alone():
    done = run("import tinygrad_np", {"TINYGRAD_NP_MALLOC": "of", "PYTHONWARNINGS": "default"})
    assert done.returncode == 0 and "RuntimeWarning: TINYGRAD_NP_MALLOC='of'" in done.stderr
    out = run_child(REPORT, {"TINYGRAD_NP_MALLOC": "of"})
    assert out["policy"]["state"] == "off" and out["mmapped"] is True


@glibc_only
def test_apply_is_idempotent_and_tune_malloc_still_works():
    out = run_child("""
        import json
        from tinygrad_np import malloc
        first = malloc.apply_default_policy()
        again = malloc.apply_default_policy()
        tuned = malloc.tune_malloc(16 << 20, 64 << 20)
        after = malloc.policy()
        untouched = malloc.apply_default_policy()  # does not undo an explicit tune_malloc
        print(json.dumps({"first": first, "again": again, "tuned": tuned, "after": after, "untouched": untouched}))
    """)
    assert out["first"] == out["again"] and out["first"]["state"] == "applied"
    assert out["tuned"] is True
    assert out["after"]["by"] == "tune_malloc" and out["after"]["trim_threshold"] == 64 << 20
    assert out["untouched"] == out["after"]
    off = run_child("""
        import json
        from tinygrad_np import malloc
        print(json.dumps({"tuned": malloc.tune_malloc(), "forced": malloc.tune_malloc(force=True),
                          "policy": malloc.policy()}))
    """, {"TINYGRAD_NP_MALLOC": "off"})
    assert off["tuned"] is False  # respects the user's choice unless forced
    assert off["forced"] is True and off["policy"]["by"] == "tune_malloc"


def test_policy_reports_a_state_everywhere():
    from tinygrad_np import malloc

    report = malloc.policy()
    assert set(report) == {"state", "by", "mmap_threshold", "trim_threshold", "reason"}
    assert report["state"] in ("applied", "off", "user", "unsupported", "failed", "not applied")
    assert isinstance(malloc.describe(), str)
    if not _is_glibc():
        assert malloc.apply_default_policy()["state"] in ("unsupported", "off", "user")
        assert malloc.tune_malloc() is False


# ------------------------------------------------------------------------------------------ faults per step

# A history that leaves glibc's thresholds as low as the steps let them be (nothing larger than a step's own blocks
# is ever freed: random float32 data made in place, weights drawn in float32 straight into the parameters; the
# `minimal` history of benchmarks/bench_alloc_history.py), then the steps, counting minor faults after a warm-up.
FAULTS = """
import json, math, resource, sys
import numpy as np
import tinygrad_np, nn
from nn.conv import Conv2d, MaxPool2d
from tinygrad_np import Tensor, rng

def float32_init(weight, bias=None):
    bound = 1 / math.sqrt(math.prod(weight.shape[1:]))
    for t in (weight, bias):
        if t is not None:
            rng.generator().random(out=t.data, dtype=np.float32)
            t.data *= 2 * bound
            t.data -= bound

nn.init.pytorch_default_ = float32_init
workload, steps, warmup = sys.argv[1], int(sys.argv[2]), 5  # (after 3, a one-off ~1 MB of heap growth remained)
batch = 64 if workload == "cnn" else 128
x = np.empty((batch * (steps + warmup), 784), np.float32)
np.random.default_rng(0).random(out=x, dtype=np.float32)
y = np.arange(len(x)) % 10
if workload == "cnn":
    x = x.reshape(-1, 1, 28, 28)
    model = nn.Sequential(Conv2d(1, 16, 3, padding=1), nn.ReLU(), MaxPool2d(2), Conv2d(16, 32, 3, padding=1),
                          nn.ReLU(), MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
else:
    model = nn.MLP([int(n) for n in workload.split("-")])
optimizer = nn.optim.SGD(model.parameters(), lr=0.05)
for i in range(steps + warmup):
    if i == warmup:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    s = slice(i * batch, (i + 1) * batch)
    loss = nn.functional.cross_entropy(model(Tensor(x[s])), y[s])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults_per_step": faults / steps, "policy": tinygrad_np.malloc.policy()["state"]}))
"""


def faults_per_step(workload: str, steps: int, threads: str, policy: str) -> float:
    env = {"OPENBLAS_NUM_THREADS": threads}
    if policy == "off":
        env["TINYGRAD_NP_MALLOC"] = "off"
    out = run_child(FAULTS, env, args=(workload, str(steps)))
    assert out["policy"] == ("off" if policy == "off" else "applied")
    return out["faults_per_step"]


# (workload, steps, OPENBLAS_NUM_THREADS). Measured on glibc 2.36, 2 vCPUs, THP "always", in this history: with
# the policy, 0.0-0.5 faults per step for each. Without it: the CNN (batch 64) 5,500-6,600 per step, the deeper MLP
# (batch 128) 1,000 under one BLAS thread; the MLP 784-128-10 fell off under two BLAS threads (170-220 faults
# per step in 10 runs) until the optimizers stopped allocating per step, and no longer falls off in any history
# tried (benchmarks/bench_alloc_history.py): it is checked with the policy only.
WITH_POLICY = [("784-128-10", 50, "2"), ("784-512-512-512-10", 50, "1"), ("cnn", 20, "1")]
# (workload, steps, OPENBLAS_NUM_THREADS, faults per step without the policy: more than)
WITHOUT = [("784-512-512-512-10", 50, "1", 300), ("cnn", 20, "1", 1000)]


@glibc_only
@pytest.mark.parametrize("workload, steps, threads", WITH_POLICY, ids=[c[0] for c in WITH_POLICY])
def test_no_page_faults_per_step_with_the_policy(workload, steps, threads):
    if threads != "1" and (os.cpu_count() or 1) < int(threads):
        pytest.skip(f"{threads} BLAS threads wanted; {os.cpu_count()} CPU(s) here")
    assert faults_per_step(workload, steps, threads, "on") < 2


@glibc_only
@pytest.mark.parametrize("workload, steps, threads, cliff", WITHOUT, ids=[c[0] for c in WITHOUT])
def test_the_same_history_falls_off_the_cliff_without_it(workload, steps, threads, cliff):
    """The check above can fail: the same history and steps with glibc's default behaviour fault every step."""
    assert faults_per_step(workload, steps, threads, "off") > cliff
