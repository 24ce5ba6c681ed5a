"""Host facts: the typed, versioned data that collection writes and checks read."""

from lmpreflight.facts.load import FactsError, dump_host_facts, facts_json_schema, load_host_facts, save_host_facts
from lmpreflight.facts.model import SCHEMA_VERSION, HostFacts

__all__ = [
    "SCHEMA_VERSION",
    "FactsError",
    "HostFacts",
    "dump_host_facts",
    "facts_json_schema",
    "load_host_facts",
    "save_host_facts",
]
