"""The knowledge base (knowledge.yaml, error_names.yaml): loaded once, validated strictly."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lmpreflight.model import Remediation


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
    channel: str
    failure: bool
    meaning: str
    causes: list[str]
    source: str


class PatternEntry(KbModel):
    """An English message fragment; matched against lower-cased text, one alternative at a time."""

    regex: str
    causes: list[str]
    source: str

    @field_validator("regex")
    @classmethod
    def _lower_case(cls, value: str) -> str:
        if value != value.lower():
            raise ValueError("patterns are written in lower case (the text is lower-cased before matching)")
        re.compile(value)
        return value

    def search(self, text: str) -> re.Match[str] | None:
        for alternative in _alternatives(self.regex):
            found = alternative.search(text)
            if found:
                return found
        return None


class KnowledgeBase(KbModel):
    version: int
    references: dict[str, str]
    causes: dict[str, Cause]
    codes: list[CodeEntry]
    events: list[EventEntry]
    patterns: list[PatternEntry]

    def code(self, value: int) -> CodeEntry | None:
        return next((c for c in self.codes if c.value == value), None)

    def event(self, event_id: int) -> EventEntry | None:
        return next((e for e in self.events if e.id == event_id), None)

    def reference(self, key: str) -> str:
        return self.references.get(key, key)


class ErrorNames(KbModel):
    version: int
    facilities: dict[int, str]
    win32: dict[int, tuple[str, str]]
    hresult: dict[int, tuple[str, str]]
    ntstatus: dict[int, tuple[str, str]]


@cache
def _alternatives(regex: str) -> tuple[re.Pattern[str], ...]:
    """Top-level alternatives compiled apart, so each starts with a literal (fast to scan for)."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(regex):
        if char == "(" and regex[index - 1 : index] != "\\":
            depth += 1
        elif char == ")" and regex[index - 1 : index] != "\\":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:index])
            start = index + 1
    parts.append(regex[start:])
    return tuple(re.compile(part) for part in parts)


def _load(name: str) -> object:
    return yaml.safe_load((resources.files("lmpreflight.explain") / name).read_text(encoding="utf-8"))


@cache
def knowledge() -> KnowledgeBase:
    kb = KnowledgeBase.model_validate(_load("knowledge.yaml"))
    entries: list[CodeEntry | EventEntry | PatternEntry] = [*kb.codes, *kb.events, *kb.patterns]
    referenced = {c for entry in entries for c in entry.causes}
    unknown = referenced - set(kb.causes)
    if unknown:
        raise ValueError(f"knowledge.yaml names causes it does not define: {sorted(unknown)}")
    sources = {e.source for e in entries} | {c.source for c in kb.causes.values()}
    if sources - set(kb.references):
        raise ValueError(f"knowledge.yaml cites unknown sources: {sorted(sources - set(kb.references))}")
    return kb


@cache
def error_names() -> ErrorNames:
    return ErrorNames.model_validate(_load("error_names.yaml"))
