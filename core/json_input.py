"""JSON from outside (request bodies, uploaded files), bounded before any schema sees it.

Pure: no Flask. The nesting depth is capped (deep nesting exhausts the stack of every recursive
reader after the parser), NaN and Infinity are not JSON, and a number too long to convert is an
error of the input, not of the server.
"""

from __future__ import annotations

import json
from typing import Any

#: Deep enough for every body the API takes (a GeoJSON MultiPolygon upload is 8 levels).
MAX_DEPTH = 32
TOO_DEEP = (
    f"JSON이 {MAX_DEPTH}단계보다 깊게 중첩되어 있습니다. "
    f"(JSON nested deeper than {MAX_DEPTH} levels.)"
)


class JsonRefused(ValueError):
    """Not JSON this project reads; the message says why (Korean and English)."""


def loads_bounded(data: bytes | str) -> Any:
    """Parse JSON text, refusing nesting deeper than MAX_DEPTH, NaN/Infinity and huge numbers."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonRefused(TOO_DEEP) from None
    except JsonRefused:
        raise
    except ValueError as error:  # syntax, encoding, an integer of more than 4,300 digits
        raise JsonRefused(f"JSON 형식이 아닙니다. (Not JSON: {error}.)") from error
    _check_depth(value)
    return value


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(f"JSON에 {name} 값은 없습니다. ({name} is not a JSON value.)")


def _check_depth(value: Any) -> None:
    # Iterative: the check itself must not recurse.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_DEPTH:
            raise JsonRefused(TOO_DEEP)
        stack.extend((child, depth + 1) for child in children)
