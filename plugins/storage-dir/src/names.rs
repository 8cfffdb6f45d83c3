//! Volume names, and what a name in the pool directory stands for.
//!
//! The driver never follows a symbolic link by asking the file system to:
//! it reads the link and follows it itself, only when the link names another
//! entry of the same pool directory (`disk.img`, `./disk.img`, or
//! `<target-path>/disk.img`). Links that leave the pool, go through a
//! subdirectory or dangle are not volumes. Inside the component, WASI
//! refuses to follow a link out of the preopen anyway, and wasmtime does not
//! even reveal an absolute link's target (so there, links by absolute path
//! are never volumes, even into the pool itself); this keeps the native
//! build to the same rule.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::Error;

/// How many symbolic links one name may go through.
const MAX_LINKS: usize = 8;

/// Refuses names that are not a single plain entry of the pool directory,
/// with libvirt's wording where libvirt has one (`invalid-arg`).
pub fn validate(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidArg("volume name must not be empty".into()));
    }
    if name.contains('/') {
        return Err(Error::InvalidArg(format!(
            "volume name '{name}' cannot contain '/'"
        )));
    }
    if name == "." || name == ".." {
        return Err(Error::InvalidArg(format!(
            "volume name '{name}' is not allowed"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidArg(format!(
            "volume name '{}' cannot contain control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// What a directory entry is, for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file named `real` in the pool directory: the entry itself,
    /// or the file its symbolic links lead to without leaving the pool.
    File { real: String },
    /// Anything else (a directory, a device, a link that leaves the pool or
    /// dangles), with the reason it is not a volume.
    NotVolume(String),
}

/// Classifies entry `name` of pool directory `dir`, whose host path is
/// `target`. `Err` with `NotFound` when there is no such entry.
pub fn classify(dir: &Path, target: &str, name: &str) -> io::Result<Kind> {
    let mut current = name.to_string();
    for _ in 0..=MAX_LINKS {
        let path = dir.join(&current);
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound && current != name => {
                return Ok(Kind::NotVolume(format!(
                    "symbolic link to '{current}', which does not exist"
                )));
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(Kind::File { real: current });
        }
        if kind.is_dir() {
            return Ok(Kind::NotVolume("a directory".into()));
        }
        if !kind.is_symlink() {
            return Ok(Kind::NotVolume("not a regular file".into()));
        }
        let link = match fs::read_link(&path) {
            Ok(link) => link,
            // wasmtime refuses to even read an absolute link's target.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Ok(Kind::NotVolume(
                    "symbolic link whose target the sandbox does not reveal: not followed".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        match in_pool_target(&link, target) {
            Some(next) => current = next,
            None => {
                return Ok(Kind::NotVolume(format!(
                    "symbolic link to '{}', outside the pool: not followed",
                    link.display()
                )));
            }
        }
    }
    Ok(Kind::NotVolume("too many levels of symbolic links".into()))
}

/// The pool entry a link target names, if it names one: a single plain
/// component, relative or under the pool's host path.
fn in_pool_target(link: &Path, target: &str) -> Option<String> {
    let text = link.to_str()?;
    let relative = if text.starts_with('/') {
        let prefix = target.trim_end_matches('/');
        text.strip_prefix(prefix)?.strip_prefix('/')?
    } else {
        text
    };
    let mut parts = relative.split('/').filter(|p| !p.is_empty() && *p != ".");
    let first = parts.next()?;
    if parts.next().is_some() || first == ".." || validate(first).is_err() {
        return None;
    }
    Some(first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_libvirt() {
        assert!(validate("disk.raw").is_ok());
        assert!(validate(".hidden").is_ok());
        let e = validate("x/y.raw").unwrap_err();
        assert_eq!(e.to_string(), "volume name 'x/y.raw' cannot contain '/'");
        assert_eq!(e.code(), crate::code::INVALID_ARG);
        for bad in ["", ".", "..", "a\0b", "a\nb", "tab\there"] {
            assert_eq!(
                validate(bad).unwrap_err().code(),
                crate::code::INVALID_ARG,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn link_targets_stay_in_the_pool() {
        let t = "/srv/pool";
        assert_eq!(
            in_pool_target(Path::new("a.raw"), t).as_deref(),
            Some("a.raw")
        );
        assert_eq!(
            in_pool_target(Path::new("./a.raw"), t).as_deref(),
            Some("a.raw")
        );
        assert_eq!(
            in_pool_target(Path::new("/srv/pool/a.raw"), t).as_deref(),
            Some("a.raw")
        );
        assert_eq!(
            in_pool_target(Path::new("/srv/pool//a.raw"), t).as_deref(),
            Some("a.raw")
        );
        assert_eq!(
            in_pool_target(Path::new("/srv/pool/a.raw"), "/srv/pool/").as_deref(),
            Some("a.raw")
        );
        for bad in [
            "/etc/passwd",
            "../a.raw",
            "sub/a.raw",
            "/srv/pool2/a.raw",
            "/srv/pool/..",
            "..",
            ".",
            "/srv/pool",
        ] {
            assert_eq!(in_pool_target(Path::new(bad), t), None, "{bad}");
        }
    }
}
