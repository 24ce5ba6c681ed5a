"""lmpreflight: preflight checks and failure diagnosis for Hyper-V live migration between
standalone hosts.

Third-party checks import what they need from here::

    from lmpreflight import Category, Context, Remediation, Severity, check, failed, passed

A check may also contribute a step to the remediation script (``fix=``, returning a
:class:`FixStep`) and a place in the report's migration-path picture (``shows_on=``, see
:class:`PathPart`).
"""

from lmpreflight._version import __version__
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    FixStep,
    MissingFact,
    NotApplicable,
    PathPart,
    Remediation,
    Severity,
    Status,
    failed,
    host_step,
    info,
    passed,
    warned,
)

__all__ = [
    "Category",
    "Context",
    "Finding",
    "FixStep",
    "MissingFact",
    "NotApplicable",
    "PathPart",
    "Remediation",
    "Severity",
    "Status",
    "__version__",
    "check",
    "failed",
    "host_step",
    "info",
    "passed",
    "warned",
]
