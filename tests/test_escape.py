"""The one escaping helper for PowerShell literals and LDAP filter values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmpreflight.escape import (
    dn_value,
    html_inline_markdown,
    ldap_filter_value,
    md_code,
    md_code_block,
    md_text,
    ps_array,
    ps_literal,
    visible,
)
from tests.powershell_model import code_text, decode, evaluate, segments


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("SQL01", "'SQL01'"),
        ("it's", "'it''s'"),
        ("$(Remove-Item C:\\ -Recurse)", "'$(Remove-Item C:\\ -Recurse)'"),
        ('`n"x"', "'`n\"x\"'"),
        ("", "''"),
        ("a\u2019b", "('a' + [char]0x2019 + 'b')"),
        ("\u0452 $(Invoke-X) \u0452", "('' + [char]0x0452 + ' $(Invoke-X) ' + [char]0x0452)"),
        ("HV01\nInvoke-X", "('HV01' + [char]0x000A + 'Invoke-X')"),
        ("\U0001f600", "('' + [char]0xD83D + [char]0xDE00)"),
    ],
)
def test_ps_literal(value: str, literal: str) -> None:
    assert ps_literal(value) == literal


@given(st.text().filter(lambda s: "\x00" not in s))
def test_ps_literal_is_ascii_and_holds_in_any_code_page(value: str) -> None:
    """Read as UTF-8 or as cp1252, the expression is one value with no code in it."""
    literal = ps_literal(value)
    assert literal.isascii() and "\n" not in literal and "\r" not in literal
    assert evaluate(literal) == value
    code = code_text(f"Stop-VM -Name {literal}").removeprefix("Stop-VM -Name ")
    assert re.fullmatch(r"(?:[\s()+]|\[char\]0x[0-9A-F]{4})*", code), code


@given(st.text().filter(lambda s: "\x00" not in s))
def test_ps_literal_round_trips(value: str) -> None:
    assert evaluate(ps_literal(value)) == value


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


def test_powershell_model_sees_curly_quotes_as_quotes() -> None:
    """The oracle itself: where tree-sitter sees one string, PowerShell ends it at ’."""
    assert "Invoke-EvilB" in code_text("Stop-VM -Name 'x\u2019; Invoke-EvilB; \u2019'")
    assert decode("'\u0452'".encode()) == "'\u00d1\u2019'"
    assert decode(b"\xef\xbb\xbf'\xd1\x92'") == "'\u0452'"
    assert segments("'a''b' # c") == [("single", "a'b"), ("code", " "), ("comment", "# c")]


@pytest.mark.parametrize("text", ["a`b", "``x``", "```", "`", "plain", "x`; Invoke-EvilBT; `"])
def test_markdown_code_holds_any_backtick_run(text: str) -> None:
    span = md_code(text)
    fence = span.split(" ")[0]
    assert set(fence) == {"`"} and "`" * len(fence) not in text
    assert span == f"{fence} {text} {fence}"
    block = md_code_block(text, 2, "powershell")
    lines = block.split("\n")
    assert lines[1] == f"  {text}" and lines[0].strip().startswith(lines[-1].strip())
    assert lines[-1].strip() not in text


def test_visible_escapes_every_control_character() -> None:
    shown = visible("a\x1b[2Jb\x9b31m\u202e\x07\nc\td\ufffe")
    assert shown == "a\\x1b[2Jb\\x9b31m\\u202e\\x07\\x0ac\td\\ufffe"
    assert all(ch == "\t" or 0x20 <= ord(ch) < 0x7F for ch in visible("".join(map(chr, range(0xA0)))))


def test_dn_values_are_escaped_rfc4514() -> None:
    assert dn_value("x,DC=evil") == "x\\,DC\\=evil"


def test_markdown_text_makes_no_link_of_a_host_supplied_address() -> None:
    from markdown_it import MarkdownIt

    text = md_text("see http://evil.example/phish, www.evil.example and [a](http://x) <http://y>")
    html = MarkdownIt("commonmark").render(text)
    assert "<a " not in html and "http://evil.example/phish" in html
    # GitHub's extended autolinks never look inside code spans, where every address went.
    outside_code = re.sub(r"(`+) .*? \1", "", text)
    assert "://" not in outside_code and "www." not in outside_code
