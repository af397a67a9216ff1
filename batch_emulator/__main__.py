"""``python -m batch_emulator``: the same as ``superbatch emulator``."""

from .cli import emulator_command

if __name__ == "__main__":
    emulator_command(prog_name="superbatch emulator")
