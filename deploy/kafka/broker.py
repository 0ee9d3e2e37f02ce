"""A real Apache Kafka broker for development and tests, run from Maven Central jars.

No Docker and no Kafka package here: the jars listed in ``deploy/kafka/pom.xml``
are copied by Maven into ``.cache/kafka-libs`` (git-ignored), and a single-node
KRaft broker+controller is started with ``java`` on loopback ports: the storage is
formatted with ``kafka.tools.StorageTool``, then ``kafka.Kafka`` runs a generated config.

Python API (used by ``tests/kafka/conftest.py``)::

    libs = fetch_jars()                      # no-op when the cache is complete
    broker = start_broker(workdir)           # free loopback ports, java started
    broker.wait_ready(timeout=90)            # metadata answers, or BrokerError
    # or both at once, retrying a lost free-port race: broker = run_broker(workdir)
    ...  broker.bootstrap  ...               # "127.0.0.1:<port>"
    broker.stop()                            # SIGTERM, then SIGKILL; folder removed

Developer CLI (from the repository root)::

    python -m deploy.kafka.broker start [--port 9092] [--workdir .cache/kafka-dev]
    python -m deploy.kafka.broker status
    python -m deploy.kafka.broker stop

Stdlib only, plus aiokafka for the readiness check.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
DEFAULT_CACHE = REPO_ROOT / ".cache"
DEFAULT_DEV_WORKDIR = DEFAULT_CACHE / "kafka-dev"

LIBS_DIRNAME = "kafka-libs"
MARKER_NAME = ".complete.json"
STATE_NAME = "broker.json"
LOG_NAME = "broker.log"

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies"
JVM_HEAP = ("-Xms512m", "-Xmx1g")
FETCH_TIMEOUT_S = 900
FORMAT_TIMEOUT_S = 120
STOP_GRACE_S = 20.0


class BrokerError(RuntimeError):
    """The broker (or the jar fetch) failed; the message carries the relevant log tail."""


# --------------------------------------------------------------------------- jars


def _pom_digest() -> str:
    return hashlib.sha256(POM.read_bytes()).hexdigest()


def _libs_complete(libs: Path) -> bool:
    """True when ``libs`` was fully populated from the current pom.xml."""
    try:
        marker = json.loads((libs / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict) or marker.get("pom_sha256") != _pom_digest():
        return False
    jars = marker.get("jars")
    if not isinstance(jars, list) or not jars:
        return False
    return all((libs / name).is_file() for name in jars)


def fetch_jars(cache_dir: Path | str = DEFAULT_CACHE) -> Path:
    """Copy the broker's runtime jars into ``<cache_dir>/kafka-libs``; return that folder.

    Runs Maven only when the folder is missing or incomplete (no completion marker,
    a jar gone, or pom.xml changed since). A file lock serialises concurrent callers
    (parallel test workers, a developer CLI beside a test run).
    """
    cache_dir = Path(cache_dir)
    libs = cache_dir / LIBS_DIRNAME
    if _libs_complete(libs):
        return libs
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{LIBS_DIRNAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _libs_complete(libs):  # another process finished it while we waited
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerError("Maven (`mvn`) is not on PATH: it is needed once to fetch the Kafka jars")
        # Start clean: stale jars of another version must not end up on the classpath.
        shutil.rmtree(libs, ignore_errors=True)
        cmd = [
            mvn, "-B", "-q", "-f", str(POM), DEPENDENCY_PLUGIN,
            f"-DoutputDirectory={libs}", "-DincludeScope=runtime",
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=FETCH_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"fetching Kafka jars timed out after {FETCH_TIMEOUT_S}s: {' '.join(cmd)}") from exc
        jars = sorted(p.name for p in libs.glob("*.jar")) if libs.is_dir() else []
        if proc.returncode != 0 or not jars:
            output = _tail_text((proc.stdout or "") + (proc.stderr or ""), 60)
            raise BrokerError(
                f"fetching Kafka jars failed (exit {proc.returncode}): {' '.join(cmd)}\n--- maven output ---\n{output}"
            )
        marker = {"pom_sha256": _pom_digest(), "jars": jars}
        tmp = libs / (MARKER_NAME + ".tmp")
        tmp.write_text(json.dumps(marker, indent=1))
        tmp.replace(libs / MARKER_NAME)
    return libs


# --------------------------------------------------------------------------- broker


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _cluster_id() -> str:
    """A random 22-char base64url UUID, as ``kafka-storage random-uuid`` makes."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):  # Kafka avoids these too: they read as CLI options
            return cid


def _server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    return f"""\
# Generated by deploy/kafka/broker.py: single-node KRaft broker+controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.cleaner.dedupe.buffer.size=33554432
"""


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("`java` (17+) is not on PATH and JAVA_HOME is not set: the Kafka broker needs it")
    return java


def _jvm_base(libs: Path) -> list[str]:
    return [
        _java(),
        *JVM_HEAP,
        "-XX:+UseG1GC",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}",
        "-cp",
        f"{libs}{os.sep}*",  # expanded by java itself, not by a shell
    ]


_ERROR_MARKERS = re.compile(r"\b(ERROR|FATAL)\b|Exception:|^Error:")


def _tail_text(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def log_tail(log_path: Path, lines: int = 60) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no broker log at {log_path}: {exc})"
    if not text.strip():
        return f"(broker log {log_path} is empty)"
    # The cause ("Address already in use", a bad config...) is often far above the
    # shutdown chatter at the end: show the first error lines too.
    errors = [ln for ln in text.splitlines() if _ERROR_MARKERS.search(ln)][:10]
    tail = _tail_text(text, lines)
    if errors:
        return "--- first errors ---\n" + "\n".join(errors) + f"\n--- last {lines} lines ---\n" + tail
    return tail


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) still answers kill(0): look at /proc.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """Linux: SIGTERM the broker if the process that started it dies (e.g. pytest killed)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


@dataclass
class Broker:
    """A running (or failed) local broker started by :func:`start_broker`."""

    workdir: Path
    port: int
    controller_port: int
    pid: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / LOG_NAME

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def is_running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _pid_alive(self.pid) and self._pid_is_ours()

    def _pid_is_ours(self) -> bool:
        """Guard against a recycled pid: the process must be java running our server.properties."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return True  # no /proc: trust the pid
        return str(self.workdir / "server.properties").encode() in cmdline

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def wait_ready(self, timeout: float = 90) -> None:
        """Block until metadata answers; on failure raise :class:`BrokerError` with the log tail.

        Must be called from synchronous code (it runs its own event loop); async callers
        use ``await wait_ready(broker.bootstrap, timeout, broker=broker)``.
        """
        asyncio.run(wait_ready(self.bootstrap, timeout, broker=self))

    def stop(self, *, remove: bool = True, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the broker, SIGKILL it after ``grace`` seconds, then remove its folder."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(10)
        elif _pid_alive(self.pid) and self._pid_is_ours():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid_alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
                while _pid_alive(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            (self.workdir / STATE_NAME).unlink(missing_ok=True)

    def start_again(self, libs_dir: Path | str | None = None) -> None:
        """Start a stopped broker (``stop(remove=False)``) on its ports and data; call ``wait_ready`` next.

        Call it from the main thread: the parent-death signal fires when the *thread* that started the
        broker ends, so a broker started from a worker thread is stopped with that thread.
        """
        fresh = start_broker(
            self.workdir, self.port, controller_port=self.controller_port, libs_dir=libs_dir, format_storage=False
        )
        self.pid, self.process = fresh.pid, fresh.process

    def _save_state(self) -> None:
        state = {
            "pid": self.pid,
            "port": self.port,
            "controller_port": self.controller_port,
            "workdir": str(self.workdir),
        }
        (self.workdir / STATE_NAME).write_text(json.dumps(state))

    @classmethod
    def from_state(cls, workdir: Path | str) -> Broker | None:
        """The broker recorded in ``workdir`` by a previous :func:`start_broker` (CLI use)."""
        workdir = Path(workdir).resolve()
        try:
            state = json.loads((workdir / STATE_NAME).read_text())
            return cls(workdir=workdir, port=int(state["port"]), controller_port=int(state["controller_port"]),
                       pid=int(state["pid"]))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _format(jvm: list[str], props: Path, workdir: Path, log: IO[bytes], log_path: Path) -> None:
    """Format KRaft storage with a new cluster id (skipped when the folder is already formatted)."""
    log.write(b"=== kafka.tools.StorageTool format ===\n")
    log.flush()
    fmt = [*jvm, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props), "--ignore-formatted"]
    try:
        rc = subprocess.run(
            fmt, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=workdir, timeout=FORMAT_TIMEOUT_S, check=False,
        ).returncode  # fmt: skip
    except subprocess.TimeoutExpired:
        rc = None
    if rc != 0:
        what = "timed out" if rc is None else f"exited {rc}"
        raise BrokerError(f"formatting Kafka storage {what}; tail of {log_path}:\n{log_tail(log_path)}")


def start_broker(
    workdir: Path | str,
    port: int | None = None,
    *,
    libs_dir: Path | str | None = None,
    die_with_parent: bool = True,
    controller_port: int | None = None,
    format_storage: bool = True,
) -> Broker:
    """Format KRaft storage in ``workdir`` and start a single-node broker; return without waiting.

    ``port`` is the client (PLAINTEXT) port; ``None`` picks a free loopback port. The
    controller port is picked free unless given (a restart keeps it). The JVM's output goes to ``workdir/broker.log``.
    Call :meth:`Broker.wait_ready` (or :func:`wait_ready`) before using it.
    ``die_with_parent`` (Linux) SIGTERMs the broker if the starting process dies.
    """
    libs = Path(libs_dir) if libs_dir is not None else fetch_jars()
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise BrokerError(f"no Kafka jars in {libs}: run fetch_jars() first")
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    port = port or free_port()
    controller_port = controller_port or free_port()
    while controller_port == port:
        controller_port = free_port()
    props = workdir / "server.properties"
    props.write_text(_server_properties(data_dir, port, controller_port))
    log_path = workdir / LOG_NAME
    jvm = _jvm_base(libs)

    with open(log_path, "ab") as log:
        if format_storage:
            _format(jvm, props, workdir, log, log_path)
        log.write(b"=== kafka.Kafka ===\n")
        log.flush()
        process = subprocess.Popen(
            [*jvm, "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            start_new_session=True,  # Ctrl-C in the terminal doesn't hit it; we stop it ourselves
            preexec_fn=_set_parent_death_signal if die_with_parent and sys.platform == "linux" else None,
        )
    broker = Broker(workdir=workdir, port=port, controller_port=controller_port, pid=process.pid, process=process)
    broker._save_state()
    return broker


def run_broker(
    workdir: Path | str,
    port: int | None = None,
    *,
    timeout: float = 90,
    libs_dir: Path | str | None = None,
    die_with_parent: bool = True,
    attempts: int = 3,
) -> Broker:
    """:func:`start_broker` then :meth:`Broker.wait_ready`; a broker that fails is stopped.

    With ``port=None`` a lost race for a free port ("Address already in use": another
    process took it between our probe and the JVM's bind) is retried on new ports.
    """
    for attempt in range(1, attempts + 1):
        broker = start_broker(workdir, port, libs_dir=libs_dir, die_with_parent=die_with_parent)
        try:
            broker.wait_ready(timeout)
            return broker
        except BrokerError as exc:
            broker.stop(remove=True)
            if port is not None or attempt == attempts or "Address already in use" not in str(exc):
                raise
        except BaseException:
            broker.stop(remove=True)
            raise
    raise AssertionError("unreachable")


async def wait_ready(bootstrap: str, timeout: float = 90, *, broker: Broker | None = None) -> dict:
    """Wait until the broker at ``bootstrap`` answers a metadata request listing a live broker.

    Returns the ``describe_cluster()`` answer. Raises :class:`BrokerError` on timeout, or at
    once if ``broker`` is given and its process has exited (with the tail of its log).
    """
    from aiokafka.admin import AIOKafkaAdminClient

    def failure(reason: str) -> BrokerError:
        msg = f"Kafka broker at {bootstrap} {reason}"
        if broker is not None:
            msg += f"; tail of {broker.log_path}:\n{broker.log_tail()}"
        return BrokerError(msg)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_error: BaseException | None = None
    while True:
        if broker is not None and not broker.is_running():
            raise failure(f"exited (code {broker.exit_code()}) before it was ready")
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise failure(f"not ready after {timeout:.0f}s (last error: {last_error!r})")
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            async with asyncio.timeout(min(remaining, 10)):
                await admin.start()
                cluster = await admin.describe_cluster()
            if cluster.get("brokers"):
                return cluster
            last_error = RuntimeError(f"metadata lists no live broker yet: {cluster}")
        except Exception as exc:  # connection refused, timeouts, not-yet-unfenced broker...
            last_error = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.5)


# --------------------------------------------------------------------------- CLI


def _cli_start(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    existing = Broker.from_state(workdir)
    if existing is not None and existing.is_running():
        print(f"Kafka broker already running: pid {existing.pid}, bootstrap {existing.bootstrap}")
        return 0
    shutil.rmtree(workdir, ignore_errors=True)  # a dev broker's data is throwaway
    t0 = time.monotonic()
    libs = fetch_jars(args.cache_dir)
    t1 = time.monotonic()
    broker = run_broker(workdir, args.port or None, timeout=args.timeout, libs_dir=libs, die_with_parent=False)
    t2 = time.monotonic()
    print(f"Kafka broker ready: pid {broker.pid}, bootstrap {broker.bootstrap}")
    print(f"  jars {t1 - t0:.1f}s, start {t2 - t1:.1f}s; log {broker.log_path}")
    where = "" if workdir == DEFAULT_DEV_WORKDIR.resolve() else f" --workdir {workdir}"
    print(f"  stop with: python -m deploy.kafka.broker stop{where}")
    return 0


def _cli_stop(args: argparse.Namespace) -> int:
    broker = Broker.from_state(args.workdir)
    if broker is None:
        print(f"no broker recorded in {Path(args.workdir).resolve()}")
        return 0
    running = broker.is_running()
    broker.stop(remove=not args.keep)
    print(f"Kafka broker pid {broker.pid} " + ("stopped" if running else "was not running; cleaned up"))
    return 0


def _cli_status(args: argparse.Namespace) -> int:
    broker = Broker.from_state(args.workdir)
    if broker is None or not broker.is_running():
        print("not running")
        return 1
    try:
        asyncio.run(wait_ready(broker.bootstrap, 5, broker=broker))
    except BrokerError as exc:
        print(f"pid {broker.pid} running but not answering: {exc}")
        return 1
    print(f"running: pid {broker.pid}, bootstrap {broker.bootstrap}")
    return 0


def _cli_fetch(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    libs = fetch_jars(args.cache_dir)
    print(f"{len(list(libs.glob('*.jar')))} jars in {libs} ({time.monotonic() - t0:.1f}s)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", default=str(DEFAULT_DEV_WORKDIR), help="broker folder (default: %(default)s)")
    common.add_argument("--cache-dir", default=str(DEFAULT_CACHE), help="jar cache parent (default: %(default)s)")
    parser = argparse.ArgumentParser(
        prog="python -m deploy.kafka.broker", description="Local Kafka broker for development"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", parents=[common], help="fetch jars if needed, start, wait until it answers")
    p_start.add_argument("--port", type=int, default=9092, help="client port on 127.0.0.1; 0 = pick a free one")
    p_start.add_argument("--timeout", type=float, default=90, help="seconds to wait for readiness")
    p_stop = sub.add_parser("stop", parents=[common], help="stop the broker and remove its folder")
    p_stop.add_argument("--keep", action="store_true", help="keep the folder (data and broker.log)")
    sub.add_parser("status", parents=[common], help="is the broker running and answering?")
    sub.add_parser("fetch", parents=[common], help="only fetch the jars into the cache")
    args = parser.parse_args(argv)
    # aiokafka logs every refused connection while the broker boots: keep the CLI readable.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    handler = {"start": _cli_start, "stop": _cli_stop, "status": _cli_status, "fetch": _cli_fetch}[args.command]
    try:
        return handler(args)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
