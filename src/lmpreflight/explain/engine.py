"""From error text to ranked causes: recognise what the text names (codes, events, other tools'
errors, messages in any Windows UI language), weigh the causes they point at, and — when host
facts are at hand — let the checks confirm or rule them out.

What the text itself names outranks everything else: facts reorder the causes the text names
and confirm or rule them out, but a cause the text does not name never climbs above one it
does. The work is bounded: the text is capped, repeated lines are read once, matching runs on
the canonical text in linear time, and at most MAX_CODES distinct numbers are explained.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lmpreflight.documents import RemediationOut
from lmpreflight.explain.decode import decode, hresult_from_win32
from lmpreflight.explain.knowledge import LANGUAGES, KnowledgeBase, knowledge
from lmpreflight.explain.model import CauseOut, CheckOut, Explanation, MatchOut
from lmpreflight.explain.names import KnownNames, filled, names_in, unfilled
from lmpreflight.explain.normalize import canonical, unique_lines, unwrap_console
from lmpreflight.explain.recognise import (
    find_events,
    find_hosts,
    find_messages,
    find_numbers,
    find_vmm_codes,
    find_wmi_returns,
    whole_number,
)
from lmpreflight.vocabulary import Remediation, Result, Status

MAX_TEXT = 5 * 1024 * 1024
MAX_CODES = 25
# Messages are looked for in the first 256 KB of distinct text: no error message is longer, and
# it keeps a multi-megabyte paste fast; codes and event IDs are read from all of it.
MESSAGE_WINDOW = 256 * 1024

CODE_WEIGHT, PATTERN_WEIGHT, EVENT_WEIGHT, TOOL_WEIGHT = 30.0, 40.0, 10.0, 20.0
CONFIRMED, LIKELY = 1000.0, 500.0
RULED_OUT_FACTOR = 0.1

NOTHING_RECOGNISED = (
    "nothing recognised: no known error code, event ID, tool error or message was found. Tried: {tried}. "
    "Paste instead the whole error, for example the full text of event 21502 "
    "(Get-WinEvent -LogName Microsoft-Windows-Hyper-V-VMMS-Admin -MaxEvents 20 | Format-List TimeCreated,Id,Message), "
    "or Move-VM's complete error ($Error[0] | Format-List * -Force), or read the exported logs with "
    "'lmpreflight diagnose --evtx FILE'"
)


@dataclass
class _Score:
    """How strongly one cause is pointed at, and by what."""

    value: float = 0.0
    evidence: list[str] = field(default_factory=list)
    order: int = 1_000
    named_by: list[str] = field(default_factory=list)
    confirmed_by: list[str] = field(default_factory=list)
    ruled_out: bool = False

    @property
    def stated(self) -> bool:
        return bool(self.named_by)


@dataclass(frozen=True)
class FactsContext:
    """The checks' results on the two hosts' facts, the source's protocol, and the hosts' names:
    each by :attr:`~lmpreflight.facts.model.HostFacts.full_name`, so a fix that needs the FQDN
    gets the real one."""

    results: list[Result]
    source_auth: str | None = None
    hosts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """What the results judged (which VM's checks), said with the explanation."""


def looks_binary(text: str) -> bool:
    sample = text[:65536]
    if not sample:
        return False
    odd = sum(1 for ch in sample if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\r\n\t"))
    return "\x00" in sample or odd / len(sample) > 0.05


def explain_text(
    text: str,
    results: list[Result] | None = None,
    source_auth: str | None = None,
    hosts: Sequence[str] = (),
    vm: str | None = None,
    logged_on: Sequence[str] = (),
) -> Explanation:
    """Rank the causes of the failure described by ``text``; ``results`` are the checks' results
    on the two hosts' facts, ``source_auth`` the source's protocol and ``hosts`` the facts' host
    names, when known; ``vm`` and ``logged_on`` (the hosts whose logs hold the text) name the
    objects of an incident found in event logs, for its fixes."""
    facts = FactsContext(results, source_auth, tuple(hosts)) if results is not None else None
    return explain_with_facts(text, facts, vm, logged_on)


def explain_with_facts(
    text: str, facts: FactsContext | None, vm: str | None = None, logged_on: Sequence[str] = ()
) -> Explanation:
    """:func:`explain_text` with the facts' context given whole, its notes (what was judged)
    shown with the explanation's own."""
    if looks_binary(text):
        return _not_text(len(text))
    truncated = len(text) > MAX_TEXT
    raw = text[:MAX_TEXT].replace("\x00", "")
    plain = canonical(unwrap_console(unique_lines(raw)))
    kb = knowledge()
    scores: dict[str, _Score] = defaultdict(_Score)
    notes: list[str] = []
    matches = [
        *_code_matches(kb, plain, scores, notes),
        *_event_matches(kb, plain, scores),
        *_tool_matches(kb, plain, scores),
        *_message_matches(kb, plain, scores),
    ]
    if facts is not None:
        _apply_facts(kb, scores, facts)
        notes += _host_mismatch(plain, facts.hosts)
        notes += facts.notes
    if not any(match.known for match in matches):
        notes.append(NOTHING_RECOGNISED.format(tried=_tried(kb)))
    causes = _rank(kb, scores, facts, names_in(raw, facts.hosts if facts else (), vm, tuple(logged_on)))
    return Explanation(characters=len(raw), truncated=truncated, matches=matches, causes=causes, notes=notes)


def _not_text(characters: int) -> Explanation:
    return Explanation(
        characters=characters,
        truncated=False,
        matches=[],
        causes=[],
        notes=[
            "the input is not text (it looks like binary data); paste the error message, or read an exported "
            "event log with 'lmpreflight diagnose --evtx FILE'"
        ],
    )


def _weigh(scores: dict[str, _Score], causes: Iterable[str], weight: float, label: str, names: bool) -> None:
    for rank, cause in enumerate(causes):
        score = scores[cause]
        score.value += weight / (rank + 1)
        score.order = min(score.order, rank)
        score.evidence.append(label)
        if names:
            score.named_by.append(label)


def _code_matches(kb: KnowledgeBase, plain: str, scores: dict[str, _Score], notes: list[str]) -> list[MatchOut]:
    numbers = find_numbers(plain)
    whole = whole_number(plain)
    if whole is not None and whole not in numbers:
        numbers.insert(0, whole)
    if len(numbers) > MAX_CODES:
        notes.append(f"{len(numbers)} different codes found; the first {MAX_CODES} are explained")
        numbers = numbers[:MAX_CODES]
    matches = []
    for value in numbers:
        entry = kb.code(value) or (kb.code(hresult_from_win32(value)) if 0 < value < 0x10000 else None)
        decoded = decode(value)
        if entry is not None:
            _weigh(scores, entry.causes, CODE_WEIGHT, f"code 0x{value:08X}", names=True)
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
    return matches


def _event_matches(kb: KnowledgeBase, plain: str, scores: dict[str, _Score]) -> list[MatchOut]:
    matches = []
    for event_id in find_events(plain):
        event = kb.event(event_id)
        if event is None:
            continue
        _weigh(scores, event.causes, EVENT_WEIGHT, f"event {event_id}", names=not event.generic)
        matches.append(
            MatchOut(
                kind="event",
                value=str(event_id),
                meaning=f"{event.meaning} ({event.channel})",
                causes=event.causes,
                source=kb.reference(event.source),
            )
        )
    return matches


def _tool_matches(kb: KnowledgeBase, plain: str, scores: dict[str, _Score]) -> list[MatchOut]:
    found = [("vmm", code) for code in find_vmm_codes(plain)] + [("wmi", code) for code in find_wmi_returns(plain)]
    matches = []
    for tool, code in found:
        entry = kb.tool_code(tool, code)
        if entry is None:
            continue
        label = f"{'VMM error' if tool == 'vmm' else 'WMI return value'} {code}"
        _weigh(scores, entry.causes, TOOL_WEIGHT, label, names=True)
        matches.append(
            MatchOut(
                kind=tool,
                value=str(code),
                meaning=entry.meaning,
                causes=entry.causes,
                source=kb.reference(entry.source),
            )
        )
    return matches


def _message_matches(kb: KnowledgeBase, plain: str, scores: dict[str, _Score]) -> list[MatchOut]:
    matches = []
    for hit in find_messages(plain[:MESSAGE_WINDOW], kb.messages):
        label = f"message '{hit.phrase[:80]}'"
        # A longer matched phrase is a more specific statement: it wins a tie with a short one.
        weight = PATTERN_WEIGHT + min(len(hit.phrase), 80) / 10
        _weigh(scores, hit.entry.causes, weight, label, names=True)
        matches.append(
            MatchOut(
                kind="message",
                value=hit.phrase[:120],
                meaning=hit.entry.meaning,
                causes=hit.entry.causes,
                source=kb.reference(hit.entry.source),
                language=hit.language,
            )
        )
    return matches


def _tried(kb: KnowledgeBase) -> str:
    return (
        f"{len(kb.codes)} known codes (any other HRESULT, Win32 or NTSTATUS number is decoded), "
        f"{len(kb.events)} event IDs, {len(kb.tool_codes)} VMM and WMI job errors, "
        f"{len(kb.messages)} messages in {len(LANGUAGES)} languages ({', '.join(LANGUAGES)})"
    )


def _by_check(results: Iterable[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        grouped[result.check.id].append(result)
    return grouped


def _apply_facts(kb: KnowledgeBase, scores: dict[str, _Score], facts: FactsContext) -> None:
    by_check = _by_check(facts.results)
    for cause_id, score in scores.items():
        cause = kb.causes[cause_id]
        if cause.auth and facts.source_auth and cause.auth != facts.source_auth:
            score.value *= RULED_OUT_FACTOR
            score.ruled_out = True
            score.evidence.append(f"ruled out: the source uses {facts.source_auth}, not {cause.auth}")
            continue
        _confirm_or_rule_out(score, [r for check_id in cause.checks for r in by_check.get(check_id, [])])
        passing = [r for check_id in cause.likely_when_passing for r in by_check.get(check_id, [])]
        if passing and all(r.status == Status.PASS for r in passing):
            score.value += LIKELY
            score.confirmed_by.append(", ".join(cause.likely_when_passing) + " pass")
            score.evidence.append(f"likely: {', '.join(cause.likely_when_passing)} pass, so the setting is in place")


def _confirm_or_rule_out(score: _Score, seen: list[Result]) -> None:
    failing = [r for r in seen if r.status in (Status.FAIL, Status.WARN)]
    if failing:
        score.value += CONFIRMED
        score.confirmed_by += [r.check.id for r in failing]
        score.evidence += [f"confirmed by {r.check.id}: {r.finding.message}" for r in failing]
    elif seen and all(r.status == Status.PASS for r in seen):
        score.value *= RULED_OUT_FACTOR
        score.ruled_out = True
        score.evidence.append(f"ruled out: {', '.join(sorted({r.check.id for r in seen}))} pass")


def _host_mismatch(plain: str, hosts: tuple[str, ...]) -> list[str]:
    """A note when the error names hosts the facts are not about: the checks then judge other machines."""
    named = find_hosts(plain)
    known = {h.split(".")[0].casefold() for h in hosts}
    if not named or not known:
        return []
    others = [n for n in named if n not in known]
    if not others or any(n in known for n in named):
        return []
    return [
        f"the facts are for {', '.join(sorted(h.upper() for h in known))}, but the error names "
        f"{', '.join(n.upper() for n in others)}: the checks' verdicts may be about other hosts"
    ]


def _rank(
    kb: KnowledgeBase, scores: dict[str, _Score], facts: FactsContext | None, names: KnownNames
) -> list[CauseOut]:
    any_stated = any(s.stated for s in scores.values())
    ranked = sorted(scores.items(), key=lambda item: (not item[1].stated, -item[1].value, item[1].order, item[0]))
    results = facts.results if facts else None
    return [
        _cause_out(kb, cause_id, score, rank, results, any_stated, names)
        for rank, (cause_id, score) in enumerate(ranked, 1)
    ]


def _confidence(score: _Score, rank: int, any_stated: bool) -> str:
    if score.value >= LIKELY and (score.stated or not any_stated):
        return "high"
    if rank == 1 and score.stated:
        return "medium"
    return "low"


def _ranking(score: _Score, rank: int, any_stated: bool) -> str:
    """One sentence on why the cause sits where it does."""
    if score.stated:
        parts = [f"the text names it ({'; '.join(dict.fromkeys(score.named_by))})"]
    elif any_stated:
        parts = [f"below the causes the text names: only {', '.join(dict.fromkeys(score.evidence[:1]))} points at it"]
    else:
        parts = [f"the text names no cause; {', '.join(dict.fromkeys(score.evidence[:1]))} is logged for it"]
    if score.confirmed_by:
        parts.append(f"the hosts' facts confirm it ({', '.join(dict.fromkeys(score.confirmed_by))})")
    elif score.ruled_out:
        parts.append("the hosts' facts speak against it")
    return f"#{rank}: " + "; ".join(parts)


def _cause_out(
    kb: KnowledgeBase,
    cause_id: str,
    score: _Score,
    rank: int,
    results: list[Result] | None,
    any_stated: bool,
    names: KnownNames,
) -> CauseOut:
    cause = kb.causes[cause_id]
    related = [r for r in results or [] if r.check.id in (*cause.checks, *cause.likely_when_passing)]
    # A check that confirmed the cause knows the real names: its own fix beats the generic one,
    # whose placeholders get the names the text or the facts state (else a marked placeholder).
    confirming = [r for r in related if r.check.id in cause.checks and r.status in (Status.FAIL, Status.WARN)]
    fix = confirming[0].remediation if confirming else cause.fix.remediation()
    if not confirming and fix.powershell:
        fix = _named_fix(fix, names, results is not None)
    return CauseOut(
        id=cause_id,
        rank=rank,
        title=cause.title,
        why=cause.why,
        ranking=_ranking(score, rank, any_stated),
        confidence=_confidence(score, rank, any_stated),
        score=round(score.value, 1),
        evidence=score.evidence,
        checks=[CheckOut(check_id=r.check.id, status=r.status.value, message=r.finding.message) for r in related],
        fix=RemediationOut(text=fix.text, powershell=fix.powershell, run_on=fix.run_on),
        references=[kb.reference(cause.source)],
    )


def _named_fix(fix: Remediation, names: KnownNames, with_facts: bool) -> Remediation:
    """The generic fix with the known names filled in; each placeholder left is said aloud, with
    why it is left: a command that still holds one must read as unfinished, not as the fix."""
    powershell = filled(fix.powershell or "", names)
    missing = unfilled(powershell)
    if not missing:
        return Remediation(fix.text, powershell, fix.run_on)
    who = "neither the error text nor the hosts' facts state" if with_facts else "the error text does not state"
    it = "it" if len(missing) == 1 else "them"
    hint = "" if with_facts else " (--facts SOURCE.json DEST.json gives the hosts' names)"
    return Remediation(f"{fix.text} Fill in {'; '.join(missing)}: {who} {it}{hint}.", powershell, fix.run_on)


def explanation_json_schema() -> str:
    """The JSON Schema of 'explain --json', as committed to schemas/explanation.schema.json."""
    schema = Explanation.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/explanation.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
