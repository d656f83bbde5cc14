"""The browser page at ``/``: the gateway's "Client login succeeds" landing, plus live status."""

from __future__ import annotations

import html

from aiohttp import web

from simulators.ibkr.http_json import core_of

ROUTE_LINKS = (
    "/v1/api/iserver/auth/status", "/v1/api/tickle", "/v1/api/sso/validate", "/v1/api/iserver/accounts",
    "/v1/api/portfolio/accounts", "/v1/api/iserver/secdef/search?symbol=AAPL", "/v1/api/trsrv/stocks?symbols=AAPL",
    "/v1/api/iserver/marketdata/snapshot?conids=265598&fields=31,84,86",
    "/v1/api/iserver/marketdata/history?conid=265598&period=1d&bar=5min", "/v1/api/iserver/account/orders",
    "/v1/api/iserver/account/trades", "/sim/state",
)


async def landing(request: web.Request) -> web.Response:
    """Render the status page."""
    core = core_of(request)
    session = core.session
    rows = []
    for inst in core.universe.all():
        quote = core.market.quote(inst.conid)
        if quote is not None:
            rows.append(f"<tr><td>{html.escape(inst.symbol)}</td><td>{inst.conid}</td>"
                        f"<td>{quote.bid:.2f}</td><td>{quote.ask:.2f}</td><td>{quote.last:.2f}</td></tr>")
    links = "".join(f'<li><a href="{html.escape(p)}">{html.escape(p)}</a></li>' for p in ROUTE_LINKS)
    body = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>tradebus simulated IBKR gateway</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 10px;text-align:right}}</style></head>
<body><h1>Client login succeeds</h1>
<p>tradebus simulated Client Portal gateway (not connected to Interactive Brokers).</p>
<ul><li>Session state: <b>{html.escape(str(session.state))}</b></li>
<li>Account: <b>{html.escape(core.config.account_id)}</b> ({'paper' if core.config.paper else 'live-looking'})</li>
<li>Websocket: <code>wss://{html.escape(request.host)}/v1/api/ws</code></li>
<li>Orders: {len(core.trading.orders)}, executions: {len(core.ledger.executions)}</li></ul>
<h2>Instruments</h2><table><tr><th>symbol</th><th>conid</th><th>bid</th><th>ask</th><th>last</th></tr>
{''.join(rows)}</table><h2>Routes</h2><ul>{links}</ul></body></html>"""
    return web.Response(text=body, content_type="text/html")
