"""The standing hostile-input matrix: payloads that try to break out of every output the tool
writes, and ways to plant them in each input path (fact files, event exports, pastes,
scenarios). Every new input path gets attacked with the same list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from lmpreflight.facts.model import Name

REPO = Path(__file__).resolve().parents[1]

PAYLOADS: dict[str, str] = {
    "sq": "x'; Invoke-EvilSQ; '",
    "sq_lq": "x\u2018; Invoke-EvilLQ; \u2018",
    "sq_rq": "x\u2019; Invoke-EvilRQ; \u2019",
    "sq_base": "x\u201a; Invoke-EvilBQ; \u201a",
    "sq_rev": "x\u201b; Invoke-EvilRV; \u201b",
    "sq_mixed": "x'\u2018; Invoke-EvilMX; '\u2019",
    "sq_plus": "x'+(Invoke-EvilPL)+'",
    "dq": 'x"; Invoke-EvilDQ; "',
    "dq_smart": "x\u201c$(Invoke-EvilDS)\u201d\u201e",
    "backtick": "x`; Invoke-EvilBT; `",
    "backtick_quote": "x`'; Invoke-EvilBQ2; `'",
    "subexpr": "x$(Invoke-EvilSE)",
    "var": "x$env:COMPUTERNAME${Invoke-EvilVR}",
    "semicolon": "x; Invoke-EvilSC",
    "newline": "x\nInvoke-EvilNL\n",
    "crlf": "x\r\nInvoke-EvilCRLF\r\n",
    "cr": "x\rInvoke-EvilCR",
    "u2028": "x\u2028Invoke-EvilLS",
    "u2029": "x\u2029Invoke-EvilPS",
    "nel": "x\u0085Invoke-EvilNEL",
    "vt_ff": "x\x0bInvoke-EvilVT\x0cInvoke-EvilFF",
    "block_comment": "x#>\nInvoke-EvilBC\n<#",
    "hash": "x #Invoke-EvilHS",
    "pipe_amp": "x | Invoke-EvilPI & Invoke-EvilAM",
    "cp1252_dje": "\u0452 $(Invoke-EvilCP1) \u0452",
    "cp1252_dje_semicolon": "\u0452; Invoke-EvilCP2; #",
    "cyrillic": "\u0422\u0435\u0441\u0442",
    "html": '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">',
    "md_link": "[click](javascript:alert(1)) ![i](http://evil.example/x.png) <http://evil.example>",
    "md_table": "a | b\n| --- |\n# heading",
    "ansi": "\x1b[2J\x1b[31mFAKE\x1b[0m\x1b]0;pwned-title\x07\x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\",
    "ansi_c1": "\x9b31mC1CSI\x9d0;title\x9c",
    "osc52": "\x1b]52;c;U3RvcC1Db21wdXRlciAtRm9yY2U=\x07",
    "xml_ctrl": "x\x01\x02\x08\x0b\x0c\x1b\x1f\ufffe\uffffy",
    "rich_markup": "[bold red]FAKE[/] [link=http://evil.example]l[/link]",
    "bidi": "x\u202eexe.txt\u202c",
}
"""Payload name → text appended to host-controlled strings. Code markers are ``Invoke-Evil…``."""

MARKER = "Invoke-Evil"


def name_part(payload: str) -> str:
    """What of ``payload`` a name in a fact file can carry: all of it, or nothing when it holds a
    line break or control character (refused in names when facts load); such payloads still
    reach the outputs through the other host-controlled strings."""
    try:
        TypeAdapter(Name).validate_python(payload)
    except ValidationError:
        return ""
    return payload


def _example(role: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "examples" / "facts" / "broken" / f"{role}.json").read_text())
    return loaded


def hostile_pair(payload: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The broken example pair with ``payload`` appended to every host-controlled string the
    reports and the fix script use (to names only what :func:`name_part` lets through);
    returns both documents and the source VMs' new names."""
    source, destination = _example("source"), _example("destination")
    in_name = name_part(payload)
    for doc in (source, destination):
        doc["identity"]["computer_name"] += in_name
        doc["identity"]["fqdn"] += in_name
        doc["session"]["user"] += payload
        doc["session"]["is_administrator"] = False
        doc["session"]["is_hyperv_administrator"] = False
        doc["errors"].append({"section": "storage", "message": f"failed {payload}", "hint": f"hint {payload}"})
        for switch in doc.get("switches") or []:
            switch["name"] += in_name
        computer = (doc.get("directory") or {}).get("computer")
        if computer:
            computer["allowed_to_delegate_to"] = [s + payload for s in computer["allowed_to_delegate_to"]]
            computer["distinguished_name"] += payload
    for vm in source["vms"]:
        vm["name"] += in_name
        vm["path"] += payload
        for nic in vm["network_adapters"]:
            nic["switch_name"] += in_name
    source["migration"]["use_any_network"] = True
    return source, destination, [vm["name"] for vm in source["vms"]]


def write_pair(folder: Path, payload: str) -> tuple[Path, Path, list[str]]:
    source, destination, vms = hostile_pair(payload)
    paths = folder / "s.json", folder / "d.json"
    for path, doc in zip(paths, (source, destination), strict=True):
        path.write_text(json.dumps(doc), encoding="utf-8")
    return paths[0], paths[1], vms
