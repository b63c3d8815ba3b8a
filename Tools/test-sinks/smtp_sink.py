#!/usr/bin/env python3
"""A small SMTP server for tests (Python standard library only).

    python3 smtp_sink.py --port 0 --mode plain|starttls|implicit [--cert C --key K]
                         [--auth user:pass] [--auth-mechanisms "PLAIN LOGIN"]
                         [--fail-first N] [--stall] [--misbehave close-in-data|garbage]
                         [--host 127.0.0.1]

Prints "port N" as its first stdout line, then one JSON line per accepted message:
{"mail_from": ..., "rcpt_to": [...], "data": "<raw message, dot-stuffing undone>", "tls": bool, "auth": "user" or null}

--fail-first N  answers the first N DATA commands with "451 try again later".
--stall         sends the greeting, then never answers again (timeout tests).
--misbehave     close-in-data: closes the connection after DATA's 354 and the first line of the message;
                garbage: answers EHLO with a line that is not an SMTP reply.
"""

import argparse
import base64
import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sink_common import emit, exit_with_parent  # noqa: E402

COUNTER_LOCK = threading.Lock()
DATA_COMMANDS = 0


def log(text):
    sys.stderr.write("smtp_sink: %s\n" % text)
    sys.stderr.flush()


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def read_line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("client closed the connection")
            self.buffer += chunk
            if len(self.buffer) > 1_000_000:
                raise EOFError("line too long")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", errors="replace")


class Session:
    def __init__(self, args, context, sock):
        self.args = args
        self.context = context
        self.conn = Connection(sock)
        self.tls = args.mode == "implicit"
        self.auth_user = None
        self.reset()

    def reset(self):
        self.mail_from = None
        self.rcpt_to = []

    def extensions(self):
        items = ["SIZE 10485760", "8BITMIME"]
        if self.args.mode == "starttls" and not self.tls:
            items.append("STARTTLS")
        # Like real servers, offer AUTH only once the connection is private (or when TLS is not in play).
        if self.args.auth and (self.tls or self.args.mode == "plain"):
            items.append("AUTH " + self.args.auth_mechanisms)
        return items

    def run(self):
        self.conn.send("220 sink.test ESMTP smtp_sink ready")
        if self.args.stall:
            while True:
                try:
                    self.conn.read_line()
                except (EOFError, OSError):
                    return
        while True:
            line = self.conn.read_line()
            verb = line.split(" ", 1)[0].upper()
            argument = line[len(verb):].strip()
            if verb == "EHLO":
                if self.args.misbehave == "garbage":
                    self.conn.send("hello there, this is not SMTP")
                    continue
                items = self.extensions()
                lines = ["sink.test greets " + argument] + items
                for index, item in enumerate(lines):
                    self.conn.send(("250 " if index == len(lines) - 1 else "250-") + item)
                self.reset()
            elif verb == "HELO":
                self.conn.send("250 sink.test")
            elif verb == "STARTTLS":
                if self.args.mode != "starttls" or self.tls:
                    self.conn.send("502 5.5.1 STARTTLS not available")
                    continue
                self.conn.send("220 2.0.0 go ahead")
                if self.conn.buffer:
                    log("client pipelined data after STARTTLS")
                    return
                self.conn.sock = self.context.wrap_socket(self.conn.sock, server_side=True)
                self.tls = True
                self.reset()
            elif verb == "AUTH":
                self.auth(argument)
            elif verb == "MAIL":
                if self.args.auth and not self.auth_user:
                    self.conn.send("530 5.7.0 authentication required")
                    continue
                self.mail_from = extract_address(argument, "FROM:")
                self.rcpt_to = []
                self.conn.send("250 2.1.0 ok")
            elif verb == "RCPT":
                if self.mail_from is None:
                    self.conn.send("503 5.5.1 MAIL first")
                    continue
                address = extract_address(argument, "TO:")
                if address.startswith("reject"):
                    self.conn.send("550 5.1.1 no such user <%s>" % address)
                    continue
                self.rcpt_to.append(address)
                self.conn.send("250 2.1.5 ok")
            elif verb == "DATA":
                self.data()
            elif verb == "RSET":
                self.reset()
                self.conn.send("250 2.0.0 ok")
            elif verb == "NOOP":
                self.conn.send("250 2.0.0 ok")
            elif verb == "QUIT":
                self.conn.send("221 2.0.0 bye")
                return
            else:
                self.conn.send("500 5.5.2 unknown command")

    def auth(self, argument):
        if not self.args.auth or "AUTH" not in " ".join(self.extensions()):
            self.conn.send("503 5.5.1 AUTH not available")
            return
        parts = argument.split(" ", 1)
        mechanism = parts[0].upper()
        if mechanism not in self.args.auth_mechanisms.upper().split():
            self.conn.send("504 5.5.4 mechanism not supported")
            return
        expected_user, _, expected_password = self.args.auth.partition(":")
        try:
            if mechanism == "PLAIN":
                token = parts[1] if len(parts) > 1 else None
                if token is None:
                    self.conn.send("334 ")
                    token = self.conn.read_line()
                _, user, password = base64.b64decode(token).decode().split("\0")
            else:
                self.conn.send("334 VXNlcm5hbWU6")
                user = base64.b64decode(self.conn.read_line()).decode()
                self.conn.send("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.conn.read_line()).decode()
        except (ValueError, UnicodeDecodeError):
            self.conn.send("501 5.5.2 cannot decode AUTH parameter")
            return
        if user == expected_user and password == expected_password:
            self.auth_user = user
            self.conn.send("235 2.7.0 authentication successful")
        else:
            self.conn.send("535 5.7.8 authentication credentials invalid")

    def data(self):
        global DATA_COMMANDS
        if not self.rcpt_to:
            self.conn.send("503 5.5.1 RCPT first")
            return
        with COUNTER_LOCK:
            DATA_COMMANDS += 1
            count = DATA_COMMANDS
        if count <= self.args.fail_first:
            self.conn.send("451 4.3.0 try again later")
            return
        self.conn.send("354 end data with <CR><LF>.<CR><LF>")
        lines = []
        while True:
            line = self.conn.read_line()
            if self.args.misbehave == "close-in-data":
                self.conn.sock.close()
                raise EOFError("closed on purpose in DATA")
            if line == ".":
                break
            lines.append(line[1:] if line.startswith(".") else line)
        message = {
            "mail_from": self.mail_from,
            "rcpt_to": self.rcpt_to,
            "data": "\r\n".join(lines) + "\r\n",
            "tls": self.tls,
            "auth": self.auth_user,
        }
        emit(json.dumps(message, ensure_ascii=False))
        self.conn.send("250 2.0.0 queued as sink")
        self.reset()


def extract_address(argument, prefix):
    text = argument[len(prefix):] if argument.upper().startswith(prefix) else argument
    text = text.strip()
    if text.startswith("<") and ">" in text:
        return text[1:text.index(">")]
    return text.split(" ")[0]


def serve(args, context, client):
    try:
        client.settimeout(60)
        if args.mode == "implicit":
            client = context.wrap_socket(client, server_side=True)
        Session(args, context, client).run()
    except (EOFError, OSError, ssl.SSLError) as error:
        log("connection ended: %s" % error)
    finally:
        try:
            client.close()
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser(description="SMTP sink for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="user:password required before MAIL")
    parser.add_argument("--auth-mechanisms", default="PLAIN LOGIN")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--misbehave", choices=["close-in-data", "garbage"])
    args = parser.parse_args()
    exit_with_parent()

    context = None
    if args.mode != "plain":
        if not args.cert or not args.key:
            parser.error("--mode %s needs --cert and --key" % args.mode)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(64)
    emit("port %d" % listener.getsockname()[1])
    try:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=serve, args=(args, context, client), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        listener.close()


if __name__ == "__main__":
    main()
