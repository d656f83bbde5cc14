"""``tradebus gateway-sim``: the simulated IBKR gateway (:mod:`simulators.ibkr.cli`) as a sub-command.

Prints one line ``READY port=<n> ca_file=<path> base_url=<url> ws_url=<url>`` on stdout once it
serves, then logs to stderr until interrupted. While it serves, ``runs/gateway-sim.json`` says where
it listens and which CA signed its certificate (``--announce-file`` moves it), so ``tradebus paper``
and ``tradebus live`` with ``--gateway sim`` connect to it with no settings file (see
:mod:`tradebus.local_gateway`); the file is removed when the gateway stops.
"""

from __future__ import annotations

import argparse

from simulators.ibkr import cli
from tradebus.local_gateway import STATE_FILE


class GatewaySimCommand:
    """The ``gateway-sim`` sub-command (satisfies :class:`tradebus.cli.Command`)."""

    name = "gateway-sim"
    help = cli.HELP

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the gateway's options."""
        cli.add_arguments(parser)
        parser.set_defaults(announce_file=STATE_FILE)

    def run(self, args: argparse.Namespace) -> int:
        """Run the gateway until interrupted."""
        return cli.run(args)


COMMAND = GatewaySimCommand()
