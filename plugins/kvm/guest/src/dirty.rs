//! Memory dirtying for save/restore and migration tests: while on, every
//! millisecond the guest writes the running page counter into the next
//! `rate` pages of a region, round robin.

use crate::clock;
use crate::console::{dec, puts};

const PAGE: u64 = 4096;
/// Most milliseconds of backlog caught up at once (after a pause, or a
/// restore, the guest does not stall writing pages for the whole gap).
const MAX_CATCH_UP_MS: u64 = 10;

pub struct Dirty {
    /// Region start, from the end of the guest image to the end of RAM.
    start: u64,
    limit: u64,
    pages: u64,
    rate: u64,
    next_page: u64,
    /// Pages written since boot: grows only while dirtying is on.
    pub counter: u64,
    /// Time (ns) of the next tick, while on.
    next_ns: Option<u64>,
}

impl Dirty {
    pub fn new(start: u64, end: u64) -> Dirty {
        Dirty {
            start,
            limit: end.saturating_sub(start),
            pages: 0,
            rate: 0,
            next_page: 0,
            counter: 0,
            next_ns: None,
        }
    }

    /// Starts writing `rate` pages per millisecond over `mib` MiB.
    pub fn start(&mut self, mib: u64, rate: u64) -> Result<(), &'static str> {
        let bytes = mib.checked_mul(1 << 20).ok_or("too large")?;
        if bytes == 0 || bytes > self.limit {
            return Err("size out of range");
        }
        if rate == 0 || rate > 1_000_000 {
            return Err("rate out of range");
        }
        clock::init();
        self.pages = bytes / PAGE;
        self.rate = rate;
        self.next_page = 0;
        self.next_ns = Some(clock::now_ns());
        Ok(())
    }

    pub fn stop(&mut self) {
        self.next_ns = None;
    }

    /// The largest region, in MiB.
    pub fn max_mib(&self) -> u64 {
        self.limit >> 20
    }

    /// When the next tick is due (ns), while on.
    pub fn due(&self) -> Option<u64> {
        self.next_ns
    }

    /// Writes the pages of the ticks that are due.
    pub fn run(&mut self) {
        let Some(next) = self.next_ns else {
            return;
        };
        let now = clock::now_ns();
        if now < next {
            return;
        }
        let ticks = ((now - next) / 1_000_000 + 1).min(MAX_CATCH_UP_MS);
        for _ in 0..ticks * self.rate {
            self.counter += 1;
            let addr = self.start + self.next_page * PAGE;
            // SAFETY: the region lies between the end of the guest image and
            // the end of RAM (checked in start), memory nothing else uses.
            unsafe { core::ptr::write_volatile(addr as *mut u64, self.counter) };
            self.next_page += 1;
            if self.next_page == self.pages {
                self.next_page = 0;
            }
        }
        self.next_ns = Some(now + 1_000_000);
    }

    pub fn report(&self) {
        puts("dirty: ");
        puts(if self.next_ns.is_some() { "on" } else { "off" });
        puts(" counter ");
        dec(self.counter);
        puts("\n");
    }
}
