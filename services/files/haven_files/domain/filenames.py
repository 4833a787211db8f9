"""The user's filename, kept for display only and made harmless to show and save.

Stored objects are named by a random key, never by this; it only comes back in
listings and in the download's Content-Disposition, so it must not carry a
path, control or bidirectional-override characters (which can make
"harmless\u202efdp.exe" display as "harmlessexe.pdf"), or characters that
common systems refuse in a filename.
"""

from __future__ import annotations

import unicodedata

MAX_FILENAME_CHARS = 200
FALLBACK_NAME = "file"
_RESERVED = set('<>:"/\\|?*')


def sanitize_filename(raw: str) -> str:
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    kept = []
    for char in name:
        if char.isspace():  # tabs and line breaks too: one plain space
            kept.append(" ")
        elif unicodedata.category(char).startswith("C"):  # control, bidi, zero-width...
            continue
        elif char in _RESERVED:
            kept.append("_")
        else:
            kept.append(char)
    name = " ".join("".join(kept).split()).strip(" .")
    if not name:
        return FALLBACK_NAME
    if len(name) > MAX_FILENAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[: MAX_FILENAME_CHARS - len(extension) - 1].rstrip(" .") + "." + extension
        else:
            name = name[:MAX_FILENAME_CHARS]
    return name


def extension_of(filename: str) -> str:
    """The lower-cased extension with its dot (".pdf"), or "" when there is none."""
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem or not extension:
        return ""
    return "." + extension.lower()
