//! Console commands: single bytes (`p b r q x`, as the asm guest had) and
//! lines that start with `!` and end with a newline (GUEST.md lists them).

use smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};

use crate::console::{dec, hex, line, puts};
use crate::net::{Probe, ProbeKind};
use crate::{Guest, clock};

const LINE_MAX: usize = 160;

/// Collects a `!` line; None while not in one.
pub struct LineBuf {
    buf: [u8; LINE_MAX],
    len: Option<usize>,
}

impl LineBuf {
    pub const fn new() -> LineBuf {
        LineBuf {
            buf: [0; LINE_MAX],
            len: None,
        }
    }
}

/// Feeds one received byte.
pub fn byte(g: &mut Guest, b: u8) {
    match g.line.len {
        None => match b {
            b'!' => g.line.len = Some(0),
            b'p' => {
                g.pongs += 1;
                puts("guest: pong ");
                hex(g.pongs);
                puts("\n");
            }
            b'b' => {
                if let Some(d) = g.devices.disk(0) {
                    d.self_test();
                }
            }
            b'r' => crate::reboot(),
            b'q' => crate::power_off(),
            b'x' => crate::arch::crash(),
            _ => {}
        },
        Some(n) => match b {
            b'\n' | b'\r' => {
                g.line.len = None;
                let mut copy = [0u8; LINE_MAX];
                copy[..n].copy_from_slice(&g.line.buf[..n]);
                match core::str::from_utf8(&copy[..n]) {
                    Ok(text) => run(g, text),
                    Err(_) => line("error: not text"),
                }
            }
            _ if n == LINE_MAX => {
                g.line.len = None;
                line("error: line too long");
            }
            _ => {
                g.line.buf[n] = b;
                g.line.len = Some(n + 1);
            }
        },
    }
}

fn num(s: Option<&str>) -> Option<u64> {
    let s = s?;
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn ip(s: Option<&str>) -> Option<Ipv4Address> {
    s?.parse().ok()
}

/// `<name> <args...>: ` as the start of a command's answer.
fn echo(name: &str, args: &[u64]) {
    puts(name);
    for &a in args {
        puts(" ");
        dec(a);
    }
    puts(": ");
}

fn run(g: &mut Guest, text: &str) {
    let mut words = text.split_ascii_whitespace();
    let Some(name) = words.next() else {
        return;
    };
    match name {
        "fill" => {
            let (Some(d), Some(first), Some(count), Some(seed)) = (
                num(words.next()),
                num(words.next()),
                num(words.next()),
                num(words.next()),
            ) else {
                return line("fill: usage: fill <disk> <first-sector> <count> <seed>");
            };
            echo(name, &[d, first, count]);
            match g.devices.disk(d).map(|disk| disk.fill(first, count, seed)) {
                Some(Ok(())) => line("ok"),
                Some(Err(e)) => error(e),
                None => error("no such disk"),
            }
        }
        "sum" => {
            let (Some(d), Some(first), Some(count)) =
                (num(words.next()), num(words.next()), num(words.next()))
            else {
                return line("sum: usage: sum <disk> <first-sector> <count>");
            };
            echo(name, &[d, first, count]);
            match g.devices.disk(d).map(|disk| disk.sum(first, count)) {
                Some(Ok(h)) => {
                    hex(h);
                    puts("\n");
                }
                Some(Err(e)) => error(e),
                None => error("no such disk"),
            }
        }
        "randio" => {
            let (Some(d), Some(count), Some(span), Some(seed), rw) = (
                num(words.next()),
                num(words.next()),
                num(words.next()),
                num(words.next()),
                words.next(),
            ) else {
                return line("randio: usage: randio <disk> <count> <span-sectors> <seed> r|w");
            };
            let write = rw == Some("w");
            echo(name, &[d, count, span, seed]);
            match g
                .devices
                .disk(d)
                .map(|disk| disk.random_io(count, span, seed, write))
            {
                Some(Ok(ns)) => {
                    puts("ns/op ");
                    dec(ns);
                    puts("\n");
                }
                Some(Err(e)) => error(e),
                None => error("no such disk"),
            }
        }
        "flush" => {
            let Some(d) = num(words.next()) else {
                return line("flush: usage: flush <disk>");
            };
            echo(name, &[d]);
            match g.devices.disk(d).map(|disk| disk.flush()) {
                Some(Ok(())) => line("ok"),
                Some(Err(_)) => error("I/O error"),
                None => error("no such disk"),
            }
        }
        "dirty" => match words.next() {
            None => g.dirty.report(),
            Some("stop") => {
                g.dirty.stop();
                g.dirty.report();
            }
            mib => {
                let (Some(mib), Some(rate)) = (num(mib), num(words.next())) else {
                    return line("dirty: usage: dirty <MiB> <pages-per-ms> | dirty stop | dirty");
                };
                match g.dirty.start(mib, rate) {
                    Ok(()) => g.dirty.report(),
                    Err(e) => {
                        puts("dirty: error ");
                        puts(e);
                        puts(" (at most ");
                        dec(g.dirty.max_mib());
                        puts(" MiB)\n");
                    }
                }
            }
        },
        "rescan" => rescan(g),
        "net" => {
            let mut any = false;
            for nic in g.devices.nics.iter().flatten() {
                nic.status();
                any = true;
            }
            if !any {
                line("net: none");
            }
        }
        "ping" | "udp" => probe(g, name, &mut words),
        _ => {
            puts("error: unknown command ");
            puts(name);
            puts("\n");
        }
    }
}

fn error(e: &str) {
    puts("error ");
    puts(e);
    puts("\n");
}

fn probe<'a>(g: &mut Guest, name: &str, words: &mut impl Iterator<Item = &'a str>) {
    let Some(dst) = ip(words.next()) else {
        return line(if name == "ping" {
            "ping: usage: ping <ipv4>"
        } else {
            "udp: usage: udp <ipv4> <port> <text>"
        });
    };
    let port = if name == "udp" {
        match num(words.next()) {
            Some(p) if p > 0 && p <= 0xffff => p as u16,
            _ => return line("udp: usage: udp <ipv4> <port> <text>"),
        }
    } else {
        0
    };
    if g.probe.is_some() {
        return line("error: a ping or udp is still waiting");
    }
    // A NIC on the destination's subnet first, else one with a gateway.
    let on_link = g
        .devices
        .nics
        .iter()
        .flatten()
        .any(|n| n.reaches(dst, false));
    let nic = g
        .devices
        .nics
        .iter_mut()
        .flatten()
        .find(|n| n.reaches(dst, !on_link));
    let Some(nic) = nic else {
        puts(name);
        puts(": no route\n");
        return;
    };
    let index = nic.index;
    let t0 = clock::now_us();
    let sent = if name == "ping" {
        g.ping_seq = g.ping_seq.wrapping_add(1);
        nic.send_ping(dst, g.ping_seq)
    } else {
        let mut text = [0u8; 128];
        let mut len = 0;
        for (i, w) in words.enumerate() {
            for &b in if i > 0 { &b" "[..] } else { &b""[..] }
                .iter()
                .chain(w.as_bytes())
            {
                if len < text.len() {
                    text[len] = b;
                    len += 1;
                }
            }
        }
        nic.send_udp(IpEndpoint::new(IpAddress::Ipv4(dst), port), &text[..len])
    };
    if !sent {
        puts(name);
        puts(": cannot send\n");
        return;
    }
    g.probe = Some(Probe {
        nic: index,
        kind: if name == "ping" {
            ProbeKind::Ping { seq: g.ping_seq }
        } else {
            ProbeKind::Udp { port }
        },
        dst,
        sent_us: t0,
    });
}

/// Probes the virtio slots again and says what changed, then how many
/// devices there are (`!rescan`, and a hotplug notification).
pub fn rescan(g: &mut Guest) {
    let n = g.devices.scan();
    puts("rescan: ");
    dec(n as u64);
    puts(" devices\n");
}
