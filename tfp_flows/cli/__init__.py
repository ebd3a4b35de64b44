"""The ``tfp-flows`` command: train, evaluate and sample from the command line.

:mod:`~tfp_flows.cli.app` (the commands; ``tfp-flows = tfp_flows.cli.app:main``)
and :mod:`~tfp_flows.cli.images` (the image targets: digits, bits per dimension).
"""

from tfp_flows.cli.app import main

__all__ = ["main"]
