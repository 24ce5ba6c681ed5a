"""The installed version, in a module of its own so that reading it imports nothing else of ours."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmpreflight")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
