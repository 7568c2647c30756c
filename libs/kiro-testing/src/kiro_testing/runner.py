"""`make run` and `make demo`: the whole stack in the foreground, Ctrl-C stops all of it.

`run`  starts nats-server and redis-server (unless NATS_URL / REDIS_URL point at existing ones,
       data kept under .run/), the token-broker, the gateway on PORT (default 8080), and the
       oauth and dashboard services when they exist, forwarded by the gateway on one origin.
`demo` the same against the project's Kiro simulator, with a simulated credential and a
       generated client key, and prints a curl line that works.

Reads `.env` when present; variables already set in the environment win.

Security (README "Security"): the data folder is private (0700, files 0600); the NATS and Redis
started here require authentication (one user per service with NATS subject permissions and
Redis ACL users, `kiro_testing.busauth`; passwords new on every start, handed to each service in
its own NATS_URL / REDIS_URL); `KIRO_SECRET_KEY` and the admin key (`KIRO_ADMIN_TOKEN`), when
unset, are generated once and kept in the data folder (`secret-key`, `admin-key`, mode 0600).
A service that exits is started again with back-off (1 s doubling to 30 s); the others keep
running, so streams through them are not cut. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiro_testing.busauth import make_private_tree, private_dir, write_private
from kiro_testing.processes import ManagedProcess
from kiro_testing.stack import Stack, StackConfig
from kiroproto.bus import DEFAULT_NAMESPACE
from kiroproto.keypolicy import key_problem

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


RESTART_FIRST_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # up this long: the next crash starts the back-off again from 1 s


@dataclass
class _Restarts:
    delay_s: float = RESTART_FIRST_DELAY_S
    due_at: float | None = None  # when the next start attempt is due (None: running)
    started_at: float = 0.0


class Supervisor:
    """Watches started processes; a crashed one is started again with back-off."""

    def __init__(
        self,
        processes: Sequence[ManagedProcess],
        first_delay_s: float = RESTART_FIRST_DELAY_S,
        max_delay_s: float = RESTART_MAX_DELAY_S,
    ) -> None:
        self.processes = list(processes)
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        now = time.monotonic()
        self._restarts = {p.name: _Restarts(delay_s=first_delay_s, started_at=now) for p in self.processes}

    def watch(self, should_stop: Callable[[], bool]) -> int:
        while not should_stop():
            for proc in self.processes:
                if should_stop():
                    break
                self._supervise(proc, time.monotonic())
            time.sleep(0.3)
        return 0

    def _supervise(self, proc: ManagedProcess, now: float) -> None:
        state = self._restarts.setdefault(proc.name, _Restarts(delay_s=self.first_delay_s))
        if proc.running:
            if state.due_at is None and now - state.started_at > STABLE_AFTER_S:
                state.delay_s = self.first_delay_s
            return
        if state.due_at is None:  # just found dead
            code = proc.stop()  # reap it and close its log
            log.error(
                "%s exited (status %s); starting it again in %.0f s (see %s)",
                proc.name,
                code,
                state.delay_s,
                proc.log_path,
            )
            state.due_at = now + state.delay_s
            state.delay_s = min(state.delay_s * 2, self.max_delay_s)
            return
        if now < state.due_at:
            return
        try:
            proc.start()
        except Exception as exc:  # noqa: BLE001 - keep trying, with back-off
            log.error("%s did not start again: %s; next try in %.0f s", proc.name, exc, state.delay_s)
            state.due_at = time.monotonic() + state.delay_s
            state.delay_s = min(state.delay_s * 2, self.max_delay_s)
            return
        log.info("%s started again", proc.name)
        state.due_at = None
        state.started_at = time.monotonic()


def kept_secret(path: Path, generate: Callable[[], str]) -> tuple[str, bool]:
    """The secret kept in `path` (mode 0600), generated and written on first use.
    Returns (value, whether it was generated now)."""
    if path.exists():
        path.chmod(0o600)
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value, False
    value = generate()
    write_private(path, value + "\n")
    return value, True


def _check_keys(env: dict[str, str]) -> str | None:
    """Why the client / admin keys of `env` are refused (None: they are fine)."""
    if not env.get("KIRO_CLIENT_TOKEN"):
        return "KIRO_CLIENT_TOKEN is not set: put it in .env or the environment (see README)"
    for name in ("KIRO_CLIENT_TOKEN", "KIRO_ADMIN_TOKEN"):
        problem = key_problem(env[name]) if env.get(name) else None
        if problem is not None:
            return f"{name} is refused: {problem}"
    if env.get("KIRO_ADMIN_TOKEN") and env["KIRO_ADMIN_TOKEN"] == env["KIRO_CLIENT_TOKEN"]:
        return (
            "KIRO_ADMIN_TOKEN equals KIRO_CLIENT_TOKEN: the client key is never an admin key "
            "(unset KIRO_ADMIN_TOKEN to have one generated)"
        )
    return None


def _admin_key(run_dir: Path) -> str:
    admin_file = run_dir / "admin-key"
    key, created = kept_secret(admin_file, lambda: secrets.token_urlsafe(32))
    if created:  # shown once; afterwards only where it is kept
        sys.stdout.write(f"\nGenerated the admin key (kept in {admin_file}): {key}\n\n")
        sys.stdout.flush()
    else:
        log.info("admin key: %s (KIRO_ADMIN_TOKEN unset)", admin_file)
    return key


def stack_config(mode: str, env: dict[str, str], run_dir: Path) -> StackConfig:
    """The stack of `make run` / `make demo`: one of each service, on the bus users of
    `kiro_testing.busauth`; NATS / Redis only when NATS_URL / REDIS_URL name none. Only the
    gateway faces the network (GATEWAY_HOST, default all interfaces); the services behind it
    listen on loopback."""
    demo = mode == "demo"
    return StackConfig(
        dashboard=True,
        oauth=True,
        simulator=demo,
        seeded=["demo"] if demo else [],
        sim_args=["--seed-demo"] if demo else [],
        sim_env={k: v for k, v in env.items() if k.startswith("KIRO_SIM_")},
        sim_port=int(env.get("KIRO_SIM_PORT", "0")),
        client_token=None,
        secret_key=None,
        namespace=env.get("KIRO_BUS_NAMESPACE") or DEFAULT_NAMESPACE,
        scoped=False,
        test_defaults=False,
        env=env,
        gateway_env={"GATEWAY_HOST": env.get("GATEWAY_HOST", "0.0.0.0")},  # noqa: S104 - the public face
        secure_bus=True,
        nats_port=int(env.get("RUN_NATS_PORT", "0")),
        redis_port=int(env.get("RUN_REDIS_PORT", "0")),
        gateway_port=int(env.get("PORT", "8080")),
        broker_port=int(env.get("BROKER_PORT", "0")),
        data_dir=run_dir.resolve(),
        plain_names=True,
        health_path="/healthz",
    )


def start_stack(mode: str) -> int:
    env = base_environment()
    # `demo` keeps its own data: its simulated credential must never appear in `make run`'s pool
    # (Redis is the source of truth, so whatever a run stored there comes back next time).
    run_dir = RUN_DIR / "demo" if mode == "demo" else RUN_DIR
    os.umask(0o077)  # everything written from here on (logs, Redis files) is private
    private_dir(run_dir)
    make_private_tree(run_dir)  # data an older runner left readable
    logs = private_dir(run_dir / "logs")
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if not env.get("KIRO_SECRET_KEY"):
        env["KIRO_SECRET_KEY"], _ = kept_secret(
            run_dir / "secret-key", lambda: base64.b64encode(os.urandom(32)).decode()
        )
    if mode == "demo":  # the simulated credential, never one from the environment
        env.pop("KIRO_AUTH_TOKEN", None)
        env.setdefault("KIRO_CLIENT_TOKEN", "demo-" + secrets.token_urlsafe(16))
    refused = _check_keys(env)
    if refused is not None:
        log.error("%s", refused)
        return 2
    if not env.get("KIRO_ADMIN_TOKEN"):
        env["KIRO_ADMIN_TOKEN"] = _admin_key(run_dir)
    if not env.get("KIRO_AUTH_TOKEN") and mode != "demo":
        log.warning(
            "no credentials configured: set KIRO_AUTH_TOKEN (JSON or a file path) in .env, "
            "or add an account at http://localhost:%s/oauth (OAUTH_ENABLED=true)",
            env.get("PORT", "8080"),
        )
    stack = Stack(
        logs, stack_config(mode, env, run_dir), nats_url=env.get("NATS_URL"), redis_url=env.get("REDIS_URL")
    )
    try:
        stack.start()
        port = stack.gateway_ports[0]
        log.info("Kiro2API is up at http://localhost:%d (logs in %s)", port, logs)
        if mode == "demo":
            key = env["KIRO_CLIENT_TOKEN"]
            sys.stdout.write(
                "\nTry it:\n"
                f"  curl http://localhost:{port}/v1/messages -H 'x-api-key: {key}' "
                "-H 'content-type: application/json' "
                '-d \'{"model":"claude-sonnet-4-5","max_tokens":256,'
                '"messages":[{"role":"user","content":"Hello"}]}\'\n\n'
            )
            sys.stdout.flush()
        return Supervisor(stack.processes).watch(lambda: stopping)
    except Exception as exc:  # noqa: BLE001 - report and stop what was started
        log.error("could not start the stack: %s", exc)
        return 1
    finally:
        for process in reversed(stack.processes):
            log.info("stopping %s", process.name)
        stack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiro_testing.runner")
    parser.add_argument("mode", choices=["run", "demo"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s runner %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return start_stack(args.mode)


if __name__ == "__main__":
    raise SystemExit(main())
