"""The API's JSON parser: DRF's, with a nesting limit. A body nested 5,000 levels deep made Python's decoder
raise RecursionError (a 500); anything deeper than MAX_JSON_DEPTH is now a 400 (no real item is that deep)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 400


def json_depth(value) -> int:
    """How deeply `value` nests lists and objects (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        if isinstance(data, dict | list) and json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
