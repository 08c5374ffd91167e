"""Saving an attachment from the thread (``S``): where to, and never over a file unasked.

``SaveMedia`` asks for a path, starting at ``~/Downloads/<name>``; a folder means "in
it, under the attachment's name". A file already there is not replaced unless the agent
presses enter a second time on the same path, having been told. ``write_new`` then
writes it, refusing at the last moment too if a file appeared meanwhile (exclusive create).
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual.binding import Binding, BindingType

from tui.widgets.path_dialog import PathDialog, PathRefused

__all__ = ["PathRefused", "SaveMedia", "SaveTarget", "default_name", "default_path", "target_for",
           "write_new"]


def default_name(media: dict[str, Any]) -> str:
    """The attachment's own file name, or one made from its type and hash
    (``video-1a2b3c4d.mp4``): a customer's MMS comes with no name."""
    given = Path(str(media.get("filename") or "")).name
    if given and given not in (".", ".."):
        return given
    content_type = str(media.get("content_type") or "application/octet-stream")
    kind = content_type.split("/", 1)[0] if "/" in content_type else "file"
    suffix = mimetypes.guess_extension(content_type.split(";", 1)[0].strip()) or ""
    return f"{kind}-{str(media.get('sha256') or '')[:8] or 'attachment'}{suffix}"


def default_path(media: dict[str, Any], home: Path | None = None) -> Path:
    """``~/Downloads/<name>``."""
    return (home or Path.home()) / "Downloads" / default_name(media)


@dataclass(frozen=True)
class SaveTarget:
    """Where to write, and whether the agent agreed to replace the file there."""

    path: Path
    replace: bool = False


def target_for(typed: str, name: str, *, base: Path | None = None) -> Path:
    """The file path ``typed`` means: ``~`` expanded, relative to ``base`` (default the
    working directory), and a folder completed with ``name``."""
    if not typed.strip():
        raise PathRefused("Type where to save it.")
    path = Path(typed.strip()).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if path.is_dir():
        path = path / name
    if path.parent.exists() and not path.parent.is_dir():
        raise PathRefused(f"{path.parent} is a file, not a folder.")
    return path


def write_new(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``data`` at ``path`` (blocking: run it in a thread), making missing folders.

    Without ``replace`` an existing file stays as it is (FileExistsError); with it the new
    bytes go in whole or not at all (a temporary file renamed over the old one).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not replace:
        with path.open("xb") as file:
            file.write(data)
        return
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class SaveMedia(PathDialog[SaveTarget]):
    """Asks where to save an attachment; closes on a path it may write (or on escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Cancel", id="thread.save_cancel"),
    ]

    def __init__(self, label: str, name: str, default: Path) -> None:
        super().__init__(f"Save {label}", prefix="save", help_line="enter save · escape cancel",
                         value=str(default))
        self._name = name
        self._replace_asked: Path | None = None

    def judge(self, typed: str) -> SaveTarget:
        """The target; a file already there is refused once, with the way to replace it."""
        path = target_for(typed, self._name)
        if path.exists() and path != self._replace_asked:
            self._replace_asked = path
            raise PathRefused(f"{path} already exists. Press enter again to replace it, "
                              "or change the name.")
        return SaveTarget(path, replace=path == self._replace_asked)
