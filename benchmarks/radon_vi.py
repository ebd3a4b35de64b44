"""TFP's radon VI notebook, on radon-like data simulated here: ``tfp.vi`` with its IAF against ``fit_surrogate``.

The model of TFP's tutorial "Variational Inference on Probabilistic Graphical Models with Joint
Distributions" (a ``JointDistributionCoroutineAutoBatched``), on data simulated with a fixed
seed (the radon data cannot be downloaded here): 919 houses in 85 counties (county sizes as
skewed as Minnesota's), a floor indicator, a county log-uranium covariate and the county's
mean floor (the contextual effect):

```none
uranium_weight ~ N(0, 1),  county_floor_weight ~ N(0, 1),  county_effect_j ~ N(0, sigma_c)
log_radon_i ~ N(bias + county_effect[county_i] + log_uranium_i * uranium_weight
                + floor_i * floor_weight + floor_by_county_i * county_floor_weight, sigma_y)
```

``floor_weight``, ``bias``, ``sigma_c`` and ``sigma_y`` are the model's own variables (``sigma``
through ``TransformedVariable(1, Exp())``), trained with the surrogate (variational EM). Each
method gets its own copy of the model, with the variables at their initial values:

(a) ``tfp.vi.fit_surrogate_posterior(target.unnormalized_log_prob, iaf_surrogate,
    Adam(1e-2), num_steps=STEPS, sample_size=4, jit_compile=True)``: the notebook's call, with
    its IAF surrogate (2 x ``Invert(MaskedAutoregressiveFlow(AutoregressiveNetwork(params=2,
    hidden_units=[256, 256], activation="relu")))`` on ``N(0, I_88)``, split and restructured
    into the model's parts through its event-space bijector);
(b) ``tff.inference.fit_surrogate(tff.inference.surrogate_posterior(target), target,
    steps=S, sample_size=N)``: the package's default surrogate, for each ``S`` in
    ``--tff-steps`` and ``N`` in ``--sample-sizes`` (256 is the default: 64x ``tfp.vi``'s draws
    per step, so fewer steps or fewer draws reach the same ELBO in ``tfp.vi``'s wall time).

Printed: the wall time of the fit (tracing and XLA compilation included) and the ELBO on
``--eval-draws`` fresh draws of each fitted surrogate, ``E_q[log p~(z; omega) - log q(z)]``
at the fitted model variables ``omega``, with its standard error.

Run: ``python benchmarks/radon_vi.py [--steps 10000] [--tff-steps 10000 3000]
[--sample-sizes 256 32] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

import tfp_flows as tff

tfd, tfb = tfp.distributions, tfp.bijectors


def simulate(seed: int) -> dict[str, np.ndarray]:
    """Radon-like data: 919 houses in 85 counties, simulated with ``seed``."""
    rng = np.random.default_rng(seed)
    num_counties, num_houses = 85, 919
    weights = rng.lognormal(0.0, 1.2, num_counties)  # a few large counties, many small ones
    county = np.concatenate(
        [
            np.arange(num_counties),
            rng.choice(num_counties, num_houses - num_counties, p=weights / weights.sum()),
        ]
    ).astype(np.int32)
    floor = (rng.uniform(size=num_houses) < 0.17).astype(np.float32)
    county_uranium = rng.normal(0.0, 0.35, num_counties).astype(np.float32)
    county_mean_floor = np.array(
        [floor[county == j].mean() for j in range(num_counties)], np.float32
    )
    effect = rng.normal(0.0, 0.3, num_counties)
    loc = (
        1.4
        + effect[county]
        + 0.7 * county_uranium[county]
        - 0.65 * floor
        - 0.3 * county_mean_floor[county]
    )
    log_radon = rng.normal(loc, 0.75).astype(np.float32)
    return dict(
        county=county,
        floor=floor,
        log_uranium=county_uranium[county],
        floor_by_county=county_mean_floor[county],
        log_radon=log_radon,
        num_counties=num_counties,
    )


def make_target(data: dict[str, np.ndarray]) -> tuple[tfd.Distribution, list[tf.Variable]]:
    """The notebook's model, pinned to ``log_radon``, with fresh model variables."""
    floor_weight = tf.Variable(0.0, name="floor_weight")
    bias = tf.Variable(0.0, name="bias")
    log_radon_scale = tfp.util.TransformedVariable(1.0, tfb.Exp(), name="log_radon_scale")
    county_effect_scale = tfp.util.TransformedVariable(1.0, tfb.Exp(), name="county_effect_scale")
    county, floor = data["county"], data["floor"]
    log_uranium, floor_by_county = data["log_uranium"], data["floor_by_county"]

    @tfd.JointDistributionCoroutineAutoBatched
    def model():
        uranium_weight = yield tfd.Normal(0.0, scale=1.0, name="uranium_weight")
        county_floor_weight = yield tfd.Normal(0.0, scale=1.0, name="county_floor_weight")
        county_effect = yield tfd.Sample(
            tfd.Normal(0.0, scale=county_effect_scale),
            sample_shape=[data["num_counties"]],
            name="county_effect",
        )
        yield tfd.Normal(
            loc=(
                log_uranium * uranium_weight
                + floor * floor_weight
                + floor_by_county * county_floor_weight
                + tf.gather(county_effect, county, axis=-1)
                + bias
            ),
            scale=log_radon_scale[..., tf.newaxis],
            name="log_radon",
        )

    variables = [
        floor_weight,
        bias,
        *log_radon_scale.trainable_variables,
        *county_effect_scale.trainable_variables,
    ]
    return model.experimental_pin(log_radon=data["log_radon"]), variables


def tfp_iaf_surrogate(target: tfd.Distribution) -> tfd.Distribution:
    """The notebook's IAF surrogate posterior."""
    event_shape = target.event_shape_tensor()
    flat_event_shape = tf.nest.flatten(event_shape)
    flat_event_size = tf.nest.map_structure(tf.reduce_prod, flat_event_shape)
    event_space_bijector = target.experimental_default_event_space_bijector()
    base = tfd.Sample(tfd.Normal(0.0, 1.0), sample_shape=[tf.reduce_sum(flat_event_size)])
    iafs = [
        tfb.Invert(
            tfb.MaskedAutoregressiveFlow(
                shift_and_log_scale_fn=(
                    tfb.AutoregressiveNetwork(params=2, hidden_units=[256, 256], activation="relu")
                )
            )
        )
        for _ in range(2)
    ]
    reshape = tfb.JointMap(tf.nest.map_structure(tfb.Reshape, flat_event_shape))
    unflatten = tfb.Restructure(tf.nest.pack_sequence_as(event_shape, range(len(flat_event_shape))))
    return tfd.TransformedDistribution(
        base,
        bijector=tfb.Chain(
            [event_space_bijector, unflatten, reshape, tfb.Split(flat_event_size), *iafs]
        ),
    )


def elbo(
    surrogate: tfd.Distribution, target: tfd.Distribution, draws: int, seed: int
) -> tuple[float, float]:
    """Monte Carlo ELBO ``E_q[log p~ - log q]`` and its standard error."""
    values = []
    for k in range(0, draws, 1000):
        z, log_q = surrogate.experimental_sample_and_log_prob(min(1000, draws - k), seed=[seed, k])
        values.append((target.unnormalized_log_prob(z) - log_q).numpy())
    values = np.concatenate(values).astype(np.float64)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-draws", type=int, default=10_000)
    parser.add_argument("--tff-steps", nargs="*", type=int, default=[10_000, 3_000])
    parser.add_argument("--sample-sizes", nargs="*", type=int, default=[256, 32])
    args = parser.parse_args()
    data = simulate(args.seed)
    rows = []

    target, variables = make_target(data)
    tf.keras.utils.set_random_seed(args.seed)
    surrogate = tfp_iaf_surrogate(target)
    started = time.perf_counter()
    tfp.vi.fit_surrogate_posterior(
        target.unnormalized_log_prob,
        surrogate,
        optimizer=keras.optimizers.Adam(1e-2),
        num_steps=args.steps,
        sample_size=4,
        jit_compile=True,
        seed=[args.seed, 1],
    )
    seconds = time.perf_counter() - started
    rows.append(
        (
            "tfp.vi + notebook IAF (Adam 1e-2, 4 draws)",
            seconds,
            *elbo(surrogate, target, args.eval_draws, args.seed + 100),
            [float(tf.convert_to_tensor(v)) for v in variables],
        )
    )

    for steps in args.tff_steps:
        for sample_size in args.sample_sizes:
            target, variables = make_target(data)
            surrogate = tff.inference.surrogate_posterior(target, seed=args.seed)
            started = time.perf_counter()
            tff.inference.fit_surrogate(
                surrogate,
                target,
                steps=steps,
                sample_size=sample_size,
                seed=args.seed,
                progress=False,
            )
            seconds = time.perf_counter() - started
            rows.append(
                (
                    f"tff fit_surrogate, default surrogate, {steps} steps, {sample_size} draws",
                    seconds,
                    *elbo(surrogate, target, args.eval_draws, args.seed + 100),
                    [float(tf.convert_to_tensor(v)) for v in variables],
                )
            )

    print(
        f"radon-like model (919 houses, 85 counties, seed {args.seed}), tfp.vi {args.steps} steps, "
        f"ELBO on {args.eval_draws} draws"
    )
    print("| method | fit s | ELBO | s.e. | floor_weight, bias, log sigma_y, log sigma_c |")
    print("|---|---|---|---|---|")
    for name, seconds, value, error, fitted in rows:
        print(
            f"| {name} | {seconds:.1f} | {value:.2f} | {error:.2f} | "
            f"{', '.join(f'{v:.3f}' for v in fitted)} |"
        )


if __name__ == "__main__":
    main()
