"""Ground-truth target distributions for normalizing-flow experiments.

Every unconditional target is a `tfp.distributions.Distribution` with
`event_shape == [2]`, scalar batch shape, a `dtype` argument (`tf.float32`
default, `tf.float64` supported), a deterministic sampler and an (essentially)
exact `log_prob`:

| name              | class            | `log_prob`                  | `entropy()`            | module            |
|-------------------|------------------|-----------------------------|------------------------|-------------------|
| `banana`          | `Banana`         | closed form                 | closed form            | `banana`          |
| `moons`           | `Moons`          | peak-adaptive quadrature    | grid quadrature        | `moons`           |
| `eight_gaussians` | `EightGaussians` | closed form (mixture)       | grid quadrature        | `eight_gaussians` |
| `checkerboard`    | `Checkerboard`   | closed form                 | closed form            | `checkerboard`    |
| `two_spirals`     | `TwoSpirals`     | composite quadrature        | grid quadrature        | `spirals`         |
| `rings`           | `Rings`          | closed form (Bessel `I_0`)  | grid quadrature        | `rings`           |
| `pinwheel`        | `Pinwheel`       | closed form (change of var) | grid quadrature        | `pinwheel`        |

Conditional targets (`ConditionalTarget`: `log_prob(x, context=c)`,
`sample(n, seed=s, context=c)`, `entropy(context=c)`, training pairs from
`sample_pairs(n, seed)`, `given(c)` for the unconditional `p(x | c)`), all exact:

| name                 | class                     | event / context            | module              |
|----------------------|---------------------------|----------------------------|---------------------|
| `conditional_banana` | `ConditionalBanana`       | `x` [2] / curvature `b` [1] | `conditional_banana` |
| `linear_gaussian`    | `LinearGaussianSimulator` | `theta` [p] / `x` [m]      | `linear_gaussian`   |

Posteriors with ground truth for variational inference and MCMC
(`InferenceTarget`: a joint distribution `model` and the true posterior
`mean` and `stddev` of every part, with their standard errors):
`banana_posterior()` (2-D), `neals_funnel(dims=10)`,
`ill_conditioned_gaussian(dims=100)` (exact moments; module `inference`) and
`eight_schools()` (10-D, pinned at the data, a positive `stddev`: reference
moments from a long NUTS run that `eight_schools_reference` regenerates, with
their Monte Carlo standard errors; module `eight_schools`).

Simulation-based inference: `sbi_task("two_moons" | "gaussian_linear" |
"gaussian_linear_uniform" | "gaussian_mixture" | "slcp" | "bernoulli_glm" | "sir" |
"lotka_volterra")`, the SBI
benchmark's priors and simulators, with its observations and reference posterior
samples read from the `sbibm` wheel's data files when it is installed
(`pip install --no-deps sbibm`; module `sbi_tasks`).

Speech: `speech(split)`, a text-to-speech corpus of template sentences synthesised on the
machine by eSpeak NG (phoneme ids, per-phoneme durations in frames, 80-band log-mels; module
`speech`; needs `pip install espeakng-loader` (GPL-3), the `speech` extra).

Real data: `digits(split)`, scikit-learn's 8x8 handwritten digits as
`[n, 8, 8, 1]` float32 grey levels `0..16` with a fixed, stratified
train/validation/test split of 1,197 / 300 / 300 images (module `digits`;
needs scikit-learn: `pip install "tfp-flows[digits]"`).

"Quadrature" log-densities are one-dimensional integrals over a curve
parameter evaluated with Gauss-Legendre rules whose error is far below
`1e-6` nats wherever the density is not astronomically small (see each class).
"Grid quadrature" entropies are `-sum p log p * h**2` over a fine uniform grid
evaluated once in float64 and cached; because the densities are smooth and
decay like Gaussians, the grid (trapezoidal) rule converges spectrally; the
values are stable to about `1e-7` nats under grid refinement.  The shared
numerics live in `numerics`, the base classes and `stateless_seed` in `base`,
the name registries in `registry`.

Seeds: `sample(n, seed=s)` with a Python `int` `s` is treated as the stateless
seed `[s, 0]`, so the same integer always gives the same samples (stock TFP
distributions treat integer seeds as *stateful*).  A length-2 integer tensor is
used as a stateless seed directly and `seed=None` draws fresh randomness.

#### Examples

>>> from tfp_flows import datasets
>>> target = datasets.get_target("banana")
>>> target.sample(5, seed=0).shape
TensorShape([5, 2])
>>> sorted(datasets.TARGETS)  # doctest: +NORMALIZE_WHITESPACE
['banana', 'checkerboard', 'eight_gaussians', 'moons', 'pinwheel', 'rings',
 'two_spirals']
>>> sorted(datasets.CONDITIONAL_TARGETS)
['conditional_banana', 'linear_gaussian']
"""

from tfp_flows._internal.seeds import stateless_seed
from tfp_flows.datasets.banana import Banana
from tfp_flows.datasets.base import ConditionalTarget, Target2D
from tfp_flows.datasets.checkerboard import Checkerboard
from tfp_flows.datasets.conditional_banana import ConditionalBanana
from tfp_flows.datasets.digits import (
    DIGITS_LEVELS,
    DIGITS_SHAPE,
    DIGITS_SPLIT_SIZES,
    digits,
    digits_split_indices,
)
from tfp_flows.datasets.eight_gaussians import EightGaussians
from tfp_flows.datasets.eight_schools import eight_schools
from tfp_flows.datasets.inference import (
    InferenceTarget,
    banana_posterior,
    ill_conditioned_gaussian,
    neals_funnel,
)
from tfp_flows.datasets.linear_gaussian import LinearGaussianSimulator
from tfp_flows.datasets.moons import Moons, make_moons
from tfp_flows.datasets.pinwheel import Pinwheel
from tfp_flows.datasets.registry import (
    CONDITIONAL_TARGETS,
    TARGETS,
    get_conditional_target,
    get_target,
    has_exact_log_prob,
)
from tfp_flows.datasets.rings import Rings
from tfp_flows.datasets.sbi_tasks import (
    INSTALL_SBIBM,
    PUBLISHED_NPE_C2ST,
    SBI_TASKS,
    SBITask,
    sbi_task,
    sbibm_file,
)
from tfp_flows.datasets.speech import (
    SPEECH_SPLITS,
    SpeechBatch,
    SpeechSplit,
    speech,
    speech_split_of,
)
from tfp_flows.datasets.spirals import TwoSpirals

__all__ = [
    "CONDITIONAL_TARGETS",
    "DIGITS_LEVELS",
    "DIGITS_SHAPE",
    "DIGITS_SPLIT_SIZES",
    "INSTALL_SBIBM",
    "PUBLISHED_NPE_C2ST",
    "SBITask",
    "SBI_TASKS",
    "SPEECH_SPLITS",
    "TARGETS",
    "Banana",
    "Checkerboard",
    "ConditionalBanana",
    "ConditionalTarget",
    "EightGaussians",
    "InferenceTarget",
    "LinearGaussianSimulator",
    "Moons",
    "Pinwheel",
    "Rings",
    "SpeechBatch",
    "SpeechSplit",
    "Target2D",
    "TwoSpirals",
    "banana_posterior",
    "digits",
    "digits_split_indices",
    "eight_schools",
    "get_conditional_target",
    "get_target",
    "has_exact_log_prob",
    "ill_conditioned_gaussian",
    "make_moons",
    "neals_funnel",
    "sbi_task",
    "sbibm_file",
    "speech",
    "speech_split_of",
    "stateless_seed",
]
