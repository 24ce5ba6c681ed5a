"""The JSON report: the report model as published by ``schemas/report.schema.json``, with the
"Before the move" steps the other formats open with, so a script or ticket system reading the
JSON gets the same numbered steps, places and merges as a person reading the terminal or HTML."""

from __future__ import annotations

import json

from pydantic import ConfigDict, Field

from lmpreflight.report.actions import Place, before_the_move, numbered_groups
from lmpreflight.report.model import Report, ReportModel
from lmpreflight.vocabulary import Status


class ActionOut(ReportModel):
    """One step of "Before the move": one root cause, with every check and subject behind it."""

    step: int = Field(description="The step's number, counted across places in the order to run them")
    text: str
    powershell: str | None = Field(description="The PowerShell for the step, when there is one")
    status: Status = Field(
        description="fail or error when a blocking result is behind the step, warn when only warnings are"
    )
    check_ids: list[str]
    subjects: list[str] = Field(description="The hosts, VMs or 'pair' the step answers for")


class ActionGroupOut(ReportModel):
    """The steps done in one place, in run order: the directory, the source, the destination, the network team."""

    place: Place
    label: str
    actions: list[ActionOut]


class JsonReport(Report):
    """The report as the JSON file carries it: the model, and the steps derived from it."""

    model_config = ConfigDict(title="Report")

    before_the_move: list[ActionGroupOut] = Field(
        default_factory=list,
        description=(
            "What to do before the move, grouped by where it is done, in run order; failures, unevaluated "
            "checks and warnings not accepted by a waiver (the same steps as the terminal, HTML and Markdown)"
        ),
    )


def before_the_move_out(report: Report) -> list[ActionGroupOut]:
    return [
        ActionGroupOut(
            place=group.place,
            label=group.label,
            actions=[
                ActionOut(
                    step=int(number),
                    text=action.text,
                    powershell=action.powershell,
                    status=Status(action.status),
                    check_ids=list(action.check_ids),
                    subjects=list(action.subjects),
                )
                for number, action in actions
            ],
        )
        for group, actions in numbered_groups(before_the_move(report))
    ]


def render_json(report: Report) -> str:
    document = JsonReport(**dict(report), before_the_move=before_the_move_out(report))
    return document.model_dump_json(indent=2) + "\n"


def report_json_schema() -> str:
    """The JSON Schema of the report, as committed to ``schemas/report.schema.json``."""
    schema = JsonReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/report.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
