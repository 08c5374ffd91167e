"""The demo's customers as the mail stand-in knows them: their mailboxes and what they
write back, so ``smsdesk demo`` shows every way an email conversation goes.

* Maya answers twice: first with a photo of the damaged box attached, then thanks;
* Tom and Ana answer once, quoting the desk's mail under their signature (Ana texted
  STOP, so email is the way to reach her);
* Jordan's mailbox does not exist: mail to it bounces (as texts to him fail);
* Lena is not a customer yet: she writes to the desk first and opens a ticket by mail.
"""

from __future__ import annotations

from server.simulator.customers import demo_png
from server.simulator.mail_replies import Attachment, MailCustomer, Reply

MAYA = MailCustomer(
    "maya.patel@example.com", "Maya Patel",
    replies=(
        Reply("Sure, here is the photo of the box. The lamp inside is cracked too.",
              attachments=(Attachment("damaged-box.png", "image/png", demo_png()),)),
        Reply("Perfect, thank you so much!"),
    ),
    signature="Maya Patel\nSent from my phone",
)
TOM = MailCustomer(
    "tom.hughes@example.co.uk", "Tom Hughes",
    replies=(Reply("Lovely, thanks. Is the car park free on Saturdays?"),),
    signature="Cheers,\nTom Hughes\n07400 900123",
)
ANA = MailCustomer(
    "ana.souza@example.org", "Ana Souza",
    replies=(Reply("Email is much better for me, thanks! Yes, please ship to Toronto."),),
    signature="Ana Souza | Toronto",
)
JORDAN = MailCustomer("jordan.lee@example.net", "Jordan Lee", exists=False)
LENA = MailCustomer(
    "lena.fischer@example.de", "Lena Fischer",
    replies=(Reply("Great, I will order today then."),),
    signature="Viele Grüße\nLena Fischer",
)

DEMO_MAIL_CUSTOMERS: tuple[MailCustomer, ...] = (MAYA, TOM, ANA, JORDAN, LENA)
