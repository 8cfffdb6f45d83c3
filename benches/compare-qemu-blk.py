#!/usr/bin/python3
"""Guest 4 KiB random disk I/O, wirt against QEMU, side by side in one run.

The same test guest (plugins/kvm/guest: `!randio <disk> <count> <span> <seed>
r|w` times `count` 4 KiB requests at random offsets by its own clock) runs
three times: as a kvm: domain on a qcow2 image, as a kvm: domain on a raw
image with the same data, and under `qemu-system-x86_64 -M microvm` with
`-device virtio-blk-device` on a copy of the same qcow2 image (page cache on
both sides: wirt-vmm reads and writes through the page cache, QEMU's
default cache mode does too; no vhost, no iothread). The images are fully
allocated first, so reads hit data, not holes. Then, alternating for
ROUNDS rounds: random reads and random writes on each. Prints per-round
figures, the medians (ns per request) and the ratios qcow2/raw and
wirt/QEMU.

Needs /dev/kvm, qemu-system-x86 and qemu-utils (scripts/setup.sh
--benches). Usage:
    benches/compare-qemu-blk.py [--rounds 5] [--count 2000] [--size-mib 64]
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


class WirtGuest:
    """A kvm: domain; commands go through `wirt console`."""

    def __init__(self, wirt, env, name):
        self.wirt, self.env, self.name = wirt, env, name

    def ask(self, line, answer, timeout=600):
        # A ping first: the answer is the first one after the last pong (the
        # console replays its history).
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run([self.wirt, "-c", "kvm:///session", "console", self.name],
                                 input=f"p!{line}\n", text=True, capture_output=True,
                                 env=self.env).stdout
            lines = [l.strip() for l in out.splitlines()]
            pongs = [i for i, l in enumerate(lines) if l.startswith("guest: pong")]
            if pongs:
                for l in lines[pongs[-1]:]:
                    # A whole answer: the console may end mid-line.
                    if l.startswith(answer) and ("ns/op" in l or "error" in l):
                        return l
            time.sleep(0.2)
        sys.exit(f"{self.name}: no answer to {line}")


class QemuGuest:
    """The guest under QEMU; its serial line is a unix socket."""

    def __init__(self, path):
        deadline = time.time() + 30
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        self.buf = b""

    def ask(self, line, answer, timeout=600):
        self.sock.sendall(f"!{line}\n".encode())
        deadline = time.time() + timeout
        self.sock.settimeout(1.0)
        while time.time() < deadline:
            while b"\n" in self.buf:
                l, self.buf = self.buf.split(b"\n", 1)
                l = l.decode(errors="replace").strip()
                if l.startswith(answer):
                    return l
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                break
            self.buf += chunk
        sys.exit(f"QEMU: no answer to {line}")

    def wait_ready(self):
        self.ask_nothing("guest: ready")

    def ask_nothing(self, text):
        deadline = time.time() + 120
        self.sock.settimeout(1.0)
        while text.encode() not in self.buf:
            if time.time() > deadline:
                sys.exit(f"QEMU guest never printed {text}")
            try:
                self.buf += self.sock.recv(4096)
            except socket.timeout:
                pass
        self.buf = b""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=2000, help="requests per round, side and kind")
    ap.add_argument("--size-mib", type=int, default=64, help="image size (all allocated)")
    ap.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    a = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("skipping: /dev/kvm is not available on this machine")
        return
    for tool in (a.qemu, "qemu-img", "qemu-io"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/setup.sh --benches)")

    subprocess.run(["cargo", "build", "-q", "--release", "-p", "wirt-kvm", "--bin", "wirt-vmm"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "-q", "-p", "wirt-cli", "--bin", "wirt"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    wirt = os.path.join(target, "debug", "wirt")
    vmm = os.path.join(target, "release", "wirt-vmm")
    guest = os.path.join(target, "kvm-guest", "x86_64-unknown-none", "release", "wirt-test-guest")

    tmp = tempfile.mkdtemp(prefix="wirt-bench-blk-")
    env = dict(os.environ, WIRT_STATE_DIR=f"{tmp}/state", WIRT_RUNTIME_DIR=f"{tmp}/run",
               WIRT_LOG_DIR=f"{tmp}/log", WIRT_VMM=vmm)
    size = f"{a.size_mib}M"
    span = a.size_mib * 2048
    qemu = None
    try:
        # Every cluster allocated, with data, on every side.
        run(["qemu-img", "create", "-q", "-f", "qcow2", f"{tmp}/wirt.qcow2", size])
        run(["qemu-io", "-f", "qcow2", "-c", f"write -P 0x5a 0 {size}", f"{tmp}/wirt.qcow2"])
        shutil.copy(f"{tmp}/wirt.qcow2", f"{tmp}/qemu.qcow2")
        run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", f"{tmp}/wirt.qcow2",
             f"{tmp}/wirt.raw"])

        def w(script):
            return run([wirt, "-c", "kvm:///session", script], env=env).stdout

        for name, fmt in (("bq", "qcow2"), ("br", "raw")):
            with open(f"{tmp}/{name}.xml", "w") as f:
                f.write(f"<domain type='kvm'><name>{name}</name><memory unit='MiB'>16</memory>"
                        "<vcpu>1</vcpu><os><type>hvm</type></os><devices>"
                        f"<disk type='file' device='disk'><driver name='qemu' type='{fmt}'/>"
                        f"<source file='{tmp}/wirt.{fmt}'/><target dev='vda' bus='virtio'/>"
                        "</disk></devices></domain>")
            w(f"define {tmp}/{name}.xml; start {name}")

        qemu = subprocess.Popen(
            [a.qemu, "-enable-kvm", "-M", "microvm,x-option-roms=off,rtc=off,acpi=off",
             "-m", "16", "-nodefaults", "-display", "none", "-no-reboot",
             "-chardev", f"socket,id=c0,path={tmp}/qemu.sock,server=on,wait=off",
             "-serial", "chardev:c0", "-kernel", guest,
             "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
             "-drive", f"file={tmp}/qemu.qcow2,if=none,id=d0,format=qcow2",
             "-device", "virtio-blk-device,drive=d0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        q = QemuGuest(f"{tmp}/qemu.sock")
        q.wait_ready()
        sides = {"wirt qcow2": WirtGuest(wirt, env, "bq"), "wirt raw": WirtGuest(wirt, env, "br"),
                 "QEMU qcow2": q}
        print(f"{a.rounds} rounds, {a.count} 4 KiB requests per round, side and kind, "
              f"over {a.size_mib} MiB; ns per request by the guest's clock")
        results = {s: {"r": [], "w": []} for s in sides}
        for r in range(a.rounds):
            order = list(sides) if r % 2 == 0 else list(reversed(sides))
            for kind in ("r", "w"):
                for s in order:
                    line = sides[s].ask(f"randio 0 {a.count} {span} {r + 1} {kind}", "randio ")
                    if "ns/op" not in line:
                        sys.exit(f"{s}: {line}")
                    results[s][kind].append(int(line.split()[-1]))
            print(f"round {r + 1}: " + "  ".join(
                f"{s} r {results[s]['r'][-1]} w {results[s]['w'][-1]}" for s in sides))
        med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in results.items()}
        for kind, label in (("r", "read "), ("w", "write")):
            wq, wr, qq = med["wirt qcow2"][kind], med["wirt raw"][kind], med["QEMU qcow2"][kind]
            print(f"4k random {label}: wirt qcow2 {wq:.0f} ns, wirt raw {wr:.0f} ns, "
                  f"QEMU qcow2 {qq:.0f} ns; qcow2/raw = {wq / wr:.2f}, wirt/QEMU = {wq / qq:.2f}")
    finally:
        if qemu:
            qemu.kill()
            qemu.wait()
        subprocess.run([wirt, "-c", "kvm:///session", "destroy bq; destroy br"], env=env,
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
