"""One line for a document that does not fit its model: the first problem, where, and how many more.

Fact files, collector sections and lab scenarios are all validated by pydantic; the user sees
the same short sentence for each, never pydantic's multi-line dump.
"""

from __future__ import annotations

import json

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem as 'field path: what was expected', plus a count of the rest."""
    problems = exc.errors(include_url=False)
    first = problems[0]
    location = _format_location(first["loc"])
    message = first["msg"]
    if first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "extra_forbidden":
        message = "unknown field (check the spelling, or the file is from another tool)"
    found = first.get("input")
    detail = f"{location}: {message}"
    if first["type"] not in ("missing", "extra_forbidden") and not isinstance(found, dict | list):
        detail += f" (found {json.dumps(found)[:60]})"
    if len(problems) > 1:
        detail += f"; and {len(problems) - 1} more problem(s)"
    return detail


def _format_location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(document)"
