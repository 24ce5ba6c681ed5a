"""The knowledge base (knowledge.yaml, error_names.yaml): loaded once, validated strictly.

Messages are matched by meaning in every language the entry lists: each language has one or
more alternatives, an alternative being a pattern, or a list of patterns that must all occur
(word order differs between languages, so co-occurring key phrases travel better than whole
sentences). Patterns are written against the canonical text (lmpreflight.explain.normalize):
lower case, one space for any whitespace, <name> for a quoted name, <guid> and <path> for
what Windows fills in.
"""

from __future__ import annotations

import re
from functools import cache, cached_property
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmpreflight.vocabulary import Remediation

LANGUAGES = ("en", "de", "fr", "es", "it", "pt-BR", "ru", "ja", "ko", "zh-CN", "zh-TW")
Language = Literal["en", "de", "fr", "es", "it", "pt-BR", "ru", "ja", "ko", "zh-CN", "zh-TW"]

# Placeholders a pattern may use; each expands to a bounded, backtracking-free expression.
MACROS = {
    "<name>": r"""(?:"[^"]{0,260}"|'[^']{0,260}')""",
    "<host>": r"""(?:"[^"]{0,260}"|'[^']{0,260}'|[\w.-]{1,255})""",
}
_UNSAFE_START = re.compile(r"^[.\\*+?{|^$]")


class KbModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KbFix(KbModel):
    text: str
    powershell: str | None = None
    run_on: str | None = None

    def remediation(self) -> Remediation:
        return Remediation(self.text, self.powershell, self.run_on)


class Cause(KbModel):
    title: str
    why: str
    auth: Literal["Kerberos", "CredSSP"] | None = Field(None, description="Only possible with this protocol")
    checks: list[str] = Field(default_factory=list, description="A failing or warning result confirms the cause")
    likely_when_passing: list[str] = Field(
        default_factory=list, description="All passing makes the cause likely (e.g. stale tickets)"
    )
    fix: KbFix
    source: str


class CodeEntry(KbModel):
    code: str
    name: str | None
    meaning: str
    causes: list[str]
    source: str

    @field_validator("code")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"0x[0-9A-F]{8}", value):
            raise ValueError("codes are written 0x followed by 8 upper-case hex digits")
        return value

    @property
    def value(self) -> int:
        return int(self.code, 16)


class EventEntry(KbModel):
    id: int
    provider: str
    channel: str
    failure: bool
    meaning: str
    causes: list[str]
    source: str
    generic: bool = Field(False, description="Logged for any failed move: its text, not its ID, names the cause")
    template: str | None = Field(
        None,
        description="The message as the provider's manifest (or a published capture) gives it, with %1..%n for "
        "the positional insertion strings Parameter0..N-1: an export without rendered text is read through it",
    )
    pasted: bool = Field(
        True,
        description="Whether 'Event ID N' in pasted text means this event: False where other providers use the "
        "same small number (ComputeLib's 1000 is also Application Error's)",
    )

    def render(self, parameters: list[str]) -> str | None:
        """The message from positional insertion strings, as Event Viewer would show it; None
        without a template. A missing parameter renders empty, never as its placeholder."""
        if self.template is None:
            return None
        return _INSERT.sub(lambda m: _parameter(parameters, int(m.group(1))), self.template).strip()


_INSERT = re.compile(r"%(\d{1,2})")


def _parameter(parameters: list[str], number: int) -> str:
    return parameters[number - 1] if 0 < number <= len(parameters) else ""


class ToolCode(KbModel):
    """An error number another tool prints in its own shape: System Center VMM's 'Error (12700)',
    or the uint32 an Msvm (Hyper-V WMI) method or job returns ('ReturnValue : 32784')."""

    tool: Literal["vmm", "wmi"]
    code: int
    meaning: str
    causes: list[str]
    source: str


_META = set(".^$*+?{}[]\\|()")


def literal_prefix(pattern: str) -> str:
    """The literal text every match of ``pattern`` starts with: a cheap 'in' test skips the
    regex where the text cannot match (most patterns, for most texts)."""
    depth = 0
    for index, char in enumerate(pattern):
        escaped = pattern[index - 1 : index] == "\\"
        depth += (char == "(" and not escaped) - (char == ")" and not escaped)
        if char == "|" and depth == 0 and not escaped:
            return ""  # top-level alternatives share no prefix
    prefix = []
    for index, char in enumerate(pattern):
        if char in _META or char == "<":
            break
        if pattern[index + 1 : index + 2] in ("?", "*", "{"):
            break
        prefix.append(char)
    return "".join(prefix)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    if pattern != pattern.lower():
        raise ValueError(f"patterns are written in lower case (the text is lower-cased): {pattern!r}")
    if _UNSAFE_START.match(pattern):
        raise ValueError(f"a pattern must start with literal text, so the search can skip ahead: {pattern!r}")
    for macro, expansion in MACROS.items():
        pattern = pattern.replace(macro, expansion)
    return re.compile(pattern)


Alternative = str | list[str]


class MessageEntry(KbModel):
    """A message matched by meaning, with real-shaped examples in every language it claims."""

    id: str
    causes: list[str]
    source: str
    meaning: str
    match: dict[Language, list[Alternative]]
    examples: dict[Language, list[str]]
    translated: list[Language] = Field(
        default_factory=list,
        description="Languages whose patterns and examples are lmpreflight's translations, not captured text",
    )

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: dict[str, list[Alternative]]) -> dict[str, list[Alternative]]:
        for alternatives in value.values():
            for alternative in alternatives:
                for pattern in [alternative] if isinstance(alternative, str) else alternative:
                    compile_pattern(pattern)
        return value

    @cached_property
    def compiled(self) -> tuple[tuple[Language, tuple[tuple[str, re.Pattern[str]], ...]], ...]:
        return tuple(
            (language, tuple((literal_prefix(p), compile_pattern(p)) for p in ([alt] if isinstance(alt, str) else alt)))
            for language, alternatives in self.match.items()
            for alt in alternatives
        )

    def search(self, text: str) -> tuple[Language, str] | None:
        """The language and the longest matched phrase (the most specific statement), when every
        pattern of one alternative occurs in ``text``."""
        best: tuple[Language, str] | None = None
        for language, patterns in self.compiled:
            if best is not None and language != best[0]:
                break
            found = []
            for prefix, pattern in patterns:
                match = pattern.search(text) if prefix in text else None
                if match is None:
                    break
                found.append(match.group(0))
            else:
                phrase = " … ".join(found)
                if best is None or len(phrase) > len(best[1]):
                    best = (language, phrase)
        return best


class KnowledgeBase(KbModel):
    version: int
    references: dict[str, str]
    causes: dict[str, Cause]
    codes: list[CodeEntry]
    events: list[EventEntry]
    tool_codes: list[ToolCode]
    messages: list[MessageEntry]

    @cached_property
    def _codes(self) -> dict[int, CodeEntry]:
        return {c.value: c for c in self.codes}

    @cached_property
    def _events(self) -> dict[tuple[str, int], EventEntry]:
        return {(e.provider.casefold(), e.id): e for e in self.events}

    @cached_property
    def _events_by_id(self) -> dict[int, EventEntry]:
        """An event ID without its provider (pasted text) means the first provider listed for it,
        among the events whose number no other provider shares."""
        by_id: dict[int, EventEntry] = {}
        for entry in self.events:
            if entry.pasted:
                by_id.setdefault(entry.id, entry)
        return by_id

    def code(self, value: int) -> CodeEntry | None:
        return self._codes.get(value)

    def event(self, event_id: int, provider: str | None = None) -> EventEntry | None:
        if provider:
            exact = self._events.get((provider.casefold(), event_id))
            if exact is not None:
                return exact
        return self._events_by_id.get(event_id)

    def tool_code(self, tool: str, code: int) -> ToolCode | None:
        return next((t for t in self.tool_codes if t.tool == tool and t.code == code), None)

    def reference(self, key: str) -> str:
        return self.references.get(key, key)


class ErrorNames(KbModel):
    version: int
    facilities: dict[int, str]
    win32: dict[int, tuple[str, str]]
    hresult: dict[int, tuple[str, str]]
    ntstatus: dict[int, tuple[str, str]]


def _load(name: str) -> object:
    # The C safe loader (when PyYAML has it) reads the knowledge base several times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    text = (resources.files("lmpreflight.explain") / name).read_text(encoding="utf-8")
    return yaml.load(text, Loader=loader)


def _check_references(kb: KnowledgeBase) -> None:
    entries: list[CodeEntry | EventEntry | ToolCode | MessageEntry] = [
        *kb.codes,
        *kb.events,
        *kb.tool_codes,
        *kb.messages,
    ]
    unknown = {c for entry in entries for c in entry.causes} - set(kb.causes)
    if unknown:
        raise ValueError(f"knowledge.yaml names causes it does not define: {sorted(unknown)}")
    sources = {e.source for e in entries} | {c.source for c in kb.causes.values()}
    if sources - set(kb.references):
        raise ValueError(f"knowledge.yaml cites unknown sources: {sorted(sources - set(kb.references))}")


@cache
def knowledge() -> KnowledgeBase:
    document = _load("knowledge.yaml")
    messages = _load("messages.yaml")
    if not isinstance(document, dict) or not isinstance(messages, dict):
        raise ValueError("knowledge.yaml and messages.yaml hold mappings")
    kb = KnowledgeBase.model_validate({**document, "messages": messages.get("messages")})
    _check_references(kb)
    return kb


@cache
def error_names() -> ErrorNames:
    return ErrorNames.model_validate(_load("error_names.yaml"))
