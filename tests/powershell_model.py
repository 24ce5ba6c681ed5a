"""A model of how Windows PowerShell reads a script, for judging generated PowerShell without one.

Two steps, each as PowerShell does them:

* ``decode``: Windows PowerShell 5.1 reads a ``.ps1`` with a UTF-8 byte-order mark as UTF-8
  and one without in the ANSI code page (Windows-1252 on Western systems; the five unassigned
  bytes map to the C1 code points, as ``MultiByteToWideChar`` does).
* ``segments``: the tokenizer's string and comment rules (``CharTraits.IsSingleQuote`` /
  ``IsDoubleQuote``, ``ScanStringLiteral``): ``'`` ``‘`` ``’`` ``‚`` ``‛`` are all single quotes
  and a doubled one stays inside the literal; ``"`` ``“`` ``”`` ``„`` are all double quotes; a
  backtick escapes the next character in code and in double-quoted strings; ``$(`` inside
  double quotes is code; ``#`` starts a line comment and ``<#`` … ``#>`` a block comment.

tree-sitter's PowerShell grammar knows only the ASCII quotes, so it cannot be the oracle here.
"""

from __future__ import annotations

import re

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
UTF8_BOM = b"\xef\xbb\xbf"
_CP1252_UNASSIGNED = {0x81: "\x81", 0x8D: "\x8d", 0x8F: "\x8f", 0x90: "\x90", 0x9D: "\x9d"}


def decode(data: bytes) -> str:
    """The text Windows PowerShell 5.1 sees in a script file on a cp1252 system."""
    if data.startswith(UTF8_BOM):
        return data[len(UTF8_BOM) :].decode("utf-8")
    return "".join(_CP1252_UNASSIGNED[b] if b in _CP1252_UNASSIGNED else bytes([b]).decode("cp1252") for b in data)


def segments(script: str) -> list[tuple[str, str]]:
    """(kind, text) pieces: "code", "single" (a literal's value), "double" or "comment"."""
    out: list[tuple[str, str]] = []
    code: list[str] = []
    i, n = 0, len(script)

    def flush() -> None:
        if code:
            out.append(("code", "".join(code)))
            code.clear()

    while i < n:
        ch = script[i]
        if ch == "`" and i + 1 < n:
            code.append(script[i : i + 2])
            i += 2
        elif ch == "<" and script.startswith("<#", i):
            end = script.find("#>", i + 2)
            end = n if end < 0 else end + 2
            flush()
            out.append(("comment", script[i:end]))
            i = end
        elif ch == "#":
            end = i
            while end < n and script[end] not in "\r\n":
                end += 1
            flush()
            out.append(("comment", script[i:end]))
            i = end
        elif ch in SINGLE_QUOTES:
            flush()
            value, i = _single(script, i + 1)
            out.append(("single", value))
        elif ch in DOUBLE_QUOTES:
            flush()
            i = _double(script, i + 1, out)
        else:
            code.append(ch)
            i += 1
    flush()
    return out


def _single(script: str, i: int) -> tuple[str, int]:
    value: list[str] = []
    while i < len(script):
        ch = script[i]
        if ch in SINGLE_QUOTES:
            if i + 1 < len(script) and script[i + 1] in SINGLE_QUOTES:
                value.append(ch)
                i += 2
                continue
            return "".join(value), i + 1
        value.append(ch)
        i += 1
    return "".join(value), i


def _double(script: str, i: int, out: list[tuple[str, str]]) -> int:
    text: list[str] = []
    while i < len(script):
        ch = script[i]
        if ch == "`" and i + 1 < len(script):
            text.append(script[i + 1])
            i += 2
        elif ch == "$" and script.startswith("$(", i):
            depth, j = 0, i + 1
            while j < len(script):
                depth += {"(": 1, ")": -1}.get(script[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append(("code", script[i:j]))
            i = j
        elif ch in DOUBLE_QUOTES:
            if i + 1 < len(script) and script[i + 1] in DOUBLE_QUOTES:
                text.append(ch)
                i += 2
                continue
            out.append(("double", "".join(text)))
            return i + 1
        else:
            text.append(ch)
            i += 1
    out.append(("double", "".join(text)))
    return i


def code_text(script: str) -> str:
    """Everything PowerShell would run as code (comments and string values left out)."""
    return "\n".join(text for kind, text in segments(script) if kind == "code")


_TERM = re.compile(r"'((?:[^']|'')*)'|\[char\]0x([0-9A-F]{4})")


def evaluate(expression: str) -> str:
    """The value of what ``ps_literal`` writes: ``'text'`` or ``('a' + [char]0x0442 + …)``,
    checked to be nothing but string literals and ``[char]`` terms joined by ``+`` (no code)."""
    grouped = expression.startswith("(")
    body = expression[1:-1] if grouped else expression
    assert not grouped or expression.endswith(")"), expression
    units: list[str] = []
    position = 0
    while True:
        match = _TERM.match(body, position)
        assert match, f"not a literal term at {position}: {body!r}"
        if match.group(1) is not None:
            units.append(match.group(1).replace("''", "'"))
        else:
            units.append(chr(int(match.group(2), 16)))
        position = match.end()
        if position == len(body):
            break
        assert grouped and body.startswith(" + ", position), f"not a concatenation: {body!r}"
        position += 3
    assert not grouped or body.startswith("'"), "a concatenation must start with a string"
    return "".join(units).encode("utf-16-le", "surrogatepass").decode("utf-16-le")
