"""The ``lmpreflight`` command and ``python -m lmpreflight``.

Loading the command's modules takes about a second; Ctrl-C in that second ends the run as it
does later (one line, exit code 130), not with a traceback through the import machinery.
"""

from __future__ import annotations

import sys

from lmpreflight.exit_codes import ExitCode


def run() -> None:
    try:
        from lmpreflight.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("lmpreflight: interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
