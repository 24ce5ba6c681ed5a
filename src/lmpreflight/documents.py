"""Output pieces shared by the report and the explanation documents."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RemediationOut(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    powershell: str | None = None
    run_on: str | None = None
