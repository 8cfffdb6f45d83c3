#!/usr/bin/python3
"""Guest <-> host network round trips, wirt against QEMU, side by side in one run.

The same test guest (plugins/kvm/guest, which answers ICMP echo and a UDP
echo on port 7) runs twice on one bridge in a network namespace of this
script's own: once as a kvm: domain on a wirt NAT network (the bridge
network driver: bridge, nftables, dnsmasq; the guest's NIC is a tap the host
makes for wirt-vmm's virtio-net), once under
`qemu-system-x86_64 -M microvm` with `-netdev tap` on the same bridge and
`-device virtio-net-device` (vhost off: there is no /dev/vhost-net here, and
wirt-vmm has no vhost either). Both get a lease from the network's dnsmasq.
Then, alternating for ROUNDS rounds: ICMP echo (`ping -c N -i 0.01`) and UDP
echo round trips from the namespace to each guest. Prints per-round medians,
the overall medians and the ratio wirt/QEMU.

Needs root, /dev/kvm, qemu-system-x86 (scripts/setup.sh --benches), dnsmasq
and nft (scripts/setup.sh). Usage:
    benches/compare-qemu-net.py [--rounds 5] [--count 100]
Nothing outside the namespace is touched; it is deleted at the end.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIRT_MAC = "52:54:00:00:10:01"
QEMU_MAC = "52:54:00:00:10:02"

UDP_CLIENT = r"""
import socket, sys, time, statistics
ip, count = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
rtts = []
for i in range(count):
    msg = b"wirt-bench %d" % i
    t = time.perf_counter()
    s.sendto(msg, (ip, 7))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if data == msg:
                break
    except socket.timeout:
        continue
    rtts.append((time.perf_counter() - t) * 1e6)
print(statistics.median(rtts) if rtts else -1, len(rtts))
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=100, help="echoes per round and side")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces, bridges, taps)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("skipping: /dev/kvm is not available on this machine")
        return
    for tool in (a.qemu, "dnsmasq", "nft", "ping"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/setup.sh --benches)")

    # wirt-vmm (the measured path) in release; the CLI only drives it.
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "wirt-kvm", "--bin", "wirt-vmm"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "-q", "-p", "wirt-cli", "--bin", "wirt"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    wirt = os.path.join(target, "debug", "wirt")
    vmm = os.path.join(target, "release", "wirt-vmm")
    guest = os.path.join(target, "kvm-guest", "x86_64-unknown-none", "release", "wirt-test-guest")

    ns = f"wirt-bench-net-{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="wirt-bench-net-")
    env = dict(os.environ, WIRT_STATE_DIR=f"{tmp}/state", WIRT_RUNTIME_DIR=f"{tmp}/run",
               WIRT_LOG_DIR=f"{tmp}/log", WIRT_VMM=vmm)
    qemu = None
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        inns = ["ip", "netns", "exec", ns]

        def w(script):
            return run(inns + [wirt, "-c", "kvm:///session", script], env=env).stdout

        with open(f"{tmp}/net.xml", "w") as f:
            f.write("<network><name>benchnet</name><forward mode='nat'/>"
                    "<ip address='192.168.160.1' prefix='24'><dhcp>"
                    "<range start='192.168.160.10' end='192.168.160.99'/></dhcp></ip></network>")
        with open(f"{tmp}/dom.xml", "w") as f:
            f.write("<domain type='kvm'><name>benchvm</name><memory unit='MiB'>16</memory>"
                    "<vcpu>1</vcpu><os><type>hvm</type></os><devices>"
                    f"<interface type='network'><mac address='{WIRT_MAC}'/>"
                    "<source network='benchnet'/><model type='virtio'/></interface>"
                    "</devices></domain>")
        w(f"net-define {tmp}/net.xml; net-start benchnet")
        bridge = w("net-info benchnet")
        bridge = re.search(r"Bridge:\s+(\S+)", bridge).group(1)
        w(f"define {tmp}/dom.xml; start benchvm")

        run(["ip", "-n", ns, "tuntap", "add", "tapq", "mode", "tap", "vnet_hdr"])
        run(["ip", "-n", ns, "link", "set", "tapq", "master", bridge, "up"])
        qemu = subprocess.Popen(
            inns + [a.qemu, "-enable-kvm", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
                    "-m", "16", "-nodefaults", "-display", "none", "-no-reboot",
                    "-serial", f"file:{tmp}/qemu-console.log", "-kernel", guest,
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                    "-netdev", "tap,id=n0,ifname=tapq,script=no,downscript=no,vhost=off",
                    "-device", f"virtio-net-device,netdev=n0,mac={QEMU_MAC}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def lease(mac, deadline):
            while time.time() < deadline:
                out = w("net-dhcp-leases benchnet")
                for line in out.splitlines():
                    if mac in line:
                        return line.split()[4].split("/")[0]
                time.sleep(0.2)
            sys.exit(f"no lease for {mac}:\n{w('net-dhcp-leases benchnet')}")

        deadline = time.time() + 120
        ips = {"wirt": lease(WIRT_MAC, deadline), "QEMU": lease(QEMU_MAC, deadline)}
        print(f"wirt guest {ips['wirt']}, QEMU guest {ips['QEMU']} on {bridge} in {ns}")
        print(f"{a.rounds} rounds, {a.count} echoes per round and side; medians in microseconds")

        def ping(ip):
            # The median of the per-echo times (ping's own summary is a mean,
            # which one scheduling hiccup on a shared host dominates).
            out = run(inns + ["ping", "-c", str(a.count), "-i", "0.01", "-W", "1", ip]).stdout
            times = [float(t) * 1000 for t in re.findall(r"time=([\d.]+) ms", out)]
            return statistics.median(times) if times else float("nan")

        def udp(ip):
            out = run(inns + [sys.executable, "-c", UDP_CLIENT, ip, str(a.count)]).stdout.split()
            return float(out[0])

        results = {k: {"icmp": [], "udp": []} for k in ips}
        for r in range(a.rounds):
            for side in (["wirt", "QEMU"] if r % 2 == 0 else ["QEMU", "wirt"]):
                results[side]["icmp"].append(ping(ips[side]))
                results[side]["udp"].append(udp(ips[side]))
            print(f"round {r + 1}: " + "  ".join(
                f"{s} icmp {results[s]['icmp'][-1]:.0f} udp {results[s]['udp'][-1]:.0f}" for s in ips))
        for kind in ("icmp", "udp"):
            wm = statistics.median(results["wirt"][kind])
            qm = statistics.median(results["QEMU"][kind])
            print(f"{kind:5} round trip: wirt {wm:.0f} us, QEMU {qm:.0f} us, wirt/QEMU = {wm / qm:.2f}")
    finally:
        if qemu:
            qemu.kill()
            qemu.wait()
        subprocess.run(["ip", "netns", "exec", ns, wirt, "-c", "kvm:///session",
                        "destroy benchvm; net-destroy benchnet"], env=env, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
