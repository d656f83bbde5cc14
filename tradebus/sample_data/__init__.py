"""A small generated data set shipped with tradebus, so a backtest runs offline out of the box.

``bars_1m.csv``: 1-minute bars of AAPL, MSFT and SPY over five New York sessions (2024-01-02 to
2024-01-08, 09:30-16:00), made by :mod:`tradebus.sample_data.generate` with a fixed seed. The prices
are a random walk, not market history.
"""

from __future__ import annotations

from importlib.resources import as_file
from importlib.resources import files
from pathlib import Path

SAMPLE_FILE = "bars_1m.csv"


def sample_data_path() -> Path:
    """Path of the shipped sample bar file (``bars_1m.csv``).

    Raises:
        FileNotFoundError: If the package was installed without its data file.
    """
    resource = files(__name__).joinpath(SAMPLE_FILE)
    with as_file(resource) as path:
        if not path.is_file():
            msg = f"sample data {SAMPLE_FILE} is missing from {__name__}"
            raise FileNotFoundError(msg)
        return Path(path)
