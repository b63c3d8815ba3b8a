#!/usr/bin/env python3
"""A small HTTP server for tests (Python standard library only).

    python3 http_sink.py --port 0 [--fail-first N] [--cert C --key K] [--host 127.0.0.1]
                         [--response chunked|close|length] [--response-size N] [--hold-first N --hold SECONDS]

Prints "port N" as its first stdout line, then one JSON line per request:
{"method": ..., "path": "<path and query>", "headers": {name: value}, "body": "<body as text>"}
and answers 200 {"ok":true} (500 {"ok":false} to the first N requests).

--response chooses how the answer's body is framed: Content-Length (default), chunked, or ended by
closing the connection; --response-size N pads the body to N bytes (to test the client's cap).
--hold-first N --hold SECONDS: the first N requests are printed at once but answered only after SECONDS
(a slow receiver, to kill a sender mid-delivery).
"""

import argparse
import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sink_common import emit, exit_with_parent  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNTER_LOCK = threading.Lock()
REQUESTS = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "http_sink"

    def log_message(self, format, *args):
        sys.stderr.write("http_sink: %s\n" % (format % args))

    def handle_any(self):
        global REQUESTS
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        record = {
            "method": self.command,
            "path": self.path,
            "headers": {name: value for name, value in self.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
        }
        emit(json.dumps(record, ensure_ascii=False))
        with COUNTER_LOCK:
            REQUESTS += 1
            failing = REQUESTS <= self.server.options.fail_first
            holding = REQUESTS <= self.server.options.hold_first
        if holding:
            time.sleep(self.server.options.hold)
        status = 500 if failing else 200
        payload = b'{"ok":false}' if failing else b'{"ok":true}'
        size = self.server.options.response_size
        if size > len(payload):
            payload = payload + b" " * (size - len(payload))
        mode = self.server.options.response
        if self.command == "HEAD":
            payload, mode = b"", "length"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(payload), 7000):
                piece = payload[start:start + 7000]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif mode == "close":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls_context = None
    options = None

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a client that stalls or
        # rejects the certificate cannot block the accept loop.
        if self.tls_context is not None:
            try:
                request.settimeout(30)
                request = self.tls_context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError) as error:
                sys.stderr.write("http_sink: TLS handshake failed: %s\n" % error)
                return
        super().finish_request(request, client_address)


def main():
    parser = argparse.ArgumentParser(description="HTTP sink for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--response", choices=["length", "chunked", "close"], default="length")
    parser.add_argument("--response-size", type=int, default=0)
    parser.add_argument("--hold-first", type=int, default=0)
    parser.add_argument("--hold", type=float, default=0)
    args = parser.parse_args()
    exit_with_parent()

    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    server = Server((args.host, args.port), Handler)
    server.options = args
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key or args.cert)
        server.tls_context = context
    emit("port %d" % server.server_address[1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
