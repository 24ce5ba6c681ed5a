"""The one place where user-controlled strings become PowerShell or LDAP syntax.

Host names, VM names and paths come from users and from hosts; anything that builds a
script or a filter from them goes through these helpers (HTML goes through jinja2's
autoescaping). Call sites never quote by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup

# PowerShell treats all of these as the single-quote character inside '...' strings,
# so each must be doubled, or a name containing one could end the literal early.
_PS_SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")


def ps_literal(value: object) -> str:
    """A PowerShell single-quoted string literal whose value is exactly ``str(value)``.

    Single-quoted strings expand nothing (no ``$var``, no subexpressions, no escapes), so
    doubling the quote characters is all that is needed.
    """
    text = str(value)
    if "\x00" in text:
        raise ValueError("a NUL character cannot be passed to PowerShell")
    return "'" + "".join(ch * 2 if ch in _PS_SINGLE_QUOTES else ch for ch in text) + "'"


def ps_comment(value: object) -> str:
    """Text safe inside a PowerShell line comment: every kind of line break becomes a space,
    so a name cannot end the comment and start a command."""
    return " ".join(str(value).replace("\x00", "").splitlines())


def ps_array(values: Iterable[object]) -> str:
    """A PowerShell array expression of string literals: ``@('a', 'b')``."""
    return "@(" + ", ".join(ps_literal(v) for v in values) + ")"


_MARKDOWN_SPECIAL = set("\\`*_[]<>#|~")


def md_text(value: object) -> str:
    """Text that Markdown shows as written: special characters backslash-escaped, one line."""
    text = " ".join(str(value).splitlines())
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
