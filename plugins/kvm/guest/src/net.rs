//! One smoltcp interface per NIC: DHCPv4 client, ARP and ICMP echo (by
//! smoltcp), UDP and TCP echo on port 7, and the probes behind the `ping`
//! and `udp` commands.

use alloc::vec;
use alloc::vec::Vec;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpEndpoint,
    Ipv4Address, Ipv4Cidr,
};
use virtio_drivers::transport::mmio::MmioTransport;

use crate::console::{dec, ipv4, mac, put_bytes, puts};
use crate::nic::Port;
use crate::{arch, clock};

const ECHO_PORT: u16 = 7;
/// Local port of the `udp` command's socket.
const PROBE_PORT: u16 = 40007;
/// ICMP identifier of the `ping` command.
const PING_IDENT: u16 = 0x5752;
const PROBE_TIMEOUT_US: u64 = 3_000_000;

pub fn now() -> Instant {
    Instant::from_micros(clock::now_us() as i64)
}

pub struct Nic {
    pub index: usize,
    port: Port,
    iface: Interface,
    sockets: SocketSet<'static>,
    dhcp: SocketHandle,
    udp: SocketHandle,
    tcp: SocketHandle,
    icmp: SocketHandle,
    probe: SocketHandle,
    /// Config-space address of the link status, if the device has one.
    status_reg: Option<u64>,
    link_up: bool,
    pub lease: Option<(Ipv4Cidr, Option<Ipv4Address>)>,
}

fn prefix(index: usize) {
    puts("net");
    dec(index as u64);
    puts(": ");
}

fn udp_socket(payload: usize) -> udp::Socket<'static> {
    let buf = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0u8; payload]);
    udp::Socket::new(buf(), buf())
}

impl Nic {
    /// Brings the device up, prints its MAC and starts DHCP. `base` is its
    /// MMIO window; `has_status` whether it offers VIRTIO_NET_F_STATUS.
    pub fn new(
        transport: MmioTransport<'static>,
        index: usize,
        base: u64,
        has_status: bool,
    ) -> Option<Nic> {
        clock::init();
        let Some(mut port) = Port::new(transport) else {
            prefix(index);
            puts("unusable device\n");
            return None;
        };
        let hw = port.mac();
        prefix(index);
        puts("mac ");
        mac(hw);
        puts("\n");
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(hw)));
        config.random_seed =
            arch::rdtsc() ^ u64::from_le_bytes([hw[0], hw[1], hw[2], hw[3], hw[4], hw[5], 0, 0]);
        let iface = Interface::new(config, &mut port, now());
        let mut sockets = SocketSet::new(Vec::new());
        let dhcp = sockets.add(dhcpv4::Socket::new());
        let mut echo = udp_socket(4096);
        let _ = echo.bind(ECHO_PORT);
        let udp = sockets.add(echo);
        let tcp = sockets.add(tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0u8; 4096]),
            tcp::SocketBuffer::new(vec![0u8; 4096]),
        ));
        let icmp_buf =
            || icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0u8; 1024]);
        let icmp = sockets.add(icmp::Socket::new(icmp_buf(), icmp_buf()));
        let mut probe = udp_socket(2048);
        let _ = probe.bind(PROBE_PORT);
        let probe = sockets.add(probe);
        let mut nic = Nic {
            index,
            port,
            iface,
            sockets,
            dhcp,
            udp,
            tcp,
            icmp,
            probe,
            status_reg: has_status.then_some(base + 0x100 + 6),
            link_up: true,
            lease: None,
        };
        nic.link_up = nic.read_link();
        if !nic.link_up {
            prefix(index);
            puts("link down\n");
        }
        Some(nic)
    }

    fn read_link(&self) -> bool {
        match self.status_reg {
            // SAFETY: the device's config space, mapped by the identity map;
            // VIRTIO_NET_F_STATUS makes this field valid.
            Some(reg) => (unsafe { core::ptr::read_volatile(reg as *const u16) }) & 1 != 0,
            None => true,
        }
    }

    /// Interrupt: acknowledge it and follow link changes.
    pub fn interrupt(&mut self) {
        if self.port.ack() {
            let up = self.read_link();
            if up != self.link_up {
                self.link_up = up;
                prefix(self.index);
                puts(if up { "link up\n" } else { "link down\n" });
                // A new link may be a new network: ask for a lease again.
                self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).reset();
            }
        }
    }

    /// Runs the stack and the services; returns when it next wants to run.
    pub fn service(&mut self) -> Option<Instant> {
        let t = now();
        self.iface.poll(t, &mut self.port, &mut self.sockets);
        self.dhcp_events();
        if self.echo() {
            self.iface.poll_egress(t, &mut self.port, &mut self.sockets);
        }
        self.iface.poll_at(t, &self.sockets)
    }

    fn dhcp_events(&mut self) {
        let event = self.sockets.get_mut::<dhcpv4::Socket>(self.dhcp).poll();
        match event {
            Some(dhcpv4::Event::Configured(c)) => {
                let (cidr, router) = (c.address, c.router);
                self.iface.update_ip_addrs(|addrs| {
                    addrs.clear();
                    let _ = addrs.push(IpCidr::Ipv4(cidr));
                });
                match router {
                    Some(gw) => {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(gw);
                    }
                    None => {
                        self.iface.routes_mut().remove_default_ipv4_route();
                    }
                }
                self.lease = Some((cidr, router));
                prefix(self.index);
                puts("lease ");
                self.print_lease();
                puts("\n");
            }
            Some(dhcpv4::Event::Deconfigured) => {
                self.iface.update_ip_addrs(|addrs| addrs.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                if self.lease.take().is_some() {
                    prefix(self.index);
                    puts("lease lost\n");
                }
            }
            None => {}
        }
    }

    /// `<ip>/<prefix> gw <gw>` (or `none`).
    fn print_lease(&self) {
        match self.lease {
            Some((cidr, gw)) => {
                ipv4(cidr.address().octets());
                puts("/");
                dec(u64::from(cidr.prefix_len()));
                puts(" gw ");
                match gw {
                    Some(gw) => ipv4(gw.octets()),
                    None => puts("none"),
                }
            }
            None => puts("none"),
        }
    }

    /// UDP and TCP echo; true if something was queued to send.
    fn echo(&mut self) -> bool {
        let mut sent = false;
        let mut buf = [0u8; 1500];
        let s = self.sockets.get_mut::<udp::Socket>(self.udp);
        while let Ok((n, meta)) = s.recv_slice(&mut buf) {
            sent |= s.send_slice(&buf[..n], meta.endpoint).is_ok();
        }
        let s = self.sockets.get_mut::<tcp::Socket>(self.tcp);
        if !s.is_open() {
            let _ = s.listen(ECHO_PORT);
        }
        while s.can_recv() && s.can_send() {
            let room = (s.send_capacity() - s.send_queue()).min(buf.len());
            match s.recv_slice(&mut buf[..room]) {
                Ok(n) if n > 0 => sent |= s.send_slice(&buf[..n]).is_ok(),
                _ => break,
            }
        }
        // The peer closed: close our side once everything is echoed.
        if s.state() == tcp::State::CloseWait && s.send_queue() == 0 {
            s.close();
            sent = true;
        }
        sent
    }

    /// Whether this NIC reaches `dst`: on its own subnet, or (`via_gateway`)
    /// through its default route.
    pub fn reaches(&self, dst: Ipv4Address, via_gateway: bool) -> bool {
        self.link_up
            && self
                .lease
                .is_some_and(|(cidr, gw)| cidr.contains_addr(&dst) || (via_gateway && gw.is_some()))
    }

    pub fn status(&self) {
        prefix(self.index);
        puts("mac ");
        mac(self.port.mac());
        puts(if self.link_up {
            " link up ip "
        } else {
            " link down ip "
        });
        self.print_lease();
        puts(" rx ");
        dec(self.port.rx_packets);
        puts(" tx ");
        dec(self.port.tx_packets());
        puts("\n");
    }

    /// Sends echo request `seq` to `dst`.
    pub fn send_ping(&mut self, dst: Ipv4Address, seq: u16) -> bool {
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        if !s.is_open() && s.bind(icmp::Endpoint::Ident(PING_IDENT)).is_err() {
            return false;
        }
        let repr = Icmpv4Repr::EchoRequest {
            ident: PING_IDENT,
            seq_no: seq,
            data: b"wirt test guest ping",
        };
        let Ok(buf) = s.send(repr.buffer_len(), IpAddress::Ipv4(dst)) else {
            return false;
        };
        let mut packet = Icmpv4Packet::new_unchecked(buf);
        repr.emit(&mut packet, &ChecksumCapabilities::default());
        self.kick();
        true
    }

    /// Whether echo reply `seq` from `dst` arrived.
    pub fn ping_reply(&mut self, dst: Ipv4Address, seq: u16) -> bool {
        let s = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        while let Ok((data, from)) = s.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(data) else {
                continue;
            };
            if let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                Icmpv4Repr::parse(&packet, &ChecksumCapabilities::ignored())
                && from == IpAddress::Ipv4(dst)
                && ident == PING_IDENT
                && seq_no == seq
            {
                return true;
            }
        }
        false
    }

    pub fn send_udp(&mut self, to: IpEndpoint, data: &[u8]) -> bool {
        let s = self.sockets.get_mut::<udp::Socket>(self.probe);
        while s.recv().is_ok() {} // stale replies
        let ok = s.send_slice(data, to).is_ok();
        self.kick();
        ok
    }

    /// Prints the reply from `from`, if one arrived.
    pub fn udp_reply(&mut self, from: IpEndpoint) -> bool {
        let s = self.sockets.get_mut::<udp::Socket>(self.probe);
        while let Ok((data, meta)) = s.recv() {
            if meta.endpoint == from {
                put_bytes(data);
                return true;
            }
        }
        false
    }

    /// Sends what the probes queued.
    fn kick(&mut self) {
        self.iface
            .poll_egress(now(), &mut self.port, &mut self.sockets);
    }
}

/// A `ping` or `udp` command waiting for its answer.
pub struct Probe {
    pub nic: usize,
    pub kind: ProbeKind,
    pub dst: Ipv4Address,
    pub sent_us: u64,
}

pub enum ProbeKind {
    Ping { seq: u16 },
    Udp { port: u16 },
}

impl Probe {
    fn label(&self) {
        match self.kind {
            ProbeKind::Ping { .. } => {
                puts("ping ");
                ipv4(self.dst.octets());
            }
            ProbeKind::Udp { port } => {
                puts("udp ");
                ipv4(self.dst.octets());
                puts(":");
                dec(u64::from(port));
            }
        }
        puts(": ");
    }

    /// Checks for the answer; true once the probe is over (answered or
    /// timed out), after printing its result.
    pub fn check(&self, nic: &mut Nic) -> bool {
        let elapsed = clock::now_us().saturating_sub(self.sent_us);
        let answered = match self.kind {
            ProbeKind::Ping { seq } => {
                if nic.ping_reply(self.dst, seq) {
                    self.label();
                    puts("reply seq ");
                    dec(u64::from(seq));
                    puts(" time ");
                    dec(elapsed);
                    puts(" us\n");
                    true
                } else {
                    false
                }
            }
            ProbeKind::Udp { port } => {
                let from = IpEndpoint::new(IpAddress::Ipv4(self.dst), port);
                // The label comes first, so peek before printing.
                let s = nic.sockets.get::<udp::Socket>(nic.probe);
                if s.can_recv() {
                    self.label();
                    puts("reply ");
                    let got = nic.udp_reply(from);
                    if !got {
                        puts("(other sender)");
                    }
                    puts("\n");
                    true
                } else {
                    false
                }
            }
        };
        if !answered && elapsed >= PROBE_TIMEOUT_US {
            self.label();
            puts("timeout\n");
            return true;
        }
        answered
    }

    /// When the probe times out.
    pub fn deadline(&self) -> Instant {
        Instant::from_micros((self.sent_us + PROBE_TIMEOUT_US) as i64)
    }
}
