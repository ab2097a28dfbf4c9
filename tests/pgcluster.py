"""A real, throw-away PostgreSQL server on a free loopback port (``throwaway_postgres``).

initdb + pg_ctl run as an unprivileged system user (PostgreSQL refuses root): ``weixi-pg`` is
created with ``useradd`` when we run as root and it is missing; as a normal user the cluster
simply runs as that user. The cluster lives in a temp folder and is stopped and removed when the
context ends. Used by the ``postgres_url`` fixture and by ``bench/loadtest.py``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_USER = "weixi-pg"


def _pg_bin(name: str) -> str | None:
    for cand in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return cand
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    if user is None:
        return cmd
    runuser = shutil.which("runuser")
    return (
        [runuser, "-u", user, "--", *cmd]
        if runuser
        else ["su", user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    )


def _ensure_user() -> str | None:
    """The user to run PostgreSQL as (None: the current, non-root user)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
    return PG_USER


@contextmanager
def throwaway_postgres(max_connections: int | None = None) -> Iterator[str]:
    """Start PostgreSQL, yield ``postgresql+psycopg://weixi@127.0.0.1:PORT/weixi``, then remove it."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError(
            "PostgreSQL binaries not found: install Debian's postgresql (make sysdeps)"
        )
    user = _ensure_user()
    root = Path(tempfile.mkdtemp(prefix="weixi-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if user:
        info = pwd.getpwnam(user)
        os.chmod(root, 0o755)
        for p in (root, sock):
            os.chown(p, info.pw_uid, info.pw_gid)
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        _as_user(
            [initdb, "-D", str(data), "-U", "weixi", "--auth=trust", "-E", "UTF8", "--no-sync"],
            user,
        ),
        check=True,
        capture_output=True,
        env=env,
        cwd=root,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    if max_connections:
        opts += f" -c max_connections={int(max_connections)}"
    subprocess.run(
        _as_user(
            [
                pg_ctl,
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(root / "log.txt"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            user,
        ),
        check=True,
        capture_output=True,
        env=env,
        cwd=root,
    )
    try:
        import psycopg

        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=weixi dbname=postgres", autocommit=True
                ) as con:
                    con.execute("CREATE DATABASE weixi")
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        yield f"postgresql+psycopg://weixi@127.0.0.1:{port}/weixi"
    finally:
        subprocess.run(
            _as_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"], user),
            capture_output=True,
            env=env,
            cwd=root,
        )
        shutil.rmtree(root, ignore_errors=True)


def new_database(server_url: str, prefix: str = "weixi_t") -> str:
    """Create an empty database on the server of ``server_url`` and return its URL."""
    import uuid

    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    server = server_url.rsplit("/", 1)[0]
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return f"{server}/{name}"


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (its open connections are ended first)."""
    import psycopg

    server, name = url.rsplit("/", 1)
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
