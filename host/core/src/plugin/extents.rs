//! `host.file-data-ranges`: where a granted file holds data, so a plugin can
//! skip its holes. The path must name a file directly inside one of the
//! plugin's own grants, and the final component is never followed if it is a
//! symlink: the answer can never describe a file outside the sandbox.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nix::unistd::{Whence, lseek};

use super::Preopen;

/// More ranges than this and the plugin is better off reading the file.
const MAX_RANGES: usize = 65_536;

/// Maps a guest path `<grant>/<name>` to the host file, or None.
pub fn resolve(preopens: &[Preopen], guest: &str) -> Option<PathBuf> {
    let guest = Path::new(guest);
    let grant = preopens
        .iter()
        .find(|p| guest.parent() == Some(Path::new(&p.guest)))?;
    let name = guest.file_name()?;
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Some(grant.host.join(name)),
        _ => None,
    }
}

/// The file's data ranges, from SEEK_DATA/SEEK_HOLE.
pub fn data_ranges(path: &Path) -> Option<Vec<(u64, u64)>> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    let len = file.metadata().ok()?.len() as i64;
    let mut ranges = Vec::new();
    let mut pos = 0i64;
    while pos < len {
        let start = match lseek(&file, pos, Whence::SeekData) {
            Ok(s) => s,
            // ENXIO: no data after `pos`.
            Err(nix::errno::Errno::ENXIO) => break,
            Err(_) => return None,
        };
        let end = lseek(&file, start, Whence::SeekHole).ok()?.min(len);
        if end > start {
            ranges.push((start as u64, (end - start) as u64));
            if ranges.len() > MAX_RANGES {
                return None;
            }
        }
        pos = end.max(start + 1);
    }
    Some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn finds_data_and_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let grants = vec![Preopen {
            host: dir.path().to_path_buf(),
            guest: "/pools/p".into(),
            read_only: false,
        }];
        let mut f = File::create(dir.path().join("v.raw")).unwrap();
        f.set_len(64 << 20).unwrap();
        f.seek(SeekFrom::Start(32 << 20)).unwrap();
        f.write_all(&[1u8; 8192]).unwrap();
        f.sync_all().unwrap();
        let host = resolve(&grants, "/pools/p/v.raw").unwrap();
        let ranges = data_ranges(&host).unwrap();
        let total: u64 = ranges.iter().map(|r| r.1).sum();
        assert!((8192..1 << 20).contains(&total), "{ranges:?}");
        assert!(
            ranges
                .iter()
                .all(|&(s, l)| s <= 32 << 20 && s + l >= (32 << 20) + 8192
                    || s + l <= 32 << 20
                    || s >= (32 << 20) + 8192)
        );

        assert_eq!(resolve(&grants, "/pools/p/../etc/passwd"), None);
        assert_eq!(resolve(&grants, "/pools/q/v.raw"), None);
        assert_eq!(resolve(&grants, "/etc/passwd"), None);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let link = resolve(&grants, "/pools/p/link").unwrap();
        assert_eq!(data_ranges(&link), None, "symlinks are not followed");
    }
}
