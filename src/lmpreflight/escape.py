"""The one place where user-controlled strings become PowerShell, Markdown, LDAP or terminal text.

Host names, VM names and paths come from users and from hosts; anything that builds a
script, a filter or a screen from them goes through these helpers (HTML goes through
jinja2's autoescaping). Call sites never quote by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup

_PS_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F))
"""Characters a single-quoted literal holds as they are: printable ASCII. Everything else is
written as ``[char]0xNNNN``, so the script means the same whichever code page reads it
(Windows PowerShell 5.1 reads a file without a byte-order mark as ANSI, where the UTF-8
bytes of ``ђ`` become ``Ñ’``, and ``’`` ends a literal), and no line break or separator sits
inside a literal for a template to re-indent."""


def ps_literal(value: object) -> str:
    """A PowerShell expression whose value is exactly ``str(value)``, in ASCII only.

    Printable ASCII becomes a single-quoted literal, which expands nothing (no ``$var``, no
    subexpressions, no backtick escapes): doubling ``'`` is all it needs. Any other character
    becomes a ``[char]0xNNNN`` term (UTF-16 code units, as .NET strings hold them), joined
    to a leading string: ``('HV01' + [char]0x0442)``. A parenthesised expression is valid
    wherever the tool puts a value: command arguments, arrays, hashtables, comparisons.
    """
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot be passed to PowerShell")
    if _PS_PLAIN.issuperset(text):
        return _ps_quote(text)
    terms: list[str] = []
    plain: list[str] = []
    for ch in text:
        if ch in _PS_PLAIN:
            plain.append(ch)
            continue
        if plain or not terms:
            terms.append(_ps_quote("".join(plain)))
            plain = []
        units = ch.encode("utf-16-le")
        terms += [f"[char]0x{int.from_bytes(units[i : i + 2], 'little'):04X}" for i in range(0, len(units), 2)]
    if plain:
        terms.append(_ps_quote("".join(plain)))
    return "(" + " + ".join(terms) + ")"


def _ps_quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_INVISIBLE = [
    *range(0x09),
    *range(0x0A, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
    *range(0xD800, 0xE000),
    0xFFFE,
    0xFFFF,
]
_VISIBLE = {code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _INVISIBLE}


_VISIBLE_KEEPING_LINES = {code: shown for code, shown in _VISIBLE.items() if code != 0x0A}


def visible(value: object, keep_newlines: bool = False) -> str:
    """Text from a host, a file or a paste, safe to show: every C0 and C1 control character
    (all but the tab), the bidirectional overrides, line separators and the characters XML
    1.0 forbids are shown as ``\\x1b``-style escapes. An escape sequence from a host then
    cannot move the cursor, forge a PASS line, set a window title, write the clipboard
    (OSC 52) or hide text, and a JUnit file stays well-formed XML. ``keep_newlines`` leaves
    ``\\n`` alone, for multi-line text the tool itself lays out."""
    return str(value).translate(_VISIBLE_KEEPING_LINES if keep_newlines else _VISIBLE)


def ps_comment(value: object) -> str:
    """Text safe inside a PowerShell line comment: every kind of line break becomes a space,
    so a name cannot end the comment and start a command; other control characters are
    shown as escapes."""
    return visible(" ".join(str(value).replace("\x00", "").splitlines()))


def ps_array(values: Iterable[object]) -> str:
    """A PowerShell array expression of string literals: ``@('a', 'b')``."""
    return "@(" + ", ".join(ps_literal(v) for v in values) + ")"


_MARKDOWN_SPECIAL = set("\\`*_[]<>#|~")


def md_code(text: str) -> str:
    """An inline Markdown code span holding ``text`` exactly (one line): delimited by more
    backticks than its longest backtick run, padded so a leading or trailing backtick stays
    content. Nothing inside is rewritten, so what is pasted from it is what was generated."""
    fence = "`" * (_longest_run(text, "`") + 1)
    return f"{fence} {text} {fence}"


def md_code_block(text: str, indent: int = 0, language: str = "") -> str:
    """A fenced Markdown code block holding ``text`` exactly: the fence is longer than any
    backtick run inside, so no line of the text can close it."""
    fence = "`" * max(3, _longest_run(text, "`") + 1)
    pad = " " * indent
    body = "\n".join(pad + line if line else line for line in text.split("\n"))
    return f"{pad}{fence}{language}\n{body}\n{pad}{fence}"


def _longest_run(text: str, ch: str) -> int:
    longest = current = 0
    for c in text:
        current = current + 1 if c == ch else 0
        longest = max(longest, current)
    return longest


_URL_LIKE = re.compile(r"(?i)(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+")
"""Text that GitHub or GitLab would turn into a link by itself (extended autolinks)."""


def md_text(value: object) -> str:
    """Text that Markdown shows as written: special characters backslash-escaped, one line,
    control characters shown as escapes, and anything URL-like in a code span, so no
    host-supplied address becomes a clickable link in a ticket."""
    text = visible(" ".join(str(value).splitlines()))
    pieces = []
    position = 0
    for match in _URL_LIKE.finditer(text):
        pieces.append(_md_escape(text[position : match.start()]))
        pieces.append(md_code(match.group()))
        position = match.end()
    pieces.append(_md_escape(text[position:]))
    return "".join(pieces)


def _md_escape(text: str) -> str:
    return "".join("\\" + ch if ch in _MARKDOWN_SPECIAL else ch for ch in text)


def html_inline_markdown(value: object) -> Markup:
    """HTML for the inline Markdown in a check's prose (``*emphasis*``, ``**strong**``,
    ```code```), with every other character escaped: raw HTML in the text stays text."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("zero", {"html": False}).enable(["emphasis", "backticks", "escape", "entity"])
    return Markup(renderer.renderInline(" ".join(str(value).splitlines())))


def ldap_filter_value(value: str) -> str:
    """A value safe inside an LDAP filter assertion (RFC 4515 escaping)."""
    from ldap3.utils.conv import escape_filter_chars  # only collection needs ldap3

    return str(escape_filter_chars(value))


def dn_value(value: str) -> str:
    """A value safe as one attribute value of an LDAP distinguished name (RFC 4514 escaping),
    so a label such as ``x,DC=evil`` cannot add components to a search base."""
    from ldap3.utils.dn import escape_rdn  # only collection needs ldap3

    return str(escape_rdn(value))
