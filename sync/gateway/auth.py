"""JWT: issuing tokens (for the CLI) and verifying them on every request.

Verification picks the key from the algorithm the gateway is configured for, never from the token:
HS256 tokens are checked only against ``JWT_SECRET``, RS256 tokens only against the configured public
key or the JWKS key named by ``kid``. ``alg: none`` and any other algorithm are refused, so neither the
``none`` trick nor HS/RS confusion (an HS256 token signed with the public key) gets through. ``exp`` is
required; ``nbf``, ``aud`` and ``iss`` are checked when present/configured. Verified tokens are cached
(bounded) and their time claims re-checked on each hit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient

from sync.errors import Unauthorized
from sync.settings import Settings

_CACHE_SIZE = 10_000
_LEEWAY = 0.0
_JWKS_REFETCH = 60.0


def issue_token(secret: str, subject: str, scopes: list[str], ttl_seconds: int = 3600,
                audience: str | None = None, issuer: str | None = None) -> str:
    """An HS256 token for ``subject`` with a space-separated ``scope`` claim, valid ``ttl_seconds``."""
    if not secret:
        raise ValueError("a JWT secret is needed to issue tokens (set JWT_SECRET)")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    now = int(time.time())
    claims: dict[str, Any] = {"sub": subject, "scope": " ".join(scopes), "iat": now, "nbf": now,
                              "exp": now + int(ttl_seconds), "jti": uuid.uuid4().hex}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    expires: float
    not_before: float

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scopes", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(s) for s in raw)
    return frozenset()


class TokenVerifier:
    """Checks bearer tokens against the configured keys. ``enabled`` is False when no key is set."""

    def __init__(self, settings: Settings) -> None:
        self.secret = settings.JWT_SECRET.get_secret_value() if settings.JWT_SECRET else None
        self.public_key = settings.JWT_PUBLIC_KEY
        self.jwks = PyJWKClient(settings.JWT_JWKS_URL, cache_keys=True) if settings.JWT_JWKS_URL else None
        self.audience = settings.JWT_AUDIENCE
        self.issuer = settings.JWT_ISSUER
        self.enabled = bool(self.secret or self.public_key or self.jwks)
        self._cache: dict[str, Principal] = {}
        self._jwks_keys: dict[str, Any] = {}
        self._jwks_next_fetch = 0.0

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and still within its time claims (no await)."""
        principal = self._cache.get(token)
        if principal is not None:
            now = time.time()
            if principal.not_before <= now < principal.expires:
                return principal
        return None

    async def _jwks_key(self, kid: str) -> Any:
        """The JWKS key for ``kid``. The set is fetched (off the event loop) at most once a minute, so
        tokens with made-up ``kid`` values cannot turn into a fetch each."""
        key = self._jwks_keys.get(kid)
        if key is None and self.jwks is not None and time.monotonic() >= self._jwks_next_fetch:
            self._jwks_next_fetch = time.monotonic() + _JWKS_REFETCH
            try:
                keys = await asyncio.to_thread(self.jwks.get_signing_keys, True)
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"JWKS could not be read: {exc}", code="invalid_token") from exc
            self._jwks_keys = {str(k.key_id): k.key for k in keys}
            key = self._jwks_keys.get(kid)
        if key is None:
            raise Unauthorized(f"no JWKS key with kid {kid!r}", code="invalid_token")
        return key

    async def verify(self, token: str) -> Principal:
        """The token's principal, or :class:`Unauthorized` saying what is wrong with it."""
        cached = self._cache.get(token)
        if cached is not None:
            now = time.time()
            if cached.expires <= now:
                self._cache.pop(token, None)
                raise Unauthorized("token expired", code="token_expired")
            if cached.not_before > now:
                raise Unauthorized("token not yet valid (nbf)", code="invalid_token")
            return cached
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"malformed token: {exc}", code="invalid_token") from exc
        alg = header.get("alg")
        key: Any
        if alg == "HS256" and self.secret:
            key = self.secret
        elif alg == "RS256" and self.public_key:
            key = self.public_key
        elif alg == "RS256" and self.jwks is not None:
            key = await self._jwks_key(str(header.get("kid", "")))
        else:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted", code="invalid_token")
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=self.audience, issuer=self.issuer,
                                leeway=_LEEWAY, options={"require": ["exp", "sub"],
                                                         "verify_aud": self.audience is not None})
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired", code="token_expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}", code="invalid_token") from exc
        principal = Principal(str(claims["sub"]), _scopes(claims), float(claims["exp"]),
                              float(claims.get("nbf", 0)))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = principal
        return principal


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header, if any."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None
