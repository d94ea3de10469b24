"""Versioned model storage under ML_MODEL_PATH that loads only what it wrote.

Layout: ``{root}/{model}/v0001.skops`` (the fitted pipeline, skops format: no pickle),
``v0001.json`` (metadata: metrics, data hash, library versions, artifact SHA-256 and, with
``ML_MODEL_SIGNING_KEY``, an HMAC) and ``CURRENT`` (the version served). Loading checks the hash
(and HMAC) first, then lets skops build only the types on an explicit allowlist. Files are written
to a temporary name, fsynced and renamed, so a crash never leaves half a version; temporary files a
killed process left behind are removed by :meth:`ModelStore.clean_temp_files` on start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, BinaryIO

import skops.io as sio

from sync.errors import NotFound, SyncError
from sync.ml.validation import check_name

#: types outside skops' defaults that our artifacts contain; anything else is refused on load
ALLOWED_TYPES = frozenset({
    "numpy.dtype",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
})
_VERSION_FILE = re.compile(r"^v(\d{4,})\.json$")
_ANY_VERSION_FILE = re.compile(r"^v(\d{4,})\.(json|skops)$")
#: names of the temporary files this module writes (``.artifact.*`` and ``.{final name}.*``)
_TEMP_FILE = re.compile(r"^\.(artifact|v\d{4,}\.json|CURRENT)\.")
#: extra metadata for the versions saved in the current context (see ModelStore.tagging)
_EXTRA_METADATA: ContextVar[dict[str, Any] | None] = ContextVar("model_store_extra_metadata", default=None)


class ModelIntegrityError(SyncError):
    """A stored model failed verification (changed, unsigned, or holding types we never write)."""

    status = 409
    code = "model_integrity_error"


@contextmanager
def atomic_file(path: Path, *, suffix: str = "") -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` whole when the block ends, or not at all: a temporary file
    ``.{name}.*{suffix}`` beside it, fsync, rename, fsync of the folder; removed if the block fails."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (:func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(data)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ModelStore:
    """Save, list, load and roll back versions of named models below ``root``."""

    def __init__(self, root: str | os.PathLike[str], *, signing_key: bytes | None = None,
                 extra_trusted_types: frozenset[str] = frozenset()) -> None:
        self.root = Path(root)
        self.signing_key = signing_key
        self.allowed_types = ALLOWED_TYPES | extra_trusted_types

    def _dir(self, name: str) -> Path:
        return self.root / check_name(name, "model_name")

    @staticmethod
    @contextmanager
    def tagging(extra: dict[str, Any]) -> Iterator[None]:
        """Versions saved inside this block (in this thread or task) carry ``extra`` in their metadata.

        The ML service tags a version with the Idempotency-Key of the request that trained it: the
        version's metadata file is then the one durable record that the request's training happened.
        """
        token = _EXTRA_METADATA.set(extra)
        try:
            yield
        finally:
            _EXTRA_METADATA.reset(token)

    def clean_temp_files(self) -> list[Path]:
        """Remove the temporary files a killed process left (never a version, its metadata or CURRENT)."""
        removed: list[Path] = []
        if not self.root.is_dir():
            return removed
        for folder in (p for p in self.root.iterdir() if p.is_dir()):
            for path in folder.iterdir():
                if path.is_file() and _TEMP_FILE.match(path.name):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def _sign(self, blob: bytes) -> str | None:
        return hmac.new(self.signing_key, blob, hashlib.sha256).hexdigest() if self.signing_key else None

    def versions(self, name: str) -> list[int]:
        folder = self._dir(name)
        if not folder.is_dir():
            return []
        return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _VERSION_FILE.match(p.name)))

    def current_version(self, name: str) -> int | None:
        pointer = self._dir(name) / "CURRENT"
        if pointer.is_file():
            try:
                return int(json.loads(pointer.read_text())["version"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ModelIntegrityError(f"{name}/CURRENT is not a version pointer this system wrote") from exc
        versions = self.versions(name)
        return versions[-1] if versions else None

    def save(self, name: str, pipeline: Any, metadata: dict[str, Any]) -> int:
        """Write a new version and make it current; returns its number."""
        blob = sio.dumps(pipeline)
        foreign = sorted(set(sio.get_untrusted_types(data=blob)) - self.allowed_types)
        if foreign:
            raise ModelIntegrityError(
                f"model {name!r} holds types outside the load allowlist: {foreign}",
                details={"types": foreign},
            )
        folder = self._dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        version, artifact = self._claim(folder, blob)
        meta = dict(metadata, **(_EXTRA_METADATA.get() or {}), version=version, artifact=artifact.name,
                    sha256=hashlib.sha256(blob).hexdigest(), hmac_sha256=self._sign(blob))
        atomic_write(folder / f"v{version:04d}.json", json.dumps(meta, indent=1).encode())
        self._point(name, version)
        return version

    @staticmethod
    def _claim(folder: Path, blob: bytes) -> tuple[int, Path]:
        """Write the artifact under the next free version number, safely against concurrent savers.

        ``os.link`` fails when the name exists, so two processes never take the same number; a version
        is listed only once its metadata is written, after the artifact.
        """
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".artifact.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            while True:
                taken = [int(m.group(1)) for p in folder.iterdir() if (m := _ANY_VERSION_FILE.match(p.name))]
                version = max(taken, default=0) + 1
                artifact = folder / f"v{version:04d}.skops"
                try:
                    os.link(tmp, artifact)
                except FileExistsError:
                    continue
                return version, artifact
        finally:
            Path(tmp).unlink(missing_ok=True)

    def _point(self, name: str, version: int) -> None:
        atomic_write(self._dir(name) / "CURRENT", json.dumps({"version": version}).encode())

    def metadata(self, name: str, version: int) -> dict[str, Any]:
        path = self._dir(name) / f"v{version:04d}.json"
        if not path.is_file():
            raise NotFound(f"model {name!r} has no saved version {version}",
                           details={"model_name": name, "versions": self.versions(name)})
        try:
            meta = json.loads(path.read_text())
        except ValueError as exc:
            raise ModelIntegrityError(f"metadata {name}/{path.name} is not valid JSON") from exc
        if not isinstance(meta, dict):
            raise ModelIntegrityError(f"metadata {name}/{path.name} is not an object")
        return meta

    def load(self, name: str, version: int | None = None) -> tuple[Any, dict[str, Any]]:
        """The pipeline and metadata of ``version`` (default: current), verified before it is built."""
        if version is None:
            version = self.current_version(name)
            if version is None:
                raise NotFound(f"model {name!r} has no saved versions",
                               details={"model_name": name})
        meta = self.metadata(name, version)
        path = self._dir(name) / f"v{version:04d}.skops"
        artifact = f"{name}/{path.name}"  # errors name the file below ML_MODEL_PATH, not the server's layout
        if meta.get("artifact") != path.name or not path.is_file():
            raise ModelIntegrityError(f"{artifact} is missing or not the artifact its metadata names")
        blob = path.read_bytes()
        if not hmac.compare_digest(hashlib.sha256(blob).hexdigest(), str(meta.get("sha256", ""))):
            raise ModelIntegrityError(
                f"refusing to load {artifact}: its SHA-256 does not match the one recorded when it was saved "
                "(the file was changed or replaced)", details={"model_name": name, "version": version},
            )
        if self.signing_key is not None:
            signature = str(meta.get("hmac_sha256") or "")
            if not hmac.compare_digest(self._sign(blob) or "", signature):
                raise ModelIntegrityError(
                    f"refusing to load {artifact}: its HMAC does not verify with ML_MODEL_SIGNING_KEY",
                    details={"model_name": name, "version": version},
                )
        untrusted = sio.get_untrusted_types(data=blob)
        foreign = sorted(set(untrusted) - self.allowed_types)
        if foreign:
            raise ModelIntegrityError(f"refusing to load {artifact}: it holds types outside the allowlist {foreign}",
                                      details={"types": foreign})
        try:
            pipeline = sio.loads(blob, trusted=list(untrusted))
        except Exception as exc:
            raise ModelIntegrityError(f"refusing to load {artifact}: {exc.__class__.__name__}") from exc
        return pipeline, meta

    def rollback(self, name: str, version: int | None = None) -> int:
        """Serve ``version`` (default: the one before the current); returns the version now current."""
        versions = self.versions(name)
        current = self.current_version(name)
        if version is None:
            older = [v for v in versions if current is not None and v < current]
            if not older:
                raise NotFound(f"model {name!r} has no version before {current} to roll back to",
                               details={"model_name": name, "versions": versions, "current": current})
            version = older[-1]
        if version not in versions:
            raise NotFound(f"model {name!r} has no saved version {version}",
                           details={"model_name": name, "versions": versions})
        self.load(name, version)  # verify before serving it
        self._point(name, version)
        return version
