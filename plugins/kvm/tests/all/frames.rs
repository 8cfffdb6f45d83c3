//! Just enough Ethernet, ARP, IPv4, ICMP and TCP to talk to a kernel
//! through a tap.

pub const BROADCAST: [u8; 6] = [0xff; 6];
pub const ETH_ARP: u16 = 0x0806;
pub const ETH_IP: u16 = 0x0800;

/// Ones'-complement sum, folded, not inverted.
pub fn sum(data: &[u8], mut acc: u32) -> u16 {
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        acc += u32::from(w);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

pub fn eth(dst: [u8; 6], src: [u8; 6], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn arp_request(mac: [u8; 6], ip: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&mac);
    a.extend_from_slice(&ip);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&target);
    eth(BROADCAST, mac, ETH_ARP, &a)
}

pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = !sum(&h, 0);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

pub fn icmp_echo(id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let c = !sum(&m, 0);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

fn pseudo(src: [u8; 4], dst: [u8; 4], len: usize) -> u32 {
    let mut p = Vec::new();
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[0, 6]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    u32::from(sum(&p, 0))
}

pub fn tcp_syn(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    let c = !sum(&t, pseudo(src, dst, t.len()));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// Whether the TCP segment in an IPv4 packet has a correct checksum.
pub fn tcp_checksum_ok(ip: &[u8]) -> bool {
    let src: [u8; 4] = ip[12..16].try_into().unwrap();
    let dst: [u8; 4] = ip[16..20].try_into().unwrap();
    let seg = &ip[20..];
    sum(seg, pseudo(src, dst, seg.len())) == 0xffff
}

/// A received frame, virtio-net header split off.
#[derive(Debug, Clone)]
pub struct Rx {
    pub hdr: [u8; 12],
    pub frame: Vec<u8>,
}

impl Rx {
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.frame[12], self.frame[13]])
    }

    pub fn src_mac(&self) -> [u8; 6] {
        self.frame[6..12].try_into().unwrap()
    }

    /// The IPv4 packet, if the frame carries one.
    pub fn ip(&self) -> Option<&[u8]> {
        (self.ethertype() == ETH_IP).then(|| &self.frame[14..])
    }

    pub fn is_arp_reply(&self) -> bool {
        self.ethertype() == ETH_ARP && self.frame[20..22] == [0, 2]
    }

    pub fn is_echo_reply(&self) -> bool {
        self.ip().is_some_and(|ip| ip[9] == 1 && ip[20] == 0)
    }

    /// TCP with SYN and ACK set.
    pub fn is_syn_ack(&self) -> bool {
        self.ip()
            .is_some_and(|ip| ip[9] == 6 && ip[33] & 0x12 == 0x12)
    }
}
