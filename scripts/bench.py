"""Release bootstraps: size, and time from process start to the first event.

    python scripts/bench.py [--arm64] [--runs 5] [--no-build]

Builds every function with `cargo lambda build --release` (native by default,
so the bootstraps can run here; --arm64 builds what SAM deploys, sizes only),
then starts each bootstrap against a minimal Lambda Runtime API stub and
times (a) the first request for an event (initialisation done: SDK config and
clients built) and (b) the answer to that first event. The events need no AWS
call (a webhook delivery without X-GitHub-Event, an empty step input), so the
figures are the runtime's and the code's, not the network's. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists())
WEBHOOK_EVENT = {
    "version": "2.0", "routeKey": "POST /webhook", "rawPath": "/webhook", "headers": {"content-type": "application/json"},
    "requestContext": {"http": {"method": "POST", "path": "/webhook", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
                       "accountId": "123456789012", "apiId": "bench", "domainName": "bench", "requestId": "bench", "routeKey": "POST /webhook",
                       "stage": "$default", "time": "25/Nov/2026:16:34:44 +0000", "timeEpoch": 0},
    "body": "{}", "isBase64Encoded": False,
}


class Stub:
    """One event, then remember when the answer came."""

    def __init__(self, event: dict):
        self.event = json.dumps(event).encode()
        self.asked = threading.Event()
        self.answered = threading.Event()
        self.t_asked = self.t_answered = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if stub.asked.is_set():
                    time.sleep(30)  # park the runtime's second poll
                    return
                stub.t_asked = time.perf_counter()
                stub.asked.set()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Content-Length", str(len(stub.event)))
                self.end_headers()
                self.wfile.write(stub.event)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.t_answered = time.perf_counter()
                stub.answered.set()
                self.send_response(202)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def run_once(bootstrap: Path, function: str) -> tuple[float, float]:
    stub = Stub(WEBHOOK_EVENT if function == "webhook" else {})
    env = {
        "PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{stub.server.server_port}",
        "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "STEPDEPLOY_TABLE": "bench", "STEPDEPLOY_WEBHOOK_SECRET_ID": "bench", "STEPDEPLOY_DEPLOY_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:bench",
        "STEPDEPLOY_TASK_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/bench", "RUST_LOG": "off",
    }
    start = time.perf_counter()
    proc = subprocess.Popen([str(bootstrap)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not stub.answered.wait(30):
            raise SystemExit(f"{function}: no answer within 30 s")
        return (stub.t_asked - start) * 1000, (stub.t_answered - start) * 1000
    finally:
        proc.kill()
        proc.wait()
        stub.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm64", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        # What `make release` (and so sam build) ships: the workspace, without the test utilities.
        cmd = ["cargo", "lambda", "build", "--release", "--workspace", "--no-default-features"] + (["--arm64"] if args.arm64 else [])
        t = time.time()
        subprocess.run(cmd, cwd=ROOT, check=True)
        print(f"release build: {time.time() - t:.0f} s")
    print(f"{'function':<24} {'bootstrap':>10} {'init (ms)':>10} {'first event (ms)':>17}")
    for fn in FUNCTIONS:
        bootstrap = ROOT / "target" / "lambda" / fn / "bootstrap"
        size = bootstrap.stat().st_size / 2**20
        if args.arm64:
            print(f"{fn:<24} {size:>8.2f} MiB {'-':>10} {'-':>17}")
            continue
        runs = [run_once(bootstrap, fn) for _ in range(args.runs)]
        init = statistics.median(r[0] for r in runs)
        first = statistics.median(r[1] for r in runs)
        print(f"{fn:<24} {size:>8.2f} MiB {init:>10.1f} {first:>17.1f}")


if __name__ == "__main__":
    main()
