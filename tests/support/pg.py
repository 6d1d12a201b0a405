"""A throwaway PostgreSQL cluster for the test suite, living in a temp dir."""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from queue import Full, Queue
from urllib.parse import quote

import psycopg
from psycopg import sql

_START_ATTEMPTS = 3
# Databases made ahead of the tests that ask for them (`fresh_database`).
_AHEAD = 2


def find_bindir() -> Path:
    """Directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/N, else PATH."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if candidates:
        # Sort numerically: "9.6" < "15" (Debian names the dir after the major version).
        newest = max(candidates, key=lambda p: [int(n) for n in Path(p).parts[-3].split(".")])
        return Path(newest).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries not found (no initdb)")
    # Debian symlinks only some tools onto PATH; pg_ctl lives next to the real initdb.
    return Path(initdb).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayPostgres:
    host = "127.0.0.1"
    user = "ledger"

    def __init__(self, *, durable: bool = False) -> None:
        # Not durable (the default) trades crash safety for speed: with synchronous_commit off
        # a crash of the server loses the last commits it acknowledged.
        self.durable = durable
        self.password = secrets.token_hex(16)
        self.port = 0
        self.base: Path | None = None
        self.bindir: Path | None = None
        # PostgreSQL refuses to run as root, so as root everything runs as `postgres`.
        self._as_root = os.geteuid() == 0
        self._ahead: Queue[str | BaseException] = Queue(maxsize=_AHEAD)
        self._maker: threading.Thread | None = None
        self._stopping = threading.Event()
        self._maker_lock = threading.Lock()
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def _run(self, *cmd: str | os.PathLike[str]) -> None:
        args = [os.fspath(c) for c in cmd]
        if self._as_root:
            if shutil.which("runuser"):
                args = ["runuser", "-u", "postgres", "--", *args]
            else:
                args = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(args)]
        # cwd: the postgres user may not be able to enter the caller's cwd (e.g. /root).
        proc = subprocess.run(args, cwd=self.base, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
                + self._log_tail()
            )

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / "log"

    def _log_tail(self) -> str:
        if self.base is None or not self.logfile.exists():
            return ""
        return "\n--- server log ---\n" + "\n".join(self.logfile.read_text().splitlines()[-20:])

    def start(self) -> None:
        self.bindir = bindir = find_bindir()
        # /tmp rather than $TMPDIR: the postgres user must be able to reach the dir.
        parent = "/tmp" if self._as_root else None
        self.base = Path(tempfile.mkdtemp(prefix="ledger-pg-", dir=parent))
        atexit.register(self.stop)
        try:
            pwfile = self.base / "pwfile"
            pwfile.write_text(self.password + "\n")
            if self._as_root:
                shutil.chown(self.base, "postgres", "postgres")
                shutil.chown(pwfile, "postgres", "postgres")
            self._run(
                bindir / "initdb",
                "-D", self.datadir,
                "-U", self.user,
                "-A", "scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
                "--locale=C",
                "--encoding=UTF8",
            )  # fmt: skip
            pwfile.unlink()
            self._watch(os.getpid())
            self._start_server(bindir)
        except BaseException:
            self.stop()
            raise

    def _watch(self, owner: int) -> None:
        """A process of its own that stops the server and removes its folder once `owner`
        (this test run) is gone without `stop`: killed, its cluster was left running with
        its gigabytes in /tmp (four at once one day, taking CPU from what ran next)."""
        assert self.bindir is not None and self.base is not None
        stop = [os.fspath(self.bindir / "pg_ctl"), "-D", os.fspath(self.datadir)]
        stop += ["-m", "immediate", "stop"]
        if self._as_root:
            stop = ["runuser", "-u", "postgres", "--", *stop]
        script = (
            f"while kill -0 {owner} 2>/dev/null; do sleep 1; done; "
            f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf -- {shlex.quote(os.fspath(self.base))}"
        )
        self._watchdog = subprocess.Popen(
            ["sh", "-c", script],
            cwd=self.base,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not ended with the run's process group
        )

    def _start_server(self, bindir: Path) -> None:
        # The free port can be taken between probing and binding; retry with a new one.
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_port()
            try:
                self._pg_ctl_start(bindir)
                return
            except RuntimeError:
                if attempt == _START_ATTEMPTS:
                    raise

    def _pg_ctl_start(self, bindir: Path) -> None:
        opts = (
            f"-p {self.port} -k {shlex.quote(str(self.base))} -c listen_addresses=127.0.0.1"
            " -c max_connections=200"
        )
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            bindir / "pg_ctl", "-D", self.datadir, "-o", opts, "-l", self.logfile, "-w", "start"
        )  # fmt: skip

    def halt(self, mode: str = "fast") -> None:
        """Stop the server but keep its data and port, so `resume` restarts the same one."""
        assert self.bindir is not None
        self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop")

    def resume(self) -> None:
        assert self.bindir is not None
        self._pg_ctl_start(self.bindir)

    def stop(self) -> None:
        """Idempotent: called by the fixture and again by atexit."""
        if self.base is None:
            return
        atexit.unregister(self.stop)
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
        self._stopping.set()
        if self._maker is not None:
            self._maker.join(timeout=30)
        if self.bindir and (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run(self.bindir / "pg_ctl", "-D", self.datadir, "-m", "immediate", "stop")
        # A run leaves a gigabyte or two of databases: removed by a process of its own, which
        # the run does not wait for (it took 10-15 s at the end of every run).
        subprocess.Popen(
            ["rm", "-rf", "--", os.fspath(self.base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.base = None

    def url(self, dbname: str) -> str:
        return (
            f"postgresql://{quote(self.user)}:{quote(self.password)}"
            f"@{self.host}:{self.port}/{quote(dbname)}"
        )

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def fresh_database(self) -> str:
        """The URL of a new, empty database of its own. CREATE DATABASE copies the template
        (about 0.2 s), hundreds of times a run: a thread makes the next ones while the
        tests run."""
        with self._maker_lock:
            if self._maker is None:
                self._maker = threading.Thread(
                    target=self._make_ahead, daemon=True, name="pg-databases-ahead"
                )
                self._maker.start()
        made = self._ahead.get(timeout=120)
        if isinstance(made, BaseException):
            raise RuntimeError(f"could not create a database: {made}") from made
        return self.url(made)

    def _make_ahead(self) -> None:
        while not self._stopping.is_set():
            made: str | BaseException = f"t_{uuid.uuid4().hex[:12]}"
            try:
                self.create_database(str(made))
            except BaseException as error:  # handed to the test that asks next
                made = error
            while not self._stopping.is_set():
                try:
                    self._ahead.put(made, timeout=0.2)
                    break
                except Full:
                    continue
            if isinstance(made, BaseException):
                return
