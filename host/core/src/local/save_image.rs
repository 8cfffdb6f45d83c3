//! wirt's save image format, for `save`/`restore` and managed save:
//!
//! ```text
//! "WIRTSAVE" | version u32 BE (1) | flags u32 BE (bit 0: was running)
//! | xml length u32 BE | domain XML | the driver's own state, to the end
//! ```
//! The XML lets `restore` recreate the domain and `save-image-dumpxml`
//! show it without asking the driver.

use std::path::Path;

use super::Local;
use super::domain::{apply_outcome, check_unique, domain_ref, facts};
use crate::connect::{DomainRef, Error, Result, check_flags};
use crate::driver::SAVE_PAUSED;
use crate::error::ErrorCode;
use crate::lifecycle::{self, Op, State};
use crate::registry::DomainObj;
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

struct Parsed<'a> {
    running: bool,
    xml: &'a str,
    payload: &'a [u8],
}

fn parse(image: &[u8]) -> Result<Parsed<'_>> {
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

fn read(path: &Path) -> Result<Vec<u8>> {
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

impl Local {
    /// Restores a domain saved to `path`. flags: 2 running, 4 paused
    /// (default: as it was when saved).
    pub(super) fn restore_image(&self, path: &Path, flags: u32) -> Result<DomainRef> {
        let state = &self.state;
        check_flags(flags, 1 | 2 | 4, "virDomainRestoreFlags")?;
        let image = read(path)?;
        let parsed = parse(&image)?;
        let def = self.parse_domain(parsed.xml, false)?;
        let paused = match flags & 6 {
            4 => true,
            2 => false,
            _ => !parsed.running,
        };
        let paused_requested = flags & 6 == 4;
        let mut reg = state.lock();
        self.restore_driver_state(&mut reg)?;
        // The same uniqueness rules as define and create.
        check_unique(&reg, &def)?;
        let uuid = def.uuid;
        let existed = match reg.domain(&uuid) {
            Some(obj) => {
                lifecycle::check(
                    obj.name(),
                    &facts(obj),
                    Op::Restore {
                        paused: paused_requested,
                    },
                )?;
                true
            }
            None => false,
        };
        let config = self.driver_config(&reg, &def, None)?;
        let status = state.drivers.hypervisor.restore(
            &config,
            &mut std::io::Cursor::new(parsed.payload),
            parsed.payload.len() as u64,
            if paused { SAVE_PAUSED } else { 0 },
        )?;
        if existed {
            let obj = reg.domain_mut(&uuid).expect("checked");
            obj.live = Some(def);
        } else {
            let mut obj = DomainObj::new_inactive(def.clone());
            obj.config = None;
            obj.live = Some(def);
            reg.insert_domain(obj);
        }
        let obj = reg.domain(&uuid).expect("stored");
        let mut before = facts(obj);
        before.state = State::Shutoff;
        let out = lifecycle::outcome(
            &before,
            Op::Restore {
                paused: paused_requested,
            },
            Some((
                State::from_u32(status.state).unwrap_or(State::Running),
                status.reason,
            )),
        );
        let events = apply_outcome(state, &mut reg, &uuid, &out, Some(status))?;
        let handle = domain_ref(reg.domain(&uuid).expect("restored"));
        drop(reg);
        state.emit(events);
        Ok(handle)
    }
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
