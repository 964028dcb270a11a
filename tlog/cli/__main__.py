"""``python -m tlog.cli``: the ``tlog`` command."""

from tlog.cli import main

main()
