"""`POST /generateAssistantResponse`: the chat surface (kiro-protocol.md §2, §3, §5, §8, §15).

A raw ASGI endpoint (the hot path of the benchmarks): bearer check, account state (suspended,
credits), body size and content type, JSON parse, the independent validator, script choice,
then either an HTTP error or a 200 event-stream written by `stream.write_plan`. Every
rejection is logged with its rule and counted in the stats.

Deliberately not here: what to validate (`validate.py`), what to answer (`plan.py`), how to
write it (`stream.py`).
"""

from __future__ import annotations

import logging
import zlib
from random import Random

import orjson
from starlette.types import Message, Receive, Scope, Send

from kiro_sim import errors
from kiro_sim.accounts import Account
from kiro_sim.errors import Rejected, UpstreamError
from kiro_sim.plan import ScriptError, build_plan, context_window
from kiro_sim.rules import Rule
from kiro_sim.script import DirectiveError, Script, find_directive
from kiro_sim.simulator import Simulator
from kiro_sim.stats import AccountStats, StreamGauge
from kiro_sim.stream import DisconnectWatch, Outcome, write_plan
from kiro_sim.tokens import new_request_id, redact
from kiro_sim.validate import ChatSummary, Limits, validate_chat

logger = logging.getLogger(__name__)

DEFAULT_SCRIPT = Script()


def directive_error(detail: str) -> UpstreamError:
    return errors.kiro_error(400, f"Invalid simulator directive: {detail}", "SIM_DIRECTIVE_INVALID")


def _header_safe(value: str) -> bytes:
    """Printable ASCII only (a non-UUID id gets through when `conversation_id` is off)."""
    return value.encode("ascii", "ignore").translate(None, bytes(range(32)) + b"\x7f")


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def send_error(send: Send, error: UpstreamError) -> None:
    headers = error.raw_headers()
    headers.append((b"x-amzn-requestid", new_request_id().encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": error.body, "more_body": False})


class ChatEndpoint:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.sim.state
        stats = state.stats
        stats.totals.chat_requests += 1
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        auth = state.authenticate(headers.get("authorization"), headers.get("tokentype"))
        if auth is None:
            await read_body(receive)
            stats.reject(Rule.BEARER_TOKEN, None)
            logger.info(
                "chat rejected rule=bearer_token token=%s", redact(headers.get("authorization", "")[7:])
            )
            await send_error(send, errors.BEARER_INVALID)
            return
        token, account = auth
        acc_stats = stats.account(account.id)
        tok_stats = stats.token(token, account.id)
        tok_stats.requests += 1
        acc_stats.outcomes.chat_requests += 1
        gauges: tuple[StreamGauge, ...] = (
            stats.totals.streams,
            acc_stats.outcomes.streams,
            tok_stats.streams,
        )
        for gauge in gauges:
            gauge.enter()
        open_ = True

        def leave() -> None:
            nonlocal open_
            if open_:
                open_ = False
                for gauge in gauges:
                    gauge.leave()

        async def send_counted(message: Message) -> None:
            # the stream ends when its last bytes go out, not when this handler returns: a client
            # that reads the end may start its next stream before the handler's own cleanup runs
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                leave()
            await send(message)

        try:
            await self._handle(headers, token, account, acc_stats, receive, send_counted)
        finally:
            leave()

    async def _handle(
        self,
        headers: dict[str, str],
        token: str,
        account: Account,
        acc_stats: AccountStats,
        receive: Receive,
        send: Send,
    ) -> None:
        sim = self.sim
        state = sim.state
        settings = sim.settings
        body = await read_body(receive)
        acc_stats.last_request_headers = {
            k: ("Bearer " + redact(token) if k == "authorization" else v) for k, v in headers.items()
        }
        try:
            summary = self._admit(headers, body, account, acc_stats)
            script, user_text = self._script(summary, token, account)
        except Rejected as rejected:
            state.stats.reject(rejected.rule, account.id)
            logger.info(
                "chat rejected account=%s rule=%s status=%d detail=%s",
                account.id,
                rejected.rule.value,
                rejected.error.status,
                rejected.detail,
            )
            await send_error(send, rejected.error)
            return

        async with DisconnectWatch(receive) as watch:
            if script.hold is not None and not await state.wait_hold(script.hold):
                logger.warning("hold %r timed out; proceeding", script.hold)
            if await watch.sleep(script.first_byte_delay):
                self._disconnected(account, acc_stats)
                return
            error = script.upstream_error()
            if error is not None:
                state.stats.totals.scripted_errors += 1
                acc_stats.outcomes.scripted_errors += 1
                logger.info("chat scripted error account=%s status=%d", account.id, error.status)
                await send_error(send, error)
                return

            seed = script.seed if script.seed is not None else (settings.seed << 32) | zlib.crc32(body)
            rng = Random(seed)
            input_tokens = max(1, len(body) // 4)
            try:
                plan = build_plan(
                    summary,
                    script,
                    rng,
                    user_text=user_text,
                    input_tokens=input_tokens,
                    window=context_window(
                        summary.model_id,
                        settings.context_window_default,
                        settings.context_window_large,
                        account.windows,
                    ),
                    fragment_max=settings.text_fragment_max,
                )
            except ScriptError as exc:
                state.stats.reject(Rule.SIM_DIRECTIVE, account.id)
                await send_error(send, directive_error(str(exc)))
                return
            if plan.credits:
                account.credits_used += plan.credits
                state.stats.totals.credits_charged += plan.credits
                acc_stats.outcomes.credits_charged += plan.credits
            state.stats.totals.chat_streams += 1
            acc_stats.outcomes.chat_streams += 1
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"x-amzn-requestid", new_request_id().encode()),
                        (b"x-amzn-codewhisperer-conversation-id", _header_safe(summary.conversation_id)),
                        (b"cache-control", b"no-cache"),
                        (b"x-kiro-sim-seed", str(seed).encode()),
                    ],
                }
            )
            outcome = await write_plan(
                send,
                watch,
                plan,
                chunking=script.chunking or settings.chunking,
                event_delay=script.event_delay,
                rng=rng,
            )
        self._count(outcome, plan.has_exception, account, acc_stats)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "chat account=%s token=%s model=%s frames=%d outcome=%s seed=%d",
                account.id,
                redact(token),
                summary.model_id,
                len(plan.frames),
                outcome.value,
                seed,
            )

    def _admit(
        self, headers: dict[str, str], body: bytes, account: Account, acc_stats: AccountStats
    ) -> ChatSummary:
        """Account state, then envelope checks, then the validator. Raises Rejected."""
        state = self.sim.state
        settings = self.sim.settings
        rules = state.rules.enabled
        if account.suspended:
            raise Rejected(Rule.SUSPENDED, errors.suspended(account.user_id))
        if account.exhausted:
            raise Rejected(Rule.QUOTA, errors.QUOTA)
        content_type = headers.get("content-type", "")
        if Rule.CONTENT_TYPE in rules and not content_type.lower().startswith("application/json"):
            raise Rejected(Rule.CONTENT_TYPE, errors.IMPROPER, f"content-type {content_type!r}")
        if Rule.BODY_SIZE in rules and len(body) > settings.body_limit:
            raise Rejected(Rule.BODY_SIZE, errors.TOO_LONG, f"{len(body)} bytes")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise Rejected(Rule.ENVELOPE, errors.IMPROPER, "body is not JSON") from exc
        acc_stats.last_request = doc
        limits = Limits(settings.tool_name_max, settings.tool_description_max)
        return validate_chat(doc, account, rules, limits)

    def _script(self, summary: ChatSummary, token: str, account: Account) -> tuple[Script, str]:
        """The script for this request and the user text to echo. Raises Rejected."""
        state = self.sim.state
        try:
            directive = find_directive(summary.current_text)
            user_text = directive.stripped_text if directive else summary.current_text
            if directive is None:
                for text in summary.tool_result_texts:
                    directive = find_directive(text)
                    if directive is not None:
                        break
        except DirectiveError as exc:
            raise Rejected(Rule.SIM_DIRECTIVE, directive_error(str(exc)), str(exc)) from exc
        if directive is not None:
            return directive.script, user_text
        now = state.clock()
        slots = state.token_scripts.get(token)
        script = slots.take("chat", now) if slots is not None else None
        if script is None:
            script = account.scripts.take("chat", now)
        return script or DEFAULT_SCRIPT, user_text

    def _disconnected(self, account: Account, acc_stats: AccountStats) -> None:
        self.sim.state.stats.totals.disconnects += 1
        acc_stats.outcomes.disconnects += 1
        logger.info("chat client went away account=%s", account.id)

    def _count(
        self, outcome: Outcome, had_exception: bool, account: Account, acc_stats: AccountStats
    ) -> None:
        totals = self.sim.state.stats.totals
        mine = acc_stats.outcomes
        if had_exception and outcome is not Outcome.DISCONNECTED:
            totals.midstream_exceptions += 1
            mine.midstream_exceptions += 1
        if outcome is Outcome.COMPLETED:
            totals.completed_streams += 1
            mine.completed_streams += 1
        elif outcome is Outcome.CUT:
            totals.cut_connections += 1
            mine.cut_connections += 1
        else:
            self._disconnected(account, acc_stats)
