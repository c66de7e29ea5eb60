"""The root of the errors a user can cause or fix: each is one sentence, and carries the exit
status it means. The command line catches this one class (and prints the sentence); the
engine's other exceptions are bugs and keep their traceback."""

from __future__ import annotations


class AicarbonError(Exception):
    status = 2  # a bad input: option, setting, file; subclasses and instances may say otherwise
