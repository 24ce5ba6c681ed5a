"""What error text names: error numbers (HRESULT, NTSTATUS, Win32, socket), event IDs, other
tools' job errors (System Center VMM, WMI job return values), host names and known messages.

Everything runs on the canonical text (lmpreflight.explain.normalize), where whitespace runs
are one space: no pattern here has nested or adjacent unbounded repetition, so each search is
linear in the text's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmpreflight.explain.decode import hresult_from_win32, parse_number
from lmpreflight.explain.knowledge import Language, MessageEntry

_HEX = re.compile(r"0x([0-9a-f]{1,8})(?![0-9a-z])")
_BARE_HEX = re.compile(r"(?<![0-9a-z<-])([89abc][0-9a-f]{7})(?![0-9a-z>-])")
_CODE_CONTEXT = re.compile(r"code|error|fehler|erreur|errore|erro|ошибк|hresult|エラー|오류|错误|錯誤")
_DECIMAL = re.compile(r"(?<![\w.-])(-?\d{9,10})(?![\w.])")
# "error 10061", "Fehler: 1326", "error code = 5", "エラー 10060" (one optional space each: the text is canonical);
# a sentence may end right after the number ("fails with error 10060."), a version may not ("error 5.0").
_WIN32 = re.compile(
    r"(?:error|fehler|erreur|errore|erro|ошибка|エラー|오류|错误|錯誤) ?(?:code ?)?[:=#]? ?(\d{1,5})(?!\d|[.,]\d)"
)
# Windows socket errors by name or in the "(10061)" form .NET and WinRM print.
_SOCKET_NAME = re.compile(r"wsae(connrefused|timedout|connreset|connaborted|hostunreach|netunreach)")
_SOCKET_NAMES = {
    "connrefused": 10061,
    "timedout": 10060,
    "connreset": 10054,
    "connaborted": 10053,
    "hostunreach": 10065,
    "netunreach": 10051,
}
_SOCKET_PAREN = re.compile(r"\((100[4-6]\d|1100[1-4])\)")
_EVENT = (
    re.compile(r"event ?(?:id)? ?[:#]? ?(\d{4,5})(?!\d)"),
    re.compile(r"(?:ereignis|événement|evento|событи[ея]|イベント|이벤트|事件) ?(?:-?id)? ?[:#]? ?(\d{4,5})(?!\d)"),
    # Event Viewer's "General" tab in French, Spanish, Portuguese, Russian and Traditional Chinese.
    re.compile(r"(?:id de l'événement|id\. del evento|id do evento|код события|事件識別碼) ?[:#]? ?(\d{4,5})(?!\d)"),
    re.compile(r"<eventid[^>]{0,200}> ?(\d{4,5})(?!\d)"),
    re.compile(r"\"id\" ?: ?(\d{4,5})(?!\d)"),
)
# VMM prints "Error (12700)" in its job details and "Fehler (12700)" in German consoles.
_VMM = re.compile(
    r"(?:error|fehler|erreur|errore|erro|ошибка|エラー|오류|错误|錯誤) ?\((\d{3,5})\)",
)
# Msvm methods and jobs end with a uint32 return value; PowerShell and scripts print it in many ways.
_WMI_RETURN = re.compile(
    r"(?:returnvalue|return value|return code|errorcode|error code|returned|jobstate)[ :=]{0,3}(327[6-9]\d)(?!\d)"
    r"|(?:failed|job|method)[^()]{0,60}\((327[6-9]\d)\)"
)
_HOST = re.compile(
    r"(?:host|destination|source|node|server|computer|hôte|ホスト|호스트|主机|主機|узл[аеом]|хост[аеом]?) ?"
    r"(?:computer |node |name )?[\"']([a-z0-9][a-z0-9.-]{0,62})\.?[\"']"
)
_MIGRATION_HOST = re.compile(r"migration (?:source|destination) [\"']([a-z0-9][a-z0-9.-]{0,62})\.?[\"']")


@dataclass(frozen=True)
class MessageHit:
    entry: MessageEntry
    language: Language
    phrase: str


def find_numbers(text: str) -> list[int]:
    """Every error number in the canonical text, in order of appearance, without repeats."""
    found: list[tuple[int, int]] = [*_hex_numbers(text), *_decimal_numbers(text), *_win32_numbers(text)]
    return list(dict.fromkeys(value for _, value in sorted(found)))


def _hex_numbers(text: str) -> list[tuple[int, int]]:
    found = []
    for match in _HEX.finditer(text):
        if match.start() and text[match.start() - 1].isalnum():
            continue
        # Short hex numbers (0x3e7 in 'klist purge -li 0x3e7') are codes only where the text says so.
        if len(match.group(1)) == 8 or _CODE_CONTEXT.search(text[max(0, match.start() - 30) : match.start()]):
            found.append((match.start(), int(match.group(1), 16)))
    for match in _BARE_HEX.finditer(text):
        # Without "0x", eight hex digits count only where the text speaks of a code or error.
        before = text[max(0, match.start() - 60) : match.start()]
        if _CODE_CONTEXT.search(before) or before.endswith("("):
            found.append((match.start(), int(match.group(1), 16)))
    return found


def _decimal_numbers(text: str) -> list[tuple[int, int]]:
    found = []
    for match in _DECIMAL.finditer(text):
        value = parse_number(match.group(1))
        if value is not None and value >= 0x80000000:
            found.append((match.start(), value))
    return found


def _win32_numbers(text: str) -> list[tuple[int, int]]:
    found = []
    for match in _WIN32.finditer(text):
        code = int(match.group(1))
        # 32768-32790 after "error code" are WMI job return values, read by find_wmi_returns.
        if 2 <= code < 32768:
            found.append((match.start(), hresult_from_win32(code)))
    for match in _SOCKET_NAME.finditer(text):
        found.append((match.start(), hresult_from_win32(_SOCKET_NAMES[match.group(1)])))
    for match in _SOCKET_PAREN.finditer(text):
        found.append((match.start(), hresult_from_win32(int(match.group(1)))))
    return found


def find_events(text: str) -> list[int]:
    found = sorted((m.start(), int(m.group(1))) for regex in _EVENT for m in regex.finditer(text))
    return list(dict.fromkeys(event_id for _, event_id in found))


def find_vmm_codes(text: str) -> list[int]:
    """System Center VMM's job errors, which it prints as 'Error (NNNNN)'."""
    return list(dict.fromkeys(int(m.group(1)) for m in _VMM.finditer(text)))


def find_wmi_returns(text: str) -> list[int]:
    """Return values of Msvm methods and jobs (32768 and up), e.g. 'ReturnValue : 32784'."""
    return list(dict.fromkeys(int(m.group(1) or m.group(2)) for m in _WMI_RETURN.finditer(text)))


def find_hosts(text: str) -> list[str]:
    """The host names the text quotes ('with host "HV02"', 'migration destination "HV02."'), short and lower-case."""
    names = [m.group(1) for regex in (_HOST, _MIGRATION_HOST) for m in regex.finditer(text)]
    return list(dict.fromkeys(name.split(".")[0] for name in names if not name.isdigit()))


def find_messages(text: str, entries: list[MessageEntry]) -> list[MessageHit]:
    hits = []
    for entry in entries:
        found = entry.search(text)
        if found is not None:
            hits.append(MessageHit(entry, *found))
    return hits


def whole_number(text: str) -> int | None:
    """A paste that is only a number ('-2146893042', '10060') is that code."""
    stripped = text.strip()
    return parse_number(stripped) if len(stripped) <= 12 else None
