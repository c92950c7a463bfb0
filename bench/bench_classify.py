"""Throughput, load time and peak memory of the classifier (prints one JSON object).

Mails of 1-3 KB are assembled from varied sentences with a fixed seed, so runs
compare. Run: /work/main/.venv/bin/python bench/bench_classify.py [N]
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES = [
    "Der Server im Keller ist seit heute früh nicht mehr erreichbar.",
    "Mein Outlook startet nicht, die anderen Kollegen können normal arbeiten.",
    "Bei niemandem geht das Internet, das ganze Büro steht.",
    "Der Drucker im zweiten Stock zieht das Papier schief ein.",
    "Das ERP ist seit dem Update deutlich langsamer als gewohnt.",
    "Am 1.12. fängt eine neue Kollegin an, sie braucht einen Laptop und ein Postfach.",
    "Ist nicht dringend, bei Gelegenheit bitte anschauen.",
    "Bitte dringend melden, bis Freitag muss die Lohnabrechnung raus.",
    "Können Sie uns ein Angebot für zwei weitere Lizenzen schicken?",
    "Gestern war die Telefonanlage kurz weg, läuft wieder, bitte Ursache prüfen.",
    "The file server is down and nobody can open the shared folders.",
    "My laptop freezes every now and then when Teams is open.",
    "No rush, whenever you get a chance is fine.",
    "Could you send us a quote for a new firewall by December 3rd?",
    "We found a ransom note on the server, files are encrypted.",
    "A new colleague joins us on Monday, please set up her account.",
    "Wir haben übrigens die Räume im Erdgeschoss renoviert, deshalb sitzt der Empfang jetzt vorne.",
    "Falls das mit dem VPN wieder passiert, melde ich mich noch einmal telefonisch.",
]
SUBJECTS = ["Server weg", "Outlook", "Frage", "Drucker", "AW: Internet", "Laptop", "New starter"]


def make_mails(n: int, rng: random.Random) -> list[tuple[str, str]]:
    mails: list[tuple[str, str]] = []
    for _ in range(n):
        target = rng.randint(1000, 3000)
        parts: list[str] = ["Hallo zusammen,", ""]
        while sum(len(p) + 1 for p in parts) < target:
            parts.append(rng.choice(SENTENCES))
        mails.append((rng.choice(SUBJECTS), "\n".join(parts)))
    return mails


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    t0 = time.perf_counter()
    from mailbot.classify import Classifier

    t1 = time.perf_counter()
    clf = Classifier.load()
    t2 = time.perf_counter()
    mails = make_mails(n, random.Random(42))
    sent = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    for subject, text in mails[:20]:
        clf.classify(subject, text, sent)
    start = time.perf_counter()
    for i, (subject, text) in enumerate(mails):
        clf.classify(subject, text, sent + timedelta(minutes=i))
    elapsed = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "mails": n,
                "mean_mail_bytes": round(sum(len(t.encode()) for _, t in mails) / n),
                "mails_per_second": round(n / elapsed, 1),
                "import_seconds": round(t1 - t0, 3),
                "load_seconds": round(t2 - t1, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
