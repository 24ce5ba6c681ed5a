"""The one escaping helper for PowerShell literals and LDAP filter values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmpreflight.escape import html_inline_markdown, ldap_filter_value, ps_array, ps_literal


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("SQL01", "'SQL01'"),
        ("it's", "'it''s'"),
        ("$(Remove-Item C:\\ -Recurse)", "'$(Remove-Item C:\\ -Recurse)'"),
        ("a\u2019b", "'a\u2019\u2019b'"),
        ('`n"x"', "'`n\"x\"'"),
        ("", "''"),
    ],
)
def test_ps_literal(value: str, literal: str) -> None:
    assert ps_literal(value) == literal


def _ps_unquote(literal: str) -> str:
    """How PowerShell reads a single-quoted literal: any single-quote character doubled is one."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert literal[0] == "'" and literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch in quotes:
            assert i + 1 < len(body) and body[i + 1] in quotes, "a lone quote would end the literal"
            out.append(ch)
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@given(st.text().filter(lambda s: "\x00" not in s))
def test_ps_literal_round_trips(value: str) -> None:
    assert _ps_unquote(ps_literal(value)) == value


def test_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        ps_literal("a\x00b")


def test_ps_array() -> None:
    assert ps_array(["a", "b'c"]) == "@('a', 'b''c')"


def test_ldap_filter_value() -> None:
    assert ldap_filter_value("HV01$") == "HV01$"
    assert ldap_filter_value("*)(objectClass=*") == "\\2a\\29\\28objectClass=\\2a"
    assert ldap_filter_value("a\\b") == "a\\5cb"


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("run it *from the source host itself*", "run it <em>from the source host itself</em>"),
        ("**never** `Set-VMHost -X`", "<strong>never</strong> <code>Set-VMHost -X</code>"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('`<b>` & "q"', "<code>&lt;b&gt;</code> &amp; &quot;q&quot;"),
        ("two\nlines", "two lines"),
    ],
)
def test_html_inline_markdown_renders_emphasis_and_escapes_the_rest(text: str, html: str) -> None:
    assert str(html_inline_markdown(text)) == html
