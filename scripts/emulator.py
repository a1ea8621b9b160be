#!/usr/bin/env python3
"""Start, stop and inspect the embedded AWS emulator (MiniStack) as a plain background process.

No Docker: MiniStack runs from its own venv (``.venv-emulator``), writes a pid file and a log
under ``.state/emulator/``, keeps its state on disk across a clean stop (PERSIST_STATE), and is
health-checked before ``start`` returns. Standard library only, so it runs before any venv exists.

    python3 scripts/emulator.py start|stop|status|reset|logs
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("EMULATOR_STATE_DIR", ROOT / ".state" / "emulator"))
PID_FILE = STATE / "ministack.pid"
LOG_FILE = STATE / "ministack.log"
VENV = Path(os.environ.get("EMULATOR_VENV", ROOT / ".venv-emulator"))
PORT = int(os.environ.get("EMULATOR_PORT", "4566"))
WORK_TMP = STATE / "tmp"  # the emulator's TMPDIR: Lambda workers' unpacked code
HOST = "127.0.0.1"
HEALTH_PATH = "/_localstack/health"


def _fail(message: str) -> None:
    print(f"emulator: error: {message}", file=sys.stderr)
    raise SystemExit(1)


def _health(timeout: float = 2.0) -> dict | None:
    """The emulator's health document, or None when nothing answers like an emulator."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{PORT}{HEALTH_PATH}", timeout=timeout) as resp:
            return json.loads(resp.read().decode() or "{}")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _port_in_use() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((HOST, PORT)) == 0


def _our_pid() -> int | None:
    """The pid in our pid file if that process is still alive."""
    try:
        pid = int(PID_FILE.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        PID_FILE.unlink(missing_ok=True)
        return None
    except PermissionError:
        return pid
    return pid


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def _discard_work_tmp() -> None:
    """Move the unpacked Lambda code aside and delete it in the background.

    A run of the e2e suite leaves about 2 GB of worker folders; deleting them inline took up to 90 s
    on a busy disk, long enough for a restart inside a test to time out. A rename is instant, and
    a detached ``rm`` finishes on its own (leftovers of an interrupted one go at the next start).
    """
    for old in STATE.glob("tmp.discarded-*"):
        subprocess.Popen(["rm", "-rf", str(old)], start_new_session=True)
    if WORK_TMP.exists():
        aside = STATE / f"tmp.discarded-{time.time_ns()}"
        WORK_TMP.rename(aside)
        subprocess.Popen(["rm", "-rf", str(aside)], start_new_session=True)


def start(timeout: float) -> None:
    pid = _our_pid()
    if pid is not None:
        if _health() is not None:
            print(f"emulator: already running (pid {pid}) on http://localhost:{PORT}")
            return
        _fail(
            f"pid {pid} from {PID_FILE} is alive but http://localhost:{PORT} does not answer; "
            f"see {LOG_FILE} or run `make down`"
        )
    if _port_in_use():
        what = "another AWS emulator (not started by this project)" if _health() else "another program"
        _fail(
            f"port {PORT} is already taken by {what}. Stop it (e.g. `docker compose down`, "
            f"`ministack --stop`, or find it with `ss -ltnp 'sport = :{PORT}'`), "
            f"or use another port: `make up EMULATOR_PORT=4567`."
        )
    binary = VENV / "bin" / "ministack"
    if not binary.exists():
        _fail(f"{binary} not found: create the emulator venv first with `make emulator-venv`")
    STATE.mkdir(parents=True, exist_ok=True)
    # MiniStack unpacks every Lambda worker's code into a temp folder (a quarter GB for predict)
    # and never removes it: keep them under the state folder, emptied at each start and stop,
    # instead of filling the machine's /tmp one emulator run after another.
    _discard_work_tmp()
    WORK_TMP.mkdir(parents=True)
    env = {
        **os.environ,
        "TMPDIR": str(WORK_TMP),
        "GATEWAY_PORT": str(PORT),
        "BIND_HOST": HOST,
        "PERSIST_STATE": "1",
        "STATE_DIR": str(STATE / "state"),
        "S3_PERSIST": "1",
        "S3_DATA_DIR": str(STATE / "s3"),
        "LOG_LEVEL": os.environ.get("EMULATOR_LOG_LEVEL", "INFO"),
        # Lambda workers inherit this environment: never leak the developer's AWS profile or
        # the project venv into them.
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    for leak in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(leak, None)
    with LOG_FILE.open("ab") as log:
        log.write(f"\n==== start {time.strftime('%Y-%m-%d %H:%M:%S')} ====\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [str(binary)],
            cwd=STATE,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            _fail(
                f"MiniStack exited with status {proc.returncode} while starting. Last log lines "
                f"({LOG_FILE}):\n{_tail(LOG_FILE)}"
            )
        if _health(timeout=1.0) is not None:
            print(
                f"emulator: MiniStack running (pid {proc.pid}) on http://localhost:{PORT}; "
                f"log {LOG_FILE.relative_to(ROOT) if LOG_FILE.is_relative_to(ROOT) else LOG_FILE}"
            )
            return
        time.sleep(0.3)
    stop(quiet=True)
    _fail(f"MiniStack did not become healthy within {timeout:.0f}s. Last log lines:\n{_tail(LOG_FILE)}")


def stop(quiet: bool = False, timeout: float = 30.0) -> None:
    pid = _our_pid()
    if pid is None:
        if not quiet:
            print("emulator: not running")
        return
    # SIGTERM to the server first: it writes its state to disk on the way out. Then the process
    # group, which holds the Lambda worker subprocesses it spawned.
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
            time.sleep(0.5)
        except (ProcessLookupError, PermissionError):
            break
    PID_FILE.unlink(missing_ok=True)
    _discard_work_tmp()  # unpacked Lambda code: rebuilt at the next start
    if not quiet:
        print(f"emulator: stopped (pid {pid}); state kept in {STATE} (`make clean` wipes it)")


def status() -> int:
    pid = _our_pid()
    health = _health()
    if pid and health is not None:
        running = sorted(
            k for k, v in (health.get("services") or {}).items() if v in ("running", "available")
        )
        print(f"emulator: running (pid {pid}) on http://localhost:{PORT}; {len(running)} services")
        return 0
    if health is not None:
        print(f"emulator: an emulator answers on port {PORT} but was not started by this project")
        return 0
    print("emulator: not running (start it with `make up`)")
    return 1


def reset() -> None:
    if _health() is None:
        _fail(f"nothing answers on http://localhost:{PORT}; start it with `make up`")
    req = urllib.request.Request(f"http://{HOST}:{PORT}/_ministack/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as resp:
        print(f"emulator: reset ({resp.status})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status", "reset", "logs"])
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for health (start)")
    args = parser.parse_args()
    if args.action == "start":
        start(args.timeout)
    elif args.action == "stop":
        stop()
    elif args.action == "status":
        raise SystemExit(status())
    elif args.action == "reset":
        reset()
    else:
        print(_tail(LOG_FILE, 200))


if __name__ == "__main__":
    main()
