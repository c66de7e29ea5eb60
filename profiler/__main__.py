"""``python -m aicarbon`` is the same as the ``aicarbon`` command."""

try:
    from .cli.entry import main
except KeyboardInterrupt:  # Ctrl-C while the entry point itself is being imported
    import os

    os._exit(130)

if __name__ == "__main__":
    main()
