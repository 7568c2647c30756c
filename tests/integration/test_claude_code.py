"""Claude Code acceptance: the real CLI (`@anthropic-ai/claude-code@2.1.330`, installed with npm
into `build/claude-code`, cached across runs) runs headless against the gateway and the
simulator and completes a WebSearch tool call.

The simulator's scripted model first calls Claude Code's `WebSearch` tool (a directive in the
prompt); Claude Code then sends its own sub-request with Anthropic's `web_search` server tool,
which the gateway serves through Kiro's MCP endpoint (the simulator records the call); the
search blocks go back to Claude Code, which answers the tool call and finishes the turn.
Skipped only where npm is missing; an install or run failure fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiro_testing import NatsServer, RedisServer
from kiro_testing.sim import Sim, credential
from kiro_testing.stack import CLIENT_TOKEN, Stack, StackConfig
from tests.integration.websearch_helpers import mcp_queries

pytestmark = pytest.mark.integration

VERSION = "2.1.330"
PACKAGE = f"@anthropic-ai/claude-code@{VERSION}"
INSTALL_DIR = Path(__file__).resolve().parents[2] / "build" / "claude-code"
QUERY = "kiro gateway web search"
RUN_TIMEOUT_S = 240


def claude_binary() -> Path:
    """The CLI, installed once into `build/claude-code` (ignored by git) and reused."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    binary = INSTALL_DIR / "node_modules" / ".bin" / "claude"
    if binary.exists():
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
        if version.returncode == 0 and version.stdout.startswith(VERSION):
            return binary
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(INSTALL_DIR), PACKAGE],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert installed.returncode == 0, f"npm install failed:\n{installed.stdout}\n{installed.stderr}"
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith(VERSION), version.stdout + version.stderr
    return binary


@pytest.fixture(scope="module")
def pool(sim: Sim, log_dir: Path, nats_server: NatsServer, redis_server: RedisServer) -> Iterator[Stack]:
    with Stack(
        log_dir / "claude-code",
        StackConfig(credentials=[credential(sim.add_account())]),
        nats_url=nats_server.url,
        redis_url=redis_server.url,
        sim=sim,
    ) as pool:
        yield pool


def run_claude(binary: Path, gateway_url: str, home: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_API_KEY": CLIENT_TOKEN,
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "NO_COLOR": "1",
    }
    command = [
        str(binary),
        "-p",
        prompt,
        "--allowedTools",
        "WebSearch",
        "--model",
        "claude-sonnet-4-6",
        "--output-format",
        "stream-json",
        "--verbose",
        "--max-turns",
        "4",
    ]
    return subprocess.run(
        command, env=env, cwd=home, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )


def tool_results(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        if line.get("type") != "user":
            continue
        content = line.get("message", {}).get("content")
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and block.get("type") == "tool_result":
                out.append(block)
    return out


def test_claude_code_completes_a_web_search(sim: Sim, pool: Stack, tmp_path: Path) -> None:
    binary = claude_binary()
    call = {"tool_calls": [{"name": "WebSearch", "input": {"query": QUERY}}]}
    prompt = f"Search the web for {QUERY}. <<sim:{json.dumps(call)}>>"
    result = run_claude(binary, pool.gateway_url(), tmp_path, prompt)
    (tmp_path / "claude-stdout.jsonl").write_text(result.stdout)
    detail = f"rc={result.returncode}\nstdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, detail
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip().startswith("{")]
    # the gateway searched through Kiro's MCP endpoint, with the model's query
    assert QUERY in mcp_queries(sim), detail
    # Claude Code got the search back: its WebSearch tool result carries the simulator's links
    results = tool_results(lines)
    assert results, detail
    text = json.dumps(results)
    assert "example.com" in text and not any(r.get("is_error") for r in results), detail
    # what Claude Code's WebSearch sub-request asked for, as the gateway logged it
    searches = [
        json.loads(line)
        for log in pool.log_dir.glob("gateway-*.log")
        for line in log.read_text().splitlines()
        if '"msg":"web search"' in line
    ]
    (tmp_path / "gateway-web-searches.json").write_text(json.dumps(searches, indent=1))
    # 2.1.330 sends {"type": "web_search_20250305", "name": "web_search", "max_uses": 8}
    assert [(s["outcome"], s["tool"], s["max_uses"]) for s in searches] == [("ok", "web_search_20250305", 8)]
    final = lines[-1]
    assert (
        final.get("type") == "result" and final.get("subtype") == "success" and not final.get("is_error")
    ), detail
