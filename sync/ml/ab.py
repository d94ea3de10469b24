"""A/B tests of two saved versions of one model: a consistent split by key, both scored on actuals.

The champion is the version served when the test starts; the challenger another saved version. A
prediction request names a key (a SKU, a caller): ``sha256(test id + key)`` mapped to [0, 1) sends it
to the challenger when below ``share``, so one key always meets the same version and the challenger
takes ``share`` of the keys. Both versions predict every request (the other one in the shadow), so
when the actual arrives both errors are known on the same rows.

Decision (:meth:`ABTest.decision`): on the requests with actuals, the paired differences
d = |challenger error| - |champion error|; until ``min_samples`` of them, "continue"; then a 95%
bootstrap interval of mean(d) (2,000 resamples, seeded): entirely below 0 -> "promote", entirely
above 0 -> "stop" (keep the champion), else "continue". Looking at it after every actual makes an
early wrong call more likely than 5%; ``min_samples`` is the guard, and promotion stays an admin act.
Tests live in memory: a restart ends them (the saved versions are untouched).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from sync.errors import Conflict, NotFound

MAX_RECORDS = 200_000  # predictions kept for scoring (oldest dropped first)
BOOTSTRAP = 2000
ARMS = ("champion", "challenger")


def bucket(test_id: str, key: str) -> float:
    """A key's place in [0, 1) for this test: uniform over keys, the same every time."""
    digest = hashlib.sha256(f"{test_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class _Record:
    key: str
    arm: str
    predictions: tuple[float, float]  # champion's, challenger's
    actual: float | None = None


@dataclass
class ABTest:
    model_name: str
    champion_version: int
    challenger_version: int
    share: float
    min_samples: int
    champion: Any = field(repr=False)
    challenger: Any = field(repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    status: str = "running"
    ended_at: str | None = None
    served: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ARMS, 0))
    _records: OrderedDict[str, _Record] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def arm(self, key: str) -> str:
        return "challenger" if bucket(self.id, key) < self.share else "champion"

    def predict(self, key: str, row: tuple[float, ...]) -> dict[str, Any]:
        """Serve ``row`` from the key's version; both versions' predictions are kept for scoring."""
        if self.status != "running":
            raise Conflict(f"the A/B test of {self.model_name!r} is {self.status}", details={"status": self.status})
        X = np.array([row], dtype=np.float64)
        values = (float(self.champion.predict_matrix(X)[0]), float(self.challenger.predict_matrix(X)[0]))
        arm = self.arm(key)
        fitted = self.challenger if arm == "challenger" else self.champion
        value = values[ARMS.index(arm)]
        lower, upper = fitted.calibration.interval(value)
        prediction_id = uuid.uuid4().hex
        with self._lock:
            self._records[prediction_id] = _Record(key, arm, values)
            while len(self._records) > MAX_RECORDS:
                self._records.popitem(last=False)
            self.served[arm] += 1
        return {"prediction_id": prediction_id, "model_name": self.model_name, "arm": arm,
                "model_version": fitted.version_label, "prediction": value,
                "confidence": fitted.calibration.confidence(value), "lower": lower, "upper": upper}

    def record_actuals(self, items: list[tuple[str, float]]) -> int:
        """Attach actuals to earlier predictions; all or nothing (an unknown or scored id is refused)."""
        with self._lock:
            for i, (prediction_id, _) in enumerate(items):
                record = self._records.get(prediction_id)
                if record is None:
                    raise NotFound(f"items[{i}].prediction_id: no prediction {prediction_id!r} in this test",
                                   details={"field": f"items[{i}].prediction_id"})
                if record.actual is not None:
                    raise Conflict(f"items[{i}].prediction_id: prediction {prediction_id!r} already has an actual",
                                   details={"field": f"items[{i}].prediction_id"})
            for prediction_id, actual in items:
                self._records[prediction_id].actual = float(actual)
        return len(items)

    def _scored(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        with self._lock:
            done = [r for r in self._records.values() if r.actual is not None]
        predictions = np.array([r.predictions for r in done], dtype=np.float64).reshape(-1, 2)
        actual = np.array([r.actual for r in done], dtype=np.float64)
        return predictions, actual, [r.arm for r in done]

    def decision(self) -> dict[str, Any]:
        """Both versions' errors on the actuals so far and the promote / stop / continue call."""
        predictions, actual, arms = self._scored()
        n = len(actual)
        errors = np.abs(predictions - actual[:, None]) if n else np.zeros((0, 2))
        per_arm: dict[str, Any] = {}
        for j, arm in enumerate(ARMS):
            served = np.array([a == arm for a in arms], dtype=bool)
            per_arm[arm] = {
                "version": f"v{self.champion_version if arm == 'champion' else self.challenger_version}",
                "served": self.served[arm], "scored_served": int(served.sum()),
                "mae_served": float(errors[served, j].mean()) if served.any() else None,
                "mae_all": float(errors[:, j].mean()) if n else None}
        out: dict[str, Any] = {"scored": n, "min_samples": self.min_samples, "arms": per_arm,
                               "method": "paired |error| difference (challenger - champion), 95% bootstrap "
                                         f"interval of its mean ({BOOTSTRAP} resamples)"}
        if n < self.min_samples:
            return out | {"decision": "continue", "reason": f"{n} actuals scored; {self.min_samples} needed"}
        diff = errors[:, 1] - errors[:, 0]
        rng = np.random.default_rng(0)
        means = diff[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
        low, high = (float(v) for v in np.quantile(means, [0.025, 0.975]))
        mean = float(diff.mean())
        base = float(errors[:, 0].mean()) or 1.0
        if high < 0:
            call, reason = "promote", "the challenger's errors are smaller (interval below 0)"
        elif low > 0:
            call, reason = "stop", "the challenger's errors are larger (interval above 0)"
        else:
            call, reason = "continue", "no difference shown yet (interval contains 0)"
        return out | {"decision": call, "reason": reason, "mean_difference": mean, "interval": [low, high],
                      "relative_change": mean / base}

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "model_name": self.model_name, "status": self.status, "share": self.share,
                "champion": f"v{self.champion_version}", "challenger": f"v{self.challenger_version}",
                "started_at": self.started_at, "ended_at": self.ended_at} | self.decision()

    def end(self, status: str) -> None:
        self.status = status
        self.ended_at = datetime.now(UTC).isoformat()


def tests(ml: Any) -> dict[str, ABTest]:
    """The A/B tests of an ``MLInventoryIntelligence`` (running and ended), by model name."""
    found: dict[str, ABTest] = ml.ab_tests
    return found


def start(ml: Any, model_name: str, challenger_version: int, share: float, min_samples: int) -> ABTest:
    """Start a test of ``challenger_version`` against the version served now (both saved, verified)."""
    from sync.errors import ValidationFailed
    from sync.ml.training import FittedModel

    champion = ml.fitted(model_name)
    running = tests(ml).get(model_name)
    if running is not None and running.status == "running":
        raise Conflict(f"an A/B test of {model_name!r} is already running; stop or promote it first",
                       details={"test_id": running.id})
    if champion.version is None:
        raise ValidationFailed(f"model_name: the served {model_name!r} is not saved, so it cannot be a champion",
                               details={"field": "model_name"})
    if challenger_version == champion.version:
        raise ValidationFailed(f"challenger_version: v{challenger_version} is the version served now",
                               details={"field": "challenger_version"})
    if challenger_version not in ml.store.versions(model_name):
        raise NotFound(f"challenger_version: {model_name!r} has no saved version {challenger_version}",
                       details={"field": "challenger_version", "versions": ml.store.versions(model_name)})
    pipeline, meta = ml.store.load(model_name, challenger_version)
    challenger = FittedModel.from_saved(pipeline, meta)
    if list(meta["feature_columns"]) != list(champion.metadata["feature_columns"]):
        raise ValidationFailed("challenger_version: its feature columns differ from the champion's",
                               details={"field": "challenger_version"})
    test = ABTest(model_name, int(champion.version), int(challenger_version), share, min_samples,
                  champion=champion, challenger=challenger)
    tests(ml)[model_name] = test
    return test


def running(ml: Any, model_name: str) -> ABTest:
    test = tests(ml).get(model_name)
    if test is None:
        raise NotFound(f"no A/B test of {model_name!r}", details={"field": "model_name"})
    return test


def promote(ml: Any, model_name: str, *, force: bool = False) -> dict[str, Any]:
    """Serve the challenger from now on (saved as current); needs a "promote" decision unless forced."""
    test = running(ml, model_name)
    if test.status != "running":
        raise Conflict(f"the A/B test of {model_name!r} is {test.status}", details={"status": test.status})
    decision = test.decision()
    if decision["decision"] != "promote" and not force:
        raise Conflict(f"the A/B test of {model_name!r} does not support promotion yet ({decision['decision']}: "
                       f"{decision['reason']}); send force=true to promote anyway",
                       details={"decision": decision["decision"], "scored": decision["scored"]})
    ml.rollback_model(model_name, test.challenger_version)
    test.end("promoted")
    return test.summary()


def stop(ml: Any, model_name: str) -> dict[str, Any]:
    """End the test; the champion stays served."""
    test = running(ml, model_name)
    if test.status != "running":
        raise Conflict(f"the A/B test of {model_name!r} is {test.status}", details={"status": test.status})
    test.end("stopped")
    return test.summary()
