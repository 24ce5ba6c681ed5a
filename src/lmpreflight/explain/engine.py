"""From error text to ranked causes: find codes, event IDs and known messages, weigh the
causes they point at, and — when host facts are at hand — let the checks confirm or rule
them out.

Codes and event IDs match in any UI language; message patterns are English. The work is
bounded: the text is capped, patterns have bounded repetition, and at most MAX_CODES
distinct numbers are explained.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from lmpreflight.explain.decode import decode, hresult_from_win32, parse_number
from lmpreflight.explain.knowledge import KnowledgeBase, knowledge
from lmpreflight.explain.model import CauseOut, CheckOut, Explanation, MatchOut
from lmpreflight.model import Result, Status
from lmpreflight.report.parts import RemediationOut

MAX_TEXT = 5 * 1024 * 1024
MAX_CODES = 25

# All matching runs on the lower-cased text with case-sensitive regexes that start with a
# literal: Python's re then skips ahead with a fast substring search, which keeps a 5 MB paste
# well under a second (IGNORECASE and leading alternations would scan every character).
_HEX = re.compile(r"0x([0-9a-f]{1,8})(?![0-9a-z])")
_BARE_HEX = re.compile(r"(?<![0-9a-z-])([89abc][0-9a-f]{7})(?![0-9a-z-])")
_CODE_CONTEXT = re.compile(r"code|error|fehler|erreur|hresult|エラー")
_DECIMAL = re.compile(r"(?<![\w.-])(-?\d{9,10})(?![\w.])")
_WIN32 = [re.compile(word + r"\s*(?:code)?\s*[:=#]?\s*(\d{1,5})\b") for word in ("error", "fehler", "erreur", "エラー")]
_EVENT = [
    re.compile(r"event\s*(?:id)?\s*[:#]?\s*(\d{4,5})\b"),
    re.compile(r"<eventid[^>]*>\s*(\d{4,5})\b"),
    re.compile(r"\"id\"\s*:\s*(\d{4,5})\b"),
]

CODE_WEIGHT, PATTERN_WEIGHT, EVENT_WEIGHT = 30.0, 40.0, 10.0
CONFIRMED, LIKELY = 1000.0, 500.0
RULED_OUT_FACTOR = 0.1


@dataclass
class _Score:
    value: float = 0.0
    evidence: list[str] = field(default_factory=list)
    order: int = 1_000


def find_numbers(text: str) -> list[int]:
    """Every error number in the (lower-cased) text, in order of appearance, without repeats."""
    found: list[tuple[int, int]] = []
    for match in _HEX.finditer(text):
        if match.start() and text[match.start() - 1].isalnum():
            continue
        # Short hex numbers (0x3e7 in 'klist purge -li 0x3e7') are codes only where the text says so.
        if len(match.group(1)) == 8 or _CODE_CONTEXT.search(text[max(0, match.start() - 30) : match.start()]):
            found.append((match.start(), int(match.group(1), 16)))
    for match in _DECIMAL.finditer(text):
        value = parse_number(match.group(1))
        if value is not None and value >= 0x80000000:
            found.append((match.start(), value))
    for match in _BARE_HEX.finditer(text):
        # Without "0x", eight hex digits count only where the text speaks of a code or error.
        before = text[max(0, match.start() - 60) : match.start()]
        if _CODE_CONTEXT.search(before) or before.endswith("("):
            found.append((match.start(), int(match.group(1), 16)))
    for regex in _WIN32:
        for match in regex.finditer(text):
            code = int(match.group(1))
            if code >= 2:
                found.append((match.start(), hresult_from_win32(code)))
    return list(dict.fromkeys(value for _, value in sorted(found)))


def find_events(text: str) -> list[int]:
    found = sorted((m.start(), int(m.group(1))) for regex in _EVENT for m in regex.finditer(text))
    return list(dict.fromkeys(event_id for _, event_id in found))


def _weigh(scores: dict[str, _Score], causes: Iterable[str], weight: float, label: str) -> None:
    for rank, cause in enumerate(causes):
        score = scores[cause]
        score.value += weight / (rank + 1)
        score.order = min(score.order, rank)
        score.evidence.append(label)


def _by_check(results: Iterable[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        grouped[result.check.id].append(result)
    return grouped


def looks_binary(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    odd = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\r\n\t"))
    return "\x00" in sample or odd / len(sample) > 0.05


def explain_text(text: str, results: list[Result] | None = None, source_auth: str | None = None) -> Explanation:
    """Rank the causes of the failure described by ``text``; ``results`` are the checks' results
    on the two hosts' facts (and ``source_auth`` the source's protocol), when known."""
    if looks_binary(text):
        return Explanation(
            characters=len(text),
            truncated=False,
            matches=[],
            causes=[],
            notes=[
                "the input is not text (it looks like binary data); paste the error message, or read an exported "
                "event log with 'lmpreflight diagnose --evtx FILE'"
            ],
        )
    kb = knowledge()
    truncated = len(text) > MAX_TEXT
    text = text[:MAX_TEXT].replace("\x00", "").lower()
    scores: dict[str, _Score] = defaultdict(_Score)
    matches: list[MatchOut] = []
    notes: list[str] = []
    numbers = find_numbers(text)
    whole = parse_number(text.strip()) if len(text.strip()) <= 12 else None
    if whole is not None and whole not in numbers:
        numbers.insert(0, whole)
    if len(numbers) > MAX_CODES:
        notes.append(f"{len(numbers)} different codes found; the first {MAX_CODES} are explained")
        numbers = numbers[:MAX_CODES]
    for value in numbers:
        entry = kb.code(value) or (kb.code(hresult_from_win32(value)) if 0 < value < 0x10000 else None)
        decoded = decode(value)
        label = f"code 0x{value:08X}"
        if entry is not None:
            _weigh(scores, entry.causes, CODE_WEIGHT, label)
        matches.append(
            MatchOut(
                kind="code",
                value=f"0x{value:08X}",
                meaning=entry.meaning
                if entry
                else (decoded.message or "not a code lmpreflight knows; its structure is decoded below"),
                decoded=decoded,
                causes=entry.causes if entry else [],
                source=kb.reference(entry.source) if entry else None,
            )
        )
    for event_id in find_events(text):
        event = kb.event(event_id)
        if event is None:
            continue
        _weigh(scores, event.causes, EVENT_WEIGHT, f"event {event_id}")
        matches.append(
            MatchOut(
                kind="event",
                value=str(event_id),
                meaning=f"{event.meaning} ({event.channel})",
                causes=event.causes,
                source=kb.reference(event.source),
            )
        )
    for pattern in kb.patterns:
        found = pattern.search(text)
        if found:
            _weigh(scores, pattern.causes, PATTERN_WEIGHT, f"message '{found.group(0)[:60]}'")
            matches.append(
                MatchOut(
                    kind="message",
                    value=found.group(0)[:120],
                    meaning="a known message",
                    causes=pattern.causes,
                    source=kb.reference(pattern.source),
                )
            )
    if results is not None:
        _apply_facts(kb, scores, _by_check(results), source_auth, notes)
    if not matches:
        notes.append(
            "no error code, event ID or known message found; paste the whole error text "
            "(the code in parentheses, e.g. 0x8009030E, is what matters most)"
        )
    ranked = sorted(scores.items(), key=lambda item: (-item[1].value, item[1].order, item[0]))
    causes = [_cause_out(kb, cause_id, score, rank, results) for rank, (cause_id, score) in enumerate(ranked, 1)]
    return Explanation(characters=len(text), truncated=truncated, matches=matches, causes=causes, notes=notes)


def _apply_facts(
    kb: KnowledgeBase,
    scores: dict[str, _Score],
    by_check: dict[str, list[Result]],
    source_auth: str | None,
    notes: list[str],
) -> None:
    bad = (Status.FAIL, Status.WARN)
    for cause_id, score in scores.items():
        cause = kb.causes[cause_id]
        if cause.auth and source_auth and cause.auth != source_auth:
            score.value *= RULED_OUT_FACTOR
            score.evidence.append(f"ruled out: the source uses {source_auth}, not {cause.auth}")
            continue
        seen = [r for check_id in cause.checks for r in by_check.get(check_id, [])]
        failing = [r for r in seen if r.status in bad]
        if failing:
            score.value += CONFIRMED
            score.evidence += [f"confirmed by {r.check.id}: {r.finding.message}" for r in failing]
        elif seen and all(r.status == Status.PASS for r in seen):
            score.value *= RULED_OUT_FACTOR
            score.evidence.append(f"ruled out: {', '.join(sorted({r.check.id for r in seen}))} pass")
        passing = [r for check_id in cause.likely_when_passing for r in by_check.get(check_id, [])]
        if passing and all(r.status == Status.PASS for r in passing):
            score.value += LIKELY
            score.evidence.append(f"likely: {', '.join(cause.likely_when_passing)} pass, so the setting is in place")


def _cause_out(kb: KnowledgeBase, cause_id: str, score: _Score, rank: int, results: list[Result] | None) -> CauseOut:
    cause = kb.causes[cause_id]
    checks = [
        CheckOut(check_id=r.check.id, status=r.status.value, message=r.finding.message)
        for r in results or []
        if r.check.id in (*cause.checks, *cause.likely_when_passing)
    ]
    if score.value >= LIKELY:
        confidence = "high"
    elif rank == 1 and any(not e.startswith("event") for e in score.evidence):
        confidence = "medium"
    else:
        confidence = "low"
    # A check that confirmed the cause knows the real names: its own fix beats the generic one.
    confirming = [r for r in results or [] if r.check.id in cause.checks and r.status in (Status.FAIL, Status.WARN)]
    fix = confirming[0].remediation if confirming else cause.fix.remediation()
    return CauseOut(
        id=cause_id,
        rank=rank,
        title=cause.title,
        why=cause.why,
        confidence=confidence,
        score=round(score.value, 1),
        evidence=score.evidence,
        checks=checks,
        fix=RemediationOut(text=fix.text, powershell=fix.powershell, run_on=fix.run_on),
        references=[kb.reference(cause.source)],
    )


def explanation_json_schema() -> str:
    """The JSON Schema of 'explain --json', as committed to schemas/explanation.schema.json."""
    schema = Explanation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/explanation.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
