"""What the bench scripts share: a description of the machine, writing one section of BENCHMARKS.md, and the
processes they run as a user would (`walletpass init` and `serve`, an nginx APNs stand-in, a scratch PostgreSQL
database). bench/webservice.py and bench/push.py still have their own copies of some of these (other branches
rewrite them): they can use these once merged."""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import timeit
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
WALLETPASS = ROOT / ".venv" / "bin" / "walletpass"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


@functools.cache
def cpu_speed() -> str:
    """Two quick readings that tell one host from another (the hosts behind this 2-CPU machine kind differ ~3×
    between sessions): RSA-2048 PKCS#1 signatures per second (the floor of a pass or a save link) and the
    time of ``sum(range(1000))`` in this Python."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n, start = 0, time.process_time()
    while time.process_time() - start < 0.5:
        key.sign(b"calibration %d" % n, padding.PKCS1v15(), hashes.SHA256())
        n += 1
    signs = n / (time.process_time() - start)
    loop_us = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    return f"RSA-2048 {signs:,.0f} signatures/s, sum(range(1000)) {loop_us:.1f} µs"


@functools.cache
def machine() -> str:
    """``2 CPUs (AMD EPYC …), Python 3.11.7, Linux 6.x; speed: RSA-2048 … signatures/s, …``."""
    return (f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}; speed: {cpu_speed()}")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the ``name`` section of BENCHMARKS.md between its markers; leave the others alone."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    section = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


@functools.cache
def openssl_rsa2048() -> str:
    """``openssl speed rsa2048``'s signatures per second (one core, 1 s), the floor the lead compares hosts by."""
    rate, how = rsa2048_signatures_per_second(seconds=1)
    return f"openssl speed rsa2048 {rate:,.0f} signatures/s" if how.startswith("`openssl") else "openssl speed rsa2048: not run"


def rsa2048_signatures_per_second(seconds: int = 3) -> tuple[float, str]:
    """RSA-2048 signatures per second on one core, and how it was measured: ``openssl speed`` when OpenSSL's
    command is installed (the C floor), else the ``cryptography`` loop of :func:`cpu_speed`."""
    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "rsa2048"], capture_output=True,
                             text=True).stdout
        found = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s", out, re.M)
        if found:
            return float(found.group(1)), f"`openssl speed -seconds {seconds} rsa2048`"
    return float(cpu_speed().split()[1].replace(",", "")), "cryptography (0.5 s of signatures)"


# -- processes, as a user runs them --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_init(env: dict[str, str]) -> str:
    """``walletpass init`` (schema, dev PKI, demo program); return what it printed on stdout (the admin API key)."""
    done = subprocess.run([str(WALLETPASS), "init"], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"walletpass init failed: {done.stderr.strip()}")
    return done.stdout


def start_server(env: dict[str, str], port: int, log: Path, *, workers: int | None = None,
                 threads: int | None = None) -> subprocess.Popen[bytes]:
    """``walletpass serve`` in a session of its own (its gunicorn workers are its children); wait for /healthz."""
    import httpx

    cmd = [str(WALLETPASS), "serve", "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"walletpass serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    sys.exit("walletpass serve did not answer /healthz within 30 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group *proc* leads (started with ``start_new_session``); SIGKILL after 20 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of process *root* and its descendants (from /proc; Linux)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, parent in parents.items() if parent == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(p, 0.0) for p in tree)


def machine_cpu_seconds() -> float:
    """CPU seconds every process of the machine has used since boot (all CPUs; /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4))  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def settle(engine: Any) -> None:
    """Steady state, not the aftermath of a bulk load: what autovacuum and the checkpointer would have done within
    minutes is done now, before the clock starts. Without fresh statistics PostgreSQL believes the tables hold a
    handful of rows and scans them; a checkpoint of the load's dirty pages would otherwise land mid-measurement."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
        return
    raw = engine.raw_connection()  # outside any transaction: a checkpoint cannot run in one
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


@contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """Create an empty PostgreSQL database next to *url* (same server and user), yield its URL, drop it after."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    base = make_url(url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def nginx_server(template: Path, pki: Any, workdir: Path, slots: Mapping[str, str] | None = None
                 ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """nginx as an APNs stand-in (*template*, e.g. bench/nginx-campaign.conf: HTTP/2 over TLS on loopback, a client
    certificate of the dev PKI required, every push answered 200) in the foreground, its files in *workdir*, with
    the template's own *slots* filled in too; yield its base URL and process; stop it after. nginx is a Debian package: ``apt-get update && apt-get install -y
    nginx``."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.access(p, os.X_OK)), None)
    if nginx is None:
        sys.exit("this bench needs nginx (with the http_v2 and ssl modules): "
                 "apt-get update && apt-get install -y nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    client_ca = workdir / "client-ca.pem"
    client_ca.write_bytes((pki.certs_dir / "apple-root-ca.pem").read_bytes()
                          + (pki.certs_dir / "wwdr-ca.pem").read_bytes())
    port = free_port()
    conf = template.read_text()
    for slot, value in {"@@DIR@@": str(workdir), "@@PORT@@": str(port), "@@SERVER_CERT@@": str(pki.server_cert_file),
                        "@@SERVER_KEY@@": str(pki.server_key_file), "@@CLIENT_CA@@": str(client_ca),
                        **(slots or {})}.items():
        conf = conf.replace(slot, value)
    conf_file = workdir / "nginx.conf"
    conf_file.write_text(conf)
    log = (workdir / "nginx.out").open("wb")
    proc = subprocess.Popen([nginx, "-c", str(conf_file), "-p", f"{workdir}/", "-e", str(workdir / "error.log")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                sys.exit(f"nginx exited with {proc.returncode}:\n{(workdir / 'nginx.out').read_text()}"
                         f"{(workdir / 'error.log').read_text() if (workdir / 'error.log').exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("nginx did not start listening within 10 s")
                time.sleep(0.05)
        yield f"https://127.0.0.1:{port}", proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
