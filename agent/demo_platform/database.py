"""Demo platform: its state in an embedded SQLite database (Python's ``sqlite3``).

A platform keeps its consultations, the plis deposited in them, the buyer's registered keys, the
deposit receipts, the opened results and the signed files it received across restarts; the demo
does the same, so a restarted ``compagnon demo`` still knows the keys and deposits its files on
disk belong to. The database is written through: every change is committed when it is made.

``DemoDatabase(":memory:")`` keeps the same tables in memory (a demo started for a test).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS consultations (
    id TEXT PRIMARY KEY,
    descriptor TEXT NOT NULL,
    deadline TEXT,
    deposits_open INTEGER NOT NULL DEFAULT 0,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    consultation TEXT NOT NULL,
    file_id TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT,
    blocks TEXT NOT NULL,
    PRIMARY KEY (consultation, file_id)
);
CREATE TABLE IF NOT EXISTS depots (
    consultation TEXT NOT NULL,
    depot TEXT NOT NULL,
    pli TEXT NOT NULL,
    PRIMARY KEY (consultation, depot)
);
CREATE TABLE IF NOT EXISTS receipts (
    id TEXT PRIMARY KEY,
    consultation TEXT NOT NULL,
    pli TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    consultation TEXT NOT NULL,
    pli_id TEXT NOT NULL,
    envelope_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (consultation, pli_id, envelope_id, file_id)
);
CREATE TABLE IF NOT EXISTS signatures (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL
);
"""

#: The database's file name inside a demo's data folder.
DATABASE_NAME = "plateforme.sqlite3"


class DemoDatabase:
    """The demo platform's tables; rows hold JSON bodies where the platform's types already have one."""

    def __init__(self, location: Path | str) -> None:
        if isinstance(location, Path):
            location.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            location.touch(mode=0o600)  # before SQLite makes it with the umask's mode
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(location), check_same_thread=False)
        with self._lock, self._db:
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        with self._lock, self._db:
            self._db.execute(sql, args)

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- consultations, their files and depots ----------------------------------------------------
    def save_consultation(self, cid: str, descriptor: dict[str, Any], deadline: str | None,
                          deposits_open: bool) -> None:
        position = self._rows("SELECT position FROM consultations WHERE id = ?", (cid,))
        if position:
            self._write("UPDATE consultations SET descriptor = ?, deadline = ?, deposits_open = ? WHERE id = ?",
                        (json.dumps(descriptor, ensure_ascii=False), deadline, int(deposits_open), cid))
        else:
            self._write("INSERT INTO consultations VALUES (?, ?, ?, ?, "
                        "(SELECT COALESCE(MAX(position), 0) + 1 FROM consultations))",
                        (cid, json.dumps(descriptor, ensure_ascii=False), deadline, int(deposits_open)))

    def consultations(self) -> list[tuple[dict[str, Any], str | None, bool]]:
        """``(descriptor, deadline, deposits_open)`` of each consultation, in the order they were added."""
        return [(json.loads(d), deadline, bool(o)) for d, deadline, o in
                self._rows("SELECT descriptor, deadline, deposits_open FROM consultations ORDER BY position")]

    def save_file(self, cid: str, file_id: str, name: str, path: Path | None, blocks: list[Path]) -> None:
        self._write("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                    (cid, file_id, name, str(path) if path else None, json.dumps([str(b) for b in blocks])))

    def files(self) -> list[tuple[str, str, str, Path | None, list[Path]]]:
        return [(cid, fid, name, Path(path) if path else None, [Path(b) for b in json.loads(blocks)])
                for cid, fid, name, path, blocks in self._rows("SELECT * FROM files")]

    def save_depot(self, cid: str, depot: str, pli: str) -> None:
        self._write("INSERT OR REPLACE INTO depots VALUES (?, ?, ?)", (cid, depot, pli))

    def depots(self) -> list[tuple[str, str, str]]:
        return [tuple(row) for row in self._rows("SELECT consultation, depot, pli FROM depots")]

    # -- receipts, results, signed files ------------------------------------------------------------
    def save_receipt(self, receipt_id: str, cid: str, pli: str, body: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO receipts VALUES (?, ?, ?, ?)",
                    (receipt_id, cid, pli, json.dumps(body, ensure_ascii=False)))

    def receipts(self, cid: str) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in
                self._rows("SELECT body FROM receipts WHERE consultation = ? ORDER BY rowid", (cid,))]

    def save_result(self, row: dict[str, Any]) -> None:
        body = {k: (str(v) if isinstance(v, Path) else v) for k, v in row.items()}
        self._write("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)",
                    (row["consultation"], row["pli_id"], row["envelope_id"], row["file_id"],
                     json.dumps(body, ensure_ascii=False)))

    def results(self) -> list[dict[str, Any]]:
        rows = [json.loads(body) for (body,) in self._rows("SELECT body FROM results ORDER BY rowid")]
        for row in rows:
            row["path"] = Path(row["path"])
        return rows

    def save_signature(self, body: dict[str, Any]) -> None:
        self._write("INSERT INTO signatures (body) VALUES (?)", (json.dumps(body, ensure_ascii=False),))

    def signatures(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self._rows("SELECT body FROM signatures ORDER BY position")]

    # -- keys ---------------------------------------------------------------------------------------
    def save_key(self, key_id: str, body: dict[str, Any]) -> None:
        """Keep a key last in the list (a replaced registration moves to the end, as in memory)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM keys WHERE id = ?", (key_id,))
            self._db.execute("INSERT INTO keys VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM keys), ?)",
                             (key_id, json.dumps(body, ensure_ascii=False)))

    def delete_key(self, key_id: str) -> None:
        self._write("DELETE FROM keys WHERE id = ?", (key_id,))

    def keys(self) -> list[dict[str, Any]]:
        return [json.loads(body) for (body,) in self._rows("SELECT body FROM keys ORDER BY position")]


__all__ = ["DATABASE_NAME", "DemoDatabase"]
