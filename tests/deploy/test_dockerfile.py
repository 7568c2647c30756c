"""The Dockerfile, its build context and its entrypoint, checked without a Docker engine."""

from __future__ import annotations

import ast
import fnmatch
import http.server
import importlib.metadata as md
import json
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from scripts import workspace
from tests.deploy._support import ROOT, run, tool

DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
WORKSPACE_SRC = [f"{m.relpath}/src" for m in workspace.members()]
OCI_LABELS = ["title", "description", "base.name"]  # every stage (inherited from base)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line = buf + line
        buf = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> dict[str, list[tuple[str, str]]]:
    result: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for word, rest in instructions():
        if word == "FROM":
            current = rest.split()[-1] if " AS " in rest.upper() else rest
            result[current] = []
        result[current].append((word, rest))
    return result


def test_hadolint_clean() -> None:
    cmd = [tool("hadolint"), "--format", "json", "--failure-threshold", "style", "--disable-ignore-pragma"]
    for label in OCI_LABELS:
        cmd += ["--require-label", f"org.opencontainers.image.{label}:text"]
    proc = run([*cmd, str(DOCKERFILE)])
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert proc.returncode == 0, proc.stderr


def test_base_image_pinned_to_a_patch_release() -> None:
    froms = [rest for word, rest in instructions() if word == "FROM"]
    external = [f.split()[0] for f in froms if ":" in f.split()[0]]
    assert external == ["python:3.11.14-slim-bookworm"]
    major_minor = ".".join(str(p) for p in sys.version_info[:2])
    assert external[0].startswith(f"python:{major_minor}."), "the image's Python should match the project's"


def test_stages_and_defaults() -> None:
    s = stages()
    assert list(s) == ["base", "build", "runtime", "allinone"], "allinone must stay the last (default) target"
    for name in ("runtime", "allinone"):
        users = [rest for word, rest in s[name] if word == "USER"]
        assert users and users[-1] == "10001:10001", f"{name}: must end as the numeric non-root user"
    runtime = dict((w, r) for w, r in s["runtime"] if w in {"ENTRYPOINT", "CMD", "HEALTHCHECK"})
    assert json.loads(runtime["ENTRYPOINT"]) == ["tini", "-g", "--", "kiro2api"]
    assert json.loads(runtime["CMD"]) == ["gateway"]
    assert "kiro2api-healthcheck" in runtime["HEALTHCHECK"]
    labels = " ".join(r for w, r in s["runtime"] if w == "LABEL")
    for label in ("version", "revision"):
        assert f"org.opencontainers.image.{label}=" in labels, f"runtime stage: no {label} label"
    allinone_cmd = [r for w, r in s["allinone"] if w == "CMD"]
    assert json.loads(allinone_cmd[-1]) == ["all"]


def _dockerignore_allows(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    allowed = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.rstrip("/")
        candidates = [pattern, pattern.removesuffix("/**")] if pattern.endswith("/**") else [pattern]
        if pattern.startswith("**/"):
            candidates.append(pattern[3:])
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        hit = any(fnmatch.fnmatch(p, c) for c in candidates for p in prefixes) or pattern == "**"
        if hit:
            allowed = negate
    return allowed


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    for word, rest in instructions():
        if word != "COPY" or "--from=" in rest:
            continue
        args = [a for a in rest.split() if not a.startswith("--")]
        for src in args[:-1]:
            path = ROOT / src
            assert path.exists(), f"COPY source {src} does not exist"
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            for f in files:
                rel = f.relative_to(ROOT).as_posix()
                if "__pycache__" in rel:
                    continue
                assert _dockerignore_allows(rel), f"{rel} is copied but excluded by .dockerignore"
    for secret in (".env", "deploy/demo.env", ".venv/bin/python", "tests/conftest.py"):
        assert not _dockerignore_allows(secret), f"{secret} must stay out of the build context"


def test_every_workspace_member_is_in_the_image() -> None:
    text = DOCKERFILE.read_text()
    path_file = " ".join(rest for word, rest in stages()["build"] if word == "RUN" and ".pth" in rest)
    for src in WORKSPACE_SRC:
        member = src.removesuffix("/src")
        folder = f"/opt/kiro2api/src/{member.rpartition('/')[2]}"
        assert f"COPY {src}/ {folder}/" in text, f"{src} is not copied into the image"
        assert f"{folder} " in path_file, f"{folder} is not on the image's path (.pth)"
        assert f"COPY {member}/pyproject.toml {member}/" in text, f"{member}: its dependencies not installed"


def _runtime_requirements() -> list[Requirement]:
    """The same selection as the Dockerfile: what the workspace members declare, not the dev group."""
    return [Requirement(spec) for spec in workspace.runtime_requirements()]


def _closure(names: set[str]) -> set[str]:
    def norm(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n).lower()

    seen: set[str] = set()
    todo = [norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(norm(req.name))
    return seen


def test_runtime_requirements_cover_every_import_of_the_services() -> None:
    reqs = _runtime_requirements()
    assert reqs, "the workspace members declare no dependencies, yet the Dockerfile installs them"
    closure = _closure({r.name for r in reqs} | {f"{r.name}[{e}]" for r in reqs for e in r.extras})
    closure |= _closure({"uvicorn"}) | {
        "uvloop",
        "httptools",
        "watchfiles",
        "websockets",
        "python-dotenv",
        "pyyaml",
    }
    local = set()
    imported: set[str] = set()
    for src in WORKSPACE_SRC:
        for pkg in (ROOT / src).iterdir():
            if pkg.is_dir():
                local.add(pkg.name)
        for file in (ROOT / src).rglob("*.py"):
            if file.name == "pytest_plugin.py":  # the test kit's pytest plugin: loaded by pytest only
                continue
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    imported |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])
    third_party = sorted(m for m in imported if m not in sys.stdlib_module_names and m not in local)
    dists = md.packages_distributions()
    missing = []
    for module in third_party:
        owners = {re.sub(r"[-_.]+", "-", d).lower() for d in dists.get(module, [module])}
        if not owners & closure:
            missing.append(f"{module} (from {', '.join(sorted(owners))})")
    assert not missing, "imported by the services but not declared by a workspace member: " + ", ".join(
        missing
    )


# ---- entrypoint and healthcheck


def test_entrypoint_is_valid_bash_and_executable() -> None:
    assert run(["bash", "-n", str(ENTRYPOINT)]).returncode == 0
    for script in (ENTRYPOINT, HEALTHCHECK):
        assert script.stat().st_mode & 0o111, f"{script.name} must be executable"


def test_entrypoint_strips_env_file_quotes_and_passes_commands_through(tool_env: dict[str, str]) -> None:
    env = {
        **tool_env,
        "KIRO_AUTH_TOKEN": '\'[{"auth":"Social","refreshToken":"r"}]\'',
        "KIRO_CLIENT_TOKEN": '"key with spaces"',
        "OTHER_VAR": "'left alone'",
        "KIRO_HEALTH_FILE": "/dev/null",
    }
    script = 'printf "%s|%s|%s" "$KIRO_AUTH_TOKEN" "$KIRO_CLIENT_TOKEN" "$OTHER_VAR"'
    proc = run(["bash", str(ENTRYPOINT), "bash", "-c", script], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '[{"auth":"Social","refreshToken":"r"}]|key with spaces|\'left alone\''


def test_entrypoint_writes_the_health_url_of_the_service(tool_env: dict[str, str], tmp_path: Path) -> None:
    health = tmp_path / "health"
    # `python -c` stands in for the service: the entrypoint has already noted the port.
    env = {**tool_env, "KIRO_HEALTH_FILE": str(health), "DASHBOARD_PORT": "9183"}
    proc = run(
        [
            "bash",
            "-c",
            f'source <(sed "s/exec python -m dashboard/exit 0 #/" {ENTRYPOINT})',
            "x",
            "dashboard",
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert health.read_text().strip() == "http://127.0.0.1:9183/healthz"


def test_entrypoint_all_needs_the_allinone_image(tool_env: dict[str, str]) -> None:
    env = {**tool_env, "PATH": "/nonexistent", "KIRO_HEALTH_FILE": "/dev/null"}
    proc = run(["/bin/bash", str(ENTRYPOINT), "all"], env=env)
    assert proc.returncode == 2
    assert "all-in-one image" in proc.stderr


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthcheck_script(local_server: int, tool_env: dict[str, str], tmp_path: Path) -> None:
    health_file = tmp_path / "health"
    health_file.write_text(f"http://127.0.0.1:{local_server}/healthz\n")
    ok = run([sys.executable, str(HEALTHCHECK)], env={**tool_env, "KIRO_HEALTH_FILE": str(health_file)})
    assert ok.returncode == 0, ok.stderr
    bad_url = f"http://127.0.0.1:{local_server}/readyz"
    bad = run([sys.executable, str(HEALTHCHECK)], env={**tool_env, "KIRO_HEALTH_URL": bad_url})
    assert bad.returncode == 1
    down = run(
        [sys.executable, str(HEALTHCHECK)],
        env={**tool_env, "KIRO_HEALTH_FILE": str(tmp_path / "none"), "PORT": "1"},
    )
    assert down.returncode == 1 and "127.0.0.1:1/healthz" in down.stderr
