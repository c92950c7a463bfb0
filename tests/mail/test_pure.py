"""mail/ reads one message and nothing else: no module of it may bring in the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mailbot.mail

MAIL = Path(mailbot.mail.__file__).parent


def test_no_mail_module_imports_the_store() -> None:
    modules = sorted(f"mailbot.mail.{p.stem}" for p in MAIL.glob("*.py") if p.stem != "__init__")
    assert "mailbot.mail.parse" in modules and "mailbot.mail.auth" in modules
    # A fresh interpreter: this one has long imported the store for other tests.
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'sqlmodel') or m.startswith('mailbot.store')))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
