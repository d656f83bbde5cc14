"""Sustained websocket market-data rate of the simulated gateway.

Starts the gateway as a child process (so the reader does not share a GIL with the server), ticks
the market every 10 ms, subscribes 20 instruments with ``smd`` over one websocket-client connection
and counts ``smd`` updates delivered over the measurement window. Target: >= 2,000 updates/s.

Run: .venv/bin/python benchmarks/sim_ws_rate.py [--seconds 10] [--tick-interval 0.01]
"""

from __future__ import annotations

import argparse
import json
import time

import requests
import websocket

from simulators.ibkr import GatewayProcess
from simulators.ibkr.instruments import BUILTIN_INSTRUMENTS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tick-interval", type=float, default=0.01)
    parser.add_argument("--instruments", type=int, default=20)
    args = parser.parse_args()
    with GatewayProcess(args=["--no-pacing", "--tick-interval", str(args.tick_interval)]) as gateway:
        http = requests.Session()
        http.verify, http.trust_env = str(gateway.ca_file), False
        session_id = http.post(gateway.base_url + "/tickle", timeout=10).json()["session"]
        http.close()
        ws = websocket.create_connection(gateway.ws_url, sslopt={"ca_certs": str(gateway.ca_file)},
                                         cookie=f"api={session_id}", timeout=5)
        conids = [inst.conid for inst in BUILTIN_INSTRUMENTS[: args.instruments]]
        for conid in conids:
            ws.send(f'smd+{conid}+{{"fields":["31","84","85","86","88","7059"]}}')
        warmup_end = time.monotonic() + 1.0
        while time.monotonic() < warmup_end:
            ws.recv()
        count, per_conid = 0, dict.fromkeys(conids, 0)
        start = time.monotonic()
        end = start + args.seconds
        while time.monotonic() < end:
            message = json.loads(ws.recv())
            if message.get("topic", "").startswith("smd+"):
                count += 1
                per_conid[message["conid"]] += 1
        elapsed = time.monotonic() - start
        ws.close()
    print(f"instruments={len(conids)} tick_interval={args.tick_interval}s window={elapsed:.1f}s")
    print(f"smd updates: {count} -> {count / elapsed:,.0f} updates/s "
          f"(min per instrument {min(per_conid.values()) / elapsed:.0f}/s)")


if __name__ == "__main__":
    main()
