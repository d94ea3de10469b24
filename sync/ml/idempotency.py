"""``Idempotency-Key`` for ``POST /train``: a retried request answers the first result and trains nothing.

A training request changes two things on disk: a new model version (``ML_MODEL_PATH``) and, when it
brings rows, the training data held for its data type (``ML_TRAINING_DATA_PATH``). With a key, the
request commits in this order, so a process killed at any point is recovered on the next start:

1. the new training data is written to a *staging* file named after the key (tmp + fsync + rename);
2. the model version is saved with ``idempotency: {key_sha256, fingerprint, data_type}`` in its
   metadata: **this is the commit point** (the store writes metadata atomically, after the artifact);
3. the staging file is renamed over ``{data_type}.csv``;
4. the answer is recorded under ``{ML_MODEL_PATH}/.idempotency/{sha256(key)}.json``.

On start (:func:`recover`), a staging file whose key a saved version carries is finished (step 3),
any other is removed, and temporary files of killed writes are deleted. A request whose key has a
record (step 4), or a saved version (step 2, the record lost to a kill), is answered from it without
training; the same key with another body is a 409. Keys are stored hashed, never in clear.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from sync.errors import Conflict, SyncError
from sync.ml.store import ModelStore, atomic_file, atomic_write, fsync_dir

log = logging.getLogger("sync.ml.service")

RECORDS = ".idempotency"
_STAGING = re.compile(r"^\.(?P<data_type>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})\.(?P<key>[0-9a-f]{64})\.staged\.csv$")
#: temporary files of an atomic write of training data: ``.{data_type}.csv.*.tmp`` (and ``.{data_type}.*.csv``
#: from earlier releases, which a kill could leave empty)
_TEMP = re.compile(r"^\.[A-Za-z0-9][A-Za-z0-9_.-]*\.(csv|tmp)$")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"POST /train\n{canonical}".encode()).hexdigest()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as CSV at ``path``, whole or not at all (``atomic_file``; the temporary name ends in ``.tmp``,
    which :func:`recover` removes after a kill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, suffix=".tmp") as handle:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        frame.to_csv(text, index=False)
        text.detach()  # flushes into ``handle`` and leaves it open for atomic_file to fsync


def training_data_path(folder: Path, data_type: str) -> Path:
    """Where a data type's training rows live (``sync.ml.startup`` loads every such file at start)."""
    return folder / f"{data_type}.csv"


def staging_path(folder: Path, data_type: str, hashed_key: str) -> Path:
    return folder / f".{data_type}.{hashed_key}.staged.csv"


class TrainKeys:
    """The answers of keyed ``/train`` requests, one small JSON file per key next to the models."""

    def __init__(self, store: ModelStore, data_folder: Path) -> None:
        self.store = store
        self.folder = store.root / RECORDS
        self.data_folder = data_folder

    def _record_path(self, hashed_key: str) -> Path:
        return self.folder / f"{hashed_key}.json"

    def replay(self, key: str, fp: str, model_name: str) -> dict[str, Any] | None:
        """The first answer for ``key`` (None when it trained nothing yet); 409 for another body."""
        hashed = key_hash(key)
        path = self._record_path(hashed)
        if path.is_file():
            try:
                record = json.loads(path.read_text())
                stored_fp, response = record["fingerprint"], record["response"]
            except (ValueError, KeyError, TypeError):
                log.error("unreadable idempotency record %s: ignored", path)
            else:
                _same(stored_fp, fp)
                return dict(response)
        committed = self._committed(model_name, hashed)
        if committed is None:
            return None
        meta = committed
        _same(meta["idempotency"]["fingerprint"], fp)
        data_type = meta["idempotency"]["data_type"]
        self.finish(data_type, hashed)  # the kill may have come before the staged rows were moved in
        response = {"model_name": model_name, "trained": True, "data_type": data_type,
                    "model_version": f"v{int(meta['version'])}", "rows": meta.get("n_rows"),
                    "metrics": meta.get("metrics"), "selection": meta.get("selection"),
                    "training_time_s": meta.get("training_time_s")}
        self.save(key, fp, response)
        log.info("idempotency key %s...: answered from saved version v%s", hashed[:12], meta["version"])
        return response

    def _committed(self, model_name: str, hashed: str) -> dict[str, Any] | None:
        for version in reversed(self.store.versions(model_name)):
            meta = self.store.metadata(model_name, version)
            tag = meta.get("idempotency")
            if isinstance(tag, dict) and tag.get("key_sha256") == hashed:
                return meta
        return None

    def save(self, key: str, fp: str, response: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {"fingerprint": fp, "response": response, "created_at": datetime.now(UTC).isoformat()}
        atomic_write(self._record_path(key_hash(key)), json.dumps(record, default=str).encode())

    def stage(self, data_type: str, key: str, frame: pd.DataFrame) -> Path:
        path = staging_path(self.data_folder, data_type, key_hash(key))
        write_csv(frame, path)
        return path

    def finish(self, data_type: str, hashed_key: str) -> None:
        """Move a committed request's staged rows in as the data type's training data (no-op when done)."""
        staged = staging_path(self.data_folder, data_type, hashed_key)
        if staged.is_file():
            os.replace(staged, training_data_path(self.data_folder, data_type))
            fsync_dir(self.data_folder)


def _same(stored: str, fp: str) -> None:
    if stored != fp:
        raise Conflict("Idempotency-Key was already used with a different request",
                       details={"field": "Idempotency-Key"}, code="idempotency_key_reused")


def recover(store: ModelStore, data_folder: Path) -> dict[str, list[str]]:
    """On start: finish or drop staged training data, delete temporary files of killed writes."""
    done: dict[str, list[str]] = {"finished": [], "dropped": [], "removed": []}
    done["removed"] = [p.name for p in store.clean_temp_files()]
    if not data_folder.is_dir():
        return done
    committed: set[str] = set()
    if store.root.is_dir():
        for folder in (p for p in store.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for version in store.versions(folder.name):
                try:
                    tag = store.metadata(folder.name, version).get("idempotency")
                except SyncError as exc:  # an unreadable version: the loader reports it
                    log.warning("recovery skips %s v%s: %s", folder.name, version, exc.message)
                    continue
                if isinstance(tag, dict) and isinstance(tag.get("key_sha256"), str):
                    committed.add(tag["key_sha256"])
    keys = TrainKeys(store, data_folder)
    for path in sorted(data_folder.iterdir()):
        staged = _STAGING.match(path.name)
        if staged and staged["key"] in committed:
            keys.finish(staged["data_type"], staged["key"])
            done["finished"].append(path.name)
        elif staged:
            path.unlink(missing_ok=True)
            done["dropped"].append(path.name)
        elif path.is_file() and _TEMP.match(path.name):
            path.unlink(missing_ok=True)
            done["removed"].append(path.name)
    if any(done.values()):
        log.warning("recovered after an interrupted run: %s", done)
    return done
