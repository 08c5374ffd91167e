"""A throwaway PostgreSQL cluster for the tests: its own directory, a free port, loopback only.

Why not a shared server: tests must run on a fresh machine and in CI with nothing set
up, and must never touch a database someone cares about. One cluster is started per
test process (per xdist worker) the first time a test asks for it, and each test gets
its own database in it, so tests stay independent: ``fresh_database`` is empty,
``migrated_database`` already holds the store's schema. The latter is a copy of a
template migrated once per cluster: ``CREATE DATABASE ... TEMPLATE`` copies files, which
is several times faster than running the schema script (extension, collation, text
search configuration, tables, triggers) for each of the hundreds of store tests.

``initdb`` and ``postgres`` refuse to run as root; as root (CI, these machines) they run
as the ``postgres`` user, in a directory that user owns. See
``../shared/reference/postgresql-for-tests.md`` for the facts this follows.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Fast and fine for most tests; a durability test asks for ``durable=True`` (the defaults).
FAST_SETTINGS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl are: $SMSDESK_PG_BIN, then Debian's layout, then PATH."""
    configured = os.environ.get("SMSDESK_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError(
        "PostgreSQL's initdb was not found: install the postgresql package "
        "(apt-get install -y postgresql; .ci/run does it) or set SMSDESK_PG_BIN")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    """As root, the server's programs run as ``postgres`` (they refuse root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class PgCluster:
    """One running cluster; ``url(db)`` names a database in it."""

    directory: Path
    port: int
    bin_dir: Path
    durable: bool = False
    _databases: list[str] = field(default_factory=list)
    _template: str | None = None
    _next: Future[str] | None = None  # the next migrated database, being copied
    _thread: ThreadPoolExecutor | None = None

    @classmethod
    def start(cls, *, durable: bool = False) -> PgCluster:
        bin_dir = find_bin_dir()
        directory = Path(tempfile.mkdtemp(prefix="smsdesk-pg-"))
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        cluster = cls(directory, free_port(), bin_dir, durable)
        data = directory / "data"
        subprocess.run(_as_server_user([
            str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, capture_output=True)
        cluster._pg_ctl("start")
        return cluster

    def _pg_ctl(self, action: str, *, mode: str = "fast") -> None:
        """``pg_ctl start|stop|restart`` on this cluster, waiting until it is done."""
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.directory}"
        if not self.durable:
            options += " " + FAST_SETTINGS
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"),
                   "-l", str(self.directory / "log"), "-w", "-t", "30"]
        if action != "stop":
            command += ["-o", options]
        if action != "start":
            command += ["-m", mode]
        subprocess.run(_as_server_user([*command, action]), check=True, capture_output=True)

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart -m fast``): every session is ended, as when
        the server restarts or a standby is promoted behind the same address."""
        self._pg_ctl("restart")

    def halt(self) -> None:
        """Stop the server (fast: sessions ended, nothing lost), keeping the cluster."""
        self._pg_ctl("stop")

    def resume(self) -> None:
        """Start the server again after ``halt``, on the same port."""
        self._pg_ctl("start")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template``; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        copy = f" TEMPLATE {template}" if template else ""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}{copy}")
        self._databases.append(name)
        return self.url(name)

    def migrated_database(self) -> str:
        """A new database with the store's schema (a copy of the template); returns its URL.

        The copy is made ahead, in a thread of the cluster's own, while the previous test
        runs: a copy costs 0.15-0.4 s, most of a PostgreSQL store test's time otherwise.
        """
        if self._next is None:
            self._next = self._worker().submit(self._copy_template)
        url = self._next.result()
        self._next = self._worker().submit(self._copy_template)
        return url

    def drop_database(self, url: str) -> None:
        """Drop a test's database, in the background (connections still open to it are
        ended): the PostgreSQL store tests would otherwise leave about 2 GB behind."""
        self._worker().submit(self._drop, url.rsplit("/", 1)[-1])

    def _worker(self) -> ThreadPoolExecutor:
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-cluster")
        return self._thread

    def _copy_template(self) -> str:
        if self._template is None:
            self._template = self._make_template()
        return self.fresh_database(self._template)

    def _make_template(self) -> str:
        """Create and migrate the template the copies come from (once per cluster).

        Its connection is closed before returning: PostgreSQL copies a template only
        while nobody is connected to it.
        """
        import psycopg

        from core.schema_pg import migrate_pg

        name = "store_template"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            migrate_pg(conn)
        return name

    def _drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self._databases:
            self._databases.remove(name)

    def log(self) -> str:
        """The server's log, for a failing test's message."""
        try:
            return (self.directory / "log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self._thread is not None:  # let a copy or drop under way finish first
            self._thread.shutdown(wait=True, cancel_futures=True)
        subprocess.run(_as_server_user([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate",
            "-w", "stop"]), capture_output=True)
        shutil.rmtree(self.directory, ignore_errors=True)
