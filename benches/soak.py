#!/usr/bin/python3
"""A bounded soak of wirtd through libvirt's own Python bindings.

For MINUTES minutes: CLIENTS threads mix reads and lifecycle calls on
kvm:///session (defines, starts, destroys, undefines of small test guests,
lists and XML reads); one subscriber counts lifecycle events; every
--kill-every seconds wirtd is SIGKILLed and started again (clients
reconnect; what was in flight is simply not acknowledged). With --fixture
(plugins/fixtures' misbehaving driver, installed as the `fixture` plugin),
a crasher thread makes that plugin panic every --crash-every seconds
through the same wirtd (`fixture+unix://`): each crash must fail its own
call with the plugin named, and wirtd must not die of it (only of our
SIGKILLs). At the end,
against a fresh wirtd: every domain whose define was acknowledged and whose
undefine was not is there, nothing else is; every running domain has
exactly one VMM and no VMM runs for anything else; and wirtd's descriptor
count and RSS, sampled through each life, stay flat.

Usage (scripts/soak.sh builds and calls this):
  soak.py --wirtd PATH --vmm PATH [--minutes N] [--clients N] [--kill-every S]
          [--fixture WASM --wirt PATH [--crash-every S]]
Prints one summary; exits 1 if an invariant broke.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import libvirt

libvirt.registerErrorHandler(lambda _ctx, _err: None, None)


class Daemon:
    def __init__(self, wirtd, vmm, root):
        self.wirtd, self.vmm, self.root = wirtd, vmm, root
        self.expected_exits = 0
        self.sock = os.path.join(root, "rw.sock")
        self.proc = None
        self.lives = []  # per life: list of (fds, rss_kib) samples

    @property
    def uri(self):
        return f"kvm+unix:///session?socket={self.sock}"

    def env(self):
        env = dict(os.environ)
        env.update(
            XDG_CONFIG_HOME=os.path.join(self.root, "config"),
            WIRT_STATE_DIR=os.path.join(self.root, "state"),
            WIRT_RUNTIME_DIR=os.path.join(self.root, "run"),
            WIRT_PLUGIN_PATH=os.path.join(self.root, "plugins"),
            WIRT_VMM=self.vmm,
        )
        return env

    def died_by_itself(self):
        """Whether wirtd exited without our SIGKILL (a crash)."""
        return self.proc.poll() is not None

    def start(self):
        env = self.env()
        self.proc = subprocess.Popen(
            [self.wirtd, "--session", "--socket", self.sock,
             "--ro-socket", os.path.join(self.root, "ro.sock"),
             "--default-uri", "kvm:///session"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.root, "wirtd.log"), "ab"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                libvirt.open(self.uri).close()
                self.lives.append([])
                return
            except libvirt.libvirtError:
                time.sleep(0.05)
        raise SystemExit("wirtd did not come up")

    def kill9(self):
        if self.proc.poll() is not None:
            raise SystemExit(f"wirtd died by itself (status {self.proc.returncode}); "
                             f"see {self.root}/wirtd.log")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def sample(self):
        pid = self.proc.pid
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            return
        self.lives[-1].append((fds, rss))


class Ledger:
    """What wirtd acknowledged: the domains that must exist at the end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.defined = set()
        self.calls = 0
        self.errors = {}

    def note(self, error=None):
        with self.lock:
            self.calls += 1
            if error is not None:
                self.errors[error] = self.errors.get(error, 0) + 1


def domain_xml(name):
    return (f"<domain type='kvm'><name>{name}</name>"
            "<memory unit='MiB'>16</memory><vcpu>1</vcpu>"
            "<os><type>hvm</type></os></domain>")


def client(n, daemon, ledger, stop):
    rng = random.Random(n)
    conn = None
    mine = []  # names this client defined (and did not see undefined)
    serial = 0
    while not stop.is_set():
        try:
            if conn is None:
                conn = libvirt.open(daemon.uri)
            op = rng.random()
            if op < 0.35:
                for dom in conn.listAllDomains(0):
                    dom.XMLDesc(0)
            elif (op < 0.5 or not mine) and len(mine) < 3:
                # At most three domains a client: a steady state, so that
                # descriptor and memory growth mean leaks.
                serial += 1
                name = f"soak-{n}-{serial}"
                conn.defineXML(domain_xml(name))
                with ledger.lock:
                    ledger.defined.add(name)
                mine.append(name)
            else:
                name = rng.choice(mine)
                dom = conn.lookupByName(name)
                action = rng.random()
                if action < 0.4:
                    if not dom.isActive():
                        dom.create()
                elif action < 0.8:
                    if dom.isActive():
                        dom.destroy()
                else:
                    if dom.isActive():
                        dom.destroy()
                    dom.undefine()
                    with ledger.lock:
                        ledger.defined.discard(name)
                    mine.remove(name)
            ledger.note()
        except libvirt.libvirtError as e:
            # A killed daemon, or a race with our own earlier call that was
            # cut off: reconnect, and let the end check say what holds.
            ledger.note((e.get_error_message() or "?").split(" with matching")[0][:60])
            try:
                if conn is not None:
                    conn.close()
            except libvirt.libvirtError:
                pass
            conn = None
            time.sleep(0.05)


FIXTURE_MANIFEST = """name = "fixture"
version = "0.1.0"
world = "hypervisor-driver"
wit = "wirt:driver@0.1.0"

[serves]
uri-schemes = ["fixture"]
"""


def install_fixture(daemon, wirt, wasm):
    manifest = os.path.join(daemon.root, "fixture.toml")
    with open(manifest, "w") as f:
        f.write(FIXTURE_MANIFEST)
    os.makedirs(os.path.join(daemon.root, "plugins"), exist_ok=True)
    subprocess.run([wirt, "plugin-install", wasm, "--manifest", manifest],
                   env=daemon.env(), check=True, capture_output=True)


def crasher(daemon, every, tally, stop):
    """Makes the fixture plugin panic, then checks that the host answers."""
    uri = f"fixture+unix:///soak?socket={daemon.sock}"
    serial = 0
    while not stop.wait(every):
        serial += 1
        try:
            conn = libvirt.open(uri)
        except libvirt.libvirtError:
            tally["down"] += 1  # a SIGKILL window, or the plugin quarantined
            continue
        try:
            conn.createXML(domain_xml(f"panic{serial}").replace("'kvm'", "'test'"), 0)
            tally["no crash"] += 1
        except libvirt.libvirtError as e:
            msg = e.get_error_message() or ""
            if "plugin fixture" in msg and "crashed" in msg:
                tally["crashes"] += 1
            elif "quarantine" in msg:
                tally["quarantined"] += 1
            else:
                tally["other: " + msg[:50]] += 1
        try:
            conn.listAllDomains(0)
            tally["answered after"] += 1
        except libvirt.libvirtError:
            tally["refused after"] += 1
        try:
            conn.close()
        except libvirt.libvirtError:
            pass


def subscriber(daemon, counts, stop):
    while not stop.is_set():
        try:
            conn = libvirt.open(daemon.uri)
            conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                lambda *_: counts.__setitem__(0, counts[0] + 1), None)
            while not stop.is_set() and conn.isAlive():
                libvirt.virEventRunDefaultImpl()
        except libvirt.libvirtError:
            time.sleep(0.1)


def vmm_pids(root):
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if "wirt-vmm" in cmd and root in cmd:
            pids.append(int(p))
    return pids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wirtd", required=True)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--kill-every", type=float, default=60)
    ap.add_argument("--fixture", help="plugins/fixtures' wirt_fixture_driver.wasm")
    ap.add_argument("--wirt", help="the wirt CLI (installs the fixture)")
    ap.add_argument("--crash-every", type=float, default=5)
    args = ap.parse_args()

    libvirt.virEventRegisterDefaultImpl()
    # A tick, so that the subscriber's event loop sees `stop` even when quiet.
    libvirt.virEventAddTimeout(200, lambda *_: None, None)
    root = tempfile.mkdtemp(prefix="wirt-soak-")
    daemon = Daemon(args.wirtd, args.vmm, root)
    if args.fixture:
        install_fixture(daemon, args.wirt, args.fixture)
    daemon.start()
    ledger = Ledger()
    stop = threading.Event()
    counts = [0]
    threads = [threading.Thread(target=client, args=(i, daemon, ledger, stop))
               for i in range(args.clients)]
    threads.append(threading.Thread(target=subscriber, args=(daemon, counts, stop)))
    import collections
    tally = collections.Counter()
    if args.fixture:
        threads.append(threading.Thread(target=crasher,
                                        args=(daemon, args.crash_every, tally, stop)))
    for t in threads:
        t.start()
    end = time.time() + args.minutes * 60
    next_kill = time.time() + args.kill_every
    kills = 0
    while time.time() < end:
        time.sleep(1)
        if daemon.died_by_itself():
            raise SystemExit(f"wirtd died by itself (status {daemon.proc.returncode}); "
                             f"see {root}/wirtd.log")
        daemon.sample()
        if time.time() >= next_kill and time.time() + 5 < end:
            daemon.kill9()
            kills += 1
            daemon.start()
            next_kill = time.time() + args.kill_every
    stop.set()
    for t in threads:
        t.join(timeout=30)

    # The end check, on a fresh daemon after one last SIGKILL.
    daemon.kill9()
    daemon.start()
    conn = libvirt.open(daemon.uri)
    present = {d.name(): d for d in conn.listAllDomains(0)}
    lost = sorted(ledger.defined - present.keys())
    extra = sorted(present.keys() - ledger.defined)
    running = [d for d in present.values() if d.isActive()]
    vmms = vmm_pids(root)
    leaked = len(vmms) - len(running)
    ok = not lost and leaked == 0

    def flat(samples):
        # Compare the second half of a life with its first: growth is a leak.
        if len(samples) < 10:
            return None
        half = len(samples) // 2
        first, second = samples[:half], samples[half:]
        return (max(s[0] for s in second) - max(s[0] for s in first),
                max(s[1] for s in second) - max(s[1] for s in first))
    growth = [g for g in (flat(life) for life in daemon.lives) if g is not None]
    fd_growth = max((g[0] for g in growth), default=0)
    rss_growth = max((g[1] for g in growth), default=0)
    peak_fds = max((s[0] for life in daemon.lives for s in life), default=0)
    peak_rss = max((s[1] for life in daemon.lives for s in life), default=0)

    print(f"soak: {args.minutes} min, {args.clients} clients, {kills} wirtd SIGKILLs")
    failed = sum(ledger.errors.values())
    print(f"  calls {ledger.calls} ({failed} failed), lifecycle events seen {counts[0]}")
    for msg, n in sorted(ledger.errors.items(), key=lambda kv: -kv[1])[:6]:
        print(f"    {n:6} {msg}")
    print(f"  domains acknowledged {len(ledger.defined)}, present {len(present)}, "
          f"lost {len(lost)}, unacknowledged but present {len(extra)}")
    print(f"  running {len(running)}, VMMs {len(vmms)}, leaked {leaked}")
    print(f"  wirtd peak fds {peak_fds}, peak RSS {peak_rss} KiB; "
          f"growth within a life: fds {fd_growth}, RSS {rss_growth} KiB")
    if args.fixture:
        print("  plugin crashes injected: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
        ok = ok and tally["crashes"] > 0 and tally["no crash"] == 0
    if lost:
        print(f"  LOST: {lost[:10]}")
    # Clean up: destroy what runs, stop the daemon.
    for d in running:
        try:
            d.destroy()
        except libvirt.libvirtError:
            pass
    conn.close()
    daemon.proc.terminate()
    daemon.proc.wait()
    for pid in vmm_pids(root):
        os.kill(pid, signal.SIGKILL)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
