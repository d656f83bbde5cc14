"""REST throughput of the simulated gateway with pacing off.

Starts the gateway as a child process, then N client threads each send requests over one keep-alive
``requests.Session`` (real TLS verification) in a mix of auth status, tickle, snapshot and live-order
reads. Target: >= 300 requests/s.

Run: .venv/bin/python benchmarks/sim_rest_throughput.py [--requests 3000] [--threads 2]
"""

from __future__ import annotations

import argparse
import threading
import time

import requests

from simulators.ibkr import GatewayProcess

PATHS = ("/iserver/auth/status", "/tickle", "/iserver/marketdata/snapshot?conids=265598,8314&fields=31,84,86",
         "/iserver/account/orders", "/portfolio/DU1234567/summary")


def worker(base_url: str, ca_file: str, count: int, errors: list[int]) -> None:
    session = requests.Session()
    session.verify, session.trust_env = ca_file, False
    session.get(base_url + "/iserver/accounts", timeout=10)
    session.get(base_url + "/portfolio/accounts", timeout=10)
    for i in range(count):
        response = session.get(base_url + PATHS[i % len(PATHS)], timeout=10)
        if response.status_code != 200:
            errors.append(response.status_code)
    session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with GatewayProcess(args=["--no-pacing", "--market", "manual"]) as gateway:
        errors: list[int] = []
        per_thread = args.requests // args.threads
        threads = [threading.Thread(target=worker, args=(gateway.base_url, str(gateway.ca_file), per_thread, errors))
                   for _ in range(args.threads)]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
    total = per_thread * args.threads
    print(f"threads={args.threads} requests={total} errors={len(errors)} elapsed={elapsed:.2f}s")
    print(f"throughput: {total / elapsed:,.0f} requests/s")


if __name__ == "__main__":
    main()
