"""The console entry point, kept free of imports so that Ctrl-C while the command line loads
(click, pydantic, ...) ends as an interrupt (exit 130, one line), not a Python traceback."""

import gc
import sys

EXIT_INTERRUPTED = 130  # superbatch.errors.EXIT_INTERRUPTED, not imported: this module loads first


def main() -> None:
    """Load the command line, then run it."""
    # Starting a command makes ~40,000 objects that live until it ends (modules, classes,
    # pydantic's schemas): at the default threshold (700) the cyclic collector runs ~60 times
    # over them, a tenth of `validate`'s time. Every 100,000 allocations instead, start-up
    # ends before the first, and a command that makes objects in bulk is still collected.
    gc.set_threshold(100_000, *gc.get_threshold()[1:])
    try:
        from superbatch.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("superbatch: interrupted while starting; nothing was done.\n")
        sys.exit(EXIT_INTERRUPTED)
    cli_main()
