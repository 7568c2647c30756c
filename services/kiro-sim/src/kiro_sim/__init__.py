"""Kiro upstream simulator: one process serving the chat, auth-portal and OIDC surfaces.

Public API: `create_app(settings)` (an ASGI app), `SimSettings`, `Script` (the scripting
model), `Rule` (validator rule names), `DEMO_REFRESH_TOKEN` (the `--seed-demo` credential).
"""

from __future__ import annotations

from kiro_sim.app import create_app
from kiro_sim.rules import Rule
from kiro_sim.script import Script, ToolCallScript
from kiro_sim.settings import SimSettings
from kiro_sim.simulator import DEMO_ACCOUNT_ID, Simulator
from kiro_sim.tokens import DEMO_REFRESH_TOKEN

__all__ = [
    "DEMO_ACCOUNT_ID",
    "DEMO_REFRESH_TOKEN",
    "Rule",
    "Script",
    "SimSettings",
    "Simulator",
    "ToolCallScript",
    "create_app",
]
