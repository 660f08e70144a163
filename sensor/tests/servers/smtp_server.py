"""SMTP server for the SMTP sink test: aiosmtpd (from PyPI) with AUTH,
STARTTLS or implicit TLS, writing each received message as JSON into a
directory: the envelope, every header as received, and the decoded parts.

  smtp_server.py PORT OUTDIR MODE [CERT KEY USER PASSWORD]
  MODE: none | starttls | tls
"""
import email
import email.policy
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Store:
    def __init__(self, outdir):
        self.outdir = outdir
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        plain = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "authenticated": bool(session.authenticated),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("sslcontext") is not None,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "raw_header_names": [line.split(b":", 1)[0].decode("latin-1")
                                 for line in envelope.content.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
                                 if line and not line[:1].isspace()],
            "subject": str(msg["subject"]),
            "text": plain.get_content() if plain is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        self.n += 1
        tmp = os.path.join(self.outdir, f".{self.n}.tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.outdir, f"{self.n:05d}.json"))
        return "250 Message accepted for delivery"


def main():
    port, outdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    kwargs = {}
    if mode != "none":
        cert, key, user, password = sys.argv[4:8]
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok)

        kwargs.update(authenticator=authenticator)
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
        else:
            # Implicit TLS: the socket is wrapped before aiosmtpd sees it, so
            # its "AUTH only after STARTTLS" rule would hide AUTH.
            kwargs.update(ssl_context=ctx, auth_require_tls=False)
    controller = Controller(Store(outdir), hostname="127.0.0.1", port=port,
                            ready_timeout=30, **kwargs)
    controller.start()
    print(f"listening on {port} ({mode})", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
