"""BayesFlow 2's ``FlowMatching`` on the two moons, at a given wall budget, beside ``tff.cnf``.

Issue 24 asks for the same two-moons density (noise 0.05) fitted with BayesFlow's flow
matching network at the wall budget of our ``tff.cnf`` (``benchmarks/cnf.py``'s ``fit wall``
in the same time window), with its KL gap and its times to score 200 and 10^4 points and to
sample 10^4. BayesFlow needs its own Keras 3 / TensorFlow environment, so this script runs in
two steps with two interpreters:

1. ``--export FILE`` with the project's Python (imports ``tfp_flows``): writes the KL-gap
   points of ``tff.metrics.kl_gap(flow, Moons(0.05), n=20_000, seed=10_000 + s)`` (the very
   points ``benchmarks/cnf.py`` scores at seed ``s``) and their exact log density
   ``log p(x)``.
2. In a virtualenv with ``bayesflow==2.0.12`` (``KERAS_BACKEND=tensorflow``): builds
   ``bayesflow.networks.FlowMatching`` (unconditional: ``conditions=None``), trains it on fresh
   moons samples every step (the same sampler as ``tff.datasets.Moons``, ``a ~ U[0, pi]``, a
   fair coin between the arcs ``(cos a, sin a)`` and ``(1 - cos a, 1/2 - sin a)``, plus
   ``N(0, 0.05^2 I)``) with BayesFlow's ``FlowMatching.compute_metrics`` loss and the optimizer
   of BayesFlow's ``BasicWorkflow`` for online training (Adam, clipnorm 1.5, linear warm-up
   over 5 % of the steps from 0.1x to the peak learning rate, cosine decay to 0), inside
   ``tf.function`` (``--steps-per-call`` steps per call). The number of steps is set so that
   the whole fit, compilation included, takes ``--budget`` seconds of wall time (of this
   process's CPU time with ``--budget-clock cpu``, robust to other load): the first
   ``--probe-steps`` steps time a step, the rest of the budget sets the schedule's length.
   Then ``KL gap = mean(log p(x) - log q(x))`` on the exported points (± its standard error),
   with ``q``'s ``log_prob`` as BayesFlow computes it (ODE with the exact Jacobian trace,
   BayesFlow's default adaptive ``tsit5`` unless ``--integrate-steps`` fixes the step count:
   its adaptive solver runs eagerly only, it fails under ``tf.function``),
   and the times to score 200 and 10^4 points and to sample 10^4 under ``tf.function``
   (first call, tracing included, and the median of 3 calls after it).

    # with the project's Python:
    python benchmarks/bayesflow_flow_matching.py --export /tmp/moons_kl_s0.npz --seed 0
    # in BayesFlow's virtualenv (python3.11 -m venv /tmp/bf-venv &&
    #   /tmp/bf-venv/bin/pip install bayesflow==2.0.12 tensorflow-cpu==2.21.0):
    KERAS_BACKEND=tensorflow /tmp/bf-venv/bin/python benchmarks/bayesflow_flow_matching.py \
        --data /tmp/moons_kl_s0.npz --seed 0 --budget 26.5
    # the table in benchmarks/README.md: the cnf's fit CPU time, fixed solver steps (BayesFlow's
    # adaptive solver fails under tf.function), 10^4 KL points, one eager adaptive call timed:
    KERAS_BACKEND=tensorflow /tmp/bf-venv/bin/python benchmarks/bayesflow_flow_matching.py \
        --data /tmp/moons_kl_s0.npz --seed 0 --budget 33.5 --budget-clock cpu \
        --integrate-steps 32 --kl-points 10000 --repeats 1 --adaptive-few
    # a network the size of tff.cnf's default (3 x 64, no dropout or normalisation):
    KERAS_BACKEND=tensorflow /tmp/bf-venv/bin/python benchmarks/bayesflow_flow_matching.py \
        --data /tmp/moons_kl_s0.npz --seed 0 --budget 26.5 \
        --subnet-kwargs '{"widths": [64, 64, 64], "dropout": 0.0, "norm": null}'
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402


def export(path: str, seed: int, noise: float, n: int) -> None:
    """Write ``x ~ Moons(noise)`` (kl_gap's points at ``seed=10_000 + seed``) and ``log p(x)``."""
    import tensorflow as tf

    import tfp_flows as tff

    target = tff.datasets.Moons(noise=noise)
    x = tf.convert_to_tensor(target.sample(n, seed=tff.stateless_seed(10_000 + seed)))
    np.savez(path, x=x.numpy(), log_p=target.log_prob(x).numpy(), noise=noise, seed=seed)
    print(f"wrote {n} points of Moons({noise}) and their exact log p(x) to {path}")


_CPU: list[float] = []  # process CPU seconds of each first call, in order


def _median_call(fn, repeats: int = 3) -> tuple[float, float]:
    """The first call's seconds (tracing included) and the median of ``repeats`` more."""
    started, cpu_started = time.perf_counter(), time.process_time()
    fn()
    first = time.perf_counter() - started
    _CPU.append(time.process_time() - cpu_started)
    times = []
    for _ in range(max(repeats, 0)):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return first, float(np.median(times)) if times else first


def fit_and_time(args: argparse.Namespace) -> dict:
    import bayesflow as bf
    import keras
    import tensorflow as tf

    data = np.load(args.data)
    if float(data["noise"]) != args.noise or int(data["seed"]) != args.seed:
        raise ValueError(
            f"--data {args.data} holds noise {float(data['noise'])}, seed {int(data['seed'])}; "
            f"expected noise {args.noise}, seed {args.seed} (export it with --export)"
        )
    keras.utils.set_random_seed(args.seed)
    integrate = {}
    if args.integrate_steps is not None:
        integrate = {"method": args.integrate_method, "steps": args.integrate_steps}
    net = bf.networks.FlowMatching(
        subnet_kwargs=json.loads(args.subnet_kwargs), integrate_kwargs=integrate or None
    )
    net.build((None, 2))
    total = tf.Variable(1_000_000.0, trainable=False, dtype=tf.float32)

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """BasicWorkflow's schedule, its length ``total`` a variable set after the probe."""

        def __call__(self, step):
            step = tf.cast(step, tf.float32)
            warmup = tf.maximum(1.0, 0.05 * total)
            rising = args.learning_rate * (0.1 + 0.9 * step / warmup)
            progress = tf.clip_by_value((step - warmup) / tf.maximum(1.0, total - warmup), 0, 1)
            falling = args.learning_rate * 0.5 * (1.0 + tf.cos(math.pi * progress))
            return tf.where(step < warmup, rising, falling)

        def get_config(self):
            return {}

    optimizer = keras.optimizers.Adam(WarmupCosine(), clipnorm=1.5)
    generator = tf.random.Generator.from_seed(args.seed)
    noise, batch = args.noise, args.batch_size

    def moons(n):
        angle = math.pi * generator.uniform([n])
        upper = generator.uniform([n]) < 0.5
        cos, sin = tf.cos(angle), tf.sin(angle)
        mean = tf.where(
            upper[:, None], tf.stack([cos, sin], -1), tf.stack([1.0 - cos, 0.5 - sin], -1)
        )
        return mean + noise * generator.normal([n, 2])

    @tf.function(jit_compile=args.jit_train)
    def train(k):
        loss = tf.constant(0.0)
        for _ in tf.range(k):
            with tf.GradientTape() as tape:
                loss = net.compute_metrics(moons(batch), stage="training")["loss"]
            variables = net.trainable_variables
            optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    chunk = tf.constant(args.steps_per_call)
    started = time.perf_counter()
    cpu_started = time.process_time()
    loss = train(chunk)  # compiles
    steps = args.steps_per_call
    probe_start, probe_cpu = time.perf_counter(), time.process_time()
    while steps < args.probe_steps:
        loss = train(chunk)
        steps += args.steps_per_call
    probe_steps = steps - args.steps_per_call
    per_step = (time.perf_counter() - probe_start) / max(1, probe_steps)
    cpu_per_step = (time.process_time() - probe_cpu) / max(1, probe_steps)
    if args.budget_clock == "cpu":
        left = args.budget - (time.process_time() - cpu_started)
        per_step = cpu_per_step
    else:
        left = args.budget - (time.perf_counter() - started)
    planned = steps + max(0, int(left / per_step) // args.steps_per_call * args.steps_per_call)
    per_step = (time.perf_counter() - probe_start) / max(1, probe_steps)
    total.assign(float(planned))
    while steps < planned:
        loss = train(chunk)
        steps += args.steps_per_call
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started

    x = tf.constant(data["x"][: args.kl_points], tf.float32)
    log_p = data["log_p"][: args.kl_points].astype(np.float64)
    log_prob = tf.function(lambda points: net.log_prob(points))
    sample = tf.function(lambda: net.sample((args.points,), seed=args.seed))
    modes = {}
    try:
        log_prob(x[:2])
        modes["log_prob"] = "tf.function"
    except Exception as error:  # noqa: BLE001 (BayesFlow's adaptive solver fails in graph mode)
        modes["log_prob"] = f"eager (tf.function failed: {type(error).__name__})"
        log_prob = net.log_prob
    try:
        tf.function(lambda: net.sample((2,), seed=args.seed))()
        modes["sample"] = "tf.function"
    except Exception as error:  # noqa: BLE001
        modes["sample"] = f"eager (tf.function failed: {type(error).__name__})"

        def sample():
            return net.sample((args.points,), seed=args.seed)

    out = {
        "steps": steps,
        "per_step": per_step,
        "cpu_per_step": cpu_per_step,
        "wall": wall,
        "cpu": cpu,
        "loss": float(loss),
        "params": int(sum(np.prod(v.shape) for v in net.trainable_variables)),
        "modes": modes,
    }
    few = x[: args.few_points]
    out["score_few_first"], out["score_few"] = _median_call(
        lambda: log_prob(few).numpy(), args.repeats
    )
    # the KL gap's points are scored in blocks of --points; the first block's call is timed
    log_q, times = [], []
    for i in range(0, len(log_p), args.points):
        started, cpu_started = time.perf_counter(), time.process_time()
        log_q.append(np.asarray(log_prob(x[i : i + args.points])))
        times.append(time.perf_counter() - started)
        if i == 0:
            _CPU.append(time.process_time() - cpu_started)
    out["score_first"], out["score"] = times[0], float(np.median(times[1:] or times))
    out["sample_first"], out["sample"] = _median_call(lambda: np.asarray(sample()), args.repeats)
    diff = log_p - np.concatenate(log_q).astype(np.float64)
    out["gap"] = float(diff.mean())
    out["gap_se"] = float(diff.std(ddof=1) / math.sqrt(len(diff)))
    out["finite"] = bool(np.isfinite(diff).all())
    if args.integrate_steps is not None and args.adaptive_few:
        # one eager call with BayesFlow's default solver (adaptive tsit5), as a user gets it
        started = time.perf_counter()
        cpu_started = time.process_time()
        adaptive = np.asarray(net.log_prob(few, method="tsit5", steps="adaptive"))
        out["adaptive_few"] = time.perf_counter() - started
        out["adaptive_few_cpu"] = time.process_time() - cpu_started
        out["adaptive_gap"] = float(np.mean(log_p[: args.few_points] - adaptive))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", help="with the project's Python: write the KL points here")
    parser.add_argument("--data", help="the file written by --export")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument(
        "--kl-points", type=int, default=20_000, help="written by --export; the first used"
    )
    parser.add_argument("--budget", type=float, default=26.5, help="fit wall seconds")
    parser.add_argument(
        "--budget-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="spend --budget in wall time, or in this process's CPU time (one TF thread: "
        "robust to other load on the machine)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--learning-rate", type=float, default=5e-4, help="peak (BasicWorkflow's default)"
    )
    parser.add_argument("--subnet-kwargs", default="{}", help="FlowMatching's subnet_kwargs")
    parser.add_argument(
        "--integrate-steps",
        type=int,
        default=None,
        help="fixed steps for log_prob and sample (default: BayesFlow's adaptive tsit5)",
    )
    parser.add_argument(
        "--integrate-method", default="tsit5", help="with --integrate-steps: euler, rk45, tsit5"
    )
    parser.add_argument(
        "--adaptive-few",
        action="store_true",
        help="with --integrate-steps: also time one eager log_prob of --few-points points with "
        "BayesFlow's default adaptive tsit5",
    )
    parser.add_argument("--steps-per-call", type=int, default=50)
    parser.add_argument("--probe-steps", type=int, default=300)
    parser.add_argument("--jit-train", action="store_true", help="XLA-compile the train step")
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--few-points", type=int, default=200)
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed calls after the first (median reported)"
    )
    args = parser.parse_args()
    if args.export:
        export(args.export, args.seed, args.noise, args.kl_points)
        return
    if not args.data:
        parser.error("give --data FILE (written by --export with the project's Python)")
    import bayesflow as bf

    r = fit_and_time(args)
    print(
        f"bayesflow {bf.__version__}, moons(noise={args.noise}), seed {args.seed}, subnet_kwargs "
        f"{args.subnet_kwargs} ({r['params']} weights), batch {args.batch_size}, peak lr "
        f"{args.learning_rate}, budget {args.budget} s of {args.budget_clock} time, integrator "
        f"{'adaptive tsit5' if args.integrate_steps is None else f'{args.integrate_method} x {args.integrate_steps}'}"
        f"; final loss {r['loss']:.3f}; all log q finite: {r['finite']}; log_prob "
        f"{r['modes']['log_prob']}, sample {r['modes']['sample']}\n"
    )
    print(
        "| model | seed | steps | KL gap | ms/step | CPU ms/step | fit wall s | fit CPU s "
        f"| score {args.few_points} s (first call) | score {args.points} s (first call) "
        f"| sample {args.points} s (first call) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| BayesFlow FlowMatching | {args.seed} | {r['steps']} | {r['gap']:.4f} ± "
        f"{r['gap_se']:.4f} | {1e3 * r['per_step']:.2f} | {1e3 * r['cpu_per_step']:.2f} | "
        f"{r['wall']:.1f} | {r['cpu']:.1f} | {r['score_few']:.3f} ({r['score_few_first']:.2f}) | "
        f"{r['score']:.3f} ({r['score_first']:.2f}) | {r['sample']:.3f} ({r['sample_first']:.2f}) |",
        flush=True,
    )
    print(
        f"\nprocess CPU s of the first calls: score {args.few_points} {_CPU[0]:.2f}, score "
        f"{args.points} {_CPU[1]:.2f}, sample {args.points} {_CPU[2]:.2f}"
    )
    if "adaptive_few" in r:
        print(
            f"\nBayesFlow's default solver (adaptive tsit5, eager: it fails under tf.function): "
            f"scoring {args.few_points} points took {r['adaptive_few']:.2f} s (one call; "
            f"{r['adaptive_few_cpu']:.2f} s CPU); their "
            f"mean log p - log q {r['adaptive_gap']:.4f}"
        )


if __name__ == "__main__":
    main()
