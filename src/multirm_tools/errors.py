"""Exceptions the command-line tools turn into one-line messages and exit codes."""


class MultiRMError(Exception):
    """Base class: anything the user can fix. Never shown with a traceback."""

    exit_code = 1


class InputError(MultiRMError):
    """A bad input file (FASTA, sites table, embedding). Exit code 1."""


class BundleError(MultiRMError):
    """A model bundle that is missing, truncated or from an incompatible version."""


class UsageError(MultiRMError):
    """Options that contradict each other or name impossible values. Exit code 2."""

    exit_code = 2
