"""The Compose edge router (deploy/caddy/Caddyfile): valid for Caddy, and routes as CONTRACTS.md says.

`caddy validate` loads and provisions the config offline; `caddy adapt` gives its JSON form,
from which the routing table is read and checked path by path.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from tests.deploy._support import DEPLOY, run, tool

CADDYFILE = DEPLOY / "caddy" / "Caddyfile"


def test_caddy_validates_and_is_formatted(tool_env: dict[str, str]) -> None:
    caddy = tool("caddy")
    proc = run([caddy, "validate", "--adapter", "caddyfile", "--config", str(CADDYFILE)], env=tool_env)
    assert proc.returncode == 0, proc.stderr
    assert "Valid configuration" in proc.stdout + proc.stderr
    assert "not formatted" not in proc.stderr, "run `caddy fmt --overwrite deploy/caddy/Caddyfile`"


@pytest.fixture(scope="module")
def servers() -> dict[str, Any]:
    proc = run([tool("caddy"), "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)])
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["admin"]["disabled"] is True
    return dict(config["apps"]["http"]["servers"])


def _public(servers: dict[str, Any]) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [s for s in servers.values() if s["listen"] == [":8080"]]
    assert len(matches) == 1
    return matches[0]


def _route_for(server: dict[str, Any], path: str) -> dict[str, Any]:
    """First matching route for a path, as Caddy evaluates them (routes in order; handle groups)."""
    routes: list[dict[str, Any]] = server["routes"]
    for route in routes:
        matchers = route.get("match", [])
        if not matchers or any(
            any(fnmatch.fnmatchcase(path, pattern) for pattern in m.get("path", [])) for m in matchers
        ):
            return route
    raise AssertionError(f"no route for {path}")


def _upstream(route: dict[str, Any]) -> Any:
    """The reverse_proxy handler (or static response) at the end of a route."""
    for handler in route["handle"]:
        if handler["handler"] == "subroute":
            for sub in handler["routes"]:
                found = _upstream(sub)
                if found is not None:
                    return found
        if handler["handler"] in ("reverse_proxy", "static_response"):
            return handler
    return None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/messages", "gateway"),
        ("/v1/messages/count_tokens", "gateway"),
        ("/v1/chat/completions", "gateway"),
        ("/v1/models", "gateway"),
        ("/v1", "gateway"),
        ("/healthz", "gateway"),
        ("/readyz", "gateway"),
        ("/oauth", "oauth:8082"),
        ("/oauth/api/device/start", "oauth:8082"),
        ("/oauth/static/app.js", "oauth:8082"),
        ("/", "dashboard:8083"),
        ("/api/tokens", "dashboard:8083"),
        ("/api/keys", "dashboard:8083"),
        ("/static/dashboard/app.css", "dashboard:8083"),
        ("/events", "dashboard:8083"),
        ("/metrics", 404),
        ("/v1x", "dashboard:8083"),
    ],
)
def test_routes(servers: dict[str, Any], path: str, expected: str | int) -> None:
    handler = _upstream(_route_for(_public(servers), path))
    if isinstance(expected, int):
        assert handler["handler"] == "static_response" and handler["status_code"] == expected
        return
    assert handler["handler"] == "reverse_proxy"
    assert handler.get("flush_interval") == -1, f"{path}: responses must stream unbuffered"
    if expected == "gateway":
        upstreams = handler["dynamic_upstreams"]
        assert upstreams["source"] == "a" and upstreams["name"] == "gateway" and upstreams["port"] == "8080"
        assert handler["load_balancing"]["selection_policy"]["policy"] == "round_robin"
    else:
        assert [u["dial"] for u in handler["upstreams"]] == [expected]


def test_health_listener_is_loopback_only(servers: dict[str, Any]) -> None:
    health = [s for s in servers.values() if s["listen"] != [":8080"]]
    assert [s["listen"] for s in health] == [["127.0.0.1:2020"]]
