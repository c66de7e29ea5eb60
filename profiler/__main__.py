"""``python -m aicarbon`` is the same as the ``aicarbon`` command."""

from aicarbon.cli.entry import main

if __name__ == "__main__":
    main()
