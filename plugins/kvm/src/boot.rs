//! Loading a kernel for the Linux 64-bit boot protocol: bzImage or ELF
//! (vmlinux, or the test guest), an initrd, the command line and the zero
//! page with its E820 map.

use std::io::Cursor;

use linux_loader::cmdline::Cmdline;
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::loader::{BzImage, Elf, KernelLoader, load_cmdline};
use vm_memory::{Address, Bytes, GuestAddress};

use crate::layout;
use crate::memory::{self, GuestMemoryMmap};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The kernel image is neither ELF nor bzImage, or does not fit.
    #[error("cannot load the kernel image")]
    Kernel(#[source] linux_loader::loader::Error),
    /// The command line is invalid or too long.
    #[error("invalid kernel command line")]
    Cmdline(#[source] linux_loader::cmdline::Error),
    /// Writing the command line into guest memory failed.
    #[error("cannot write the command line into guest memory")]
    LoadCmdline(#[source] linux_loader::loader::Error),
    /// The initrd does not fit between the kernel and the top of low memory.
    #[error("the initrd ({0} bytes) does not fit in guest memory")]
    InitrdTooBig(usize),
    /// Writing the zero page or initrd failed.
    #[error("cannot write boot data into guest memory")]
    GuestMemory(#[source] vm_memory::GuestMemoryError),
}

/// What to boot.
#[derive(Clone, Debug)]
pub struct BootImage {
    /// bzImage or ELF bytes.
    pub kernel: std::sync::Arc<Vec<u8>>,
    /// Optional initial ramdisk.
    pub initrd: Option<std::sync::Arc<Vec<u8>>>,
    /// Kernel command line, without the virtio-mmio device announcements.
    pub cmdline: String,
}

/// A virtio-mmio device to announce on the command line.
#[derive(Clone, Copy, Debug)]
pub struct MmioAnnounce {
    /// Base address of its window.
    pub addr: u64,
    /// Its GSI.
    pub irq: u32,
}

const KERNEL_BOOT_FLAG_MAGIC: u16 = 0xaa55;
const KERNEL_HDR_MAGIC: u32 = 0x5372_6448;
const KERNEL_LOADER_OTHER: u8 = 0xff;
const KERNEL_MIN_ALIGNMENT: u32 = 0x100_0000;
const E820_RAM: u32 = 1;

/// The full command line: the given one plus `virtio_mmio.device=` entries.
pub fn cmdline(base: &str, devices: &[MmioAnnounce]) -> Result<Cmdline, BootError> {
    let mut cl = Cmdline::new(layout::CMDLINE_MAX).map_err(BootError::Cmdline)?;
    if !base.trim().is_empty() {
        cl.insert_str(base.trim()).map_err(BootError::Cmdline)?;
    }
    for (id, d) in devices.iter().enumerate() {
        cl.add_virtio_mmio_device(
            layout::VIRTIO_MMIO_SIZE,
            GuestAddress(d.addr),
            d.irq,
            Some(id as u32),
        )
        .map_err(BootError::Cmdline)?;
    }
    Ok(cl)
}

/// Loads `image` into `mem` and writes the zero page; returns the 64-bit entry point.
pub fn load(
    mem: &GuestMemoryMmap,
    image: &BootImage,
    devices: &[MmioAnnounce],
) -> Result<u64, BootError> {
    let mut kernel = Cursor::new(image.kernel.as_slice());
    let himem = Some(GuestAddress(layout::HIMEM));
    let is_elf = image.kernel.starts_with(b"\x7fELF");
    let (entry, kernel_end, header) = if is_elf {
        let r = Elf::load(mem, None, &mut kernel, himem).map_err(BootError::Kernel)?;
        (r.kernel_load.raw_value(), r.kernel_end, None)
    } else {
        let r = BzImage::load(mem, None, &mut kernel, himem).map_err(BootError::Kernel)?;
        // The 64-bit entry point of a bzImage sits 0x200 past its start.
        (
            r.kernel_load.raw_value() + 0x200,
            r.kernel_end,
            r.setup_header,
        )
    };

    let cl = cmdline(&image.cmdline, devices)?;
    load_cmdline(mem, GuestAddress(layout::CMDLINE), &cl).map_err(BootError::LoadCmdline)?;
    let cmdline_len = cl
        .as_cstring()
        .map_err(BootError::Cmdline)?
        .as_bytes()
        .len();

    let mut params = boot_params::default();
    if let Some(h) = header {
        params.hdr = h;
    }
    params.hdr.type_of_loader = KERNEL_LOADER_OTHER;
    params.hdr.boot_flag = KERNEL_BOOT_FLAG_MAGIC;
    params.hdr.header = KERNEL_HDR_MAGIC;
    params.hdr.cmd_line_ptr = layout::CMDLINE as u32;
    params.hdr.cmdline_size = cmdline_len as u32;
    params.hdr.kernel_alignment = KERNEL_MIN_ALIGNMENT;

    let low_end = memory::low_end(mem);
    if let Some(initrd) = &image.initrd {
        let addr = low_end
            .checked_sub(initrd.len() as u64)
            .map(|a| a & !0xfff)
            .filter(|a| *a >= kernel_end)
            .ok_or(BootError::InitrdTooBig(initrd.len()))?;
        mem.write_slice(initrd, GuestAddress(addr))
            .map_err(BootError::GuestMemory)?;
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = initrd.len() as u32;
    }

    let mut e820 = vec![
        (0, layout::MPTABLE),
        (layout::HIMEM, low_end - layout::HIMEM),
    ];
    for (start, len) in memory::regions(mem) {
        if start >= layout::MMIO_GAP_END {
            e820.push((start, len));
        }
    }
    for (i, (addr, size)) in e820.iter().enumerate() {
        params.e820_table[i] = boot_e820_entry {
            addr: *addr,
            size: *size,
            r#type: E820_RAM,
        };
    }
    params.e820_entries = e820.len() as u8;
    mem.write_obj(params, GuestAddress(layout::ZERO_PAGE))
        .map_err(BootError::GuestMemory)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_announces_devices() {
        let cl = cmdline(
            "console=ttyS0",
            &[MmioAnnounce {
                addr: 0xd000_0000,
                irq: 5,
            }],
        )
        .unwrap();
        let s = cl.as_cstring().unwrap().into_string().unwrap();
        assert_eq!(s, "console=ttyS0 virtio_mmio.device=4K@0xd0000000:5:0");
    }

    #[test]
    fn loads_the_test_guest() {
        let mem = memory::create(32 << 20).unwrap();
        let image = BootImage {
            kernel: std::sync::Arc::new(crate::guest::TEST_GUEST.to_vec()),
            initrd: Some(std::sync::Arc::new(vec![7u8; 5000])),
            cmdline: String::new(),
        };
        let entry = load(&mem, &image, &[]).unwrap();
        assert_eq!(entry, layout::HIMEM);
        let p: boot_params = mem.read_obj(GuestAddress(layout::ZERO_PAGE)).unwrap();
        assert_eq!(p.e820_entries, 2);
        let rd = p.hdr.ramdisk_image;
        assert_eq!(rd % 4096, 0);
        assert!(u64::from(rd) + 5000 <= 32 << 20);
    }
}
