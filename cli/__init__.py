"""The ``aicarbon`` command line: parse, call the profiler, render. No measurement here."""
