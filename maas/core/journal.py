"""An append-only journal of small records on local disk, drained into the database in batches.

A web worker that must remember something for later (an answered plan request, for the
statistics) but should not pay a database transaction per request appends one line here: a
few microseconds, and once ``os.write`` returns the line is the kernel's, so a worker that
crashes or is killed loses none (a crash of the whole machine can lose the last seconds, as a
database commit without a WAL flush can). Draining turns lines into rows later, in one
transaction per batch.

Files: each process writes its own ``<prefix>-<host>-<pid>-<id>.jsonl`` under the folder. Any
process may drain any file at any time, under the file's exclusive ``flock``:

- a writer holds the lock for each append; a file that is no longer linked (a drainer took it)
  makes it open a new one first;
- a drainer keeps the lock while it hands the records to the consumer and deletes the file; a
  writer that was waiting then finds its file unlinked and starts another. A drainer (or its
  consumer) that fails leaves the file as it was, for the next drain.

Each record carries an ``entry`` key unique to its process and line, so a consumer that
stores them with "insert unless the entry exists" never counts a line twice, even when a
drainer died between its commit and the file's deletion.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

Consumer = Callable[[list[dict[str, Any]]], None]


class Journal:
    """One process's side of a journal folder (see the module notes); safe across threads."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self._lock = threading.Lock()
        self._pid = -1
        self._fd = -1
        self._path: Path | None = None
        self._writer_id = ""
        self._sequence = 0

    def append(self, record: Mapping[str, Any]) -> None:
        """Write ``record`` (serialisable by orjson: dates and datetimes as ISO 8601) as one
        line, with its ``entry``."""
        with self._lock:
            fd = self._current()
            self._sequence += 1
            line = orjson.dumps({**record, "entry": f"{self._writer_id}:{self._sequence}"},
                                option=orjson.OPT_APPEND_NEWLINE)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                # a file a drainer took (even one just created, while still empty) is no
                # longer linked: write to a new one
                while os.fstat(fd).st_nlink == 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    fd = self._reopen()
                    fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, line)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def pending(self) -> bool:
        """Whether any file of the folder holds lines not yet drained."""
        try:
            with os.scandir(self.folder) as entries:
                return any(entry.name.startswith(self.prefix) and _size(entry) > 0
                           for entry in entries)
        except FileNotFoundError:
            return False

    def drain(self, consume: Consumer) -> int:
        """Hand every line in the folder, from every process, to ``consume`` (file by file)
        and delete what it took; returns how many records. ``consume`` must store its batch
        durably or raise: on an exception the file stays for the next drain."""
        total = 0
        for path in sorted(self.folder.glob(f"{self.prefix}-*")):
            try:
                handle = path.open("rb")
            except FileNotFoundError:
                continue  # another drainer took it
            with handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                if os.fstat(handle.fileno()).st_nlink == 0:
                    continue  # taken while we waited for the lock
                records = _records(path, handle.read())
                if records:
                    consume(records)
                path.unlink()
                total += len(records)
        return total

    def close(self) -> None:
        """Close this process's file (it stays for the next drain)."""
        with self._lock:
            if self._fd >= 0 and self._pid == os.getpid():
                os.close(self._fd)
            self._fd, self._path, self._pid = -1, None, -1

    # --- internals -----------------------------------------------------------------------------

    def _current(self) -> int:
        if self._pid != os.getpid():  # first use, or a forked child: its own file and id
            if self._fd >= 0:
                os.close(self._fd)  # the parent's (its lock is the parent's to release)
            self._pid, self._fd = os.getpid(), -1
            self._writer_id = secrets.token_hex(8)
            self._sequence = 0
        if self._fd < 0:
            return self._reopen()
        return self._fd

    def _reopen(self) -> int:
        if self._fd >= 0:
            os.close(self._fd)
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{self.prefix}-{socket.gethostname()}-{self._pid}-{secrets.token_hex(4)}.jsonl"
        self._path = self.folder / name
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                           0o600)
        return self._fd


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0


def _records(path: Path, data: bytes) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(data.splitlines(), 1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            # a line cut short by a full disk: the rest of the file still counts
            log.warning("%s line %d: not a journal record, skipped", path.name, number)
            continue
        if isinstance(record, dict) and "entry" in record:
            records.append(record)
    return records
