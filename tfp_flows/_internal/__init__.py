"""Private helpers of the package: argument and data checks, default names, seeds.

Nothing here is public API: modules of ``tfp_flows`` import from these modules,
users do not. The public helper :func:`stateless_seed` is ``tff.stateless_seed``.
"""
