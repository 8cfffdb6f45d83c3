//! COM1 output without core::fmt: formatting machinery costs thousands of
//! emulated instructions a line, these helpers a few per character.

use crate::arch::{inb, outb};

const COM1: u16 = 0x3f8;

/// Turns on the "received data" interrupt (IRQ 4). OUT2 gates the IRQ line
/// on real UARTs.
pub fn init() {
    outb(COM1 + 1, 0x01);
    outb(COM1 + 4, 0x08);
}

/// The next received byte, if any.
pub fn read_byte() -> Option<u8> {
    (inb(COM1 + 5) & 1 != 0).then(|| inb(COM1))
}

pub fn putc(c: u8) {
    outb(COM1, c);
}

pub fn puts(s: &str) {
    for &b in s.as_bytes() {
        putc(b);
    }
}

/// `s` then a newline.
pub fn line(s: &str) {
    puts(s);
    putc(b'\n');
}

/// Bytes as text, with anything unprintable shown as `.`.
pub fn put_bytes(bytes: &[u8]) {
    for &b in bytes {
        putc(if (0x20..0x7f).contains(&b) { b } else { b'.' });
    }
}

/// 16 hex digits, as the asm guest printed them.
pub fn hex(v: u64) {
    for i in (0..16).rev() {
        putc(b"0123456789abcdef"[(v >> (i * 4)) as usize & 0xf]);
    }
}

/// Two hex digits.
pub fn hex8(v: u8) {
    putc(b"0123456789abcdef"[(v >> 4) as usize]);
    putc(b"0123456789abcdef"[(v & 0xf) as usize]);
}

pub fn dec(mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        putc(b);
    }
}

pub fn ipv4(a: [u8; 4]) {
    for (i, b) in a.iter().enumerate() {
        if i > 0 {
            putc(b'.');
        }
        dec(u64::from(*b));
    }
}

pub fn mac(m: [u8; 6]) {
    for (i, b) in m.iter().enumerate() {
        if i > 0 {
            putc(b':');
        }
        hex8(*b);
    }
}
