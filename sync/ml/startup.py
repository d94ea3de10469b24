"""What the ML service does on start: load saved models, and train missing built-ins on the sample.

Training data the service was sent is kept as CSV under ML_TRAINING_DATA_PATH and read back here, so
``POST /train`` without rows still works after a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from sync.errors import SyncError
from sync.ml.bootstrap import bootstrap_frames
from sync.ml.builtins import BUILTIN_DATA_TYPES
from sync.ml.intelligence import MLInventoryIntelligence
from sync.ml.validation import NAME_PATTERN

log = logging.getLogger("sync.ml.service")
#: what the start-up rows of each built-in data type are (docs/ml.md), kept as ``training_data_source``
BOOTSTRAP_SOURCES = {"demand": "start-up rows (bundled sample, real)", "lead_time": "synthetic start-up rows",
                     "pricing": "start-up rows (bundled sample, partly synthetic)"}


def load_training_data(ml: MLInventoryIntelligence, folder: Path) -> list[str]:
    loaded: list[str] = []
    if not folder.is_dir():
        return loaded
    for path in sorted(folder.glob("*.csv")):
        if NAME_PATTERN.match(path.stem):
            ml.training_data[path.stem] = pd.read_csv(path)
            loaded.append(path.stem)
    return loaded


def prepare(ml: MLInventoryIntelligence, training_data_path: Path) -> dict[str, Any]:
    """Load what is saved, train built-ins that have nothing saved; returns a status per model."""
    status: dict[str, Any] = {}
    load_training_data(ml, training_data_path)
    for name in sorted({*BUILTIN_DATA_TYPES.values(), *_saved_names(ml)}):
        if not ml.store.versions(name):
            continue
        try:
            status[name] = {"status": "ok", "source": "saved", "version": ml.load_model(name)}
        except SyncError as exc:  # a tampered or foreign file: refuse it, say so, keep running
            log.error("not serving %s: %s", name, exc.message)
            status[name] = {"status": "refused", "error": exc.message}
    missing = {dt: name for dt, name in BUILTIN_DATA_TYPES.items() if name not in status}
    if missing:
        frames = bootstrap_frames()
        for data_type, name in missing.items():
            source = None
            if data_type not in ml.training_data:
                ml.training_data[data_type] = frames[data_type]
                source = BOOTSTRAP_SOURCES[data_type]
            try:
                ml.train_model(name, data_type, source=source)
                status[name] = {"status": "ok", "source": "trained on start",
                                "version": ml.fitted(name).version}
            except OSError as exc:  # ML_MODEL_PATH not writable: serve the model, say it is not saved
                log.error("cannot save %s under %s: %s", name, ml.model_path, exc)
                ml.autosave = False
                try:
                    ml.train_model(name, data_type, source=source)
                finally:
                    ml.autosave = True
                status[name] = {"status": "ok", "source": "trained on start (not saved)", "error": str(exc)}
            log.info("trained %s on start (%d rows)", name, len(ml.training_data[data_type]))
    return status


def _saved_names(ml: MLInventoryIntelligence) -> list[str]:
    root = ml.model_path
    if not root.is_dir():
        return []
    return [p.name for p in root.iterdir() if p.is_dir() and NAME_PATTERN.match(p.name)]
