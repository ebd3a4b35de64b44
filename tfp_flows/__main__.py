"""``python -m tfp_flows`` runs the ``tfp-flows`` command."""

import sys

from tfp_flows.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
