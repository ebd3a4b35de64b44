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


def _run(bench, model, seed, per_point):
    per_point = np.asarray(per_point, np.float64)
    nan = float("nan")
    return bench.Run(
        model, seed, 2.0, float(per_point.mean()), 0.1, nan, nan, nan, 1.0, 1.0, per_point, "test"
    )


def test_runs_written_apart_are_read_back_into_one_paired_table(bench, tmp_path, capsys):
    first, second = tmp_path / "seed0.json", tmp_path / "seeds12.json"
    bench.write_json(
        [_run(bench, "gaussian", 0, [-90.0, -92.0]), _run(bench, "iaf", 0, [-89.0, -92.5])], first
    )
    bench.write_json(
        [
            _run(bench, "gaussian", 1, [-91.0, -91.0]),
            _run(bench, "iaf", 1, [-90.0, -90.0]),
            _run(bench, "gaussian", 2, [-93.0, -90.0]),
            _run(bench, "iaf", 2, [-91.0, -89.0]),
        ],
        second,
    )
    runs = bench.read_json([str(first), str(second)])
    assert [(r.model, r.seed) for r in runs] == [
        ("gaussian", 0),
        ("iaf", 0),
        ("gaussian", 1),
        ("iaf", 1),
        ("gaussian", 2),
        ("iaf", 2),
    ]
    np.testing.assert_array_equal(runs[1].per_point, [-89.0, -92.5])
    mean, se, seeds, per_seed = bench.paired_difference(runs, "iaf", "gaussian")
    # per seed: differences (1, -0.5), (1, 1), (2, 1): means 0.25, 1, 1.5
    assert seeds == 3 and [round(m, 6) for m, _ in per_seed] == [0.25, 1.0, 1.5]
    assert mean == pytest.approx(1.0) and se == pytest.approx(0.5)  # s.e.s 0.75, 0, 0.5
    assert bench.parse_args(["--from-json", str(first), str(second)]).from_json == [
        str(first),
        str(second),
    ]
    bench.summarize(runs, k=1000)
    assert "iaf - gaussian" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"\('gaussian', 0\)"):
        bench.read_json([str(first), str(first)])
