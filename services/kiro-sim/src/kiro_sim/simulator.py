"""The simulator object the routes share: state, login flows, settings, clock, seeding, reset.

`Simulator` is created once per app by `create_app()`; `reset()` swaps in fresh state (the
routes always go through `sim.state`, so they see the new one). Seeding creates the
`--seed-demo` account (fixed refresh token `DEMO_REFRESH_TOKEN`) and the accounts of the
`--accounts` file.

Deliberately not here: HTTP.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from kiro_sim.accounts import CREDENTIAL_ONLY_KEYS, Account, AccountSpec
from kiro_sim.flows import DeviceFlows, LoginCodes
from kiro_sim.settings import SimSettings
from kiro_sim.store import Clock, SimState
from kiro_sim.tokens import DEMO_REFRESH_TOKEN, redact

logger = logging.getLogger(__name__)

DEMO_ACCOUNT_ID = "demo"


class Simulator:
    def __init__(self, settings: SimSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.seed_specs = load_seed_specs(settings)
        self.state = SimState(settings, clock)
        self.devices = DeviceFlows(self.state)
        self.logins = LoginCodes(self.state)
        self._seed()

    def reset(self, *, seed: bool = True) -> None:
        """Forget everything (accounts, tokens, scripts, stats, rule switches); re-seed if asked."""
        for hold in self.state.holds.values():
            hold.event.set()
        self.state = SimState(self.settings, self.clock)
        self.devices = DeviceFlows(self.state)
        self.logins = LoginCodes(self.state)
        if seed:
            self._seed()

    def _seed(self) -> None:
        for spec in self.seed_specs:
            account = self.state.add_account(spec)
            logger.info(
                "seeded account id=%s auth=%s refresh_token=%s",
                account.id,
                account.auth,
                redact(account.refresh_token),
            )

    def account(self, account_id: str) -> Account | None:
        return self.state.accounts.get(account_id)


def demo_spec() -> AccountSpec:
    return AccountSpec(
        id=DEMO_ACCOUNT_ID, auth="social", refresh_token=DEMO_REFRESH_TOKEN, credits_limit=10_000.0
    )


def load_seed_specs(settings: SimSettings) -> list[AccountSpec]:
    """The demo account (if asked) and the accounts file's entries, validated up front."""
    specs: list[AccountSpec] = [demo_spec()] if settings.seed_demo else []
    if settings.accounts_file is not None:
        specs.extend(parse_accounts_file(settings.accounts_file))
    return specs


def parse_accounts_file(path: Path) -> list[AccountSpec]:
    """A JSON list (or one object) of accounts: control-API fields or credential-schema fields."""
    raw: Any = orjson.loads(path.read_bytes())
    items = raw if isinstance(raw, list) else [raw]
    specs: list[AccountSpec] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: entry {index} is not an object")
        cleaned = {k: v for k, v in item.items() if k not in CREDENTIAL_ONLY_KEYS}
        if "authMethod" in item and "auth" in item:
            cleaned.pop("authMethod")
        try:
            specs.append(AccountSpec.model_validate(cleaned))
        except ValueError as exc:
            raise ValueError(f"{path}: entry {index}: {exc}") from exc
    return specs
