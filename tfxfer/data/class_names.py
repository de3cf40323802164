"""What a class name may hold: one line of text.

Class names travel into ``assets/labels.txt`` (one a line), the serving signature's
``class_name`` output, one-line error messages and plots. A control or line-break character
(``\\n``, ``\\r``, ``\\x85``, ``\\u2028``, ``\\u2029``, ...: everything ``str.splitlines`` splits on
is among them) would turn one class into several lines, so such names are refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from tfxfer.errors import TfxferError

# Unicode categories: Cc control characters, Zl line separator, Zp paragraph separator.
_FORBIDDEN_CATEGORIES = ("Cc", "Zl", "Zp")


def check_class_names(names: Iterable[str], where: str) -> None:
    """Raises a one-line TfxferError for the first name that holds a control or line-break
    character; ``where`` names its source (a folder, a file, an argument)."""
    for name in names:
        bad = next((c for c in str(name) if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
        if bad is not None:
            raise TfxferError(
                f"{where}: class name {str(name)!r} holds the control or line-break character {bad!r}; "
                f"a class name must be one line of printable text (rename the class folder or fix the label)"
            )
