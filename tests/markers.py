"""Markers shared by test modules."""

from __future__ import annotations

import pytest

from framework.trading_hours import INSTALL_HINT
from framework.trading_hours import calendar_library

needs_calendar_data = pytest.mark.skipif(
    calendar_library() is None, reason=f"holidays and early closes need exchange-calendars: {INSTALL_HINT}",
)
"""For tests of holidays and early closes: without the ``calendars`` extra every weekday is a full day."""
