"""The one exception type for mistakes a user can make."""


class TfxferError(Exception):
    """A problem with user input: a path, a flag, a file's contents, a backbone name.

    The message names what is wrong and what would be accepted. The CLI prints it
    alone, as one line, and exits with status 2.
    """
