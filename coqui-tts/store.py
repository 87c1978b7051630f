"""Consents and custom voices on disk (the ``voices`` volume), one file each, written atomically.

    <VOICES_DIR>/consents/cons_<hex>.json          {"id", "name", "language", "created_at", ...}
    <VOICES_DIR>/voices/voice_<hex>.safetensors    the voice's conditioning arrays (CPU, by name),
                                                   its id, name, consent and model in the header

Every file is written to a temporary name in its folder and renamed into place, so a crash leaves
either the whole file or none (a stray ``.tmp-*`` at worst, which nothing reads). Ids are random and
are the only thing that becomes a path: anything that is not exactly an id of ours is unknown. A
voice is written only while its consent exists, and a consent's voices are deleted before it is,
so no voice outlives its consent, whichever replica changes what (the lock is a file lock).

Safetensors keeps arrays without pickle, and its header (read without loading the arrays or
torch) holds the metadata that lists need.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.api_types import CONSENT_ID_PREFIX, VOICE_ID_PREFIX
from common.resources import VoiceConsentResource, VoiceResource

_CONSENT_ID = re.compile(re.escape(CONSENT_ID_PREFIX) + r"[0-9a-f]{24}")
_VOICE_ID = re.compile(re.escape(VOICE_ID_PREFIX) + r"[0-9a-f]{24}")
VOICE_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Consent:
    id: str
    name: str
    language: str
    created_at: int
    created_ns: int  # orders consents made within the same second
    verified: bool

    def resource(self) -> VoiceConsentResource:
        return VoiceConsentResource(id=self.id, name=self.name, language=self.language, created_at=self.created_at)


@dataclass(frozen=True)
class Voice:
    id: str
    name: str
    created_at: int
    consent: str
    model: str  # the model the conditioning was computed with (for the record)

    def resource(self) -> VoiceResource:
        return VoiceResource(id=self.id, name=self.name, created_at=self.created_at)


class UnknownConsent(LookupError):
    """The consent named does not exist (any more)."""


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mode 0600: voices are personal data
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


class VoiceStore:
    """Every change holds one lock: a file lock on the folder, so the TTS replicas that share the
    voices volume (and the threads of each) change it one at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._consents = root / "consents"
        self._voices = root / "voices"

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # which releases the lock

    # -- consents -----------------------------------------------------------------------------
    def _consent_path(self, consent_id: str) -> Path | None:
        return self._consents / f"{consent_id}.json" if _CONSENT_ID.fullmatch(consent_id) else None

    def consent(self, consent_id: str) -> Consent | None:
        path = self._consent_path(consent_id)
        if path is None:
            return None
        try:
            return Consent(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None

    def consents(self) -> list[Consent]:
        """Newest first."""
        found = []
        for path in self._consents.glob(f"{CONSENT_ID_PREFIX}*.json") if self._consents.is_dir() else ():
            if (consent := self.consent(path.stem)) is not None:  # None: deleted meanwhile
                found.append(consent)
        return sorted(found, key=lambda c: (c.created_ns, c.id), reverse=True)

    def create_consent(self, name: str, language: str, *, verified: bool) -> Consent:
        now = time.time_ns()
        consent = Consent(_new_id(CONSENT_ID_PREFIX), name, language, now // 10**9, now, verified)
        with self._lock():
            self._save_consent(consent)
        return consent

    def rename_consent(self, consent_id: str, name: str) -> Consent | None:
        with self._lock():
            consent = self.consent(consent_id)
            if consent is None:
                return None
            renamed = Consent(**{**consent.__dict__, "name": name})
            self._save_consent(renamed)
        return renamed

    def delete_consent(self, consent_id: str) -> list[str] | None:
        """Delete the consent and, first, every voice made with it: the ids of those voices
        (None: no such consent)."""
        with self._lock():
            path = self._consent_path(consent_id)
            if path is None or not path.is_file():
                return None
            withdrawn = [voice.id for voice in self.voices() if voice.consent == consent_id]
            for voice_id in withdrawn:
                self._delete_voice_file(voice_id)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return withdrawn

    def _save_consent(self, consent: Consent) -> None:
        path = self._consent_path(consent.id)
        assert path is not None
        _write_atomically(path, json.dumps(consent.__dict__, ensure_ascii=False).encode())

    # -- voices -------------------------------------------------------------------------------
    def _voice_path(self, voice_id: str) -> Path | None:
        return self._voices / f"{voice_id}{VOICE_SUFFIX}" if _VOICE_ID.fullmatch(voice_id) else None

    def voice(self, voice_id: str) -> Voice | None:
        found = self._read(voice_id, arrays=False)
        return None if found is None else found[0]

    def load_voice(self, voice_id: str) -> tuple[Voice, dict[str, np.ndarray]] | None:
        """The voice and its conditioning arrays; None when there is no such voice."""
        return self._read(voice_id, arrays=True)

    def _read(self, voice_id: str, *, arrays: bool) -> tuple[Voice, dict[str, np.ndarray]] | None:
        from safetensors import safe_open

        path = self._voice_path(voice_id)
        if path is None:
            return None
        try:
            with safe_open(str(path), framework="numpy") as file:
                meta = file.metadata()
                loaded = {key: file.get_tensor(key) for key in file.keys()} if arrays else {}  # noqa: SIM118
        except FileNotFoundError:
            return None
        voice = Voice(meta["id"], meta["name"], int(meta["created_at"]), meta["consent"], meta["model"])
        return voice, loaded

    def voices(self) -> list[Voice]:
        """Oldest first."""
        found = []
        for path in self._voices.glob(f"{VOICE_ID_PREFIX}*{VOICE_SUFFIX}") if self._voices.is_dir() else ():
            if (voice := self.voice(path.name.removesuffix(VOICE_SUFFIX))) is not None:
                found.append(voice)
        return sorted(found, key=lambda v: (v.created_at, v.id))

    def add_voice(self, name: str, consent_id: str, conditioning: dict[str, np.ndarray], model: str) -> Voice:
        """Store a new voice; UnknownConsent when its consent is gone (it may have been withdrawn
        while the conditioning was computed)."""
        from safetensors.numpy import save

        voice = Voice(_new_id(VOICE_ID_PREFIX), name, int(time.time()), consent_id, model)
        metadata = {"id": voice.id, "name": voice.name, "created_at": str(voice.created_at),
                    "consent": voice.consent, "model": voice.model}  # fmt: skip
        data = save({key: np.ascontiguousarray(value) for key, value in conditioning.items()}, metadata=metadata)
        with self._lock():
            if self.consent(consent_id) is None:
                raise UnknownConsent(consent_id)
            path = self._voice_path(voice.id)
            assert path is not None
            _write_atomically(path, data)
        return voice

    def delete_voice(self, voice_id: str) -> bool:
        with self._lock():
            return self._delete_voice_file(voice_id)

    def _delete_voice_file(self, voice_id: str) -> bool:
        path = self._voice_path(voice_id)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
