"""benchmarks/vae.py's settings: the decoder of ``--decoder-units`` and the command line.

Builds (does not train) a digits-sized VAE: about a second.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

import numpy as np
import pytest

import tfp_flows as tff

_PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "vae.py"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(_PATH.parent))  # vae.py imports digits.py beside it
    try:
        spec = importlib.util.spec_from_file_location("vae_benchmark", _PATH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(_PATH.parent))
    return module


def test_the_command_line_reads_decoder_widths_posterior_arguments_and_warmup(bench):
    default = bench.parse_args([])
    assert default.decoder_units is None and default.posterior_kwargs is None
    assert default.warmup == 0.2 and default.flow_seeds is None
    assert bench.parse_args(["--flow-seeds", "0"]).flow_seeds == [0]
    args = bench.parse_args(
        ["--decoder-units", "--posterior-kwargs", '{"num_layers": 8}', "--warmup", "0.5"]
    )
    assert args.decoder_units == []  # given without widths: the linear decoder
    assert json.loads(args.posterior_kwargs) == {"num_layers": 8}
    assert args.warmup == 0.5
    assert bench.parse_args(["--decoder-units", "64", "32"]).decoder_units == [64, 32]


@pytest.mark.parametrize("units, dense_layers", [(None, None), ([], 1), ([16], 2)])
def test_the_decoder_maps_z_to_the_pixels_logits_with_the_given_dense_layers(
    bench, units, dense_layers
):
    decoder = bench.vae_decoder(units, latent_size=4, seed=0)
    if units is None:
        assert decoder is None  # the VAE's own convolutional decoder
        return
    dense = [layer for layer in decoder.layers if layer.__class__.__name__ == "Dense"]
    assert len(dense) == dense_layers
    out = decoder(np.zeros([3, 4], np.float32))
    assert tuple(out.shape) == (3, 8, 8, 1, tff.datasets.DIGITS_LEVELS)
    again = bench.vae_decoder(units, latent_size=4, seed=0)
    np.testing.assert_array_equal(
        decoder.get_weights()[0], again.get_weights()[0]
    )  # one seed, one decoder: every posterior of a seed starts from the same weights
    vae = tff.VAE((8, 8, 1), 4, posterior="iaf", decoder=decoder, context_units=8, seed=0)
    images = tff.datasets.digits("test")[:2]
    assert np.all(np.isfinite(vae(images)))
