"""Session endpoints: auth status, ssodh init, reauthenticate, tickle, sso validate, logout."""

from __future__ import annotations

from aiohttp import web

from simulators.ibkr.http_json import Route
from simulators.ibkr.http_json import body_json
from simulators.ibkr.http_json import core_of
from simulators.ibkr.http_json import error
from simulators.ibkr.http_json import flag
from simulators.ibkr.http_json import reply

USER_ID = 99996016


async def auth_status(request: web.Request) -> web.Response:
    """``/iserver/auth/status`` (GET and POST)."""
    return reply(core_of(request).session.auth_status())


async def ssodh_init(request: web.Request) -> web.Response:
    """``POST /iserver/auth/ssodh/init`` with ``{"publish": true, "compete": true}``."""
    core = core_of(request)
    body = await body_json(request, {})
    compete = flag(body.get("compete", False)) if isinstance(body, dict) else False
    if core.session.in_maintenance:
        return error(503, "Service Unavailable")
    core.session.ssodh_init(compete)
    return reply(core.session.auth_status())


async def reauthenticate(request: web.Request) -> web.Response:
    """``/iserver/reauthenticate`` (GET and POST, optional ``?force=true``)."""
    core = core_of(request)
    if core.session.in_maintenance:
        return error(503, "Service Unavailable")
    core.session.reauthenticate(flag(request.query.get("force")))
    return reply({"message": "triggered"})


async def tickle(request: web.Request) -> web.Response:
    """``/tickle`` (GET and POST): session id, SSO expiry and the auth snapshot."""
    core = core_of(request)
    status = core.session.auth_status()
    status.pop("fail")
    status.pop("prompts")
    status.pop("established")
    return reply({
        "session": core.session.session_id, "ssoExpires": core.session.sso_expires_ms(), "collission": False,
        "userId": USER_ID,
        "hmds": {} if core.session.scope.hmds_ready else {"error": "no bridge"},
        "iserver": {"authStatus": status},
    })


async def sso_validate(request: web.Request) -> web.Response:
    """``GET /sso/validate``: the outer SSO session."""
    core = core_of(request)
    config = core.config
    now = core.now_ms()
    return reply({
        "USER_ID": USER_ID, "USER_NAME": config.username, "RESULT": True,
        "AUTH_TIME": now - int((core.clock.monotonic() - core.session.sso_started) * 1000),
        "SF_ENABLED": False, "IS_FREE_TRIAL": False, "CREDENTIAL": config.username, "IP": "127.0.0.1",
        "EXPIRES": core.session.sso_expires_ms(), "QUALIFIED_FOR_MOBILE_AUTH": None, "LANDING_APP": "UNIVERSAL",
        "IS_MASTER": False, "lastAccessed": now, "LOGIN_TYPE": 2 if config.paper else 1,
        "loginType": 2 if config.paper else 1, "PAPER_USER_NAME": config.username,
        "features": {"env": "PROD", "wlms": True, "realtime": True, "bond": True, "optionChains": True,
                     "calendar": True, "newMf": True},
        "region": "NJ",
    })


async def logout(request: web.Request) -> web.Response:
    """``POST /logout``: ends the session; a browser login (control ``login``) is needed after it."""
    core_of(request).session.logout()
    return reply({"status": True})


ROUTES: list[Route] = [
    ("GET", "/iserver/auth/status", auth_status),
    ("POST", "/iserver/auth/status", auth_status),
    ("POST", "/iserver/auth/ssodh/init", ssodh_init),
    ("GET", "/iserver/reauthenticate", reauthenticate),
    ("POST", "/iserver/reauthenticate", reauthenticate),
    ("GET", "/tickle", tickle),
    ("POST", "/tickle", tickle),
    ("GET", "/sso/validate", sso_validate),
    ("POST", "/logout", logout),
]
