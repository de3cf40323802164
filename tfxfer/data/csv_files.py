"""Reading delimited text files strictly: UTF-8 lines (never a guessed encoding) and CSV/TSV
records, each problem an error naming the file and line. Text data and image manifests share it."""

from __future__ import annotations

import csv
from pathlib import Path

from tfxfer.errors import TfxferError

# The longest CSV/TSV field read, in characters (the csv module's default is 131,072): long
# texts are legitimate; a field beyond this is most likely a broken quote swallowing the file.
CSV_FIELD_LIMIT = 16 * 1024 * 1024


def decode_lines(path: Path, role: str) -> list[str]:
    """The file's lines, line ends kept (quoted CSV fields may span lines).

    Bytes that are not UTF-8 are an error naming the lines: guessing an encoding would
    silently change the texts the model learns from.
    """
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines, bad = [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8") + "\n")
        except UnicodeDecodeError:
            bad.append(number)
    if bad:
        raise TfxferError(
            f"{role} file {path} is not UTF-8 text: {len(bad)} line(s) hold other bytes, line "
            f"{', '.join(map(str, bad[:5]))}{' ...' if len(bad) > 5 else ''} (save it as UTF-8)"
        )
    return lines


def csv_records(lines: list[str], delimiter: str, path: Path) -> list[tuple[int, list[str]]]:
    """(line number where it ends, fields) for every record; a malformed record is an error
    naming its line. The csv module's field limit (131,072 characters) is raised while reading:
    long texts are legitimate, and the limit is process-wide, so it is restored after."""
    reader = csv.reader(lines, delimiter=delimiter)
    previous = csv.field_size_limit(CSV_FIELD_LIMIT)
    try:
        return [(reader.line_num, record) for record in reader]
    except csv.Error as e:
        number = reader.line_num
        if "new-line character" in str(e):
            problem = ("has a carriage return (\\r) outside quotes: save the file with \\n or \\r\\n line ends, "
                       "and put fields that hold line breaks in double quotes")
        elif "field limit" in str(e):
            problem = f"has a field over {CSV_FIELD_LIMIT:,} characters: shorten it or drop the row"
        else:
            problem = f"is not valid CSV ({e})"
        raise TfxferError(f"{path} line {number} {problem}") from None
    finally:
        csv.field_size_limit(previous)
