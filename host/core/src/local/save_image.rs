//! wirt's save image format, for `save`/`restore` and managed save:
//!
//! ```text
//! "WIRTSAVE" | version u32 BE (1) | flags u32 BE (bit 0: was running)
//! | xml length u32 BE | domain XML | the driver's own state, to the end
//! ```
//! The XML lets `restore` recreate the domain and `save-image-dumpxml`
//! show it without asking the driver. Images written to files pad the XML
//! with spaces so that the driver's state starts on a page boundary: its
//! zero pages can then be holes in the file.
//!
//! Files are written and read as streams: guest memory never sits whole in
//! the host's memory.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::connect::{Error, Result};
use crate::error::ErrorCode;
use crate::xml::{DomainDef, FormatOptions, ParseOptions};

const MAGIC: &[u8; 8] = b"WIRTSAVE";
const VERSION: u32 = 1;
const HEADER: usize = 20;
/// Bound on the XML part, so a damaged header cannot ask for gigabytes.
const MAX_XML: usize = 4 * 1024 * 1024;
/// Where the driver's state starts in an image file.
const PAYLOAD_ALIGN: usize = 4096;

fn header(def: &DomainDef, running: bool, align: usize) -> Vec<u8> {
    let mut xml = def.to_xml(FormatOptions::default());
    let end = (HEADER + xml.len()).div_ceil(align) * align;
    xml.extend(std::iter::repeat_n(' ', end - HEADER - xml.len()));
    let mut out = Vec::with_capacity(end);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&u32::from(running).to_be_bytes());
    out.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    out.extend_from_slice(xml.as_bytes());
    out
}

/// Writes an image to `path` atomically (a private temporary beside it,
/// synced, renamed over it): the header, then whatever `payload` writes
/// into the file from the current offset on.
pub(crate) fn write_file(
    path: &Path,
    def: &DomainDef,
    running: bool,
    payload: impl FnOnce(&mut File) -> Result<u64>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("save");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let io = |what: &str, source| Error::Io {
        what: format!("cannot {what} save image {}", path.display()),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("create", e))?;
    let result = (|| {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("protect", e))?;
        file.write_all(&header(def, running, PAYLOAD_ALIGN))
            .map_err(|e| io("write", e))?;
        payload(&mut file)?;
        file.sync_all().map_err(|e| io("sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("sync the directory of", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An image file opened for reading, positioned at the driver's state.
pub(crate) struct OpenImage {
    /// Whether the guest ran (not paused) when saved.
    pub running: bool,
    /// The domain definition.
    pub xml: String,
    /// The file, its offset at the driver's state.
    pub file: File,
    /// Bytes of driver state, to the end of the file.
    pub payload_len: u64,
}

/// Opens an image and reads its header, no further.
pub(crate) fn open(path: &Path) -> Result<OpenImage> {
    let io = |source| Error::Io {
        what: format!("cannot read save image {}", path.display()),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut fixed = [0u8; HEADER];
    let got = read_up_to(&mut file, &mut fixed).map_err(io)?;
    let (running, xml_len) = parse_fixed(&fixed[..got])?;
    if (HEADER + xml_len) as u64 > len {
        return Err(bad("truncated"));
    }
    let mut xml = vec![0u8; xml_len];
    file.read_exact(&mut xml).map_err(io)?;
    let xml = String::from_utf8(xml).map_err(|_| bad("XML is not UTF-8"))?;
    let at = file.stream_position().map_err(io)?;
    Ok(OpenImage {
        running,
        xml: xml.trim_end().to_string(),
        file,
        payload_len: len - at,
    })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

fn bad(why: &str) -> Error {
    Error::api(
        ErrorCode::OPERATION_FAILED,
        format!("not a wirt save image: {why}"),
    )
}

/// The fixed header's fields: whether it ran, and the XML's length.
fn parse_fixed(fixed: &[u8]) -> Result<(bool, usize)> {
    if fixed.len() < HEADER || &fixed[..8] != MAGIC {
        return Err(bad("missing header"));
    }
    let word = |at: usize| u32::from_be_bytes(fixed[at..at + 4].try_into().expect("4 bytes"));
    if word(8) != VERSION {
        return Err(bad(&format!("unsupported version {}", word(8))));
    }
    let xml_len = word(16) as usize;
    if xml_len > MAX_XML {
        return Err(bad("truncated"));
    }
    Ok((word(12) & 1 != 0, xml_len))
}

pub(crate) fn encode(def: &DomainDef, running: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = header(def, running, 1);
    out.extend_from_slice(payload);
    out
}

/// The driver's part of an in-memory image.
pub(crate) fn payload(image: &[u8]) -> Result<&[u8]> {
    let (_, xml_len) = parse_fixed(&image[..image.len().min(HEADER)])?;
    image
        .get(HEADER + xml_len..)
        .ok_or_else(|| bad("truncated"))
}

/// Fails early when `path` cannot be written, before a guest is stopped.
pub(crate) fn check_writable(path: &Path) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::api(
            ErrorCode::SYSTEM_ERROR,
            format!("{} is not a directory", dir.display()),
        )),
        Err(source) => Err(Error::Io {
            what: format!("cannot write save image {}", path.display()),
            source,
        }),
    }
}

/// The domain XML stored in a save image (`save-image-dumpxml`).
pub(super) fn image_xml(path: &Path) -> Result<String> {
    let image = open(path)?;
    let def = DomainDef::parse(&image.xml, ParseOptions::default())?;
    Ok(def.to_xml(FormatOptions::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let def = DomainDef::new("vm", "test", 1024, 1);
        let image = encode(&def, true, b"driver-state");
        let (running, xml_len) = parse_fixed(&image[..HEADER]).unwrap();
        assert!(running);
        assert_eq!(payload(&image).unwrap(), b"driver-state");
        let xml = std::str::from_utf8(&image[HEADER..HEADER + xml_len]).unwrap();
        assert!(xml.contains("<name>vm</name>"));
        assert!(payload(&image[..10]).is_err());
        let mut bad = image.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(payload(&bad).is_err());
        bad[16..20].copy_from_slice(&(image.len() as u32).to_be_bytes());
        assert!(payload(&bad).is_err(), "an XML length past the end");
        assert!(payload(b"garbage-garbage-garbage").is_err());
    }

    #[test]
    fn files_are_written_whole_or_not_at_all_and_read_as_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm.save");
        let def = DomainDef::new("vm", "test", 1024, 1);
        write_file(&path, &def, false, |f| {
            f.write_all(b"state").unwrap();
            Ok(5)
        })
        .unwrap();
        let mut image = open(&path).unwrap();
        assert!(!image.running);
        assert!(image.xml.ends_with("</domain>"), "{}", image.xml);
        assert_eq!(image.payload_len, 5);
        let at = image.file.stream_position().unwrap();
        assert_eq!(at % PAYLOAD_ALIGN as u64, 0, "the state is page-aligned");
        let mut state = String::new();
        image.file.read_to_string(&mut state).unwrap();
        assert_eq!(state, "state");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // A driver that fails leaves the previous image and no temporary.
        let failed = write_file(&path, &def, true, |f| {
            f.write_all(b"half").unwrap();
            Err(bad("driver failed"))
        });
        assert!(failed.is_err());
        assert!(!open(&path).unwrap().running, "the old image is intact");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["vm.save"]);
        // The same bytes as an in-memory image but for the padding.
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(payload(&bytes).unwrap(), b"state");
    }
}
