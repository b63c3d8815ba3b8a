#!/usr/bin/env python3
"""The durability loop behind Tools/crash-test (Python standard library only).

Each round: start api-server on the round's database (the same file every round), let WRITERS threads post
10-point batches (one unique t per batch) to their own device, SIGKILL the server at a random moment, restart it,
then check every batch that was answered 202 is stored (GET .../data/?agri_id=&start=&end=) and run
`admin-cli check`. Prints one line per round and a summary.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def start_server(binary, db):
    process = subprocess.Popen([f"{binary}/api-server", "--db", db, "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env={**os.environ, "IOT_LOG_ACCESS": "false"}, text=True)
    token = None
    port = None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("admin token: "):
            token = line.split(": ", 1)[1].strip()
        if line.startswith("listening on "):
            port = int(line.strip().rsplit(":", 1)[1])
            break
    if port is None:
        process.kill()
        raise SystemExit("api-server did not start")
    return process, port, token


def request(port, method, path, token, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, (json.loads(data) if data else None)


def wal_checkpoints(port):
    """`background/writer` checkpoints the running server has made so far (its /metrics gauges), or `?`."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
    except (OSError, http.client.HTTPException):
        return "?"
    values = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.startswith("db_wal_checkpoints_")}
    return f"{values.get('db_wal_checkpoints_background', '?')}/{values.get('db_wal_checkpoints_writer', '?')}"


def setup(binary, work, port, token, writers):
    status, _ = request(port, "POST", "/api/v2/projects/", token, {"project_id": "crash", "name": "Crash test"})
    assert status == 201, status
    rows = ["device_id,safe_code,agri_id,model,capabilities"] + [f"CRASH{i},CR{10 + i},d-crash-{i},DTU,"
                                                                   for i in range(writers)]
    csv = os.path.join(work, "devices.csv")
    with open(csv, "w") as f:
        f.write("\n".join(rows) + "\n")
    subprocess.run([f"{binary}/admin-cli", "--db", os.path.join(work, "crash.db"), "devices", "provision", csv],
                   check=True, capture_output=True)
    pks = []
    for i in range(writers):
        status, body = request(port, "POST", "/api/v2/projects/crash/devices/bind/", token,
                               {"device_id": f"CRASH{i}", "safe_code": f"CR{10 + i}"})
        assert status == 200, (status, body)
        pks.append(body["id"])
    return pks


def writer(port, token, index, pk, next_t, acknowledged, stop):
    connection = None
    t = next_t
    while not stop.is_set():
        body = [{"agri_id": f"d-crash-{index}-{c:02d}", "value": c + t % 100, "t": t} for c in range(10)]
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("POST", f"/api/v2/projects/crash/devices/{pk}/data/", body=json.dumps(body),
                               headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                acknowledged.append(t)
        except (OSError, http.client.HTTPException):
            return   # the server was killed mid-request: not acknowledged
        t += 1


def verify(port, token, index, pk, acknowledged):
    """Every acknowledged t has its 10 points."""
    missing = []
    for start in range(0, len(acknowledged), 200):
        chunk = sorted(acknowledged[start:start + 200])
        lo, hi = chunk[0], chunk[-1] + 1
        seen = {}
        path = f"/api/v2/projects/crash/devices/{pk}/data/?start={lo}&end={hi}&limit=10000"
        while path:
            status, body = request(port, "GET", path, token)
            assert status == 200, (status, body)
            for point in body.get("results", body if isinstance(body, list) else []):
                seen[point["t"]] = seen.get(point["t"], 0) + 1
            link = body.get("next") if isinstance(body, dict) else None
            path = link[link.index("/api/"):] if link else None
        missing += [t for t in chunk if seen.get(t, 0) < 10]
    return missing


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--min-ms", type=int, default=300)
    parser.add_argument("--max-ms", type=int, default=2500)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="iot-crash-")
    db = os.path.join(work, "crash.db")
    total_acked = 0
    try:
        process, port, token = start_server(args.bin, db)
        pks = setup(args.bin, work, port, token, args.writers)
        next_t = [1_700_000_000 + i * 10_000_000 for i in range(args.writers)]
        for round_number in range(1, args.rounds + 1):
            acknowledged = [[] for _ in range(args.writers)]
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(port, token, i, pks[i], next_t[i], acknowledged[i], stop))
                       for i in range(args.writers)]
            for thread in threads:
                thread.start()
            delay = random.randint(args.min_ms, args.max_ms) / 1000
            time.sleep(max(0.0, delay - 0.05))
            checkpoints = wal_checkpoints(port)
            time.sleep(min(0.05, delay))
            process.send_signal(signal.SIGKILL)
            process.wait()
            stop.set()
            for thread in threads:
                thread.join()
            process, port, _ = start_server(args.bin, db)
            lost = 0
            for i in range(args.writers):
                missing = verify(port, token, i, pks[i], acknowledged[i])
                lost += len(missing)
                if acknowledged[i]:
                    next_t[i] = max(acknowledged[i]) + 1000
            acked = sum(len(a) for a in acknowledged)
            total_acked += acked
            check = subprocess.run([f"{args.bin}/admin-cli", "--db", db, "check"], capture_output=True, text=True)
            print(f"round {round_number:2d}: {acked:6d} batches acknowledged ({acked * 10} points), {lost} lost, "
                  f"admin-cli check exit {check.returncode}; WAL checkpoints before the kill: {checkpoints}", flush=True)
            if lost or check.returncode != 0:
                print(check.stdout + check.stderr)
                return 1
        process.send_signal(signal.SIGTERM)
        process.wait()
        print(f"{args.rounds} rounds, {total_acked} batches ({total_acked * 10} points) acknowledged, none lost, "
              f"every check passed")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
