"""The command line's image target: ``tfp-flows train digits``.

The 2-D targets of :mod:`tfp_flows.cli` are densities with samplers; the digits
(:func:`tfp_flows.datasets.digits`, 17 grey levels, 8x8) are discrete images.
A digits run trains the multiscale Real NVP (:func:`tfp_flows.real_nvp` on
``(8, 8, 1)``) behind the logit preprocessing on uniformly dequantised
training images, fresh noise at every step
(:class:`~tfp_flows.images.dequantization.DequantizedImages`), and reports bits per
dimension of the validation and test splits
(:func:`tfp_flows.evaluation.metrics.bits_per_dim`). The settings keep their names:

```none
--layers N     coupling steps per scale (default 2)
--hidden C     hidden channels of each convolutional conditioner (one value; default 16)
--steps, --batch-size    default 3000 and 64
```

and the run folder holds ``loss.png``, ``samples.png`` (temperatures 0.7, 0.8
and 1), ``reconstructions.png`` and ``interpolations.png`` beside the
checkpoint, ``config.json`` and ``metrics.json``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = [
    "IMAGE_DEFAULTS",
    "IMAGE_TARGETS",
    "build_image_flow",
    "image_metrics",
    "image_training_bytes",
    "make_image_target",
    "save_image_figures",
]

IMAGE_TARGETS = ("digits",)
IMAGE_DEFAULTS = {"layers": 2, "hidden": [16], "steps": 3000, "batch_size": 64}
TEMPERATURES = (0.7, 0.8, 1.0)
BITS_SAMPLES = 4  # dequantisation draws per image for bits/dim
IMAGE_SHAPE = (8, 8, 1)
NUM_BLOCKS = 1


def _flow_arguments(config: dict[str, Any]) -> dict[str, Any]:
    return dict(
        steps_per_scale=config["layers"], hidden_channels=config["hidden"][0], num_blocks=NUM_BLOCKS
    )


def image_training_bytes(config: dict[str, Any]) -> tuple[int, int]:
    """``(parameters, bytes)`` to train the run's image flow, counted without building it.

    float32 parameters x 4 (weights, gradients, Adam's two moments) plus the
    activations a step keeps for the gradient
    (:func:`tfp_flows.flows.image.image_flow_size`), for ``batch_size`` images.

    >>> image_training_bytes({"layers": 1, "hidden": [4], "batch_size": 2})[0]
    4442
    """
    from tfp_flows.flows.image import image_flow_size

    size = image_flow_size(IMAGE_SHAPE, **_flow_arguments(config))
    return size.parameters, 4 * (4 * size.parameters + config["batch_size"] * size.activations)


def make_image_target(name: str):
    """The dequantised training images of ``name`` as a distribution ``fit`` samples afresh."""
    from tfp_flows.datasets import digits
    from tfp_flows.images.dequantization import DequantizedImages

    return DequantizedImages(digits("train"), name=name)


def build_image_flow(config: dict[str, Any]):
    """The run's model: the multiscale Real NVP behind the logit preprocessing (pixels in [0, 1])."""
    from tfp_flows.flows import real_nvp
    from tfp_flows.images.dequantization import with_logit_preprocessing

    if len(config["hidden"]) != 1:
        raise ValueError(
            f"--hidden for {config['target']} is one number (the hidden channels of "
            f"each conditioner), got {config['hidden']}"
        )
    flow = real_nvp(
        IMAGE_SHAPE,
        seed=config["seed"],
        max_parameters=None,  # the CLI checks bytes
        **_flow_arguments(config),
    )
    return with_logit_preprocessing(flow)


def image_metrics(model, config: dict[str, Any]) -> dict[str, Any]:
    """Bits per dimension of the validation and test images (discrete), with the settings."""
    from tfp_flows.datasets import digits
    from tfp_flows.evaluation.metrics import bits_per_dim

    result: dict[str, Any] = {}
    for split in ("validation", "test"):
        images = digits(split)
        result[f"{split}_bits_per_dim"] = bits_per_dim(
            model, images, num_samples=BITS_SAMPLES, seed=config["seed"]
        )
        result[f"{split}_images"] = int(images.shape[0])
    result["settings"] = config
    return result


def save_image_figures(out: str, model, history) -> None:
    """``loss.png``, ``samples.png``, ``reconstructions.png``, ``interpolations.png`` in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    from tfp_flows import plotting
    from tfp_flows.datasets import digits
    from tfp_flows.plotting import images as image_plots

    test = digits("test")
    figures = {
        "loss.png": plotting.plot_training_curve(history),
        "samples.png": image_plots.plot_temperature_samples(model, temperatures=TEMPERATURES),
        "reconstructions.png": image_plots.plot_reconstructions(model, test[:8], levels=17),
        "interpolations.png": image_plots.plot_latent_interpolations(
            model, test[:4], test[4:8], levels=17
        ),
    }
    for name, figure in figures.items():
        figure = figure[0] if isinstance(figure, tuple) else figure
        figure.savefig(os.path.join(out, name), dpi=110, bbox_inches="tight")
