#!/usr/bin/env python3
# tests/system/tlsrpt_mail.py - send one TLS report mail over SMTP (RFC 8460 section 5.3)
#
# Usage: tlsrpt_mail.py PORT FILE [gzip|json|none]
#   PORT  SMTP port on 127.0.0.1; FILE  the report JSON
#   gzip: an application/tlsrpt+gzip part (base64), json: application/tlsrpt+json,
#   none: a plain text mail without a report part.
# Loopback only; exits 0 once the server accepted the message.
import email.message
import gzip
import smtplib
import sys

port, path = int(sys.argv[1]), sys.argv[2]
kind = sys.argv[3] if len(sys.argv) > 3 else "gzip"
data = open(path, "rb").read()
m = email.message.EmailMessage()
m["From"] = "tlsrpt-noreply@provider-b.example"
m["To"] = "tlsrpt@example.com"
m["Subject"] = "Report Domain: example.com Submitter: provider-b.example Report-ID: <t>"
m["TLS-Report-Domain"] = "example.com"
m["TLS-Report-Submitter"] = "provider-b.example"
m.set_content("This is an aggregate TLS report from provider-b.example.")
if kind == "gzip":
    m.add_attachment(gzip.compress(data, mtime=0), maintype="application",
                     subtype="tlsrpt+gzip", filename="report.json.gz")
elif kind == "json":
    m.add_attachment(data, maintype="application", subtype="tlsrpt+json",
                     filename="report.json")
if kind != "none":
    m.replace_header("Content-Type", 'multipart/report; report-type="tlsrpt"; '
                     'boundary="%s"' % m.get_boundary())
with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
    s.send_message(m)
