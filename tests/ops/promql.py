"""Small helpers for the ops tests: the metric names a PromQL expression reads, the names an exposition
declares, and finding promtool."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.servers import unavailable

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
             "offset", "inf", "nan"}
_STRIP = [
    re.compile(r'"(?:[^"\\]|\\.)*"'),                              # strings (label values, regexes)
    re.compile(r"\{[^}]*\}"),                                      # label matchers
    re.compile(r"\[[^\]]*\]"),                                     # range and subquery durations
    re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"),  # grouping label lists
]
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (identifiers that are not functions, keywords or labels)."""
    for pattern in _STRIP:
        expr = pattern.sub(" ", expr)
    return {name for name, call in _IDENT.findall(expr) if not call and name.lower() not in _KEYWORDS}


_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
             "summary": ("_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",),
             "unknown": ("",)}


def exported_names(exposition: str) -> set[str]:
    """Every series name an exposition declares: samples present, and the names its families' types
    give even before a first sample (a counter of 429s exists before the first 429)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("no promtool: run scripts/install-debian-tools.sh (Debian's prometheus package)")
    return str(found)


def union(items: Iterable[set[str]]) -> set[str]:
    out: set[str] = set()
    for item in items:
        out |= item
    return out
