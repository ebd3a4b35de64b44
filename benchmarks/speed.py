"""Speed of ``tfp_flows`` against TFP's stock ``tfb.RealNVP`` of the same architecture.

Everything that is compared is measured in one process, interleaved (ours and
TFP alternate within each repetition, the order flipping every repetition),
after a warm-up; the tables give medians over the repetitions and the median
of the per-repetition ratios. The machine may be shared: the load average is
printed at the start and the end.

The baseline is what a TFP user would write: 8 x ``tfb.RealNVP(num_masked=d//2,
shift_and_log_scale_fn=mlp)`` with a ``tfb.Permute`` (reversal) between layers,
``mlp`` a ``tf.Module`` MLP with hidden (64, 64) relu on plain ``tf.Variable`` s
returning ``(shift, log_scale)``, in a ``tfd.TransformedDistribution`` over
``N(0, I)``, trained with Keras 3 Adam in a ``tf.function(jit_compile=True)``
step called once per step from a Python loop.

Ours is ``tff.real_nvp(d, mixing=None, standardize=False, activation="relu")``
(the same architecture) and, as a second row, ``tff.real_nvp(d)`` (defaults:
gelu, an LU linear layer after every coupling, a Standardize layer). Training throughput
is the steady state of the compiled chunk that ``tff.fit`` runs
(``tfp_flows.training.make_train_chunk``: 100 optimizer steps per XLA call in
a ``tf.while_loop``, fit's default optimizer, batches gathered from the data
inside the call); a separate table times whole ``tff.fit`` calls.

    python benchmarks/speed.py            # full run, ~5-7 min on 2 cores
    python benchmarks/speed.py --quick    # ~1 min smoke run
    python benchmarks/speed.py --no-memory --no-scaling --no-ablations
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_probability as tfp  # noqa: E402

import tfp_flows as tff  # noqa: E402
from tfp_flows import training  # noqa: E402
from tfp_flows.training import fitting  # noqa: E402

tfb, tfd = tfp.bijectors, tfp.distributions
HIDDEN = 64
N_DATA = 100_000
ORIGINAL_MAKE_TRAIN_CHUNK = training.make_train_chunk


# -- machine, memory -----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{usable} usable ({os.cpu_count()} online)"


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def reset_peak_rss() -> bool:
    """Resets VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


# -- timing helpers --------------------------------------------------------------------------------


def median(values):
    return float(statistics.median(values))


CPU_WALL: list[tuple[float, float]] = []  # (process CPU seconds, wall seconds) of timed loops


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def interleave(fns: dict, reps: int) -> dict:
    """Calls every ``fns[name]() -> seconds`` once per repetition, alternating the order."""
    names = list(fns)
    times = {name: [] for name in names}
    cpu, wall = cpu_seconds(), time.perf_counter()
    for rep in range(reps):
        for name in names if rep % 2 == 0 else names[::-1]:
            times[name].append(fns[name]())
    CPU_WALL.append((cpu_seconds() - cpu, time.perf_counter() - wall))
    return times


def cpu_per_wall(since: int = 0) -> float:
    """Cores this process kept busy on average during the timed loops (2.0 = both)."""
    cpu = sum(c for c, _ in CPU_WALL[since:])
    wall = sum(w for _, w in CPU_WALL[since:])
    return cpu / wall if wall else float("nan")


def allocator_peak_mb(fn) -> float:
    """Peak bytes TF's CPU allocator held during ``fn()`` above what it held before (MB)."""
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        fn()
        return (tf.config.experimental.get_memory_info("CPU:0")["peak"] - before) / 2**20
    except (ValueError, RuntimeError, tf.errors.OpError):
        return float("nan")


def ratio_median(a: list[float], b: list[float]) -> float:
    """Median over repetitions of ``b[i] / a[i]`` (side-by-side ratio of times)."""
    return median([y / x for x, y in zip(a, b)])


def fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f} M"
    if value >= 1e3:
        return f"{value / 1e3:.1f} k"
    return f"{value:.0f}"


# -- the flows -------------------------------------------------------------------------------------


class TfpMLP(tf.Module):
    """``x0 -> (shift, log_scale)`` for ``tfb.RealNVP``: relu MLP on plain variables."""

    def __init__(self, n_in: int, n_out: int, hidden=(HIDDEN, HIDDEN), seed: int = 0, name=None):
        super().__init__(name=name)
        rng = np.random.default_rng(seed)
        sizes = [n_in, *hidden, 2 * n_out]
        self.kernels, self.biases = [], []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            last = i == len(sizes) - 2  # zero last layer: identity at start, as ours
            kernel = (
                np.zeros([fan_in, fan_out])
                if last
                else rng.uniform(-limit, limit, [fan_in, fan_out])
            )
            self.kernels.append(tf.Variable(kernel, dtype=tf.float32, name=f"kernel_{i}"))
            self.biases.append(tf.Variable(np.zeros(fan_out), dtype=tf.float32, name=f"bias_{i}"))

    def __call__(self, x, output_units, **condition_kwargs):
        h = x
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = tf.matmul(h, kernel) + bias
            if i < len(self.kernels) - 1:
                h = tf.nn.relu(h)
        shift, log_scale = tf.split(h, 2, axis=-1)
        return shift, log_scale


def tfp_real_nvp(d: int, num_layers: int = 8) -> tfd.TransformedDistribution:
    layers = []
    for i in range(num_layers):
        if i:
            layers.append(tfb.Permute(list(reversed(range(d))), name=f"permute_{i}"))
        layers.append(
            tfb.RealNVP(
                num_masked=d // 2,
                shift_and_log_scale_fn=TfpMLP(d // 2, d - d // 2, seed=i, name=f"mlp_{i}"),
                name=f"real_nvp_{i}",
            )
        )
    base = tfd.MultivariateNormalDiag(tf.zeros([d]))
    return tfd.TransformedDistribution(base, tfb.Chain(list(reversed(layers))))


def ours_same(d: int, num_layers: int = 8) -> tfd.TransformedDistribution:
    return tff.real_nvp(
        d, num_layers, (HIDDEN, HIDDEN), activation="relu", mixing=None, standardize=False
    )


def ours_default(d: int, num_layers: int = 8) -> tfd.TransformedDistribution:
    return tff.real_nvp(d, num_layers, (HIDDEN, HIDDEN))


FLOWS = {
    "ours (same arch.)": ours_same,
    "ours (defaults)": ours_default,
    "TFP RealNVP": tfp_real_nvp,
}
FLOW_NOTES = {
    "ours (same arch.)": "real_nvp(d, mixing=None, standardize=False, activation='relu')",
    "ours (defaults)": "real_nvp(d): gelu, LU mixing, Standardize",
    "TFP RealNVP": "8 x tfb.RealNVP + tfb.Permute, relu MLP, 1 jit step per Python call",
}


def make_data(d: int, n: int = N_DATA, seed: int = 0) -> np.ndarray:
    if d == 2:
        return tff.datasets.make_moons(n, noise=0.05, seed=seed).astype(np.float32)
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=[d, d]) / np.sqrt(d)
    return (rng.normal(size=[n, d]) @ mixing + rng.normal(size=d)).astype(np.float32)


def flops_forward_per_point(
    d: int, num_layers: int = 8, hidden=(HIDDEN, HIDDEN), num_lu: int = 0
) -> float:
    """Matmul FLOPs (2 per multiply-add) of one forward/inverse pass, per point."""
    d_a, d_b = d // 2, d - d // 2
    sizes = [d_a, *hidden, 2 * d_b]
    per_coupling = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return num_layers * per_coupling + num_lu * 2 * d * d


def count_lu_layers(flow) -> int:
    """Number of ``LULinear`` layers in a flow's chain (0 for TFP's)."""
    from tfp_flows.bijectors.linear import LULinear

    return sum(isinstance(b, LULinear) for b in getattr(flow.bijector, "bijectors", ()))


# -- trainers ----------------------------------------------------------------------------------------


class OursTrainer:
    """fit's compiled chunk (``make_train_chunk``) with fit's default optimizer."""

    max_steps = 100  # fit's steps_per_execution

    def __init__(
        self,
        flow,
        data: np.ndarray,
        batch_size: int,
        optimizer=None,
        jit=True,
        max_steps: int = 100,
    ):
        self.flow = flow
        self.max_steps = max_steps
        variables = list(flow.trainable_variables)
        assert variables, "our flow has no trainable variables"
        for layer in training.find_standardize_layers(flow.bijector):
            layer.adapt(data)
        optimizer = optimizer or training.default_optimizer(10**7)
        optimizer = training.build_optimizer(optimizer, variables)
        source = tf.constant(data)
        self.chunk = ORIGINAL_MAKE_TRAIN_CHUNK(
            flow, optimizer, variables, lambda rows: tf.gather(source, rows), jit
        )
        rng = np.random.default_rng(1)
        self.inputs = tf.constant(
            rng.integers(0, data.shape[0], [max_steps, batch_size]).astype(np.int32)
        )
        self.losses = []

    def first(self) -> float:
        started = time.perf_counter()
        self.losses.append(self.chunk(self.inputs, tf.constant(1)).numpy()[0])
        return time.perf_counter() - started

    def run(self, steps: int) -> float:
        started = time.perf_counter()
        done = 0
        while done < steps:
            count = min(self.max_steps, steps - done)
            losses = self.chunk(self.inputs, tf.constant(count)).numpy()
            done += count
        elapsed = time.perf_counter() - started
        self.losses.append(float(losses[count - 1]))
        return elapsed


class TfpTrainer:
    """A jit-compiled Adam step on TFP's flow, one call per step from Python."""

    def __init__(self, flow, data: np.ndarray, batch_size: int, optimizer=None):
        import keras

        self.flow = flow
        variables = list(flow.trainable_variables)
        assert variables, "the TFP baseline has no trainable variables"
        self.num_variables = len(variables)
        optimizer = optimizer or keras.optimizers.Adam(1e-3)
        optimizer.build(variables)

        @tf.function(jit_compile=True)
        def step(x):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(flow.log_prob(x))
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            return loss

        self.step = step
        rng = np.random.default_rng(1)
        self.batches = [
            tf.constant(data[rng.integers(0, data.shape[0], batch_size)]) for _ in range(8)
        ]
        self.losses = []

    def first(self) -> float:
        started = time.perf_counter()
        self.losses.append(float(self.step(self.batches[0])))
        return time.perf_counter() - started

    def run(self, steps: int) -> float:
        started = time.perf_counter()
        for k in range(steps):
            loss = self.step(self.batches[k % len(self.batches)])
        loss = float(loss)
        elapsed = time.perf_counter() - started
        self.losses.append(loss)
        return elapsed


def make_trainer(name: str, d: int, data, batch_size: int, num_layers: int = 8):
    flow = FLOWS[name](d, num_layers)
    if name.startswith("TFP"):
        return TfpTrainer(flow, data, batch_size)
    return OursTrainer(flow, data, batch_size)


def steps_for(seconds_per_step: float, target: float) -> int:
    return int(max(1, min(2000, round(target / max(seconds_per_step, 1e-6)))))


# -- sections ----------------------------------------------------------------------------------------


class Matmul:
    def __init__(self, n: int):
        self.n = n
        self.a = tf.random.stateless_normal([n, n], seed=[1, 2])
        self.b = tf.random.stateless_normal([n, n], seed=[3, 4])
        self.fn = tf.function(lambda a, b: tf.matmul(a, b), jit_compile=True)
        self.fn(self.a, self.b).numpy()

    def time(self) -> float:
        started = time.perf_counter()
        self.fn(self.a, self.b).numpy()
        return time.perf_counter() - started

    @property
    def flops(self) -> float:
        return 2.0 * self.n**3


def section_training(args, matmul: Matmul, results: dict) -> None:
    d = 2
    data = make_data(d)
    print("\n## Training throughput (event size 2, 8 layers, hidden 64-64)\n")
    print(
        "Steady state, first call (trace + XLA compile) excluded. Ours: fit's compiled chunk "
        f"(`make_train_chunk`, up to 100 steps per call, fit's default Adam with clipnorm=1). "
        "TFP: one `tf.function(jit_compile=True)` Adam step per Python call. "
        f"Median over {args.reps} interleaved repetitions of ~{args.chunk_seconds:.2f} s each; "
        "the matmul reference (2048^3, jit) is interleaved with them.\n"
    )
    rows, checks = [], []
    since = len(CPU_WALL)
    for batch_size in args.train_batches:
        trainers = {name: make_trainer(name, d, data, batch_size) for name in FLOWS}
        first = {name: trainer.first() for name, trainer in trainers.items()}
        # warm-up and calibration: a few steps each
        per_step = {}
        for name, trainer in trainers.items():
            trainer.run(3)
            per_step[name] = trainer.run(10) / 10
        steps = {name: steps_for(per_step[name], args.chunk_seconds) for name in trainers}
        fns = {
            name: (lambda t=trainer, s=steps[name]: t.run(s) / s)
            for name, trainer in trainers.items()
        }
        fns["matmul"] = matmul.time
        times = interleave(fns, args.reps)
        tfp_trainer = trainers["TFP RealNVP"]
        assert tfp_trainer.num_variables == 48, tfp_trainer.num_variables
        for name, trainer in trainers.items():
            start, end = trainer.losses[0], trainer.losses[-1]
            if not end < start:
                print(f"WARNING: {name} did not train at batch {batch_size}: loss {start} -> {end}")
        checks.append(
            f"batch {batch_size}: TFP baseline has {tfp_trainer.num_variables} trainable "
            f"variables, NLL {tfp_trainer.losses[0]:.3f} -> {tfp_trainer.losses[-1]:.3f} "
            f"after {1 + 13 + args.reps * steps['TFP RealNVP']} steps "
            + ("(trains)" if tfp_trainer.losses[-1] < tfp_trainer.losses[0] else "(DID NOT TRAIN)")
        )
        for name, trainer in trainers.items():
            results.setdefault("alloc", {})[("train", batch_size, name)] = allocator_peak_mb(
                lambda t=trainer: t.run(1)
            )
        results.setdefault("training", {})[batch_size] = {
            "times": times,
            "first": first,
            "steps": steps,
            "loss": {n: (t.losses[0], t.losses[-1]) for n, t in trainers.items()},
        }
        for name in trainers:
            sec = median(times[name])
            num_lu = count_lu_layers(trainers[name].flow)
            flops = 3 * flops_forward_per_point(d, num_lu=num_lu) * batch_size
            # share of the matmul's GFLOP/s, per repetition (side by side), then the median
            share = median(
                [(flops / t) / (matmul.flops / m) for t, m in zip(times[name], times["matmul"])]
            )
            rows.append(
                (
                    batch_size,
                    name,
                    1 / sec,
                    sec * 1e3,
                    ratio_median(times[name], times["TFP RealNVP"]),
                    flops / sec / 1e9,
                    share,
                    first[name],
                    trainer_loss(trainers[name]),
                )
            )
        del trainers
    print(
        "| batch | flow | steps/s | ms/step | speed-up vs TFP | GFLOP/s | share of matmul "
        "| first call (s) | loss first -> last |"
    )
    # 'share of matmul' = achieved GFLOP/s / the interleaved matmul's GFLOP/s, per repetition
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for batch, name, rate, ms, ratio, gflops, share, first_s, loss in rows:
        print(
            f"| {batch} | {name} | {rate:,.0f} | {ms:.2f} | {ratio:.2f}x | {gflops:.1f} "
            f"| {100 * share:.0f}% | {first_s:.1f} | {loss} |"
        )
    mm = [
        matmul.flops / t / 1e9
        for b in results["training"]
        for t in results["training"][b]["times"]["matmul"]
    ]
    results["matmul_gflops"] = median(mm)
    print("\nBaseline check: " + "; ".join(checks) + ".")
    print(
        f"This process kept {cpu_per_wall(since):.2f} cores busy on average during these timings "
        "(2 = the whole machine; less means other processes took CPU time)."
    )
    print(
        f"Reference: {matmul.n}x{matmul.n} @ {matmul.n}x{matmul.n} float32 matmul (jit): "
        f"median {median(mm):.1f} GFLOP/s (min {min(mm):.1f}, max {max(mm):.1f}) over "
        f"{len(mm)} runs interleaved with the training chunks."
    )
    print(
        "FLOPs counted analytically (matmuls only, 2 FLOPs per multiply-add): per point and "
        "coupling layer one pass costs 2*(d_a*64 + 64*64 + 64*2*d_b) = 8,576 at d = 2 "
        "(d_a = d_b = 1); a training step ~ 3x one pass (forward + backward) x 8 layers x batch "
        "(+ 2*d^2 per point for each LU layer of the default flow). Elementwise work "
        "(exp, tanh, gelu, Adam) is not counted. 'first call' is the in-process trace + XLA "
        "compile + one step of a freshly built flow (after other flows were compiled; see the "
        "fresh-process numbers below)."
    )


def trainer_loss(trainer) -> str:
    return f"{trainer.losses[0]:.3f} -> {trainer.losses[-1]:.3f}"


def section_density(args, results: dict) -> None:
    d, n = 2, args.points
    print(f"\n## log_prob and sampling ({n:,}-point batches, event size 2, 8 layers)\n")
    x = tf.constant(make_data(d, n, seed=5))
    timers, first = {}, {}
    for name, build in FLOWS.items():
        flow = build(d)
        log_prob = tf.function(lambda x, flow=flow: flow.log_prob(x), jit_compile=True)
        sample = tf.function(lambda seed, flow=flow: flow.sample(n, seed=seed), jit_compile=True)
        seed = tf.constant([1, 2], tf.int32)
        started = time.perf_counter()
        log_prob(x).numpy()
        first[(name, "log_prob")] = time.perf_counter() - started
        started = time.perf_counter()
        sample(seed).numpy()
        first[(name, "sample")] = time.perf_counter() - started

        def time_it(fn, arg):
            started = time.perf_counter()
            fn(arg).numpy()
            return time.perf_counter() - started

        for _ in range(2):  # warm-up
            time_it(log_prob, x), time_it(sample, seed)
        alloc = results.setdefault("alloc", {})
        alloc[("log_prob", n, name)] = allocator_peak_mb(lambda f=log_prob: f(x).numpy())
        alloc[("sample", n, name)] = allocator_peak_mb(lambda f=sample, s=seed: f(s).numpy())
        timers[(name, "log_prob")] = lambda f=log_prob: time_it(f, x)
        timers[(name, "sample")] = lambda f=sample, s=seed: time_it(f, s)
    out = {}
    for what in ("log_prob", "sample"):
        fns = {name: timers[(name, what)] for name in FLOWS}
        out[what] = interleave(fns, args.reps)
    results["density"] = out
    print(
        f"Both compiled with `tf.function(jit_compile=True)`; median over {args.reps} "
        "interleaved calls after 2 warm-up calls. Ratios are medians of side-by-side ratios.\n"
    )
    print(
        "| flow | log_prob points/s | vs TFP | sample points/s | vs TFP | "
        "first log_prob call (s) | first sample call (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in FLOWS:
        lp, sm = out["log_prob"], out["sample"]
        print(
            f"| {name} | {fmt_rate(n / median(lp[name]))} "
            f"| {ratio_median(lp[name], lp['TFP RealNVP']):.2f}x "
            f"| {fmt_rate(n / median(sm[name]))} "
            f"| {ratio_median(sm[name], sm['TFP RealNVP']):.2f}x "
            f"| {first[(name, 'log_prob')]:.1f} | {first[(name, 'sample')]:.1f} |"
        )
    # The random numbers alone: TFP's samplers call tf.random.stateless_normal with the
    # default alg ("auto_select"), which XLA on CPU compiles to a slow RngBitGenerator.
    seed = tf.constant([1, 2], tf.int32)
    base = tfd.MultivariateNormalDiag(tf.zeros([d]))
    rng = {
        "N(0, I) base: `MultivariateNormalDiag.sample` (TFP, default alg)": tf.function(
            lambda s: base.sample(n, seed=s), jit_compile=True
        ),
        "`tf.random.stateless_normal` (default alg='auto_select')": tf.function(
            lambda s: tf.random.stateless_normal([n, d], seed=s), jit_compile=True
        ),
        "`tf.random.stateless_normal(alg='philox')`": tf.function(
            lambda s: tf.random.stateless_normal([n, d], seed=s, alg="philox"), jit_compile=True
        ),
    }

    def time_rng(fn):
        started = time.perf_counter()
        fn(seed).numpy()
        return time.perf_counter() - started

    for fn in rng.values():
        time_rng(fn), time_rng(fn)
    rng_times = interleave({k: (lambda f=f: time_rng(f)) for k, f in rng.items()}, args.reps)
    results["rng"] = rng_times
    print(
        f"\nWhere sampling time goes: drawing the {n:,} x {d} base normals alone (jit, seed "
        "passed as a tensor):\n"
    )
    print("| what | ms |")
    print("|---|---:|")
    for k, v in rng_times.items():
        print(f"| {k} | {median(v) * 1e3:.2f} |")
    f1 = flops_forward_per_point(d) * n
    print(
        f"\n(One pass over {n:,} points = {f1 / 1e9:.2f} GFLOP of matmuls for the same-architecture "
        f"flows: ours log_prob at {f1 / median(out['log_prob']['ours (same arch.)']) / 1e9:.1f} "
        f"GFLOP/s, TFP at {f1 / median(out['log_prob']['TFP RealNVP']) / 1e9:.1f} GFLOP/s.)"
    )


def section_fit(args, results: dict) -> None:
    """Whole ``tff.fit`` calls, with the compiled chunk wrapped to time each call."""
    d = 2
    data = make_data(d)
    print("\n## `tff.fit` end to end (event size 2, 8 layers)\n")
    print(
        "Each `fit` call builds a new optimizer and `tf.function`, so it traces and compiles "
        "again: the first chunk of every call pays that. 'steady' = steps after the first chunk / "
        "time after the first chunk (includes fit's Python work between chunks); 'between "
        "chunks' = fit's Python time per chunk outside the compiled call.\n"
    )
    print(
        "| flow | batch | steps | fit wall (s) | first chunk (s) | steady steps/s "
        "| between chunks (ms) | compiled-chunk steps/s (table above) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    calls = []

    def timed_make(*a, **k):
        fn = ORIGINAL_MAKE_TRAIN_CHUNK(*a, **k)

        def timed(inputs, count):
            started = time.perf_counter()
            out = fn(inputs, count)
            out = out.numpy()
            calls.append((started, time.perf_counter(), int(count)))
            return out

        return timed

    fitting.make_train_chunk = timed_make  # what fit calls
    try:
        for name in args.fit_flows:
            for batch_size, steps in zip(args.train_batches, args.fit_steps):
                flow = FLOWS[name](d)
                calls.clear()
                started = time.perf_counter()
                history = tff.fit(flow, data, steps=steps, batch_size=batch_size, progress=False)
                wall = time.perf_counter() - started
                assert history.loss[-1] < history.loss[0]
                first_end = calls[0][1]
                rest_steps = sum(c for _, _, c in calls[1:])
                rest_time = started + wall - first_end
                in_chunks = sum(e - s for s, e, _ in calls[1:])
                between = (rest_time - in_chunks) / max(1, len(calls) - 1)
                steady = rest_steps / rest_time if rest_steps else float("nan")
                ref = results.get("training", {}).get(batch_size)
                ref_rate = 1 / median(ref["times"][name]) if ref else float("nan")
                print(
                    f"| {name} | {batch_size} | {steps} | {wall:.1f} | {calls[0][1] - calls[0][0]:.1f} "
                    f"| {steady:,.0f} | {1e3 * between:.1f} | {ref_rate:,.0f} |"
                )
    finally:
        fitting.make_train_chunk = ORIGINAL_MAKE_TRAIN_CHUNK


def section_scaling(args, results: dict) -> None:
    print("\n## Scaling of ours (training step, `mixing=None`, relu, no Standardize)\n")
    print(
        "`mixing=None` because the LU layers add event_size^2 work per layer by design. "
        "Compiled chunk as above; all configurations compiled first, then timed interleaved "
        f"(median of {args.reps}). 'per unit' divides the step time by the scaled quantity; "
        "'per GFLOP' divides it by the analytic training FLOPs (3 x forward matmul FLOPs).\n"
    )
    configs = []
    for d in args.scale_event_sizes:
        configs.append(("event size", d, dict(d=d, layers=8, batch=1024)))
    for layers in args.scale_layers:
        configs.append(("layers", layers, dict(d=16, layers=layers, batch=1024)))
    for batch in args.scale_batches:
        configs.append(("batch", batch, dict(d=2, layers=8, batch=batch)))
    trainers, per_step, compile_s = {}, {}, {}
    data_cache = {}
    for key in configs:
        cfg = key[2]
        ident = (cfg["d"], cfg["layers"], cfg["batch"])
        if ident in trainers:
            continue
        if cfg["d"] not in data_cache:
            data_cache[cfg["d"]] = make_data(cfg["d"], max(N_DATA, cfg["batch"]))
        trainer = OursTrainer(
            ours_same(cfg["d"], cfg["layers"]), data_cache[cfg["d"]], cfg["batch"]
        )
        compile_s[ident] = trainer.first()
        trainer.run(2)
        per_step[ident] = trainer.run(5) / 5
        trainers[ident] = trainer
    fns = {
        ident: (lambda t=t, s=steps_for(per_step[ident], args.chunk_seconds): t.run(s) / s)
        for ident, t in trainers.items()
    }
    times = interleave(fns, args.reps)
    results["scaling"] = {str(k): v for k, v in times.items()}
    print(
        "| varied | value | d | layers | batch | ms/step | per unit (us) | GFLOP/step "
        "| ms per GFLOP | GFLOP/s | first call (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for varied, value, cfg in configs:
        ident = (cfg["d"], cfg["layers"], cfg["batch"])
        sec = median(times[ident])
        gflop = 3 * flops_forward_per_point(cfg["d"], cfg["layers"]) * cfg["batch"] / 1e9
        print(
            f"| {varied} | {value} | {cfg['d']} | {cfg['layers']} | {cfg['batch']} "
            f"| {sec * 1e3:.2f} | {sec / value * 1e6:.2f} | {gflop:.3f} | {sec * 1e3 / gflop:.2f} "
            f"| {gflop / sec:.1f} | {compile_s[ident]:.1f} |"
        )
    print(
        "\nThe conditioner cost per coupling is 2*(d/2*64 + 64*64 + 64*d) FLOPs per point: "
        "the 64x64 hidden layer dominates up to d ~ 40, so time per step grows with d only "
        "once d is large ('ms per GFLOP' is the fair normalisation across event sizes)."
    )


def section_ablations(args, results: dict) -> None:
    """Where our time goes: variants of the training step, interleaved."""
    d = 2
    data = make_data(d)
    same = dict(activation="relu", mixing=None, standardize=False)
    variants = {
        "same arch. (relu, no LU, no Standardize)": (same, {}),
        "+ Standardize": (dict(same, standardize=True), {}),
        "+ LU mixing": (dict(same, mixing="lu"), {}),
        "gelu instead of relu": (dict(same, activation="gelu"), {}),
        "gelu, tanh approximation": (dict(same, activation="gelu_tanh"), {}),
        "silu instead of relu": (dict(same, activation="silu"), {}),
        "defaults (gelu + LU + Standardize)": ({}, {}),
        "defaults with gelu's tanh approximation": (dict(activation="gelu_tanh"), {}),
        "same arch., 1 step per compiled call": (same, dict(max_steps=1)),
        "same arch., no XLA (tf.function graph)": (same, dict(jit=False)),
    }
    for batch_size in args.ablation_batches:
        print(f"\n## Where the time goes (ours, training, event size 2, batch {batch_size})\n")
        trainers, first, per_step = {}, {}, {}
        for label, (kwargs, trainer_kwargs) in variants.items():
            trainers[label] = OursTrainer(
                tff.real_nvp(d, 8, (HIDDEN, HIDDEN), **kwargs), data, batch_size, **trainer_kwargs
            )
            first[label] = trainers[label].first()
            trainers[label].run(3)
            per_step[label] = trainers[label].run(10) / 10
        fns = {
            label: (lambda t=t, s=steps_for(per_step[label], args.chunk_seconds): t.run(s) / s)
            for label, t in trainers.items()
        }
        times = interleave(fns, args.reps)
        results.setdefault("ablations", {})[batch_size] = times
        base = "same arch. (relu, no LU, no Standardize)"
        print(
            f"Each variant changes one thing of the first row; median over {args.reps} "
            "interleaved repetitions; 'time vs first row' is the median of side-by-side "
            "ratios. 'first call' = trace + compile + 1 step (one sample, noisy).\n"
        )
        print("| variant | ms/step | time vs first row | first call (s) |")
        print("|---|---:|---:|---:|")
        for label in trainers:
            print(
                f"| {label} | {median(times[label]) * 1e3:.3f} "
                f"| {ratio_median(times[base], times[label]):.2f}x | {first[label]:.1f} |"
            )
        del trainers


# -- memory and first step in a fresh process ------------------------------------------------------


def memory_probe(name: str, batch_size: int) -> dict:
    """Runs in a fresh process: time to the first optimizer step and the RSS it took."""
    d = 2
    data = make_data(d)
    flow = FLOWS[name](d)
    rss0 = status_kb("VmRSS")
    peak_reset = reset_peak_rss()
    started = time.perf_counter()
    if name.startswith("TFP"):
        TfpTrainer(flow, data, batch_size).first()
    else:
        tff.fit(flow, data, steps=1, batch_size=batch_size, progress=False)
    info = {"name": name, "first_step_s": time.perf_counter() - started}
    info["first_step_rss_mb"] = (status_kb("VmHWM" if peak_reset else "VmRSS") - rss0) / 1024
    info["peak_reset"] = peak_reset
    return info


def section_memory(args, results: dict) -> None:
    print("\n## Time to first step and memory (event size 2, 8 layers)\n")
    rows = {}
    if not args.no_memory:
        for name in FLOWS:
            command = [
                sys.executable,
                os.path.abspath(__file__),
                "--memory-probe",
                name,
                "--memory-batch",
                str(args.memory_batch),
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=False)
            probes = [text for text in out.stdout.splitlines() if text.startswith("PROBE ")]
            if probes:
                rows[name] = json.loads(probes[-1][len("PROBE ") :])
            else:
                print(f"(fresh-process probe for {name} failed: {out.stderr[-300:]})")
    results["memory"] = rows
    alloc = results.get("alloc", {})
    train_batch = max(args.train_batches)
    print(
        f"'time to first step' and 'RSS for it' come from a fresh Python process per flow (batch "
        f"{args.memory_batch}): time from the built flow to the first finished optimizer step "
        "(ours: `tff.fit(flow, data, steps=1)`, which traces and XLA-compiles fit's 100-step "
        "chunk; TFP: Adam build + first call of the jit step), and the growth of the peak RSS "
        "(VmHWM, reset through /proc/self/clear_refs) during it, which is mostly tracing and "
        "LLVM compilation. The allocator columns come from the main process: the peak bytes "
        "TF's CPU allocator held during one warm call above what it held before "
        "(`tf.config.experimental.get_memory_info('CPU:0')`, which works on CPU in TF 2.21).\n"
    )
    print(
        f"| flow | time to first step (s) | RSS for it (MB) | allocator peak: training step, "
        f"batch {train_batch} (MB) | log_prob, {args.points:,} points (MB) "
        f"| sample, {args.points:,} points (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")

    def cell(value, fmt="{:.1f}"):
        return "n/a" if value is None or value != value else fmt.format(value)

    for name in FLOWS:
        info = rows.get(name, {})
        print(
            f"| {name} | {cell(info.get('first_step_s'))} "
            f"| {cell(info.get('first_step_rss_mb'), '{:.0f}')} "
            f"| {cell(alloc.get(('train', train_batch, name)))} "
            f"| {cell(alloc.get(('log_prob', args.points, name)))} "
            f"| {cell(alloc.get(('sample', args.points, name)))} |"
        )
    per_activation = args.points * HIDDEN * 4 / 2**20
    print(f"\n(One [{args.points:,}, 64] float32 activation is {per_activation:.1f} MB.)")


def jsonable(value):
    """``value`` with tuple/int keys turned into strings, for ``json.dump``."""
    if isinstance(value, dict):
        return {
            k
            if isinstance(k, str)
            else "/".join(map(str, k))
            if isinstance(k, tuple)
            else str(k): jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# -- main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~1 minute smoke run")
    parser.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the fresh-process time-to-first-step / RSS probes",
    )
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--no-fit", action="store_true")
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument(
        "--ablation-batches",
        type=int,
        nargs="*",
        default=None,
        help="batch sizes of the 'where the time goes' table (default 256 4096)",
    )
    parser.add_argument("--json", help="also write the raw timings here")
    parser.add_argument("--memory-probe", help=argparse.SUPPRESS)
    parser.add_argument("--memory-batch", type=int, default=4096)
    parser.add_argument("--points", type=int, default=None)
    args = parser.parse_args()

    if args.memory_probe:
        print("PROBE " + json.dumps(memory_probe(args.memory_probe, args.memory_batch)))
        return

    quick = args.quick
    args.reps = args.reps or (3 if quick else 7)
    args.chunk_seconds = 0.15 if quick else 0.3
    args.points = args.points or (20_000 if quick else 100_000)
    args.train_batches = (256,) if quick else (256, 4096)
    args.fit_flows = ("ours (same arch.)",) if quick else ("ours (same arch.)", "ours (defaults)")
    args.fit_steps = (500,) if quick else (3000, 400)
    args.scale_event_sizes = (2, 16) if quick else (2, 16, 64, 256)
    args.scale_layers = () if quick else (4, 8, 16)
    args.scale_batches = () if quick else (256, 1024, 4096, 16384)
    args.ablation_batches = tuple(args.ablation_batches or (256, 4096))
    if quick:
        args.no_memory = True  # the fresh-process probes; the allocator columns stay
        args.no_ablations = True

    started = time.perf_counter()
    import keras

    print("# tfp_flows speed benchmark" + (" (--quick)" if quick else ""))
    print()
    print(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(
        f"- TensorFlow {tf.__version__}, TensorFlow Probability {tfp.__version__}, "
        f"Keras {keras.__version__}, tfp_flows {tff.__version__}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}"
    )
    print(f"- CPU: {cpu_model()}, {cores()} cores; load average at start: {loadavg()}")
    print(
        "- ours: "
        + FLOW_NOTES["ours (same arch.)"]
        + "; second row: "
        + FLOW_NOTES["ours (defaults)"]
    )
    print("- TFP: " + FLOW_NOTES["TFP RealNVP"])
    sys.stdout.flush()

    results: dict = {}
    matmul = Matmul(2048)
    section_training(args, matmul, results)
    sys.stdout.flush()
    section_density(args, results)
    sys.stdout.flush()
    if not args.no_fit:
        section_fit(args, results)
        sys.stdout.flush()
    if not args.no_scaling:
        section_scaling(args, results)
        sys.stdout.flush()
    if not args.no_ablations:
        section_ablations(args, results)
        sys.stdout.flush()
    section_memory(args, results)
    print(
        f"\nTotal benchmark time {time.perf_counter() - started:.0f} s; load average at end: "
        f"{loadavg()}."
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(jsonable(results), handle, indent=1)


if __name__ == "__main__":
    main()
