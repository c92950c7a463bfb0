#!/usr/bin/env python3
"""Check a built evaluation set: every .eml parses, its body decodes, and
labels.jsonl has exactly one valid line per .eml.

Usage:
    python eval/tools/verify.py OUTPUT_DIR [--table] [--show ID ...]

--table prints one line per message (local date and weekday, labels, the
deadline's weekday, subject) to check deadlines by eye; --show prints the
decoded headers and body of the given ids.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import json
import re
import sys
from collections import Counter
from datetime import date
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
WD = ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"]
KEYS = ["id", "language", "priority", "urgency", "deadline", "planned_change", "automated"]


def body_text(msg) -> str:
    if msg.get_content_type() == "multipart/report":
        return "\n".join(p.get_content() if p.get_content_maintype() == "text" else str(p)
                         for p in msg.iter_parts())
    part = msg.get_body(("plain", "html"))
    if part is None:
        raise ValueError("no text body")
    text = part.get_content()
    if part.get_content_type() == "text/html":
        text = re.sub(r"<(br|/p|/div)[^>]*>", "\n", text)
        text = re.sub(r"<[^>]+>", "", text)
        import html
        text = html.unescape(text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--show", nargs="*", default=[])
    args = ap.parse_args(argv)

    problems = []
    labels = {}
    for n, line in enumerate((args.out_dir / "labels.jsonl").read_text("utf-8").splitlines(), 1):
        obj = json.loads(line)
        if list(obj) != KEYS:
            problems.append(f"labels line {n}: keys {list(obj)}")
        if obj["id"] in labels:
            problems.append(f"labels: duplicate {obj['id']}")
        labels[obj["id"]] = obj
        if obj["priority"] not in ("critical", "normal", "low"):
            problems.append(f"{obj['id']}: priority")
        if obj["urgency"] not in ("urgent", "not_urgent", "none"):
            problems.append(f"{obj['id']}: urgency")
        if not isinstance(obj["planned_change"], bool) or not isinstance(obj["automated"], bool):
            problems.append(f"{obj['id']}: booleans")
    emls = sorted(args.out_dir.glob("*.eml"))
    if {p.stem for p in emls} != set(labels):
        problems.append(f"ids differ: {sorted({p.stem for p in emls} ^ set(labels))}")

    msgids = Counter()
    rows = []
    for p in emls:
        raw = p.read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        lab = labels.get(p.stem)
        try:
            text = body_text(msg)
            dt = parsedate_to_datetime(str(msg["Date"])).astimezone(BERLIN)
            subj = str(msg["Subject"] or "")
            frm = str(msg["From"])
        except Exception as e:  # noqa: BLE001
            problems.append(f"{p.stem}: {type(e).__name__}: {e}")
            continue
        if msg.defects:
            problems.append(f"{p.stem}: defects {msg.defects}")
        for part in msg.walk():
            if part.defects:
                problems.append(f"{p.stem}: part defects {part.defects}")
        msgids[str(msg["Message-ID"])] += 1
        if "\ufffd" in text:
            problems.append(f"{p.stem}: replacement char in body")
        if not (date(2026, 10, 1) <= dt.date() <= date(2027, 2, 28)):
            problems.append(f"{p.stem}: date {dt} out of range")
        if lab and lab["deadline"]:
            dl = date.fromisoformat(lab["deadline"])
            if dl < dt.date():
                problems.append(f"{p.stem}: deadline before message date")
            dlw = WD[dl.weekday()]
        else:
            dlw = ""
        rows.append((p.stem, dt, lab, dlw, subj, frm))
        if p.stem in args.show:
            print("=" * 70, p.stem)
            for k, v in msg.items():
                print(f"{k}: {v}")
            print(f"[{msg.get_content_type()} {msg.get_content_charset()} {msg['Content-Transfer-Encoding']}]")
            print(text)
            print("labels:", lab)
    for mid, c in msgids.items():
        if c > 1:
            problems.append(f"duplicate Message-ID {mid}")

    if args.table:
        for pid, dt, lab, dlw, subj, frm in rows:
            if not lab:
                continue
            print(f"{pid} {WD[dt.weekday()]} {dt:%Y-%m-%d %H:%M} {lab['priority'][:4]:4} "
                  f"{lab['urgency'][:6]:6} {str(lab['deadline'] or '-'):10} {dlw:2} "
                  f"{'P' if lab['planned_change'] else '.'}{'A' if lab['automated'] else '.'} "
                  f"{subj[:60]}")

    n = len(labels)
    print(f"\n{len(emls)} eml, {n} labels")
    for key in ("language", "priority", "urgency", "planned_change", "automated"):
        c = Counter(l[key] for l in labels.values())
        print(f"{key:15}", ", ".join(f"{k}={v} ({100*v/n:.0f}%)" for k, v in sorted(c.items(), key=str)))
    print(f"{'deadline':15} non-null={sum(1 for l in labels.values() if l['deadline'])}")
    ctype = Counter()
    for p in emls:
        m = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        ctype[(m.get_content_type(), str(m.get_content_charset()), str(m["Content-Transfer-Encoding"]))] += 1
    print("forms:", ", ".join(f"{'/'.join(k)}={v}" for k, v in sorted(ctype.items())))
    if problems:
        print("\nPROBLEMS:")
        for pr in problems:
            print(" ", pr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
