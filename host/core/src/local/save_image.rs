//! wirt's save image format, for `save`/`restore` and managed save:
//!
//! ```text
//! "WIRTSAVE" | version u32 BE (1) | flags u32 BE (bit 0: was running)
//! | xml length u32 BE | domain XML | the driver's own state, to the end
//! ```
//! The XML lets `restore` recreate the domain and `save-image-dumpxml`
//! show it without asking the driver.

use std::path::Path;

use crate::connect::{Error, Result};
use crate::error::ErrorCode;
use crate::xml::{DomainDef, FormatOptions, ParseOptions};

const MAGIC: &[u8; 8] = b"WIRTSAVE";
const VERSION: u32 = 1;
const HEADER: usize = 20;
/// Bound on the XML part, so a damaged header cannot ask for gigabytes.
const MAX_XML: usize = 4 * 1024 * 1024;

pub(crate) fn encode(def: &DomainDef, running: bool, payload: &[u8]) -> Vec<u8> {
    let xml = def.to_xml(FormatOptions::default());
    let mut out = Vec::with_capacity(HEADER + xml.len() + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&u32::from(running).to_be_bytes());
    out.extend_from_slice(&(xml.len() as u32).to_be_bytes());
    out.extend_from_slice(xml.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The parts of an image.
pub(super) struct Parsed<'a> {
    /// Whether the guest ran (not paused) when saved.
    pub running: bool,
    /// The domain definition.
    pub xml: &'a str,
    /// The driver's own state.
    pub payload: &'a [u8],
}

pub(super) fn parse(image: &[u8]) -> Result<Parsed<'_>> {
    let bad = |why: &str| {
        Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("not a wirt save image: {why}"),
        )
    };
    if image.len() < HEADER || &image[..8] != MAGIC {
        return Err(bad("missing header"));
    }
    let word = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().expect("4 bytes"));
    if word(8) != VERSION {
        return Err(bad(&format!("unsupported version {}", word(8))));
    }
    let xml_len = word(16) as usize;
    if xml_len > MAX_XML || HEADER + xml_len > image.len() {
        return Err(bad("truncated"));
    }
    let xml = std::str::from_utf8(&image[HEADER..HEADER + xml_len])
        .map_err(|_| bad("XML is not UTF-8"))?;
    Ok(Parsed {
        running: word(12) & 1 != 0,
        xml,
        payload: &image[HEADER + xml_len..],
    })
}

/// The driver's part of an image.
pub(crate) fn payload(image: &[u8]) -> Result<&[u8]> {
    Ok(parse(image)?.payload)
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

pub(super) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        what: format!("cannot read save image {}", path.display()),
        source,
    })
}

/// The domain XML stored in a save image (`save-image-dumpxml`).
pub(super) fn image_xml(path: &Path) -> Result<String> {
    let image = read(path)?;
    let parsed = parse(&image)?;
    let def = DomainDef::parse(parsed.xml, ParseOptions::default())?;
    Ok(def.to_xml(FormatOptions::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let def = DomainDef::new("vm", "test", 1024, 1);
        let image = encode(&def, true, b"driver-state");
        let parsed = parse(&image).unwrap();
        assert!(parsed.running);
        assert_eq!(parsed.payload, b"driver-state");
        assert!(parsed.xml.contains("<name>vm</name>"));
        assert!(parse(&image[..10]).is_err());
        let mut bad = image.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse(&bad).is_err());
        assert!(parse(b"garbage-garbage-garbage").is_err());
    }
}
