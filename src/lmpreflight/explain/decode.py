"""Decoding any error number: HRESULT, Win32 error, NTSTATUS, in hex, decimal or negative form.

An HRESULT is severity (bit 31), customer (29), NTSTATUS-mapped (28), facility (16-26) and
code (0-15). 0x8007xxxx carries a Win32 error in its code; 0xCxxxxxxx is an NTSTATUS error.
Whatever the number, the answer is at least its structure: never just "unknown".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from lmpreflight.explain.knowledge import error_names

WIN32_FACILITY = 7


class Decoded(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    kind: str
    name: str | None
    message: str | None
    severity: str
    facility: int
    facility_name: str
    code: int
    win32_code: int | None = None

    def structure(self) -> str:
        text = f"{self.kind}, {self.severity}, facility {self.facility} ({self.facility_name}), code {self.code}"
        return text + (f"; Win32 error {self.win32_code}" if self.win32_code is not None else "")


def parse_number(text: str) -> int | None:
    """0x8009030E, 8009030E (8 hex digits), 2148074254, -2146893042 or a small decimal → 32-bit value."""
    token = text.strip().rstrip(".,;:)").lstrip("(")
    try:
        if token.lower().startswith("0x") or (
            len(token) == 8 and all(c in "0123456789abcdefABCDEF" for c in token) and not token.isdigit()
        ):
            value = int(token, 16)
        else:
            value = int(token, 10)
    except ValueError:
        return None
    if value < 0:
        value += 1 << 32
    if not 0 <= value < 1 << 32:
        return None
    return value


def hresult_from_win32(code: int) -> int:
    return 0x80070000 | (code & 0xFFFF) if code > 0 else code


def decode(value: int) -> Decoded:
    names = error_names()
    text = f"0x{value:08X}"
    if value < 0x10000:
        name, message = names.win32.get(value, (None, None))
        return Decoded(
            value=f"{value} ({text})",
            kind="Win32 error",
            name=name,
            message=message,
            severity="error" if value else "success",
            facility=WIN32_FACILITY,
            facility_name=names.facilities[WIN32_FACILITY],
            code=value,
            win32_code=value,
        )
    facility = (value >> 16) & 0x7FF
    code = value & 0xFFFF
    if value >> 30 == 0b11 and not value & 0x10000000:
        facility = (value >> 16) & 0xFFF
        name, message = names.ntstatus.get(value, (None, None))
        return Decoded(
            value=text,
            kind="NTSTATUS",
            name=name,
            message=message,
            severity="error",
            facility=facility,
            facility_name=names.facilities.get(facility, "unassigned"),
            code=code,
        )
    severity = "failure" if value & 0x80000000 else "success"
    if value & 0x20000000:
        severity += ", customer-defined (not a Microsoft code)"
    name, message = names.hresult.get(value, (None, None))
    win32 = None
    if facility == WIN32_FACILITY and value & 0x80000000:
        win32 = code
        if name is None:
            name, message = names.win32.get(code, (None, None))
    return Decoded(
        value=text,
        kind="HRESULT",
        name=name,
        message=message,
        severity=severity,
        facility=facility,
        facility_name=names.facilities.get(facility, "unassigned"),
        code=code,
        win32_code=win32,
    )
