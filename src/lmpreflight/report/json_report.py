"""The JSON report: the report model as published by ``schemas/report.schema.json``."""

from __future__ import annotations

import json

from lmpreflight.report.model import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def report_json_schema() -> str:
    """The JSON Schema of the report, as committed to ``schemas/report.schema.json``."""
    schema = Report.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://lmpreflight.dev/schemas/report.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
