"""The console entry point, kept free of imports so that Ctrl-C while the command line loads
(click, pydantic, ...) ends as an interrupt (exit 130, one line), not a Python traceback."""

import sys

EXIT_INTERRUPTED = 130  # superbatch.errors.EXIT_INTERRUPTED, not imported: this module loads first


def main() -> None:
    """Load the command line, then run it."""
    try:
        from superbatch.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("superbatch: interrupted while starting; nothing was done.\n")
        sys.exit(EXIT_INTERRUPTED)
    cli_main()
