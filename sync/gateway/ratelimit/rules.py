"""Endpoint patterns -> limits. The most specific matching pattern wins; the settings' default otherwise.

Patterns are globs over the proxied path without its leading slash (``inventory/*``,
``inventory/skus/*``, ``ml/predict``). Specificity: a pattern without wildcards beats any glob; among
globs, the one with more literal characters wins, then the one with fewer wildcards. Lookups are
memoised per path (bounded), since a gateway sees the same paths over and over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import translate

from sync.gateway.models import RateLimit
from sync.gateway.ratelimit.decision import policy_header

_PATTERN_OK = re.compile(r"^[A-Za-z0-9_.~\-/*?\[\]!{}:@]+$")
_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    limit: RateLimit
    is_default: bool = False
    policy: bytes = b""  # the RateLimit-Policy header value, computed once
    limit_bytes: bytes = b""  # X-RateLimit-Limit value

    @classmethod
    def of(cls, pattern: str, limit: RateLimit, is_default: bool = False) -> Rule:
        return cls(pattern, limit, is_default, policy_header(limit), str(limit.requests_per_minute).encode())


def normalise_pattern(pattern: str) -> str:
    """Strip a leading slash and check the characters; raises ValueError with the reason."""
    pattern = pattern.strip().lstrip("/")
    if not pattern or len(pattern) > 500 or not _PATTERN_OK.match(pattern):
        raise ValueError("endpoint pattern must be 1-500 characters of path text and glob wildcards (* ? [])")
    return pattern


def _specificity(pattern: str) -> tuple[int, int, int]:
    wild = sum(pattern.count(c) for c in "*?[")
    return (0 if wild else 1, len(pattern) - wild, -wild)


class RuleTable:
    """The configured rules with a per-path match cache; replaced wholesale on change."""

    def __init__(self, default: RateLimit) -> None:
        self.default = default
        self._rules: dict[str, RateLimit] = {}
        self._compiled: list[tuple[re.Pattern[str], Rule]] = []
        self._cache: dict[tuple[str, str], Rule] = {}

    @property
    def rules(self) -> dict[str, RateLimit]:
        return dict(self._rules)

    def set(self, pattern: str, limit: RateLimit) -> str:
        pattern = normalise_pattern(pattern)
        self._rules[pattern] = limit
        self._rebuild()
        return pattern

    def replace_all(self, rules: dict[str, RateLimit]) -> None:
        if rules != self._rules:
            self._rules = dict(rules)
            self._rebuild()

    def _rebuild(self) -> None:
        ordered = sorted(self._rules.items(), key=lambda kv: _specificity(kv[0]), reverse=True)
        self._compiled = [(re.compile(translate(p)), Rule.of(p, lim)) for p, lim in ordered]
        self._cache = {}

    def match(self, service: str, path: str) -> Rule:
        """The rule for ``{service}/{path}`` (path without leading slash)."""
        key = (service, path)
        rule = self._cache.get(key)
        if rule is not None:
            return rule
        target = f"{service}/{path}" if path else service
        for regex, candidate in self._compiled:
            if regex.match(target) or (not path and regex.match(service + "/")):
                rule = candidate
                break
        else:
            rule = Rule.of(f"default:{service}", self.default, is_default=True)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = rule
        return rule
