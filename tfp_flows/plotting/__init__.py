"""Figures (matplotlib, no pyplot): training curves, densities, samples, trajectories.

:mod:`~tfp_flows.plotting.densities` (vector flows and the change of variables),
:mod:`~tfp_flows.plotting.images` (image flows: temperature samples,
reconstructions, latent interpolations),
:mod:`~tfp_flows.plotting.sbi` (simulation-based inference: SBC rank ECDFs with
their simultaneous band, parameter recovery, z-score against contraction,
posterior pairs plots beside reference samples) and
:mod:`~tfp_flows.plotting.trajectory` (a batch followed through a flow's layers).
"""

from tfp_flows.plotting.densities import (
    density_grid,
    plot_bijector_chain_1d,
    plot_change_of_variables,
    plot_densities,
    plot_density,
    plot_samples,
    plot_training_curve,
    plot_trajectory,
)
from tfp_flows.plotting.images import (
    interpolate_latents,
    plot_latent_interpolations,
    plot_reconstructions,
    plot_temperature_samples,
    reconstruct,
    sample_at_temperature,
    tile_images,
)
from tfp_flows.plotting.sbi import (
    plot_posterior_pairs,
    plot_recovery,
    plot_sbc_ecdf,
    plot_z_score_contraction,
)
from tfp_flows.plotting.trajectory import chain_trajectory, flatten_bijector

__all__ = [
    "chain_trajectory",
    "density_grid",
    "flatten_bijector",
    "interpolate_latents",
    "plot_bijector_chain_1d",
    "plot_change_of_variables",
    "plot_densities",
    "plot_density",
    "plot_latent_interpolations",
    "plot_posterior_pairs",
    "plot_reconstructions",
    "plot_recovery",
    "plot_samples",
    "plot_sbc_ecdf",
    "plot_temperature_samples",
    "plot_training_curve",
    "plot_trajectory",
    "plot_z_score_contraction",
    "reconstruct",
    "sample_at_temperature",
    "tile_images",
]
