"""Scenarios the end-to-end tests run against the api-server's MQTT listener with paho-mqtt (a client we did not
write) and, for what no client library sends on purpose (silence, malformed packets), a raw socket. Each scenario
prints one JSON object on its last line; `commands` prints `subscribed` first so the test can queue a command."""
import argparse
import json
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def client(args, client_id=""):
    protocol = mqtt.MQTTv5 if args.version == 5 else mqtt.MQTTv311
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    c.username_pw_set(args.user, args.password)
    return c


def wait(event, timeout):
    if not event.wait(timeout):
        print(json.dumps({"error": "timeout"}))
        sys.exit(3)


def connect(args):
    """CONNACK reason code of a connection with these credentials."""
    c = client(args)
    done = threading.Event()
    result = {}

    def on_connect(_c, _u, _f, reason, _p):
        result["rc"] = reason.value
        done.set()

    c.on_connect = on_connect
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    wait(done, 10)
    c.disconnect()
    c.loop_stop()
    return result


def publish(args):
    """Publishes one message and reports the acknowledgement's reason code (QoS 1/2)."""
    c = client(args)
    connected = threading.Event()
    c.on_connect = lambda *_: connected.set()
    acked = threading.Event()
    result = {}

    def on_publish(_c, _u, mid, reason, _p):
        result["rc"] = reason.value
        acked.set()

    c.on_publish = on_publish
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    wait(connected, 10)
    c.publish(args.topic, args.payload.encode(), qos=args.qos)
    wait(acked, 10)
    c.disconnect()
    c.loop_stop()
    return result


def commands(args):
    """Subscribes to the device's commands, waits for `count` of them, acknowledges each over MQTT."""
    c = client(args)
    subscribed = threading.Event()
    received = []
    got = threading.Event()
    granted = {}

    def on_connect(cl, _u, _f, _r, _p):
        cl.subscribe(f"devices/{args.user}/commands", qos=1)

    def on_subscribe(_c, _u, _mid, reasons, _p):
        granted["codes"] = [r.value for r in reasons]
        subscribed.set()

    def on_message(_c, _u, message):
        received.append({"topic": message.topic, "body": json.loads(message.payload), "at": time.time()})
        if len(received) >= args.count:
            got.set()

    c.on_connect = on_connect
    c.on_subscribe = on_subscribe
    c.on_message = on_message
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    wait(subscribed, 10)
    print("subscribed", flush=True)
    wait(got, args.timeout)
    for message in received:
        info = c.publish(f"devices/{args.user}/commands/{message['body']['id']}/ack", json.dumps({"ok": True, "output": "rebooted"}), qos=1)
        info.wait_for_publish(10)
    c.disconnect()
    c.loop_stop()
    return {"granted": granted["codes"], "messages": received}


def subscribe_other(args):
    """SUBACK reason codes for filters outside the device's own topics."""
    c = client(args)
    done = threading.Event()
    result = {}
    c.on_connect = lambda cl, *_: cl.subscribe([(f, 1) for f in args.filters])

    def on_subscribe(_c, _u, _mid, reasons, _p):
        result["codes"] = [r.value for r in reasons]
        done.set()

    c.on_subscribe = on_subscribe
    c.connect(args.host, args.port, keepalive=30)
    c.loop_start()
    wait(done, 10)
    c.disconnect()
    c.loop_stop()
    return result


def takeover(args):
    """A second connection of the same device: the first is disconnected (5.0: reason 0x8E)."""
    first = client(args, "first")
    first_up = threading.Event()
    first_down = threading.Event()
    result = {}
    first.on_connect = lambda *_: first_up.set()

    def on_disconnect(_c, _u, _f, reason, _p):
        result["first_reason"] = reason.value
        first_down.set()

    first.on_disconnect = on_disconnect
    first.reconnect_delay_set(60, 120)   # no quick reconnect: we want to see the takeover
    first.connect(args.host, args.port, keepalive=30)
    first.loop_start()
    wait(first_up, 10)
    second = client(args, "second")
    second_up = threading.Event()
    second.on_connect = lambda *_: second_up.set()
    second.connect(args.host, args.port, keepalive=30)
    second.loop_start()
    wait(second_up, 10)
    wait(first_down, 10)
    result["second_connected"] = second.is_connected()
    first.loop_stop()
    second.disconnect()
    second.loop_stop()
    return result


# Raw packets (what no client library sends on purpose).
def raw_connect(args, keepalive):
    user = args.user.encode()
    password = args.password.encode()
    level = 5 if args.version == 5 else 4
    body = b"\x00\x04MQTT" + bytes([level, 0xC2]) + keepalive.to_bytes(2, "big")
    if level == 5:
        body += b"\x00"
    body += b"\x00\x00" + len(user).to_bytes(2, "big") + user + len(password).to_bytes(2, "big") + password
    return bytes([0x10, len(body)]) + body


def read_until_closed(sock, timeout):
    sock.settimeout(timeout)
    data = b""
    start = time.time()
    while True:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return data, None
        if not chunk:
            return data, time.time() - start
        data += chunk


def keepalive(args):
    """Connects with keep-alive 1 s and then stays silent: the server closes within 1.5 s (plus its timer's step)."""
    sock = socket.create_connection((args.host, args.port))
    sock.sendall(raw_connect(args, 1))
    connack = sock.recv(64)
    data, closed_after = read_until_closed(sock, 10)
    return {"connack": connack.hex(), "after_connack": data.hex(), "closed_after": closed_after}


def malformed(args):
    """After CONNACK, a PUBLISH with QoS 3: the server answers DISCONNECT 0x81 (5.0) and closes."""
    sock = socket.create_connection((args.host, args.port))
    sock.sendall(raw_connect(args, 30))
    connack = sock.recv(64)
    sock.sendall(bytes([0x36, 5, 0, 1, 0x74, 0, 1]))
    data, closed_after = read_until_closed(sock, 10)
    return {"connack": connack.hex(), "after": data.hex(), "closed": closed_after is not None}


def idle(args):
    """Opens one connection per `device_id<TAB>key` line of --keys (raw CONNECT, keep-alive 60 s) and holds them open
    for --timeout seconds; reports how many got CONNACK 0 and how many are still open at the end."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sockets = []
    accepted = 0
    with open(args.keys) as keys:
        pairs = [line.split() for line in keys if line.strip()]
    for device_id, key in pairs:
        args.user, args.password = device_id, key
        sock = socket.create_connection((args.host, args.port))
        sock.sendall(raw_connect(args, 300))
        sockets.append(sock)
    for sock in sockets:
        sock.settimeout(10)
        connack = sock.recv(64)
        if len(connack) >= 4 and connack[0] == 0x20 and connack[3] == 0:
            accepted += 1
    print("connected", flush=True)
    time.sleep(args.timeout)
    still_open = 0
    for sock in sockets:
        sock.setblocking(False)
        try:
            still_open += 0 if sock.recv(1) == b"" else 1
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    for sock in sockets:
        sock.close()
    return {"accepted": accepted, "open": still_open}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--version", type=int, default=5)
    parser.add_argument("--topic", default="")
    parser.add_argument("--payload", default="")
    parser.add_argument("--qos", type=int, default=1)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10)
    parser.add_argument("--filters", nargs="*", default=[])
    parser.add_argument("--keys", default="")
    args = parser.parse_args()
    scenarios = {"connect": connect, "publish": publish, "commands": commands, "subscribe-other": subscribe_other,
                 "takeover": takeover, "keepalive": keepalive, "malformed": malformed, "idle": idle}
    print(json.dumps(scenarios[args.scenario](args)), flush=True)


if __name__ == "__main__":
    main()
