//! Overlays' backing stores on the host's side: the `<backingStore>` of a
//! new volume resolved (it must exist; its format is the one given or the
//! one this host already knows for that volume — never probed from the
//! image's content), and the backing store an existing qcow2 names, read
//! from its header for `vol-dumpxml`.

use std::io::Read;

use crate::connect::{Error, Result};
use crate::driver::BackingStore;
use crate::error::ErrorCode;
use crate::registry::Registry;
use crate::xml::VolumeDef;

/// The backing store a new volume names, checked, and the capacity it
/// gets when it names none (the backing's virtual size).
pub(super) fn resolve(reg: &Registry, def: &mut VolumeDef) -> Result<Option<BackingStore>> {
    let Some(store) = def.extra.iter().find(|e| e.name == "backingStore") else {
        return Ok(None);
    };
    let Some(path) = store.child("path").map(|p| p.text()) else {
        return Err(Error::api(
            ErrorCode::XML_ERROR,
            "missing backing store path in volume XML",
        ));
    };
    let known = reg
        .pools
        .values()
        .flat_map(|p| p.volumes.values())
        .find(|v| v.path == path);
    let format = store
        .child("format")
        .and_then(|f| f.attr("type"))
        .map(String::from)
        .or_else(|| known.map(|v| v.format.clone()))
        .ok_or_else(|| {
            Error::api(
                ErrorCode::CONFIG_UNSUPPORTED,
                format!(
                    "the format of backing store '{path}' must be given: wirt never guesses an image's format from its content"
                ),
            )
        })?;
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("cannot access backing store '{path}': {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(Error::api(
            ErrorCode::OPERATION_FAILED,
            format!("backing store '{path}' is not a regular file"),
        ));
    }
    if def.capacity == 0 {
        def.capacity = match format.as_str() {
            "raw" => meta.len(),
            "qcow2" => read_header(&path).map(|h| h.size).unwrap_or(0),
            _ => 0,
        };
    }
    Ok(Some(BackingStore { path, format }))
}

/// What a qcow2 header says of itself.
pub(super) struct Header {
    pub size: u64,
    /// The backing path and, if written, its format.
    pub backing: Option<(String, Option<String>)>,
}

/// Reads the header of the qcow2 image at `path`, if it is one.
pub(super) fn read_header(path: &str) -> Option<Header> {
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .take(65536)
        .read_to_end(&mut head)
        .ok()?;
    let be32 = |at: usize| Some(u32::from_be_bytes(head.get(at..at + 4)?.try_into().ok()?));
    let be64 = |at: usize| Some(u64::from_be_bytes(head.get(at..at + 8)?.try_into().ok()?));
    if head.get(..4)? != b"QFI\xfb" {
        return None;
    }
    let size = be64(24)?;
    let (offset, len) = (be64(8)? as usize, be32(16)? as usize);
    if offset == 0 || len == 0 {
        return Some(Header {
            size,
            backing: None,
        });
    }
    let path = String::from_utf8(head.get(offset..offset + len)?.to_vec()).ok()?;
    // Header extensions start after the header (version 3: its length at 100).
    let mut at = if be32(4)? >= 3 {
        be32(100)? as usize
    } else {
        72
    };
    let mut format = None;
    while let (Some(kind), Some(n)) = (be32(at), be32(at + 4)) {
        if kind == 0 {
            break;
        }
        if kind == 0xE279_2ACA {
            format = head
                .get(at + 8..at + 8 + n as usize)
                .and_then(|f| String::from_utf8(f.to_vec()).ok());
        }
        at += 8 + (n as usize).next_multiple_of(8);
    }
    Some(Header {
        size,
        backing: Some((path, format)),
    })
}

/// The backing file the qcow2 image at `path` names (relative names taken
/// against its directory, as qemu does) and the format it records.
pub(super) fn backing_file(path: &str) -> Option<(std::path::PathBuf, Option<String>)> {
    let (name, format) = read_header(path)?.backing?;
    let name = std::path::Path::new(&name);
    let resolved = match std::path::Path::new(path).parent() {
        Some(dir) if name.is_relative() => dir.join(name),
        _ => name.to_path_buf(),
    };
    Some((resolved, format))
}

/// The chain of the image `top` (of `top_format`), top first: each image
/// as its header above names it, with its format (raw when unrecorded).
/// A header naming an image already in the chain ends it there (the VMM
/// refuses such chains; here they just stop). Only a qcow2 image's header
/// is read: a raw image's content is the guest's, and a guest that writes
/// a qcow2 header must not make the host follow the path in it.
pub(super) fn chain(top: &str, top_format: &str) -> Vec<(String, String)> {
    let canonical = |p: &str| std::fs::canonicalize(p).unwrap_or_else(|_| p.into());
    let mut out = vec![(top.to_string(), top_format.to_string())];
    let mut seen = vec![canonical(top)];
    while let Some((below, format)) = out
        .last()
        .filter(|(_, format)| format == "qcow2")
        .and_then(|(image, _)| backing_file(image))
    {
        let below = below.display().to_string();
        if seen.contains(&canonical(&below)) {
            break;
        }
        seen.push(canonical(&below));
        out.push((below, format.unwrap_or_else(|| "raw".into())));
    }
    out
}

/// The size the guest sees of the image at `path` in `format`: a qcow2
/// header's virtual size, else the file's length (0 when unreadable).
pub(super) fn virtual_size(path: &str, format: Option<&str>) -> u64 {
    match format {
        Some("qcow2") => read_header(path).map_or(0, |h| h.size),
        _ => std::fs::metadata(path).map_or(0, |m| m.len()),
    }
}

/// `<backingStore>` for `vol-dumpxml` of the qcow2 volume at `path`.
pub(super) fn xml(path: &str) -> Option<String> {
    let (backing, format) = read_header(path)?.backing?;
    let esc = crate::xml::tree::escape_text;
    let mut s = format!("  <backingStore>\n    <path>{}</path>\n", esc(&backing));
    if let Some(f) = format {
        s.push_str(&format!(
            "    <format type='{}'/>\n",
            crate::xml::tree::escape_attr(&f)
        ));
    }
    s.push_str("  </backingStore>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 2 qcow2 header of `size` bytes naming `backing`.
    fn header(backing: &str) -> Vec<u8> {
        let mut h = vec![0u8; 72];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&2u32.to_be_bytes());
        h[8..16].copy_from_slice(&72u64.to_be_bytes());
        h[16..20].copy_from_slice(&(backing.len() as u32).to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 20).to_be_bytes());
        h.extend_from_slice(backing.as_bytes());
        h
    }

    #[test]
    fn a_chain_follows_qcow2_headers_and_never_a_raw_images_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).display().to_string();
        std::fs::write(p("base.raw"), header(&p("secret"))).unwrap();
        std::fs::write(p("top.qcow2"), header("base.raw")).unwrap();
        let names: Vec<(String, String)> = chain(&p("top.qcow2"), "qcow2");
        assert_eq!(
            names,
            vec![
                (p("top.qcow2"), "qcow2".to_string()),
                (p("base.raw"), "raw".to_string())
            ],
            "the raw base's qcow2-looking content is not followed"
        );
        // A header naming itself ends the chain.
        std::fs::write(p("loop.qcow2"), header(&p("loop.qcow2"))).unwrap();
        assert_eq!(chain(&p("loop.qcow2"), "qcow2").len(), 1);
    }
}
