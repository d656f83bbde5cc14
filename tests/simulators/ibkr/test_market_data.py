"""Snapshot pre-flight and field formats, history grammar and limits, unsubscribe."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import as_completed
from pathlib import Path

import pytest

from simulators.ibkr import SimulatedGateway
from simulators.ibkr import SimulatorConfig
from tests.simulators.ibkr.conftest import AAPL
from tests.simulators.ibkr.conftest import Api

SNAPSHOT = "/iserver/marketdata/snapshot"


def test_snapshot_preflight_then_string_fields(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    first = api.get(SNAPSHOT, params={"conids": "265598,8314", "fields": "31,84,85,86,88,7059"}).json()
    assert first == [{"conid": AAPL, "conidEx": "265598"}, {"conid": 8314, "conidEx": "8314"}]
    gw.step_market(3)
    rows = api.get(SNAPSHOT, params={"conids": "265598,8314"}).json()  # fields remembered
    row = rows[0]
    assert row["conid"] == AAPL
    assert row["conidEx"] == "265598"
    assert isinstance(row["_updated"], int)
    assert row["6509"] == "RpB"
    assert row["6119"] == row["server_id"]
    for code in ("31", "84", "85", "86", "88", "7059"):
        assert isinstance(row[code], str)
    assert float(row["84"]) < float(row["86"])


def test_last_price_prefix_c_before_first_trade_and_h_when_halted(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    api.get(SNAPSHOT, params={"conids": "265598", "fields": "31,7741"})
    row = api.get(SNAPSHOT, params={"conids": "265598"}).json()[0]
    assert row["31"] == "C" + row["7741"]
    gw.set_quote("AAPL", last="190.10", halted=True)
    assert api.get(SNAPSHOT, params={"conids": "265598"}).json()[0]["31"] == "H190.10"


def test_sizes_in_lots_with_thousands_separators_and_volume_formats(gw: SimulatedGateway, api: Api) -> None:
    api.prime()
    gw.set_quote("AAPL", bid_size=130000, ask_size=600, volume=12_500_000)
    api.get(SNAPSHOT, params={"conids": "265598", "fields": "85,88,87,7762"})
    row = api.get(SNAPSHOT, params={"conids": "265598"}).json()[0]
    assert row["88"] == "1,300"
    assert row["85"] == "6"
    assert row["87"] == "12.5M"
    assert row["7762"] == "12500000"
    gw.configure(sizes_in_lots=False)
    gw.set_quote("AAPL", ask_size=650)
    assert api.get(SNAPSHOT, params={"conids": "265598"}).json()[0]["85"] == "650"


def test_quote_control_reads_the_book_without_moving_it(gw: SimulatedGateway) -> None:
    gw.set_quote("AAPL", bid="189.90", ask="190.00", last="189.95")
    assert gw.quote("AAPL") == {"bid": "189.90", "ask": "190.00", "last": "189.95"}
    assert gw.quote("AAPL") == gw.control("quote", conid=AAPL)  # reading twice changes nothing
    with pytest.raises(ValueError, match="unknown symbol"):
        gw.quote("NOPE")


def test_snapshot_without_preflight_setting_and_delayed_data(gw: SimulatedGateway, api: Api) -> None:
    gw.configure(snapshot_preflight=False, delayed_data=True)
    api.prime()
    row = api.get(SNAPSHOT, params={"conids": "265598", "fields": "31"}).json()[0]
    assert "31" in row
    assert row["6509"] == "DpB"


def test_snapshot_unknown_conid_never_gets_data(api: Api) -> None:
    api.prime()
    for _ in range(2):
        assert api.get(SNAPSHOT, params={"conids": "12345"}).json() == [{"conid": 12345, "conidEx": "12345"}]
    assert api.get(SNAPSHOT, params={"conids": "abc"}).status_code == 400


def test_unsubscribe_forms(api: Api) -> None:
    api.prime()
    api.get(SNAPSHOT, params={"conids": "265598"})
    assert api.post("/iserver/marketdata/unsubscribe", json={"conid": AAPL}).json() == {"success": True}
    assert api.post("/iserver/marketdata/unsubscribe", json={"conid": AAPL}).status_code == 404
    assert api.get(f"/iserver/marketdata/{AAPL}/unsubscribe").json() == {"confirmed": "success"}
    assert api.get("/iserver/marketdata/unsubscribeall").json() == {"unsubscribed": True}
    # After unsubscribing, the next snapshot is a pre-flight again.
    assert api.get(SNAPSHOT, params={"conids": "265598"}).json() == [{"conid": AAPL, "conidEx": "265598"}]


def test_history_shape_and_bar_times(api: Api) -> None:
    body = api.get("/iserver/marketdata/history", params={"conid": AAPL, "period": "1d", "bar": "1h"}).json()
    assert body["symbol"] == "AAPL"
    assert body["barLength"] == 3600
    assert body["priceFactor"] == 100
    assert len(body["data"]) == 24
    assert body["points"] == 23
    times = [bar["t"] for bar in body["data"]]
    assert times == sorted(times)
    assert all(t % 3_600_000 == 0 for t in times)
    assert set(body["data"][0]) == {"o", "h", "l", "c", "v", "t"}
    assert body["high"].count("/") == 2


@pytest.mark.parametrize(("period", "bar", "count"), [("1y", "1w", 52), ("30min", "1min", 30), ("1000d", "1min", 1000)])
def test_history_bar_counts_and_cap(api: Api, period: str, bar: str, count: int) -> None:
    body = api.get("/iserver/marketdata/history", params={"conid": AAPL, "period": period, "bar": bar}).json()
    assert len(body["data"]) == count


@pytest.mark.parametrize(("period", "bar"), [("31min", "1min"), ("2x", "1h"), ("1d", "7min"), ("1h", "1d"), ("", "1h")])
def test_history_grammar_errors(api: Api, period: str, bar: str) -> None:
    response = api.get("/iserver/marketdata/history", params={"conid": AAPL, "period": period, "bar": bar})
    assert response.status_code == 400
    assert set(response.json()) == {"error", "statusCode"}


def test_history_volume_in_hundreds_is_a_setting(gw: SimulatedGateway, api: Api) -> None:
    params = {"conid": AAPL, "period": "1h", "bar": "1h"}
    hundreds = api.get("/iserver/marketdata/history", params=params).json()["data"][0]["v"]
    gw.configure(history_volume_in_hundreds=False)
    shares = api.get("/iserver/marketdata/history", params=params).json()["data"][0]["v"]
    assert shares == pytest.approx(hundreds * 100)


HISTORY_PARAMS = {"conid": AAPL, "period": "1h", "bar": "1h"}


def _fetch_history(gw: SimulatedGateway) -> int:
    client = Api(gw)
    try:
        return client.get("/iserver/marketdata/history", params=HISTORY_PARAMS).status_code
    finally:
        client.close()


def _burst(gw: SimulatedGateway, pool: ThreadPoolExecutor, count: int) -> list[Future[int]]:
    return [pool.submit(_fetch_history, gw) for _ in range(count)]


def test_history_sixth_concurrent_request_gets_429_with_default_settings(gw: SimulatedGateway) -> None:
    defaults = SimulatorConfig()
    gw.reset(**defaults.model_dump())  # every setting at its default, on the simulated clock
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = _burst(gw, pool, 6)
        # Five requests are in flight until the clock moves, so the only one that can finish is the refusal.
        first = next(as_completed(futures, timeout=10))
        assert first.result() == 429
        gw.advance(defaults.history_latency)
        codes = sorted(future.result(timeout=10) for future in futures)
    assert codes == [200] * 5 + [429]


def test_history_concurrency_limit_is_a_setting(gw: SimulatedGateway) -> None:
    gw.configure(history_latency=0.5, history_max_concurrent=2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = _burst(gw, pool, 4)
        done = as_completed(futures, timeout=10)
        assert [next(done).result(), next(done).result()] == [429, 429]
        gw.advance(0.5)
        codes = sorted(future.result(timeout=10) for future in futures)
    assert codes == [200, 200, 429, 429]


def test_hmds_history_first_call_404(api: Api) -> None:
    params = {"conid": AAPL, "period": "1d", "bar": "1h"}
    assert api.get("/hmds/history", params=params).status_code == 404
    body = api.get("/hmds/history", params=params).json()
    assert body["points"] == 24
    assert "startTimeVal" in body
    assert api.post("/tickle").json()["hmds"] == {}


def test_replayed_csv_symbols_and_no_data(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text("timestamp,symbol,open,high,low,close,volume\n"
                   "2024-01-02T14:30:00Z,ZZZT,10.00,10.50,9.90,10.20,1000\n"
                   "2024-01-02T14:31:00Z,ZZZT,10.20,10.40,10.10,10.30,800\n"
                   "2024-01-02T14:31:00Z,AAPL,190.00,190.40,189.90,190.30,500\n")
    config = SimulatorConfig(market_mode="manual", pacing_enabled=False)
    with SimulatedGateway(port=0, config=config, data=csv) as gw:
        client = Api(gw)
        found = client.get("/iserver/secdef/search", params={"symbol": "ZZZT"}).json()
        conid = int(found[0]["conid"])
        params = {"conid": conid, "period": "1h", "bar": "1min"}
        assert client.get("/iserver/marketdata/history", params=params).json() == {"error": "No data.",
                                                                                   "statusCode": 500}
        gw.step_market(2)
        bars = client.get("/iserver/marketdata/history", params=params).json()["data"]
        assert [b["c"] for b in bars] == [10.2, 10.3]
        client.close()
