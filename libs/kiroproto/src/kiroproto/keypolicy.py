"""Which operator keys are acceptable (CONTRACTS.md, `KIRO_ADMIN_TOKEN`).

Client and admin keys shorter than `MIN_KEY_LENGTH` characters, or equal to a placeholder that
ships in documentation (`.env.example`, the seed's README), are refused at start: a service
that would run with such a key refuses with a message naming the variable and the reason.
"""

from __future__ import annotations

MIN_KEY_LENGTH = 20

# Compared case-insensitively after trimming. `change-me…` is a prefix (any continuation).
PLACEHOLDERS = frozenset(
    {
        "your-secure-random-password",
        "your-client-token",
        "your-token",
        "your-admin-token",
        "change-me-to-a-long-random-string",
    }
)
PLACEHOLDER_PREFIXES = ("change-me", "changeme", "change_me")


class WeakKeyError(ValueError):
    """A key that must not be used; the message says which variable and why."""


def key_problem(value: str) -> str | None:
    """Why `value` is not acceptable as a client or admin key, or None when it is."""
    text = value.strip()
    folded = text.lower()
    if folded in PLACEHOLDERS or folded.startswith(PLACEHOLDER_PREFIXES):
        return "it is a documentation placeholder; generate a random key (e.g. `openssl rand -base64 32`)"
    if len(text) < MIN_KEY_LENGTH:
        return (
            f"it is {len(text)} characters long; keys need at least {MIN_KEY_LENGTH} "
            "(e.g. `openssl rand -base64 32`)"
        )
    return None


def check_key(variable: str, value: str) -> str:
    """`value` unchanged when acceptable, else WeakKeyError naming `variable`."""
    problem = key_problem(value)
    if problem is not None:
        raise WeakKeyError(f"{variable} is refused: {problem}")
    return value
