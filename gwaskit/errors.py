"""Exceptions that carry a one-line, user-facing message.

Anything raised as :class:`InputError` is the user's to fix (a bad file, column, option or
variant); the CLI prints its message on one line and exits with code 2, without a traceback.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message names the file, column, option or variant at fault."""


class GenotypeFormatError(InputError):
    """A genotype file is malformed, truncated or of an unsupported kind."""
