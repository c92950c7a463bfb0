#!/usr/bin/env python3
"""Check eval/en: every .eml parses, has the core headers and a decodable body,
Message-IDs are unique, dates lie in Oct 2026 - Feb 2027, labels.jsonl has one
valid line per .eml, and 'automated' agrees with the automated-mail headers.
Prints the label counts.  Usage: verify_en.py [EN_DIR]"""
import collections
import email
import email.policy
import json
import sys
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
KEYS = ["id", "language", "priority", "urgency", "deadline", "planned_change", "automated"]


def main():
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent.parent / "en"
    labs = [json.loads(l) for l in (d / "labels.jsonl").read_text("utf-8").splitlines()]
    emls = sorted(p.stem for p in d.glob("*.eml"))
    assert [l["id"] for l in labs] == emls, "labels.jsonl and .eml files differ"
    seen, c = set(), collections.Counter()
    for l in labs:
        assert list(l) == KEYS, l
        assert l["language"] in ("en", "de") and l["priority"] in ("critical", "normal", "low")
        assert l["urgency"] in ("urgent", "not_urgent", "none")
        assert isinstance(l["planned_change"], bool) and isinstance(l["automated"], bool)
        m = email.message_from_bytes((d / (l["id"] + ".eml")).read_bytes(), policy=email.policy.default)
        for h in ("MIME-Version", "Date", "From", "To", "Message-ID"):
            assert m[h], (l["id"], h)
        assert m["Message-ID"] not in seen
        seen.add(m["Message-ID"])
        when = parsedate_to_datetime(m["Date"]).astimezone(BERLIN).date()
        assert date(2026, 10, 1) <= when <= date(2027, 2, 28), l["id"]
        if l["deadline"]:
            assert date.fromisoformat(l["deadline"]) >= when, l["id"]
        body = m.get_body(("plain", "html")).get_content()
        assert len(body.strip()) > 20, l["id"]
        auto = any(m[h] for h in ("Auto-Submitted", "List-Id", "Precedence", "X-Auto-Response-Suppress")) \
            or (m["Return-Path"] or "").strip() == "<>"
        assert auto == l["automated"], l["id"]
        for k in ("priority", "urgency", "planned_change", "automated", "language"):
            c[(k, l[k])] += 1
        c[("deadline", "set" if l["deadline"] else "null")] += 1
    print("%d mails OK" % len(labs))
    for k, v in sorted(c.items(), key=str):
        print("  %s=%s: %d" % (k[0], k[1], v))


if __name__ == "__main__":
    main()
