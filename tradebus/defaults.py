"""The defaults of a run, in one place: starting cash, costs and the fill model.

``tradebus backtest``, ``tradebus paper``, ``tradebus demo`` (its simulated account) and
``examples/backtest_sample.py`` all start from :data:`VENUE_DEFAULTS`: 100,000 USD of cash, IBKR's
fixed per-share commission for US stocks (0.005 USD a share, at least 1.00 USD, at most 1 % of the
trade value), no slippage, market orders filled at the next bar's open. A run's own settings win
key by key (``--venue`` JSON for a backtest, ``[brokers.paper]`` for paper trading).

The library's :class:`~brokers.paper.PaperConfig` keeps its own neutral defaults (no costs) for code
that builds a venue itself; the application is what a trader runs, so it charges what a broker would.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import MutableMapping
from decimal import Decimal
from typing import Any

from brokers.paper.config import PaperConfig
from brokers.paper.costs import NoCommission
from brokers.paper.costs import NoSlippage
from brokers.paper.costs import PerShareCommission
from brokers.paper.fill_model import FillModel

STARTING_CASH = Decimal(100_000)
"""Cash of a new simulated account (backtest, paper, the demo's simulated gateway)."""

COMMISSION = PerShareCommission()
"""IBKR's fixed pricing for US stocks: 0.005 USD a share, minimum 1.00, at most 1 % of the value."""

VENUE_DEFAULTS: Mapping[str, Any] = {
    "starting_cash": str(STARTING_CASH),
    "commission": COMMISSION.model_dump(mode="json"),
}
"""The :class:`PaperConfig` fields the application sets differently from the library (as settings values)."""

_FILLS = {
    FillModel.BAR: "market orders fill at the next bar's open",
    FillModel.QUOTE: "market orders fill at the opposite quote",
}


def venue_config(overrides: Mapping[str, Any] | None = None) -> PaperConfig:
    """The simulated venue of a backtest: :data:`VENUE_DEFAULTS` with ``overrides`` on top (validated).

    Raises:
        pydantic.ValidationError: If an override is not a valid :class:`PaperConfig` field.
    """
    return PaperConfig.model_validate({**VENUE_DEFAULTS, **(overrides or {})})


def fill_defaults(section: MutableMapping[str, Any]) -> None:
    """Add :data:`VENUE_DEFAULTS` to a ``[brokers.paper]`` settings section for the keys it does not set."""
    for key, value in VENUE_DEFAULTS.items():
        section.setdefault(key, value)


def describe_venue(config: PaperConfig) -> str:
    """One line: cash, commission, slippage and fills, as printed when a run starts."""
    return (f"cash {config.starting_cash:,.2f} {config.currency}; costs: {describe_commission(config)}, "
            f"{'no slippage' if isinstance(config.slippage, NoSlippage) else _model(config.slippage)}; "
            f"{_FILLS.get(config.fill_model, config.fill_model.value)}")


def describe_commission(config: PaperConfig) -> str:
    """The commission model in a few words (``0.005 USD/share, min 1.00, max 1% of value``)."""
    commission = config.commission
    if isinstance(commission, NoCommission):
        return "no commission"
    if isinstance(commission, PerShareCommission):
        cap = "" if commission.maximum_percent is None else f", max {commission.maximum_percent}% of value"
        return f"commission {commission.rate} {config.currency}/share, min {commission.minimum}{cap}"
    return _model(commission)


def _model(model: Any) -> str:
    fields = ", ".join(f"{k}={v}" for k, v in model.model_dump(mode="json").items() if k != "kind")
    return f"{getattr(model, 'kind', type(model).__name__)} ({fields})"
