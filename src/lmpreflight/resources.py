"""Where the shipped templates and schemas live.

The repository keeps ``templates/`` and ``schemas/`` at its root; the wheel carries them
inside the package (``lmpreflight/templates``). An installed package finds them beside
this file, a source checkout (editable install) two levels up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"lmpreflight is installed without its {name}/ folder; reinstall the package")


@cache
def template_environment(autoescape: bool) -> jinja2.Environment:
    """HTML templates autoescape everything; PowerShell templates escape through the
    ``ps`` filter (the one PowerShell-literal helper) instead."""
    from lmpreflight.escape import md_code_block, md_text, ps_array, ps_comment, ps_literal

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(data_dir("templates")),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["ps"] = ps_literal
    environment.filters["ps_array"] = ps_array
    environment.filters["ps_comment"] = ps_comment
    environment.filters["md"] = md_text
    environment.filters["md_code_block"] = md_code_block
    return environment
