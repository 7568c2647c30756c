"""The nesting bound for request bodies: parsed JSON nested deeper than `MAX_JSON_DEPTH` is a
client error, refused where the body is parsed, before any model, converter or token counter
sees it.

Why a bound at all: the JSON parser accepts 1,024 levels, but the rest of the pipeline is
recursive (pydantic validation, the converters, token counting, and the encoder of the Kiro
request, which stops at 255 levels including the ~10 levels of Kiro's own envelope). Real tool
schemas and tool inputs nest a few dozen levels at most.

The walk is iterative (an explicit stack), so checking a hostile body cannot itself recurse.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_JSON_DEPTH = 128


def json_depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when objects / arrays in `value` nest more than `limit` levels (`{}` is level 1)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
