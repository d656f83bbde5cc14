"""The simulated market for a seed: the same quotes after the same steps; scheduled trend turns (the demo's)."""

from __future__ import annotations

import itertools
import random

from simulators.ibkr.instruments import Universe
from simulators.ibkr.market import MarketModel


def aapl_lasts(seed: int, steps: int, **options: object) -> list[float]:
    universe = Universe(set(), {})
    market = MarketModel(universe.all(), random.Random(seed), 0.0006, 0.02, None, **options)  # type: ignore[arg-type]
    conid = next(i.conid for i in universe.all() if i.symbol == "AAPL")
    lasts = []
    for _ in range(steps):
        market.step()
        quote = market.quote(conid)
        assert quote is not None
        lasts.append(float(quote.last))
    return lasts


def test_a_seed_gives_the_same_quotes_for_the_same_steps() -> None:
    assert aapl_lasts(7, 300) == aapl_lasts(7, 300)
    assert aapl_lasts(7, 300, regime_steps=50, trend=1.0) == aapl_lasts(7, 300, regime_steps=50, trend=1.0)
    assert aapl_lasts(7, 300) != aapl_lasts(8, 300)


def test_with_regime_steps_the_trend_turns_on_schedule() -> None:
    lasts = aapl_lasts(7, 400, regime_steps=50, trend=1.0)
    # over each 50-step leg the trend dominates the noise: the legs alternate up and down
    legs = [lasts[end - 1] - lasts[end - 50] for end in range(50, 401, 50)]
    signs = [leg > 0 for leg in legs]
    assert all(a != b for a, b in itertools.pairwise(signs)), legs
