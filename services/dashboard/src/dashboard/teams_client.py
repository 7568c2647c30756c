"""Team keys and usage over the bus (answered by the token-broker, which owns them in Redis).

The same error tree as `broker.py` (`BrokerUnavailable`, `BrokerRefused`): this client only
adds the `key.*` and `usage.query` calls of `kiroproto.bus`.
"""

from __future__ import annotations

from dashboard.broker import BrokerClient
from kiroproto.bus import (
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyListRequest,
    KeyReply,
    KeyRevoke,
    KeyUpdate,
    UsageQuery,
    UsageReport,
)


class TeamsClient(BrokerClient):
    async def create_key(self, request: KeyCreate) -> KeyCreated:
        return await self._call(self._subjects.key_create, request, KeyCreated, None)

    async def list_keys(self, team: str | None = None) -> KeyList:
        return await self._call(self._subjects.key_list, KeyListRequest(team=team), KeyList, None)

    async def update_key(self, request: KeyUpdate) -> KeyReply:
        return await self._call(self._subjects.key_update, request, KeyReply, None)

    async def revoke_key(self, key_id: str) -> KeyReply:
        return await self._call(self._subjects.key_revoke, KeyRevoke(id=key_id), KeyReply, None)

    async def usage(self, query: UsageQuery) -> UsageReport:
        return await self._call(self._subjects.usage_query, query, UsageReport, None)
