"""Example strategies shipped with tradebus (they import only ``framework``)."""

from strategies.sma_cross import SmaCross
from strategies.sma_cross import SmaCrossConfig

__all__ = ["SmaCross", "SmaCrossConfig"]
