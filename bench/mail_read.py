"""CPU to read one inbound mail (core.mail_read + core.mail_bounce), small and with 20 MB attached.

The relay does this in a thread for every mail its listener takes; run:
    .venv/bin/python bench/mail_read.py
"""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

from core.mail_bounce import bounce_of
from core.mail_read import read_mail


def mail(att: int) -> bytes:
    """A customer's reply (quoted history, a signature), with ``att`` random bytes attached."""
    m = EmailMessage()
    m["From"] = "Ana <ana@example.org>"
    m["To"] = "support+t3.abc@x.example"
    m["Subject"] = "Re: [#3] Canada"
    m["Message-ID"] = "<a1@example.org>"
    m["In-Reply-To"] = "<smsdesk.t3.m1.x@x.example>"
    m.set_content("Yes please ship to Toronto.\n\n-- \nAna\n\nOn Tue, Demo wrote:\n> Yes we ship\n")
    if att:
        m.add_attachment(os.urandom(att), maintype="application", subtype="octet-stream",
                         filename="a.bin")
    return m.as_bytes()


for size, n in ((0, 500), (20 * 1024 * 1024, 3)):
    raw = mail(size)
    t = time.process_time()
    for _ in range(n):
        bounce_of(read_mail(raw))
    per_mail_ms = (time.process_time() - t) / n * 1000
    print(f"{len(raw) / 1e6:.1f} MB mail: {per_mail_ms:.1f} ms CPU per mail"
          f" (read_mail + bounce_of), n={n}")
