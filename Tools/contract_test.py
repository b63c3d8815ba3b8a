#!/usr/bin/env python3
"""Contract test of the live API against its own OpenAPI document (driven by Tools/contract-test).

Starts the built api-server on a free port with a temporary database, seeds a little data through the API and
admin-cli (a project with a bound device, a factor, telemetry), then runs Schemathesis against
/api/v2/openapi.json with the owner token, a bounded number of examples per operation and a fixed seed, checking
that no answer is a 5xx and that every answer matches its documented status, content type and schema. Prints the
number of test cases and exits non-zero on any failure.

Configured rather than bent (docs/DECISIONS.md, "OpenAPI schemas and the contract test", "Compat dialects in the
OpenAPI document"):
- the compatibility dialects (/compat/...) are included, each operation checked against its dialect's own error body;
  their project operations get seeded projects of their own as path parameters (so a generated DELETE never hits the
  fixture of the native operations), the EVRYTHNG ones authenticate with the raw API key as its SDKs do;
- DELETE /api/v2/tokens/{token_id}/ is excluded: generated ids hit the run's own token and revoke it, which would
  turn the rest of the run into 401s;
- /api/v2/debug/ is not registered (debug.routes is off);
- the stateful phase is not run (the document declares no links).
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request


def request(base, method, path, token, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def seed(base, token, admin_cli, db, work):
    """A project with a bound device, a factor and telemetry, so lists and details answer real items."""
    status, _ = request(base, "POST", "/api/v2/projects/", token, {"project_id": "contract", "name": "Contract test"})
    assert status == 201, status
    csv = os.path.join(work, "devices.csv")
    with open(csv, "w") as handle:
        handle.write("device_id,safe_code,agri_id,model,capabilities\n860000000000001,AB12,d-9000-ctst,DTU-1,SUPPORTS_REBOOT\n")
    issued = subprocess.run([admin_cli, "--db", db, "devices", "provision", csv, "--json"], check=True, capture_output=True, text=True)
    key = json.loads(issued.stdout)[0]["device_key"]
    status, device = request(base, "POST", "/api/v2/projects/contract/devices/bind/", token,
                             {"device_id": "860000000000001", "safe_code": "AB12"})
    assert status == 200, (status, device)
    pk = device["id"]
    status, _ = request(base, "POST", f"/api/v2/projects/contract/devices/{pk}/factors/", token,
                        {"agri_id": "d-9000-ctst-01", "name": "temp", "register": 1})
    assert status == 201, status
    status, _ = request(base, "POST", f"/api/v2/projects/contract/devices/{pk}/data/", token,
                        [{"agri_id": "d-9000-ctst-01", "value": 21.5, "t": 1700000000}])
    assert status == 202, status
    return pk, base64.b64encode(f"860000000000001:{key}".encode()).decode()


def seed_compat(base, token):
    """The dialects' own fixtures, so their operations reach real projects and a generated DELETE never removes the
    fixture of another operation: EVRYTHNG projects (by project_id) for reads and updates and for the delete; UFDL
    projects (by pk) for reads and updates, for the soft delete and reinstate, and for the hard delete (for good)."""
    for project_id in ["compat-evt", "compat-evt-delete"]:
        status, _ = request(base, "POST", "/api/v2/projects/", token, {"project_id": project_id, "name": "EVRYTHNG fixture " + project_id})
        assert status == 201, status
    status, me = request(base, "GET", "/api/v2/me/", token)
    assert status == 200, status
    pks = []
    for name in ["UFDL fixture", "UFDL delete fixture", "UFDL hard-delete fixture"]:
        status, project = request(base, "POST", "/compat/ufdl/v1/projects/create", token, {"name": name, "team": me["organization"]["id"]})
        assert status == 201, (status, project)
        pks.append(project["pk"])
    return {"ufdl": pks, "user": me["user"]["id"]}


def config(path, token, pk, basic, compat):
    """The run's settings: the owner token for every operation, the device's Basic credentials for the gateway
    operations, and the seeded project and device as the path parameters of the project's sub-resources (so those
    operations reach real objects instead of 404s; the project's own operations keep generated ids); the dialects'
    fixtures (`seed_compat`) likewise, and the EVRYTHNG operations authenticate with the raw API key."""
    ufdl = compat["ufdl"]
    with open(path, "w") as handle:
        handle.write(f"""
headers = {{ Authorization = "Bearer {token}" }}

[[operations]]
include-path-regex = "^/api/v2/gateway/"
headers = {{ Authorization = "Basic {basic}" }}

[[operations]]
include-path-regex = "^/api/v2/projects/[{{]project_id[}}]/(alert|data-download|devices/[{{]device_pk[}}]/(factors|data|commands|export))"
parameters = {{ "path.project_id" = "contract", "path.device_pk" = {pk} }}

[[operations]]
include-path-regex = "^/compat/evrythng/projects/[{{]project_id[}}]$"
exclude-method = "DELETE"
headers = {{ Authorization = "{token}" }}
parameters = {{ "path.project_id" = "compat-evt" }}

[[operations]]
include-operation-id = "delete_compat_evrythng_projects_by_project_id"
headers = {{ Authorization = "{token}" }}
parameters = {{ "path.project_id" = "compat-evt-delete" }}

[[operations]]
include-path-regex = "^/compat/evrythng/operators/"
headers = {{ Authorization = "{token}" }}
parameters = {{ "path.operator_id" = "{compat['user']}" }}

[[operations]]
include-path-regex = "^/compat/evrythng/(access|projects)$"
headers = {{ Authorization = "{token}" }}

[[operations]]
include-path-regex = "^/compat/ufdl/v1/projects/[{{]pk[}}]$"
exclude-method = "DELETE"
parameters = {{ "path.pk" = {ufdl[0]} }}

[[operations]]
include-operation-id = ["delete_compat_ufdl_v1_projects_by_pk", "delete_compat_ufdl_v1_projects_by_pk_reinstate"]
parameters = {{ "path.pk" = {ufdl[1]} }}

[[operations]]
include-operation-id = "delete_compat_ufdl_v1_projects_by_pk_hard"
parameters = {{ "path.pk" = {ufdl[2]} }}
""")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="folder of the built api-server and admin-cli")
    parser.add_argument("--schemathesis", required=True)
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1")
    parser.add_argument("--report", default="", help="folder to keep the JUnit report in")
    parser.add_argument("--include", default="", help="only operations whose path matches this regex (debugging)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="iot-contract-")
    db = os.path.join(work, "iot.db")
    env = dict(os.environ, IOT_LOG_ACCESS="false")
    server = subprocess.Popen([os.path.join(args.bin, "api-server"), "--db", db, "--port", "0"], stdout=subprocess.PIPE,
                              stderr=open(os.path.join(work, "server.log"), "w"), env=env, text=True)
    try:
        token = port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            if line.startswith("admin token: "):
                token = line.split(": ", 1)[1].strip()
            match = re.match(r"listening on http://[^:]+:(\d+)", line)
            if match:
                port = int(match.group(1))
        if port is None or token is None:
            print("contract-test: the api-server did not start", file=sys.stderr)
            return 1
        base = f"http://127.0.0.1:{port}"
        pk, basic = seed(base, token, os.path.join(args.bin, "admin-cli"), db, work)
        settings = os.path.join(work, "schemathesis.toml")
        config(settings, token, pk, basic, seed_compat(base, token))

        report = os.path.join(work, "junit.xml")
        command = [
            args.schemathesis, "--config-file", settings, "run", f"{base}/api/v2/openapi.json", "--url", base,
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", str(args.max_examples), "--seed", str(args.seed), "--workers", str(args.workers),
            *(["--include-path-regex", args.include] if args.include else []),
            "--exclude-operation-id", "delete_api_v2_tokens_by_token_id",
            "--request-timeout", "30", "--no-color", "--suppress-health-check", "all",
            "--generation-database", "none",
            "--report", "junit,har", "--report-junit-path", report, "--report-har-path", os.path.join(work, "run.har"),
        ]
        started = time.time()
        result = subprocess.run(command, env=dict(os.environ, SCHEMATHESIS_HOOKS=""), text=True, capture_output=True)
        elapsed = time.time() - started
        output = result.stdout + result.stderr
        print(output)
        if args.report:
            os.makedirs(args.report, exist_ok=True)
            shutil.copy(report, args.report)
            shutil.copy(os.path.join(work, "run.har"), args.report)
        generated = re.findall(r"(\d+) generated", output)
        tested = re.findall(r"Tested: (\d+)", output)
        count = generated[-1] if generated else "?"
        operations = tested[-1] if tested else "?"
        print(f"contract-test: {count} test cases over {operations} operations in {elapsed:.0f} s; schemathesis exit {result.returncode}")
        if server.poll() is not None:
            print("contract-test: the api-server died during the run", file=sys.stderr)
            return 1
        return 0 if result.returncode == 0 else 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
