"""What the two refresh surfaces share (the social `/refreshToken` and the OIDC `/token`
refresh grant): redeem the refresh token, answer slowly when the account says so, and the
token body.
"""

from __future__ import annotations

import asyncio
import logging

from kiro_sim.accounts import Account
from kiro_sim.store import IssuedTokens, RefreshRecord, SimState

logger = logging.getLogger(__name__)


async def redeem(
    state: SimState, record: RefreshRecord, presented: object, flow: str
) -> tuple[Account, IssuedTokens]:
    """The account and its tokens (rotated or not) for a valid refresh token."""
    issued = state.redeem_refresh(record)
    account = record.account
    if account.refresh_delay_seconds:  # the token is redeemed: a slow answer of a rotation
        await asyncio.sleep(account.refresh_delay_seconds)
    logger.info("%s refresh account=%s rotated=%s", flow, account.id, issued.refresh_token != presented)
    return account, issued


def token_body(account: Account, issued: IssuedTokens, **extra: object) -> dict[str, object]:
    """`accessToken`, `refreshToken`, `expiresIn`, then `extra`, then the account's `profileArn`."""
    body: dict[str, object] = {
        "accessToken": issued.access_token,
        "refreshToken": issued.refresh_token,
        "expiresIn": issued.expires_in,
        **extra,
    }
    if account.profile_arn is not None:
        body["profileArn"] = account.profile_arn
    return body
