"""TEMPORARY placeholder until the SLA branch lands; replaced wholesale by it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SlaSettings:
    timezone: str = "Europe/Berlin"

    @classmethod
    def from_table(cls, table: Mapping[str, Any], path: Path | str | None) -> SlaSettings:
        return cls()
