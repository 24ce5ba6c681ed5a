"""lmpreflight: preflight checks and failure diagnosis for Hyper-V live migration between
standalone hosts.

Third-party checks import what they need from here::

    from lmpreflight import Category, Context, Remediation, Severity, check, failed, passed
"""

from importlib.metadata import PackageNotFoundError, version

from lmpreflight.model import (
    Category,
    Context,
    Finding,
    MissingFact,
    NotApplicable,
    Remediation,
    Severity,
    Status,
    failed,
    info,
    passed,
    warned,
)
from lmpreflight.registry import check

try:
    __version__ = version("lmpreflight")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Category",
    "Context",
    "Finding",
    "MissingFact",
    "NotApplicable",
    "Remediation",
    "Severity",
    "Status",
    "__version__",
    "check",
    "failed",
    "info",
    "passed",
    "warned",
]
