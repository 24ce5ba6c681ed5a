"""Reading ``nltest /dsgetdc:<domain>`` as printed on a host.

nltest prints one ``Label: value`` line per field of the DOMAIN_CONTROLLER_INFO that
DsGetDcName returned, right-aligned labels included::

               DC: \\\\dc01.corp.example
          Address: \\\\10.0.0.10
         Dom Name: corp.example
      Forest Name: corp.example
     Dc Site Name: Default-First-Site-Name
    Our Site Name: Default-First-Site-Name
            Flags: PDC GC DS LDAP KDC TIMESERV WRITABLE DNS_DC DNS_DOMAIN DNS_FOREST CLOSE_SITE
    The command completed successfully

and, when no DC is found, ``Getting DC name failed: Status = 1355 0x54b ERROR_NO_SUCH_DOMAIN``.
Output that is neither (another language, a truncated run) is kept and reported as unread,
never guessed at: a DC name is only taken from a ``DC:`` line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

FIELDS = {
    "dc": "domain_controller",
    "address": "address",
    "dom name": "domain_name",
    "forest name": "forest",
    "dc site name": "dc_site",
    "our site name": "client_site",
}
_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*?)\s*$")
_FAILED = re.compile(r"failed:\s*Status\s*=\s*(\d+)(?:\s+0x[0-9a-fA-F]+)?(?:\s+(\w+))?", re.I)
MAX_LINES = 40
"""nltest /dsgetdc prints about ten lines; more is not its output and is cut."""


def parse_dsgetdc(domain: str, exit_code: int | None, output: Sequence[object]) -> dict[str, Any]:
    """The DcLocator fields for one nltest run: the fields it printed, or why there is no DC."""
    lines = [str(line).rstrip() for line in output if str(line).strip()][:MAX_LINES]
    parsed: dict[str, Any] = {"domain": domain, "exit_code": exit_code, "output": lines, "flags": []}
    for line in lines:
        failure = _FAILED.search(line)
        if failure:
            parsed["status"] = int(failure.group(1))
            parsed["error"] = line.strip()
            return parsed
        match = _LINE.match(line)
        if not match:
            continue
        label, value = match.group(1).casefold(), match.group(2)
        if label == "flags":
            parsed["flags"] = value.split()
        elif label in FIELDS and value:
            parsed[FIELDS[label]] = value.lstrip("\\") if label in ("dc", "address") else value
    if not parsed.get("domain_controller"):
        parsed["error"] = "nltest printed no DC: line" + (f" (exit code {exit_code})" if exit_code else "")
    elif exit_code not in (None, 0):
        parsed["error"] = f"nltest ended with exit code {exit_code}"
    return parsed
