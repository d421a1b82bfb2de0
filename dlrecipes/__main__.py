"""The `dlrecipes` command (and `python -m dlrecipes`): signals first, then the CLI.

Ctrl-C and SIGTERM are routed to `interrupts` before the CLI's own imports (typer, rich,
later TensorFlow), so that a signal in the first second is handled like any other.
"""

import sys

from dlrecipes import interrupts


def main() -> None:
    try:
        interrupts.install()
        from dlrecipes.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # before the CLI's own handling began (its imports)
        print("interrupted", file=sys.stderr)
        interrupts.leave(interrupts.exit_code())


if __name__ == "__main__":
    main()
