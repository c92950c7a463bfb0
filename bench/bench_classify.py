"""Throughput, load time and peak memory of the classifier (prints one JSON object).

Mails of 1-3 KB are assembled like customer mail: a greeting, one or two
problem sentences among plain context, a closing, a signature with a legal
footer, and often quoted history below. Each mail goes through ``new_text``
and ``Classifier.classify``, as in production. A fixed seed makes runs compare;
the figures are the median of three timed passes.

Run: /work/main/.venv/bin/python bench/bench_classify.py [N]
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROBLEMS_DE = [
    "Der Server im Keller ist seit heute früh nicht mehr erreichbar.",
    "Mein Outlook startet nicht, die anderen Kollegen können normal arbeiten.",
    "Bei niemandem geht das Internet, das ganze Büro steht.",
    "Der Drucker im zweiten Stock zieht das Papier schief ein.",
    "Das ERP ist seit dem Update deutlich langsamer als gewohnt.",
    "Am 1.12. fängt eine neue Kollegin an, sie braucht einen Laptop und ein Postfach.",
    "Können Sie uns ein Angebot für zwei weitere Lizenzen schicken?",
    "Gestern war die Telefonanlage kurz weg, läuft wieder, bitte Ursache prüfen.",
    "Das Kartenlesegerät am Empfang liest seit heute keine Karten mehr.",
    "Der Scanner liefert nur noch weiße Seiten.",
    "Das Zertifikat für den Webmailer läuft am 15.12. ab, bitte verlängern.",
    "Frau Schneider kann sich seit heute nicht mehr anmelden, ihr Passwort wird abgelehnt.",
    "Hat sich erledigt, geht wieder. Danke für die schnelle Hilfe!",
    "Wir überlegen, auf Microsoft 365 umzusteigen. Was würde das ungefähr kosten?",
]
PROBLEMS_EN = [
    "The file server is down and nobody can open the shared folders.",
    "My laptop freezes every now and then when Teams is open.",
    "Could you send us a quote for a new firewall by December 3rd?",
    "A new colleague joins us on Monday, please set up her account.",
    "The label printer in the warehouse keeps printing blank labels.",
]
CONTEXT_DE = [
    "Ich sitze im Büro im zweiten Obergeschoss, Zimmer 2.14.",
    "Wir hatten heute Vormittag mehrere Mandantentermine.",
    "Ein Neustart hat leider nichts gebracht.",
    "Ich habe ein Foto der Meldung angehängt.",
    "Sie erreichen mich heute bis 17 Uhr unter der Durchwahl 23.",
    "Bitte melden Sie sich kurz telefonisch, bevor Sie sich aufschalten.",
    "Herr Wagner ist diese Woche im Urlaub, bitte wenden Sie sich an mich.",
]
CONTEXT_EN = [
    "I have attached a screenshot of the message.",
    "Restarting did not help.",
    "You can reach me on my mobile until 5 pm today.",
]
SIGNATURE_DE = """Mit freundlichen Grüßen

{name}
Steuerfachangestellte

Müller & Partner Steuerberatung mbB
Hauptstraße 12
40210 Düsseldorf
Tel.: +49 211 1234567
Fax: +49 211 1234568
www.mueller-steuerberatung.example

Partnerschaftsregister: Amtsgericht Essen PR 1234
Diese E-Mail enthält vertrauliche Informationen. Wenn Sie nicht der richtige
Adressat sind, informieren Sie bitte sofort den Absender und vernichten Sie diese Mail."""
SIGNATURE_EN = """Kind regards,

{name}
Office Manager
Schmitz Logistik GmbH | Industriestr. 5 | 47051 Duisburg
Phone: +49 203 555 0100"""
QUOTE = """
-----Ursprüngliche Nachricht-----
Von: Service <service@itservice.example>
Gesendet: Montag, 23. November 2026 16:02
An: {name}
Betreff: Ticket #{n}

Guten Tag,

vielen Dank für Ihre Nachricht. Wir haben Ihr Anliegen unter der Ticketnummer
#{n} aufgenommen und melden uns so schnell wie möglich.

Ihr Service-Team"""
NAMES = ["Sabine Krüger", "Jens Schulz", "Aylin Demir", "Peter Hoffmann", "Anna Weber"]
SUBJECTS = ["Problem", "Drucker", "Frage", "AW: Ticket", "Laptop", "Server", "Anfrage", "Help"]


def make_mails(n: int, rng: random.Random) -> list[tuple[str, str]]:
    mails: list[tuple[str, str]] = []
    for k in range(n):
        english = rng.random() < 0.3
        name = rng.choice(NAMES)
        problems = PROBLEMS_EN if english else PROBLEMS_DE
        context = CONTEXT_EN if english else CONTEXT_DE
        lines = ["Hello," if english else "Hallo zusammen,", ""]
        lines += rng.sample(problems, rng.randint(1, 2))
        lines += rng.sample(context, rng.randint(1, 3))
        lines += ["", "Thanks!" if english else "Danke!", ""]
        lines.append((SIGNATURE_EN if english else SIGNATURE_DE).format(name=name))
        body = "\n".join(lines)
        while len(body.encode()) < rng.randint(1000, 3000):
            body += "\n" + QUOTE.format(name=name, n=1000 + k)
        mails.append((rng.choice(SUBJECTS), body))
    return mails


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    t0 = time.perf_counter()
    from mailbot.classify import Classifier
    from mailbot.mail.quotes import new_text

    t1 = time.perf_counter()
    clf = Classifier.load()
    t2 = time.perf_counter()
    mails = make_mails(n, random.Random(42))
    sent = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    rates: list[float] = []
    cpu_rates: list[float] = []
    for _ in range(3):
        start, cpu = time.perf_counter(), time.process_time()
        for i, (subject, body) in enumerate(mails):
            clf.classify(subject, new_text(body), sent + timedelta(minutes=i))
        rates.append(n / (time.perf_counter() - start))
        # CPU time as well: on a shared machine wall time also counts other processes.
        cpu_rates.append(n / (time.process_time() - cpu))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "mails": n,
                "mean_mail_bytes": round(sum(len(t.encode()) for _, t in mails) / n),
                "mails_per_second_median": round(statistics.median(rates), 1),
                "mails_per_second_runs": [round(r, 1) for r in rates],
                "mails_per_cpu_second_median": round(statistics.median(cpu_rates), 1),
                "import_seconds": round(t1 - t0, 3),
                "load_seconds": round(t2 - t1, 3),
                "import_plus_load_seconds": round(t2 - t0, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
