"""The cost and fill assumptions a run's numbers rest on, in words, for the report's own section.

A backtest or paper run states its simulated venue (:class:`~brokers.paper.config.PaperConfig`):
starting cash, fill model, latency, slippage, commission, volume limit, market hours. A live run
has none: its fills and commissions are the broker's.
"""

from __future__ import annotations

from brokers.paper.config import MarketHours
from brokers.paper.config import PaperConfig
from brokers.paper.costs import BasisPointSlippage
from brokers.paper.costs import Commission
from brokers.paper.costs import PercentCommission
from brokers.paper.costs import PerShareCommission
from brokers.paper.costs import Slippage
from brokers.paper.costs import TickSlippage
from brokers.paper.fill_model import FillModel
from tradebus.report.formatting import human_duration
from tradebus.report.formatting import money

_FILLS = {
    FillModel.BAR: "on bars: a market order fills at the next bar's open (never on the bar that created it); "
    "limit and stop orders fill when a later bar trades through their price, at that price or at a gapping open",
    FillModel.QUOTE: "on quotes: buys at the ask and sells at the bid of the next quote after the order arrives",
}

LIVE = "Live account: prices, fills and commissions are the broker's own; nothing is simulated."


def describe_commission(model: Commission) -> str:
    """A commission model in words, with its rates."""
    if isinstance(model, PerShareCommission):
        cap = "no cap" if model.maximum_percent is None else f"capped at {model.maximum_percent} % of the trade value"
        return f"{model.rate} per share, at least {money(model.minimum)} per fill, {cap}"
    if isinstance(model, PercentCommission):
        return f"{model.percent} % of the trade value, at least {money(model.minimum)} per fill"
    return "none (trading is free)"


def describe_slippage(model: Slippage) -> str:
    """A slippage model in words (it applies to market, stop and trailing-stop fills only)."""
    if isinstance(model, TickSlippage):
        return f"{model.ticks} tick(s) against the order on market, stop and trailing-stop fills; limit fills none"
    if isinstance(model, BasisPointSlippage):
        return f"{model.bps} bp against the order on market, stop and trailing-stop fills; limit fills none"
    return "none (fills at the model price)"


def _latency(seconds: float) -> str:
    return f"{seconds * 1000:g} ms" if seconds < 1 else human_duration(seconds)


def assumptions(config: PaperConfig | None) -> list[tuple[str, str]]:
    """The venue's settings as ``(label, description)`` rows; a single row for a live run (``config`` None)."""
    if config is None:
        return [("Venue", LIVE)]
    volume = (
        "any quantity fills at once"
        if config.volume_share is None
        else f"at most {config.volume_share:.0%} of a bar's volume (or a quote's size) per bar or quote"
    )
    hours = (
        "the instrument's exchange sessions only"
        if config.market_hours is MarketHours.EXCHANGE
        else "any time (the market never closes)"
    )
    seconds = config.latency.total_seconds()
    latency = f"{_latency(seconds)} from submission until the order works at the venue" if seconds else "none"
    return [
        ("Starting cash", f"{money(config.starting_cash)} {config.currency}"),
        ("Fills", _FILLS[config.fill_model]),
        ("Latency", latency),
        ("Slippage", describe_slippage(config.slippage)),
        ("Commission", describe_commission(config.commission)),
        ("Volume limit", volume),
        ("Market hours", hours),
        ("Buying power", "buys costing more than the cash are rejected" if config.check_buying_power
         else "not checked"),
    ]
