"""The command line. Every user mistake ends in one line on stderr and exit code 2.

Exit codes: 0 ready, 1 not ready, 2 usage error or unusable input, 3 incomplete,
4 internal error (a bug: one line says so; LMPREFLIGHT_DEBUG=1 shows the traceback),
130 interrupted.
"""

from __future__ import annotations

import os
import sys

import click

from lmpreflight._version import __version__
from lmpreflight.commands.analyze import analyze, list_checks, schema
from lmpreflight.commands.check import check, collect, collector_script
from lmpreflight.commands.diagnose import diagnose
from lmpreflight.commands.explain import explain
from lmpreflight.commands.lab import demo, lab
from lmpreflight.commands.plan import plan
from lmpreflight.errors import UserError
from lmpreflight.escape import visible
from lmpreflight.exit_codes import ExitCode


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmpreflight")
def cli() -> None:
    """Preflight checks and failure diagnosis for Hyper-V live migration between standalone hosts.

    Exit codes: 0 ready, 1 not ready, 2 usage error or unusable input, 3 incomplete,
    4 internal error (LMPREFLIGHT_DEBUG=1 shows the traceback), 130 interrupted.
    """


for command in (check, plan, collect, collector_script, analyze, explain, diagnose, demo, lab, list_checks, schema):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("lmpreflight: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()  # a group named alone: its help, which lists the commands
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "lmpreflight"
        message = visible(" ".join(exc.format_message().split()))
        click.echo(f"lmpreflight: error: {message} ('{where} --help' lists the options)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"lmpreflight: error: {visible(exc)}", err=True)
        sys.exit(ExitCode.USAGE)
    except Exception as exc:  # the last line of defence: a bug must not read as a verdict
        if os.environ.get("LMPREFLIGHT_DEBUG"):
            raise
        detail = visible(" ".join(str(exc).split())[:200])
        click.echo(
            f"lmpreflight: internal error: {type(exc).__name__}: {detail} "
            "(a bug; LMPREFLIGHT_DEBUG=1 shows the traceback to report)",
            err=True,
        )
        sys.exit(ExitCode.INTERNAL)
