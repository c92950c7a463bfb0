"""The one reader of configuration tables: typed getters, and leftovers are errors.

Every section, ``[sla]`` included, is read through :class:`Table`, so a wrong value
always gives one :class:`~mailbot.errors.ConfigError` line in the same words:
the file, the dotted key, and what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mailbot.errors import ConfigError

#: Default of a getter whose key must be given.
REQUIRED: Any = object()


class Table:
    """One TOML table; remembers which keys were asked for, so :meth:`done` finds the rest."""

    def __init__(
        self, data: Any, prefix: str, path: Path | str | None, expected: str = "a table"
    ) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(prefix, path, f"expected {expected}")
        self.data: Mapping[str, Any] = data
        self.prefix = prefix
        self.path = path
        # A dict keeps the order of asking, which is the order "known:" lists them in.
        self.used: dict[str, None] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.key(name), self.path, problem)

    def value(self, name: str, default: Any = None) -> Any:
        """The raw value, unchecked; for shapes the typed getters do not cover."""
        self.used[name] = None
        if name not in self.data:
            if default is REQUIRED:
                raise self.error(name, "missing")
            return default
        return self.data[name]

    def get(self, name: str, kind: type | tuple[type, ...], default: Any, what: str) -> Any:
        """The value if it is a ``kind``; else "expected <what>, got <value>"."""
        if name not in self.data:
            return self.value(name, default)
        value = self.value(name)
        # bool is an int in Python; a port of `true` is a mistake, not 1.
        if isinstance(value, bool) and kind is not bool:
            raise self.error(name, f"expected {what}, got a boolean")
        if not isinstance(value, kind):
            raise self.error(name, f"expected {what}, got {value!r}")
        return value

    def get_str(self, name: str, default: Any = None) -> Any:
        return self.get(name, str, default, "a string")

    def get_text(self, name: str, default: Any = None) -> Any:
        """A string with something in it, stripped."""
        value = self.get(name, str, default, "a non-empty string")
        if isinstance(value, str):
            if not value.strip():
                raise self.error(name, f"expected a non-empty string, got {value!r}")
            return value.strip()
        return value

    def get_int(self, name: str, default: Any = None, minimum: int | None = 0) -> Any:
        names = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
        what = names.get(minimum, f"an integer of at least {minimum}")
        value = self.get(name, int, default, what)
        if value is not None and minimum is not None and value < minimum:
            raise self.error(name, f"expected {what}, got {value!r}")
        return value

    def get_float(self, name: str, default: Any = None) -> Any:
        value = self.get(name, (int, float), default, "a number")
        if value is not None and value < 0:
            raise self.error(name, "must not be negative")
        return None if value is None else float(value)

    def get_bool(self, name: str, default: Any = None) -> Any:
        return self.get(name, bool, default, "true or false")

    def str_list(self, name: str, default: Any = None) -> Any:
        value = self.get(name, list, default, "a list of strings")
        if value is not None and not all(isinstance(v, str) for v in value):
            raise self.error(name, "expected a list of strings")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any) -> Any:
        value = self.get_str(name, default)
        if value not in choices:
            raise self.error(name, f"must be one of {', '.join(choices)}")
        return value

    def secret(self, name: str) -> str:
        """A password given inline or through ``<name>_env`` naming an environment variable."""
        inline = self.get_str(name)
        env = self.get_str(f"{name}_env")
        if env is not None:
            if env not in os.environ:
                raise self.error(f"{name}_env", f"environment variable {env} is not set")
            return os.environ[env]
        return inline or ""

    def table(self, name: str, expected: str = "a table") -> Table:
        """A sub-table; an absent one reads as empty, so its getters give the defaults."""
        return Table(self.value(name, {}), self.key(name), self.path, expected)

    def optional_table(self, name: str, expected: str = "a table") -> Table | None:
        """A sub-table, or None when absent (a section whose absence means "off")."""
        if name not in self.data:
            self.used[name] = None
            return None
        return self.table(name, expected)

    def entries(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``), each read under ``name[i]``."""
        items = self.value(name, [])
        if not isinstance(items, list):
            raise self.error(name, f"expected [[{name}]] entries")
        return [Table(item, f"{self.key(name)}[{i}]", self.path) for i, item in enumerate(items)]

    def done(self, noun: str = "key") -> None:
        """Raise for the first key nobody asked for: a typo must not pass silently."""
        unknown = sorted(set(self.data) - set(self.used))
        if unknown:
            raise self.error(unknown[0], f"unknown {noun}; known: {', '.join(self.used)}")
