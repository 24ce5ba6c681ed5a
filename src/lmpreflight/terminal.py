"""The terminal boundary: every character the tool prints passes through ``escape.visible``.

Host names, event messages and pasted text reach the screen inside rich renderables mixed
with the tool's own layout, so they cannot all be escaped where they are built. Escaping the
text of every segment as it is written, and leaving rich's own styling and cursor control
alone, means no string from a host can carry an escape sequence to the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

from lmpreflight.escape import visible


class SafeConsole(Console):
    """A rich console whose text segments are shown with control characters as escapes."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(visible(segment.text, keep_newlines=True), segment.style)
            for segment in buffer
        )
