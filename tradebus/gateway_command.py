"""``tradebus gateway-sim``: the simulated IBKR gateway (:mod:`simulators.ibkr.cli`) as a sub-command.

Prints one line ``READY port=<n> ca_file=<path> base_url=<url> ws_url=<url>`` on stdout once it
serves, then logs to stderr until interrupted.
"""

from __future__ import annotations

import argparse

from simulators.ibkr import cli


class GatewaySimCommand:
    """The ``gateway-sim`` sub-command (satisfies :class:`tradebus.cli.Command`)."""

    name = "gateway-sim"
    help = cli.HELP

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the gateway's options."""
        cli.add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        """Run the gateway until interrupted."""
        return cli.run(args)


COMMAND = GatewaySimCommand()
