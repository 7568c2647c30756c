"""`make run` and `make demo`: the whole stack in the foreground, Ctrl-C stops all of it.

`run`  starts nats-server and redis-server (unless NATS_URL / REDIS_URL point at existing ones,
       data kept under .run/), the token-broker, the gateway on PORT (default 8080), and the
       oauth and dashboard services when they exist, forwarded by the gateway on one origin.
`demo` the same against the project's Kiro simulator, with a simulated credential and a
       generated client key, and prints a curl line that works.

Reads `.env` when present; variables already set in the environment win.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kiro_testing.processes import ManagedProcess, NatsServer, PythonService, RedisServer, free_port

log = logging.getLogger("kiro2api.runner")

RUN_DIR = Path(".run")


def read_dotenv(path: Path) -> dict[str, str]:
    """Minimal .env reader: KEY=VALUE lines, optional quotes, # comments."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def base_environment() -> dict[str, str]:
    env = read_dotenv(Path(".env"))
    env.update(os.environ)  # the real environment wins
    return env


class Stack:
    """Processes started in order, stopped in reverse order."""

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def start(self, proc: ManagedProcess) -> None:
        log.info("starting %s", proc.name)
        proc.start()
        self.processes.append(proc)

    def stop(self) -> None:
        for proc in reversed(self.processes):
            log.info("stopping %s", proc.name)
            proc.stop()
        self.processes.clear()

    def watch(self, should_stop: Callable[[], bool]) -> int:
        while not should_stop():
            for proc in self.processes:
                if not proc.running:
                    log.error("%s exited; see %s", proc.name, proc.log_path)
                    return 1
            time.sleep(0.3)
        return 0


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def start_stack(mode: str) -> int:
    env = base_environment()
    # `demo` keeps its own data: its simulated credential must never appear in `make run`'s pool
    # (Redis is the source of truth, so whatever a run stored there comes back next time).
    run_dir = RUN_DIR / "demo" if mode == "demo" else RUN_DIR
    logs = run_dir / "logs"
    stack = Stack()
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("NATS_URL"):
            nats = NatsServer(logs, port=int(env.get("RUN_NATS_PORT", "0")) or None)
            stack.start(nats)
            env["NATS_URL"] = nats.url
        if not env.get("REDIS_URL"):
            redis_port = int(env.get("RUN_REDIS_PORT", "0")) or None
            redis = RedisServer(logs, port=redis_port, data_dir=run_dir / "redis")
            stack.start(redis)
            env["REDIS_URL"] = redis.url

        if mode == "demo":
            sim_port = int(env.get("KIRO_SIM_PORT", "0")) or free_port()
            sim_url = f"http://127.0.0.1:{sim_port}"
            sim_args = ["--port", str(sim_port), "--seed-demo", "--log-level", "WARNING"]
            stack.start(PythonService("kiro-sim", "kiro_sim", logs, env, f"{sim_url}/healthz", args=sim_args))
            from kiro_sim import DEMO_REFRESH_TOKEN

            refresh_token = DEMO_REFRESH_TOKEN
            env["KIRO_API_BASE_URL"] = sim_url
            env["KIRO_AUTH_BASE_URL"] = sim_url
            env["KIRO_OIDC_BASE_URL"] = sim_url
            demo_cred = {"auth": "Social", "refreshToken": refresh_token, "id": "demo"}
            env["KIRO_AUTH_TOKEN"] = json.dumps([demo_cred])
            env.setdefault("KIRO_CLIENT_TOKEN", "demo-" + secrets.token_urlsafe(16))

        if not env.get("KIRO_CLIENT_TOKEN"):
            log.error("KIRO_CLIENT_TOKEN is not set: put it in .env or the environment (see README)")
            return 2
        if not env.get("KIRO_AUTH_TOKEN"):
            log.warning(
                "no credentials configured: set KIRO_AUTH_TOKEN (JSON or a file path) in .env, "
                "or add an account at http://localhost:%s/oauth (OAUTH_ENABLED=true)",
                env.get("PORT", "8080"),
            )

        port = int(env.get("PORT", "8080"))
        broker_port = int(env.get("BROKER_PORT", "0")) or free_port()
        env["BROKER_PORT"] = str(broker_port)
        stack.start(PythonService("token-broker", "token_broker", logs, env,
                                  f"http://127.0.0.1:{broker_port}/healthz"))
        for name, module, var in (("oauth", "kiro_oauth", "GATEWAY_OAUTH_URL"),
                                  ("dashboard", "dashboard", "GATEWAY_DASHBOARD_URL")):
            if _module_exists(f"{module}.__main__"):
                svc_port = free_port()
                svc_env = dict(env)
                svc_env[f"{name.upper()}_PORT"] = str(svc_port)
                stack.start(PythonService(name, module, logs, svc_env, f"http://127.0.0.1:{svc_port}/healthz"))
                env[var] = f"http://127.0.0.1:{svc_port}"
        stack.start(PythonService("gateway", "gateway", logs, env, f"http://127.0.0.1:{port}/healthz"))

        log.info("Kiro2API is up at http://localhost:%d (logs in %s)", port, logs)
        if mode == "demo":
            key = env["KIRO_CLIENT_TOKEN"]
            sys.stdout.write(
                "\nTry it:\n"
                f"  curl http://localhost:{port}/v1/messages -H 'x-api-key: {key}' "
                "-H 'content-type: application/json' "
                "-d '{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,"
                "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n\n"
            )
            sys.stdout.flush()
        return stack.watch(lambda: stopping)
    except Exception as exc:  # noqa: BLE001 - report and stop what was started
        log.error("could not start the stack: %s", exc)
        return 1
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiro_testing.runner")
    parser.add_argument("mode", choices=["run", "demo"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s runner %(levelname)s %(message)s")
    return start_stack(args.mode)


if __name__ == "__main__":
    raise SystemExit(main())
