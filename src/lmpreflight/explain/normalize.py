"""One canonical form of pasted error text, so a pattern is written once for every paste.

Admins paste from consoles, event viewers, ticket systems and forums: the same message arrives
with text decoded in the wrong code page (UTF-8 read as Windows-1252, "Ã¡" for "á"), curly or
straight quotes, full-width brackets (Japanese and Chinese consoles), line breaks wherever a
window wrapped, and the VM's own GUID and paths in the middle. Matching runs on the canonical
form: repaired, NFKC-folded, lower-cased, quotes unified, whitespace runs collapsed to one
space, GUIDs and paths replaced by placeholders. Every step is linear in the text's length.
"""

from __future__ import annotations

import html
import re
import unicodedata

import ftfy

GUID = "<guid>"
PATH = "<path>"

# Apostrophe-like quotes become "'", double-quote-like ones '"'; patterns use <name> for either.
_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2039": '"',
        "\u203a": '"',
        "\u300c": '"',
        "\u300d": '"',
        "\u300e": '"',
        "\u300f": '"',
        # Zero-width characters web pages put inside words.
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
    }
)
_GUID = re.compile(r"\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?")
# Drive paths (C:\VMs\SQL01\x.vhdx) and UNC paths (\\nas01\vms\x.vhdx), up to a quote or space.
_PATH = re.compile(r"(?<![\w\\])(?:[a-z]:\\|\\\\[\w.$-]+\\)[^\s\"'<>|]{0,400}")


# Text copied out of ConvertTo-Json ("\u0027HV02\u0027", "\r\n") or PowerShell's CLIXML
# ("_x000D__x000A_") carries its quotes and line breaks escaped.
_JSON_ESCAPE = re.compile(r"\\\\|\\u([0-9a-fA-F]{4})|\\r\\n|\\n|\\\"")
_JSON_UNICODE = re.compile(r"\\u[0-9a-fA-F]{4}")
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(text: str) -> str:
    """Undo JSON string escapes, CLIXML's _xHHHH_ escapes and HTML character references (text
    copied from a web page's source), where the text has them."""
    if "&#" in text or "&quot;" in text or "&amp;" in text:
        text = html.unescape(text)
    if "\\r\\n" in text or _JSON_UNICODE.search(text):
        text = _JSON_ESCAPE.sub(_json_character, text)
    if "_x" in text:
        text = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def _json_character(match: re.Match[str]) -> str:
    if match.group(1):
        return chr(int(match.group(1), 16))
    escape = match.group(0)
    return {"\\\\": "\\", '\\"': '"'}.get(escape, "\n")


def repair_encoding(text: str) -> str:
    """Undo UTF-8 shown as Windows-1252 or Latin-1 (ftfy only changes text that is plainly mis-decoded)."""
    return ftfy.fix_encoding(text)


def unique_lines(text: str) -> str:
    """A log pasted or exported many times over is as telling as one copy of each line."""
    return "\n".join(dict.fromkeys(text.splitlines()))


# A console window hard-wraps long lines at its width; text copied out of it breaks there, in
# the middle of a word ("No credentials are available in the secur" / "ity package").
CONSOLE_MIN_WIDTH = 60


def unwrap_console(text: str) -> str:
    """Join the lines a console cut at its window width: when at least two lines share one length
    of 60 or more characters, are followed by more text, and at least one of them ends inside a
    word (a letter or digit, then a lower-case letter on the next line), each line of that length
    runs on into the next without a separator. Other pastes (logs whose lines happen to be
    equally long, tables) are returned unchanged."""
    lines = text.splitlines()
    lengths: dict[int, int] = {}
    cut_words: set[int] = set()
    for index, line in enumerate(lines[:-1]):
        following = lines[index + 1]
        if len(line) >= CONSOLE_MIN_WIDTH and following:
            lengths[len(line)] = lengths.get(len(line), 0) + 1
            if line[-1].isalnum() and following[0].islower():
                cut_words.add(len(line))
    candidates = [(count, width) for width, count in lengths.items() if count >= 2 and width in cut_words]
    if not candidates:
        return text
    width = max(candidates)[1]
    joined: list[list[str]] = []
    running_on = False
    for line in lines:
        if running_on and line:
            joined[-1].append(line)
        else:
            joined.append([line])
        # A line cut at the width runs on; so does each further full-width piece of it.
        running_on = len(line) == width
    return "\n".join("".join(parts) for parts in joined)


def canonical(text: str) -> str:
    """The form all patterns match against (see the module docstring)."""
    text = unicodedata.normalize("NFKC", repair_encoding(unescape(text))).translate(_QUOTES).lower()
    text = " ".join(text.split())
    # The substitutions scan every character; most pastes have no GUID or path at all.
    if "-" in text:
        text = _GUID.sub(GUID, text)
    if "\\" in text:
        text = _PATH.sub(PATH, text)
    return text
