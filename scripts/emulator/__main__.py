"""Start the emulator: python scripts/emulator --port 5050 --lambda-url URL
[--rollout-seconds S] [--docker-hub-port P] [--github-port P --github-app-id ID
--github-app-key PEM]. See the package's docstring."""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

if not __package__:
    # Run as `python scripts/emulator`: import the package from scripts/, and
    # keep its own directory off the path (its modules are not top-level).
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

import emulator  # noqa: E402
from emulator import github, registries, scheduler  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(prog="emulator")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lambda-url", required=True)
    parser.add_argument("--rollout-seconds", type=float, default=1.0)
    parser.add_argument("--docker-hub-port", type=int, help="also serve a Docker Hub registry on this port")
    parser.add_argument("--github-port", type=int, help="also serve a fake GitHub (scripts/emulator/github.py) on this port")
    parser.add_argument("--github-app-id", default="1", help="the GitHub App id the fake GitHub knows")
    parser.add_argument("--github-app-key", help="the GitHub App's private key (PEM file); the fake checks JWTs with its public key")
    args = parser.parse_args()

    # moto's Step Functions interpreter calls back into this server on MOTO_PORT.
    os.environ["MOTO_PORT"] = str(args.port)

    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    state = emulator.install(args.lambda_url, args.rollout_seconds)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    scheduler.fire_schedules(args.port, state.clock)
    print(f"emulator listening on http://127.0.0.1:{args.port}", flush=True)
    if args.docker_hub_port:
        registries.serve_docker_hub(args.docker_hub_port, state.storage)
        print(f"Docker Hub registry listening on http://127.0.0.1:{args.docker_hub_port}", flush=True)
    if args.github_port:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(open(args.github_app_key, "rb").read(), password=None)
        public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        github.serve(args.github_port, args.github_app_id, public)
        print(f"fake GitHub listening on http://127.0.0.1:{args.github_port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
