"""Owner-only files: the data directory 0700, the files in it that hold data 0600.

The embedded database holds password hashes, API-key digests and every workspace's data;
the data directory also holds the generated secret key. Other local users must not read
them, so the directory is created 0700 and the database file 0600 before SQLite first
opens it: SQLite creates the database's ``-wal``, ``-shm`` and ``-journal`` files with the
mode of the database file itself, so they follow.

Modes are set on each path, not through the process umask: the umask is process-wide and
changing it is not thread-safe, and it would also apply to files that are not ours to
restrict (an export the user writes with ``--export``, a library's files).

Installations made before this (a 0755 directory, a 0644 database) are tightened when the
service or the command line opens them, with a warning in the log that names the path;
a path this process may not change is warned about and the start goes on.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600
_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def _restrict(path: Path, mode: int) -> None:
    """``chmod`` a path that group or others can use, saying so in the log."""
    current = path.stat().st_mode
    if not current & _OTHERS:
        return
    try:
        path.chmod(mode)
    except OSError as error:
        log.warning(
            "%s is accessible by group or others (%s) and could not be restricted (%s): "
            "run chmod %o %s",
            path,
            stat.filemode(current),
            error.strerror,
            mode,
            path,
        )
        return
    log.warning(
        "%s was accessible by group or others (%s); restricted it to its owner (%s)",
        path,
        stat.filemode(current),
        stat.filemode(stat.S_IFMT(current) | mode),
    )


def private_directory(path: Path) -> None:
    """Create ``path`` (and missing parents) with the new directory itself 0700, or
    restrict an existing one to its owner."""
    try:
        path.mkdir(mode=PRIVATE_DIRECTORY)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=PRIVATE_DIRECTORY, exist_ok=True)
    except FileExistsError:
        pass
    _restrict(path, PRIVATE_DIRECTORY)


def private_file(path: Path, *, create: bool = False) -> None:
    """Restrict an existing file to its owner (0600); with ``create``, make a missing one
    empty and 0600 first, so that whoever writes it next finds it private."""
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        except FileExistsError:
            pass
        except FileNotFoundError:
            return  # no such directory: whoever opens the file says so
        else:
            os.close(fd)
            return
    if path.exists():
        _restrict(path, PRIVATE_FILE)


def new_private_file(path: Path) -> IO[bytes]:
    """A file created at ``path`` for writing, readable by its owner only (0600), never
    one that exists already (``O_EXCL``: :class:`FileExistsError`, a symbolic link
    included), so that a wrong path cannot overwrite a database or a key."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    return os.fdopen(descriptor, "wb")
