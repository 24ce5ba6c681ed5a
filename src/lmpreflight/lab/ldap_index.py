"""The lab directory's index of attribute values (subtree searches without a walk of every
entry), and the server side that answers from it.

ldaptor answers a subtree search by walking every entry below the base and testing the
filter on each. In a generated fleet every host's searches (its computer account by
``sAMAccountName``, the holders of its migration SPNs by ``servicePrincipalName``) then visit
every computer account with its hundreds of delegation SPNs, so the lab's CPU per collected
host grows with the estate. AD answers these searches from indexes (``sAMAccountName``,
``servicePrincipalName`` and ``objectClass`` are indexed attributes in its schema); so does
the lab. A filter made only of equalities joined by & and | is matched from the index's sets
of holders; any other the index can narrow has each candidate tested with ldaptor's own
filter matching; results come in the walk's order, so an indexed search answers exactly what
the walk answers. Filters the index cannot narrow are walked as before.
Results and the messages around them are encoded without ldaptor's object per value (the
same bytes), each attribute's values once when the lab starts, and writes are refused, so
neither the index nor those encodings go stale. Answers keep to AD's default LDAP policy,
which ldaptor does not know: MaxPageSize entries a search (paged searches a page at a time)
and MaxValRange values an attribute (the rest by range).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ldaptor.inmemory import ReadOnlyInMemoryLDAPEntry
from ldaptor.protocols import pureber, pureldap
from ldaptor.protocols.ldap import ldaperrors
from ldaptor.protocols.ldap.ldapserver import LDAPServerConnectionLostException
from twisted.internet import defer

from lmpreflight.lab.ldap_policy import MAX_PAGE_SIZE, MAX_RESULT_SETS_PER_CONNECTION, MAX_VAL_RANGE

COMPARISONS = (pureldap.LDAPFilter_equalityMatch, pureldap.LDAPFilter_greaterOrEqual, pureldap.LDAPFilter_lessOrEqual)
COMBINATIONS = (pureldap.LDAPFilter_and, pureldap.LDAPFilter_or)


def _wire_text(value: Any) -> bool:
    """Whether ``value`` is what a filter read off the wire holds: UTF-8 bytes."""
    if not isinstance(value, bytes):
        return False
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _matched_safely(search: Any) -> bool:
    """Whether ldaptor's matching evaluates ``search`` on any entry without raising. Otherwise
    (another kind of filter, a value that is not UTF-8 bytes) the walk's outcome depends on
    where in the walk it fails, so such a search is left to the walk."""
    if isinstance(search, COMBINATIONS):
        return all(_matched_safely(part) for part in search)
    if isinstance(search, pureldap.LDAPFilter_not):
        return _matched_safely(search.value)
    if isinstance(search, COMPARISONS):
        return _wire_text(search.attributeDesc.value) and _wire_text(search.assertionValue.value)
    if isinstance(search, pureldap.LDAPFilter_present):
        return _wire_text(search.value)
    if isinstance(search, pureldap.LDAPFilter_substrings):
        return _wire_text(search.type) and all(_wire_text(part.value) for part in search.substrings)
    return False


def _key(attribute: bytes, value: bytes) -> tuple[bytes, bytes]:
    """How ldaptor compares an equality assertion: attribute names and values lowered as bytes."""
    return attribute.lower(), value.lower()


class DirectoryIndex:
    """Every entry of one directory tree by (attribute, lowered value), and its place in the walk."""

    def __init__(self, root: IndexedEntry) -> None:
        walked: list[IndexedEntry] = []
        root.subtree(callback=walked.append)  # the in-memory tree answers synchronously
        self.position = {id(entry): place for place, entry in enumerate(walked)}
        self.by_value: dict[tuple[bytes, bytes], list[IndexedEntry]] = {}
        """Entries in the walk's order, each once."""
        self.encoded_values: dict[int, bytes] = {}
        """Each attribute's values as a searchResEntry carries them (a BER SET), by the identity
        of the entry's value set: encoded once, when the lab starts, not in every answer. The
        tree is never written, so neither the sets nor their order change."""
        self.names: dict[int, str] = {id(entry): entry.dn.getText() for entry in walked}
        """Each entry's DN as a result names it: ldaptor escapes every RDN anew each time."""
        for entry in walked:
            for key in entry:
                values = entry.get(key)
                self.encoded_values[id(values)] = encoded_values(values)
            for attribute, values in entry.items():
                name = attribute.encode() if isinstance(attribute, str) else attribute
                for value in values:
                    if isinstance(value, bytes):  # a text value never equals a filter's bytes
                        holders = self.by_value.setdefault(_key(name, value), [])
                        if not holders or holders[-1] is not entry:
                            holders.append(entry)
            entry.index = self
        self.holders = {key: frozenset(map(id, entries)) for key, entries in self.by_value.items()}
        """The identities of the entries holding each (attribute, lowered value): whether an
        entry matches an equality is one look-up, not a walk of its values, lowered anew."""

    def narrowed(self, search: Any) -> tuple[list[IndexedEntry] | None, frozenset[int] | None]:
        """The entries that may match ``search`` (a superset of those that do) in the walk's
        order, or ``None`` when the index cannot narrow it; and the identities of exactly the
        entries that match, when it is equalities joined by ``&`` and ``|`` (what the collector
        asks), else ``None``. ldaptor matches an equality when one of the attribute's values,
        lowered, equals the assertion, lowered: the entries the index holds under that key, as
        every value in the tree is bytes. The collector's batched searches name 50 hosts, and
        ldaptor tests each candidate against every name in turn, lowering all of its values
        each time. The filter's values are checked once, for both."""
        if not _matched_safely(search):
            return None, None
        return self._narrow(search), self._matching(search)

    def _matching(self, search: Any) -> frozenset[int] | None:
        if isinstance(search, pureldap.LDAPFilter_equalityMatch):
            return self.holders.get(_key(search.attributeDesc.value, search.assertionValue.value), frozenset())
        if not isinstance(search, COMBINATIONS):
            return None
        parts = []
        for part in search:
            found = self._matching(part)
            if found is None:
                return None
            parts.append(found)
        if not parts:
            return None  # an empty & matches every entry: left to ldaptor
        if isinstance(search, pureldap.LDAPFilter_and):
            return frozenset.intersection(*parts)
        return frozenset().union(*parts)

    def _narrow(self, search: Any) -> list[IndexedEntry] | None:
        if isinstance(search, pureldap.LDAPFilter_equalityMatch):
            return self.by_value.get(_key(search.attributeDesc.value, search.assertionValue.value), [])
        if isinstance(search, pureldap.LDAPFilter_and):
            narrowed = [found for found in map(self._narrow, search) if found is not None]
            return min(narrowed, key=len) if narrowed else None
        if isinstance(search, pureldap.LDAPFilter_or):
            union: dict[int, IndexedEntry] = {}
            for part in search:
                found = self._narrow(part)
                if found is None:
                    return None
                union.update((id(entry), entry) for entry in found)
            return sorted(union.values(), key=lambda entry: self.position[id(entry)])
        return None


SEQUENCE, SET, OCTET_STRING, SEARCH_RESULT_ENTRY = 0x30, 0x31, 0x04, 0x64
"""BER identifiers (constructed where they hold others; searchResEntry is [APPLICATION 4])."""


def _ber(identifier: int, content: bytes) -> bytes:
    """One BER element, its length in the shortest form (as ldaptor writes it)."""
    length = len(content)
    if length < 0x80:
        return bytes((identifier, length)) + content
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((identifier, 0x80 | len(size))) + size + content


SHORT_OCTET_STRINGS = [bytes((OCTET_STRING, length)) for length in range(0x80)]
"""The identifier and length of each OCTET STRING shorter than 128 bytes (nearly every value)."""


def _octets(value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return SHORT_OCTET_STRINGS[len(data)] + data if len(data) < 0x80 else _ber(OCTET_STRING, data)


def encoded_values(values: Iterable[bytes | str]) -> bytes:
    """An attribute's values as ldaptor writes them in a searchResEntry: a SET of OCTET STRINGs."""
    return _ber(SET, b"".join([_octets(value) for value in values]))


def encoded_entry(dn: str, attributes: Iterable[tuple[bytes | str, bytes]]) -> EncodedResult:
    """The searchResEntry ldaptor writes for ``dn`` with these attributes, each with its
    values already encoded (by :func:`encoded_values`)."""
    listed = b"".join(_ber(SEQUENCE, _octets(name) + values) for name, values in attributes)
    return EncodedResult(_ber(SEARCH_RESULT_ENTRY, _octets(dn) + _ber(SEQUENCE, listed)))


RANGE_OPTION = re.compile(rb"^([^;]+);range=([0-9]+)-([0-9]+|\*)$", re.IGNORECASE)
"""An attribute asked for a range of its values: ``member;range=1500-*`` ("Attribute Range
Retrieval", ADSI documentation)."""


def _value_range(
    name: bytes | str, values: Iterable[bytes | str], low: int, high: bytes, limit: int
) -> tuple[bytes, bytes]:
    """Values ``low`` to ``high`` (``*``: to the last) of an attribute, at most ``limit`` of
    them, named as AD names a range: ``name;range=low-last``, or ``low-*`` when it reaches the end."""
    listed = list(values)
    last = min(len(listed) - 1 if high == b"*" else int(high), len(listed) - 1, low + limit - 1)
    label = name if isinstance(name, bytes) else name.encode()
    end = b"*" if last >= len(listed) - 1 else str(last).encode()
    return label + b";range=" + str(low).encode() + b"-" + end, encoded_values(listed[low : last + 1])


def encoded_result_entry(entry: Any, requested: list[bytes], max_values: int = MAX_VAL_RANGE) -> EncodedResult:
    """The searchResEntry ldaptor sends for ``entry`` with the ``requested`` attributes, byte
    for byte, without ldaptor's object per value: a computer account carries hundreds of
    delegation SPNs, and every host's collection asks for them. The values of a named
    attribute come encoded from the index; all attributes (none named, or ``*``) are listed
    as ldaptor lists them, sorted, and encoded here. As AD does (and ldaptor does not), an
    attribute with more than ``max_values`` values (MaxValRange) is sent as its first range,
    and a range asked for (``name;range=low-high``) is sent as such."""
    if requested and b"*" not in requested:
        encoded = entry.index.encoded_values
        listed = []
        for name in requested:
            ranged = RANGE_OPTION.match(name)
            if ranged is not None:
                if ranged.group(1) in entry:
                    values = entry.get(ranged.group(1))
                    listed.append(
                        _value_range(ranged.group(1), values, int(ranged.group(2)), ranged.group(3), max_values)
                    )
            elif name in entry:
                values = entry.get(name)
                fits = len(values) <= max_values
                listed.append((name, encoded[id(values)]) if fits else _value_range(name, values, 0, b"*", max_values))
        return encoded_entry(entry.index.names[id(entry)], listed)
    return encoded_entry(
        entry.index.names[id(entry)],
        [
            (name, encoded_values(values))
            if len(values) <= max_values
            else _value_range(name, values, 0, b"*", max_values)
            for name, values in entry.items()
        ],
    )


class EncodedResult:
    """A protocol response already encoded; :meth:`ReadOnlyIndexedServer.queue` sends it as it is."""

    def __init__(self, wire: bytes) -> None:
        self.wire = wire

    def toWire(self) -> bytes:
        return self.wire


SEARCH_DONE = EncodedResult(pureldap.LDAPSearchResultDone(resultCode=ldaperrors.Success.resultCode).toWire())
"""A successful search's end, as ldaptor encodes it: the same bytes for every search."""
SIZE_LIMIT_EXCEEDED = EncodedResult(
    pureldap.LDAPSearchResultDone(resultCode=ldaperrors.LDAPSizeLimitExceeded.resultCode).toWire()
)
"""The end of a search that found more entries than it may return."""
PAGED_RESULTS = b"1.2.840.113556.1.4.319"
"""The simple paged results control (RFC 2696), which AD implements as "paged query"."""

UNKNOWN_COOKIE = "00000057: LdapErr: DSID-0C090797, comment: Error processing control, data 0, v23f0"
"""What a DC answered (unavailableCriticalExtension) to a paged search continued with a cookie
it no longer held, as quoted on the UnboundID LDAP SDK mailing list (2016-08-08)."""


class PagedSearchEnd(EncodedResult):
    """The end of one page of a paged search, with the paged-results control that tells the
    client whether (``cookie``) and how to ask for the next page."""

    def __init__(self, wire: bytes, cookie: bytes) -> None:
        super().__init__(wire)
        value = _ber(SEQUENCE, pureber.BERInteger(0).toWire() + _octets(cookie))
        self.controls = _ber(CONTROLS, _ber(SEQUENCE, _octets(PAGED_RESULTS) + _octets(value)))


CONTROLS = 0xA0
"""The controls of an LDAPMessage: [0], constructed."""


def _under(entry: Any, base: Any) -> bool:
    while entry is not None:
        if entry is base:
            return True
        entry = entry.parent()
    return False


class IndexedEntry(ReadOnlyInMemoryLDAPEntry):  # type: ignore[misc]
    """An in-memory entry whose subtree searches use its tree's :class:`DirectoryIndex`."""

    index: DirectoryIndex | None = None

    def search(
        self,
        filterText: str | None = None,
        filterObject: Any = None,
        attributes: Iterable[Any] = (),
        scope: int | None = None,
        derefAliases: int | None = None,
        sizeLimit: int = 0,
        timeLimit: int = 0,
        typesOnly: int = 0,
        callback: Callable[[Any], None] | None = None,
    ) -> Any:
        candidates, exact = None, None
        subtree = scope in (None, pureldap.LDAP_SCOPE_wholeSubtree)
        if self.index is not None and subtree and filterText is None and filterObject is not None:
            candidates, exact = self.index.narrowed(filterObject)
        if candidates is None:
            return super().search(
                filterText, filterObject, attributes, scope, derefAliases, sizeLimit, timeLimit, typesOnly, callback
            )
        found = [
            entry
            for entry in candidates
            if _under(entry, self) and (id(entry) in exact if exact is not None else entry.match(filterObject))
        ]
        if callback is None:
            return defer.succeed(found)
        for entry in found:
            callback(entry)
        return defer.succeed(None)


INSUFFICIENT_ACCESS = "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0"
"""AD's message to an account without the right to write an object."""


def _paging(controls: list[tuple[bytes, Any, Any]] | None) -> tuple[int, bytes] | None:
    """The page size and cookie a search asks for with the paged-results control, if it does;
    any other critical control is refused, as ldaptor refuses it."""
    paging = None
    for control_type, critical, value in controls or []:
        if control_type == PAGED_RESULTS:
            try:
                decoded, _ = pureber.berDecodeObject(pureber.BERDecoderContext(), value)
                size, cookie = (part.value for part in decoded.data)
            except Exception:
                raise ldaperrors.LDAPProtocolError(b"malformed paged results control") from None
            paging = (int(size), bytes(cookie))
        elif critical:
            raise ldaperrors.LDAPUnavailableCriticalExtension(b"Unknown control %s" % control_type)
    return paging


class ReadOnlyIndexedServer:
    """What a lab DC's ldaptor server does differently, for a tree of :class:`IndexedEntry`:
    it encodes search results and the messages around its answers itself (the same bytes,
    cheaper), it refuses every write, and it holds searches to AD's limits, which ldaptor
    does not know: MaxPageSize entries a search (sizeLimitExceeded after them), the request's
    own size limit, and paged searches (RFC 2696) a page at a time.
    lmpreflight only ever reads AD (a write reaching the lab is a bug this answer surfaces),
    and the index describes a tree that never changes."""

    connected: int
    transport: Any
    factory: Any
    getRootDSE: Callable[[Any, Any], Any]
    _cbSearchLDAPError: Callable[[Any], Any]
    _cbSearchOtherError: Callable[[Any], Any]
    max_page_size = MAX_PAGE_SIZE
    max_val_range = MAX_VAL_RANGE
    busy: Callable[[Any], bool] = staticmethod(lambda request: False)
    """Whether a search is answered busy (and counted): the lab DC's own say."""

    def __init__(self) -> None:
        super().__init__()
        self._paged: dict[bytes, tuple[bytes, int]] = {}
        """Open paged searches by cookie: the request they continue (its encoding) and how
        many entries were sent. The tree never changes, so a page is the same search, entries on."""
        self._cookies = 0

    def handle_LDAPSearchRequest(self, request: Any, controls: Any, reply: Any) -> Any:
        """ldaptor's search, with the paged-results control understood (and passed on)."""
        from ldaptor.interfaces import IConnectedLDAPEntry
        from ldaptor.protocols.ldap import distinguishedname

        paging = _paging(controls)
        if self.busy(request):
            return pureldap.LDAPSearchResultDone(resultCode=ldaperrors.LDAPBusy.resultCode)
        if (
            request.baseObject == b""
            and request.scope == pureldap.LDAP_SCOPE_baseObject
            and request.filter == pureldap.LDAPFilter_present("objectClass")
        ):
            return self.getRootDSE(request, reply)
        found = IConnectedLDAPEntry(self.factory).lookup(distinguishedname.DistinguishedName(request.baseObject))
        found.addCallback(self._cbSearchGotBase, request, reply, paging)
        found.addErrback(self._cbSearchLDAPError)
        found.addErrback(defer.logError)
        found.addErrback(self._cbSearchOtherError)
        return found

    def _cbSearchGotBase(
        self, base: IndexedEntry, request: Any, reply: Callable[[Any], None], paging: tuple[int, bytes] | None
    ) -> Any:
        found: list[Any] = []
        searched = base.search(
            filterObject=request.filter,
            attributes=request.attributes,
            scope=request.scope,
            derefAliases=request.derefAliases,
            sizeLimit=request.sizeLimit,
            timeLimit=request.timeLimit,
            typesOnly=request.typesOnly,
            callback=found.append,
        )
        return searched.addCallback(lambda _: self._answer(found, request, reply, paging))

    def _answer(
        self, found: list[Any], request: Any, reply: Callable[[Any], None], paging: tuple[int, bytes] | None
    ) -> Any:
        """The entries this search (or this page of it) may return, and its end."""
        allowed = len(found) if request.sizeLimit <= 0 else min(len(found), request.sizeLimit)
        if paging is None:
            sent = min(allowed, self.max_page_size)
            for entry in found[:sent]:
                reply(encoded_result_entry(entry, request.attributes, self.max_val_range))
            return SEARCH_DONE if sent == len(found) else SIZE_LIMIT_EXCEEDED
        size, cookie = paging
        asked = request.toWire()
        start = 0
        if cookie:
            held = self._paged.pop(cookie, None)
            if held is None or held[0] != asked:
                return pureldap.LDAPSearchResultDone(
                    resultCode=ldaperrors.LDAPUnavailableCriticalExtension.resultCode, errorMessage=UNKNOWN_COOKIE
                )
            start = held[1]
            if size == 0:  # RFC 2696: a size of 0 abandons the search
                return PagedSearchEnd(SEARCH_DONE.wire, b"")
        end = min(allowed, start + min(size or self.max_page_size, self.max_page_size))
        for entry in found[start:end]:
            reply(encoded_result_entry(entry, request.attributes, self.max_val_range))
        if end < allowed:
            return PagedSearchEnd(SEARCH_DONE.wire, self._keep_page(asked, end))
        return PagedSearchEnd((SEARCH_DONE if allowed == len(found) else SIZE_LIMIT_EXCEEDED).wire, b"")

    def _keep_page(self, asked: bytes, sent: int) -> bytes:
        """A cookie for the rest of a paged search; the connection's oldest open search is
        dropped beyond MaxResultSetsPerConn, as a DC drops it."""
        pages = self._paged
        self._cookies += 1
        cookie = self._cookies.to_bytes(4, "little")
        pages[cookie] = (asked, sent)
        while len(pages) > MAX_RESULT_SETS_PER_CONNECTION:
            del pages[next(iter(pages))]
        return cookie

    def queue(self, id: int, op: Any) -> None:
        """ldaptor's queue, with the LDAPMessage around the response written here: ldaptor
        encodes the envelope through an object per part and joins a large answer (an account
        with hundreds of SPNs) twice over. The bytes are its own: a SEQUENCE of the message
        ID, as ldaptor encodes an INTEGER, the response, and the paged-results control that
        ends a page of a paged search (the lab sends no other control)."""
        if not self.connected:
            raise LDAPServerConnectionLostException()
        controls = op.controls if isinstance(op, PagedSearchEnd) else b""
        self.transport.write(_ber(SEQUENCE, pureber.BERInteger(id).toWire() + op.toWire() + controls))

    @staticmethod
    def _refuse_write(response: Any) -> Any:
        return response(resultCode=ldaperrors.LDAPInsufficientAccessRights.resultCode, errorMessage=INSUFFICIENT_ACCESS)

    def handle_LDAPAddRequest(self, request: Any, controls: Any, reply: Any) -> Any:
        return self._refuse_write(pureldap.LDAPAddResponse)

    def handle_LDAPDelRequest(self, request: Any, controls: Any, reply: Any) -> Any:
        return self._refuse_write(pureldap.LDAPDelResponse)

    def handle_LDAPModifyRequest(self, request: Any, controls: Any, reply: Any) -> Any:
        return self._refuse_write(pureldap.LDAPModifyResponse)

    def handle_LDAPModifyDNRequest(self, request: Any, controls: Any, reply: Any) -> Any:
        return self._refuse_write(pureldap.LDAPModifyDNResponse)
