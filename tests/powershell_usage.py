"""What a PowerShell script asks of Windows, read from its tree-sitter syntax tree.

The contract test holds every generated script to ``contract/windows.yaml``: each command
(cmdlet or program), each named parameter, each .NET type and static member, each CIM class
and method, each event channel and registry path the script names must have a row there.
PowerShell is case-insensitive, so names are compared case-folded; the row keeps Microsoft's
spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import tree_sitter
import tree_sitter_powershell

POWERSHELL = tree_sitter.Language(tree_sitter_powershell.language())

Kind = Literal["command", "parameter", "type", "member", "cim-class", "cim-method", "event-channel", "registry"]

ACCELERATORS = {
    "adsi": "System.DirectoryServices.DirectoryEntry",
    "bool": "System.Boolean",
    "byte": "System.Byte",
    "char": "System.Char",
    "convert": "System.Convert",
    "datetime": "System.DateTime",
    "double": "System.Double",
    "int": "System.Int32",
    "long": "System.Int64",
    "ordered": "System.Collections.Specialized.OrderedDictionary",
    "pscustomobject": "System.Management.Automation.PSObject",
    "scriptblock": "System.Management.Automation.ScriptBlock",
    "string": "System.String",
    "switch": "System.Management.Automation.SwitchParameter",
    "timespan": "System.TimeSpan",
    "uint32": "System.UInt32",
    "void": "System.Void",
    "version": "System.Version",
    "xml": "System.Xml.XmlDocument",
}
"""PowerShell's type accelerators that the scripts use (about_Type_Accelerators, 5.1)."""

CIM_CLASS_PARAMETER = {"get-ciminstance": "ClassName", "invoke-cimmethod": "ClassName"}
CHANNEL = re.compile(r"^Microsoft-Windows-[A-Za-z0-9-]+(/[A-Za-z]+)?$")
REGISTRY = re.compile(r"^(HKLM:|HKCU:|HKEY_|Registry::)", re.I)


@dataclass(frozen=True)
class Usage:
    kind: Kind
    name: str
    """``Get-VMHost``; ``Get-VMHost -Name``; ``System.Net.Dns``; ``System.Net.Dns::GetHostAddresses``;
    ``Msvm_ComputerSystem``; ``Msvm_VirtualSystemMigrationService.CheckSystemCompatibilityInfo``; a channel."""
    line: int


def full_type_name(text: str) -> str:
    """The .NET name PowerShell resolves a type literal to (accelerators, implied ``System.``)."""
    name = text.strip().removesuffix("[]")
    return ACCELERATORS.get(name.casefold(), name if name.casefold().startswith("system.") else f"System.{name}")


def _text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8")


def _literal(node: tree_sitter.Node | None) -> str | None:
    """The value of a bare word or a quoted string without expansions; None for anything computed."""
    if node is None:
        return None
    text = _text(node).strip()
    if node.type == "generic_token":
        return text
    while node.child_count == 1 and node.type != "string_literal":
        node = node.children[0]
    if node.type == "string_literal" and "$" not in text:
        return text[1:-1].replace("''", "'")
    return None


def _walk(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(current.children))
    return found


def _arguments(command: tree_sitter.Node) -> list[tuple[str | None, tree_sitter.Node | None]]:
    """(parameter name or None for a positional value, value node) for each element."""
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    if elements is None:
        return []
    items = [c for c in elements.children if c.type != "command_argument_sep"]
    result: list[tuple[str | None, tree_sitter.Node | None]] = []
    index = 0
    while index < len(items):
        item = items[index]
        if item.type == "command_parameter":
            name = _text(item).lstrip("-").rstrip(":")
            following = items[index + 1] if index + 1 < len(items) else None
            if following is not None and following.type != "command_parameter" and not _text(item).endswith(":"):
                result.append((name, following))
                index += 2
                continue
            result.append((name, None))
        else:
            result.append((None, item))
        index += 1
    return result


def _assignments(root: tree_sitter.Node) -> list[tuple[int, str, tree_sitter.Node]]:
    """(position, variable, first command of the assigned pipeline) for ``$x = Command ...``."""
    found = []
    for node in _walk(root):
        if node.type != "assignment_expression":
            continue
        variables = [n for n in _walk(node.children[0]) if n.type == "variable"]
        commands = [n for n in _walk(node.children[-1]) if n.type == "command"]
        if variables and commands:
            found.append((node.start_byte, _text(variables[0]).casefold(), commands[0]))
    return found


def usages(script: str, strict: bool = True) -> list[Usage]:  # noqa: C901 - one pass over the tree, one branch per node kind
    """Everything in ``script`` that the contract table must cover. ``strict``: refuse a script
    the grammar cannot fully parse (off for one-line suggestions using syntax the grammar lacks,
    such as ``Format-Table A, B``; what it does parse is still read)."""
    tree = tree_sitter.Parser(POWERSHELL).parse(script.encode("utf-8"))
    if strict and tree.root_node.has_error:
        raise ValueError("the script does not parse as PowerShell")
    nodes = _walk(tree.root_node)
    defined = {_text(n).casefold() for n in nodes if n.type == "function_name"}
    assignments = _assignments(tree.root_node)
    found: list[Usage] = []

    def add(kind: Kind, name: str, node: tree_sitter.Node) -> None:
        found.append(Usage(kind, name, node.start_point[0] + 1))

    def cim_class_of(variable: str, before: int) -> str | None:
        for position, name, command in reversed(assignments):
            if position < before and name == variable.casefold():
                if _text(command.children[0]).casefold() != "get-ciminstance":
                    return None
                return next((_literal(v) for p, v in _arguments(command) if p and p.casefold() == "classname"), None)
        return None

    for node in nodes:
        if node.type == "command" and node.children and node.children[0].type == "command_name":
            name = _text(node.children[0])
            if name.casefold() in defined:
                continue
            add("command", name, node)
            arguments = _arguments(node)
            values = {p.casefold(): v for p, v in arguments if p}
            for parameter, _ in arguments:
                if parameter is not None:
                    add("parameter", f"{name} -{parameter}", node)
            lowered = name.casefold()
            if lowered == "new-object":
                type_node = values.get("typename") or next((v for p, v in arguments if p is None), None)
                type_name = _literal(type_node)
                if type_name:
                    add("type", full_type_name(type_name), node)
            if lowered in CIM_CLASS_PARAMETER and _literal(values.get("classname")):
                add("cim-class", str(_literal(values.get("classname"))), node)
            if lowered == "invoke-cimmethod":
                method = _literal(values.get("methodname")) or "?"
                owner = _literal(values.get("classname"))
                target = values.get("inputobject")
                if owner is None and target is not None and _text(target).startswith("$"):
                    owner = cim_class_of(_text(target).strip(), node.start_byte)
                add("cim-method", f"{owner or '?'}.{method}", node)
        elif node.type == "type_literal":
            spec = next((c for c in node.children if c.type == "type_spec"), None)
            if spec is not None:
                add("type", full_type_name(_text(spec)), node)
                parent = node.parent
                is_static = parent is not None and parent.children[0] == node and len(parent.children) > 2
                if parent is not None and is_static and _text(parent.children[1]) == "::":
                    add("member", f"{full_type_name(_text(spec))}::{_text(parent.children[2])}", node)
        elif node.type == "string_literal" or node.type == "generic_token":
            value = _literal(node)
            if value and CHANNEL.match(value):
                add("event-channel", value, node)
            elif value and REGISTRY.match(value):
                add("registry", value, node)
    return found
