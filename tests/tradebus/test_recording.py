"""Paper and live runs are recorded like a backtest: the bars they received, prices for the charts, a titled report."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import pytest

from framework.config import EngineConfig
from framework.engine import Engine
from framework.marketdata import Bar
from framework.models import Instrument
from framework.strategy import Strategy
from framework.testing import FakeClock
from framework.testing import ScriptedBroker
from tradebus.recording import LiveRecorder
from tradebus.report import write_report

MINUTE = timedelta(minutes=1)


class BuyOnce(Strategy):  # type: ignore[type-arg]
    def on_start(self) -> None:
        self.subscribe_bars("AAPL", MINUTE)

    def on_bar(self, bar: Bar) -> None:
        if not self.context.orders.all():
            self.buy("AAPL", 10)


def test_paper_report_has_a_title_and_counts_the_bars_received(
    tmp_path: Path, clock: FakeClock, aapl: Instrument
) -> None:
    broker = ScriptedBroker(clock, instruments=[aapl])
    engine = Engine(broker, clock=clock, config=EngineConfig(order_id_prefix="P"))
    engine.add_strategy(BuyOnce(strategy_id="buyer"))
    engine.start()
    recorder = LiveRecorder(engine)
    for i, close in enumerate((100.0, 101.0, 102.5)):
        start = clock.now()
        clock.advance(MINUTE)
        broker.push_bar(Bar("AAPL", start, MINUTE, close, close, close, close, 1_000))
        engine.run_pending()
        recorder.sample()
        assert recorder.bar_count == i + 1
    recorder.close()
    engine.stop()
    result = recorder.result()
    assert result.bar_count == 3
    assert list(result.prices["AAPL"].prices) == [100.0, 101.0, 102.5]
    assert [f.symbol for f in result.fills] == ["AAPL"]
    page = html.unescape(write_report(result, tmp_path, mode="paper", strategies=["buyer"]).read_text("utf-8"))
    page = page.replace("\u00a0", " ")
    assert "<h1>buyer: paper report</h1>" in page
    assert "3 bars received; equity sampled every 1 s" in page
    assert "0 bars" not in page


@pytest.mark.parametrize("mode", ["paper", "live"])
def test_title_names_the_mode(tmp_path: Path, clock: FakeClock, aapl: Instrument, mode: str) -> None:
    engine = Engine(ScriptedBroker(clock, instruments=[aapl]), clock=clock, config=EngineConfig(order_id_prefix="P"))
    engine.start()
    recorder = LiveRecorder(engine)
    recorder.sample()
    recorder.close()
    engine.stop()
    page = write_report(recorder.result(), tmp_path, mode=mode, strategies=["s1", "s2"]).read_text(encoding="utf-8")
    assert f"<title>s1, s2: {mode} report</title>" in page
    assert "0 bars received" in page  # nothing arrived: the count is real, and says what it counts
