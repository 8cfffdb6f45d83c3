#!/usr/bin/env python3
"""wirtd against a real libvirtd, side by side in one run.

Starts a libvirtd (session mode, its test driver) and a wirtd on temporary
sockets, runs the same python-libvirt client workload against each, and
prints both figures and wirtd's ratio for each measure, as the client sees
them (calls/s) and as the daemons spend them (daemon CPU per call, from
/proc, all threads):

  lifecycle calls/s   define, create, suspend, resume, destroy, undefine
  getState/s          virDomainGetState on a running domain
  listAllDomains/s    with 1,000 and with 10,000 domains defined
  XMLDesc/s           virDomainGetXMLDesc

Needs Debian's libvirt-daemon and python3-libvirt (`scripts/setup.sh --benches`
installs both) and a release build of wirtd:

  cargo build --release -p wirt-cli --bin wirtd
  benches/compare-libvirtd.py [--wirtd PATH] [--quick]

Each client runs in its own interpreter, so neither run warms the other.

On virtual machines a wake-up across CPUs can cost more than the call
itself; --pin CPU runs both daemons and both clients on that one CPU, which
measures the software rather than the hypervisor's scheduling.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DOMAIN_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
</domain>"""


# ---- the client workload (runs in a child interpreter) ----

def daemon_cpu(pid):
    """CPU seconds the daemon (all its threads) has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn, min_seconds, batch, pid):
    """Calls fn(batch) until min_seconds have passed. Returns calls/s and
    the daemon's CPU microseconds per call."""
    done, cpu, start = 0, daemon_cpu(pid), time.perf_counter()
    while True:
        fn(batch)
        done += batch
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return done / elapsed, (daemon_cpu(pid) - cpu) * 1e6 / done


def client(uri, pid, quick):
    import libvirt

    secs = 0.5 if quick else 2.0
    conn = libvirt.open(uri)
    results = {}

    n = [0]

    def lifecycle(batch):
        for _ in range(batch):
            n[0] += 1
            d = conn.defineXML(DOMAIN_XML.format(name="bench-%d" % n[0]))
            d.create()
            d.suspend()
            d.resume()
            d.destroy()
            d.undefine()

    # Six API calls per round.
    rounds, cpu = timed(lifecycle, secs, 50, pid)
    results["lifecycle calls/s"] = (6 * rounds, cpu / 6)

    test = conn.lookupByName("test")

    def get_state(batch):
        for _ in range(batch):
            test.state()

    results["getState/s"] = timed(get_state, secs, 500, pid)

    def xml_desc(batch):
        for _ in range(batch):
            test.XMLDesc()

    results["XMLDesc/s"] = timed(xml_desc, secs, 200, pid)

    defined = 0
    for total in (1000, 10000):
        while defined < total:
            defined += 1
            conn.defineXML(DOMAIN_XML.format(name="list-%05d" % defined))
        count = len(conn.listAllDomains())
        assert count >= total, (count, total)

        def list_all(batch):
            for _ in range(batch):
                conn.listAllDomains()

        results["listAllDomains/s (%dk)" % (total // 1000)] = timed(
            list_all, secs, 1 if total > 1000 else 5, pid
        )
    conn.close()
    print(json.dumps(results))


# ---- the harness ----

def wait_for(path, proc, what, timeout=30.0):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            sys.exit("%s exited early (status %s)" % (what, proc.returncode))
        if time.time() > deadline:
            sys.exit("%s did not create %s" % (what, path))
        time.sleep(0.05)


def pinned(cmd, cpu):
    return cmd if cpu is None else ["taskset", "-c", str(cpu)] + cmd


def start_libvirtd(tmp, cpu):
    libvirtd = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
    if not os.path.exists(libvirtd):
        sys.exit("libvirtd not found (scripts/setup.sh --benches installs libvirt-daemon)")
    home = os.path.join(tmp, "lv")
    for d in ("home", "run", "config", "cache"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    env = dict(
        os.environ,
        HOME=os.path.join(home, "home"),
        XDG_RUNTIME_DIR=os.path.join(home, "run"),
        XDG_CONFIG_HOME=os.path.join(home, "config"),
        XDG_CACHE_HOME=os.path.join(home, "cache"),
    )
    cmd = [libvirtd]
    # As root libvirtd would be the system daemon; the unprivileged session
    # daemon is the one users compare with, so run it as nobody.
    if os.geteuid() == 0:
        os.chmod(tmp, 0o755)
        for root, dirs, _ in os.walk(home):
            os.chmod(root, 0o777)
        cmd = ["runuser", "-u", "nobody", "--", "env"] + [
            "%s=%s" % (k, env[k])
            for k in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")
        ] + cmd
    log = open(os.path.join(tmp, "libvirtd.log"), "w")
    proc = subprocess.Popen(pinned(cmd, cpu), env=env, stdout=log, stderr=log)
    sock = os.path.join(home, "run", "libvirt", "libvirt-sock")
    wait_for(sock, proc, "libvirtd")
    pidfile = os.path.join(home, "run", "libvirt", "libvirtd.pid")
    wait_for(pidfile, proc, "libvirtd")
    with open(pidfile) as f:
        pid = int(f.read().strip())
    return proc, sock, pid


def start_wirtd(tmp, wirtd, cpu):
    sock = os.path.join(tmp, "wirt-sock")
    log = open(os.path.join(tmp, "wirtd.log"), "w")
    proc = subprocess.Popen(
        pinned(
            [wirtd, "--socket", sock, "--no-ro-socket", "--default-uri", "test:///default"],
            cpu,
        ),
        stdout=log,
        stderr=log,
    )
    wait_for(sock, proc, "wirtd")
    return proc, sock, proc.pid


def run_client(sock, pid, quick, cpu):
    uri = "test+unix:///default?socket=" + sock
    cmd = [sys.executable, os.path.abspath(__file__), "--client", uri, "--pid", str(pid)]
    cmd = pinned(cmd, cpu)
    if quick:
        cmd.append("--quick")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def find_wirtd(given):
    if given:
        return given
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    path = os.path.join(target, "release", "wirtd")
    if not os.path.exists(path):
        sys.exit("%s is missing: cargo build --release -p wirt-cli --bin wirtd" % path)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--wirtd", help="the wirtd binary (default: target/release/wirtd)")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--pin", type=int, metavar="CPU", help="run daemons and clients on this CPU")
    args = parser.parse_args()
    if args.client:
        return client(args.client, args.pid, args.quick)
    try:
        import libvirt  # noqa: F401
    except ImportError:
        sys.exit("python3-libvirt is missing (run with Debian's /usr/bin/python3)")
    wirtd = find_wirtd(args.wirtd)
    tmp = tempfile.mkdtemp(prefix="wirt-bench-")
    procs = []
    try:
        lv, lv_sock, lv_pid = start_libvirtd(tmp, args.pin)
        procs.append(lv)
        wt, wt_sock, wt_pid = start_wirtd(tmp, wirtd, args.pin)
        procs.append(wt)
        theirs = run_client(lv_sock, lv_pid, args.quick, args.pin)
        ours = run_client(wt_sock, wt_pid, args.quick, args.pin)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    where = "all on CPU %d" % args.pin if args.pin is not None else "unpinned"
    print("client-observed rate (same python-libvirt script, calls/s; %s)" % where)
    print("  %-26s %12s %12s %8s" % ("measure", "libvirtd", "wirtd", "ratio"))
    worst = None
    for key in theirs:
        ratio = ours[key][0] / theirs[key][0]
        worst = ratio if worst is None else min(worst, ratio)
        print("  %-26s %12.0f %12.0f %7.2fx" % (key, theirs[key][0], ours[key][0], ratio))
    print("daemon CPU per call (microseconds, all daemon threads)")
    print("  %-26s %12s %12s %8s" % ("measure", "libvirtd", "wirtd", "ratio"))
    for key in theirs:
        mine, other = ours[key][1], theirs[key][1]
        ratio = other / mine if mine > 0 else float("inf")
        print("  %-26s %12.1f %12.1f %7.2fx" % (key, other, mine, ratio))
    print("lowest rate ratio: %.2fx (goal: 3x on each)" % worst)

if __name__ == "__main__":
    main()
