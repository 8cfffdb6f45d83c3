//! Volumes: the regular files of one pool directory.
//!
//! Every path the driver opens is `<pool dir>/<name>` for a validated name
//! (see `names`); the pool's host path is only used to report volume paths
//! and keys and in messages. Data moves in bounded chunks (`blocks`).
//!
//! What is reported for a volume:
//! - `capacity`: the file's length for raw, the virtual size in the header
//!   for qcow/qcow2;
//! - `allocation`: the file's length (its apparent size). WASI p2 reports no
//!   block count and cannot find holes without reading the whole file, so
//!   the plugin cannot know how much of a sparse file is allocated: the file
//!   length is an upper bound, exact for fully allocated files. The host,
//!   which can `stat` the volume's path, replaces it with `st_blocks * 512`
//!   (see README.md).
//! - `format`: "qcow2" (or "qcow") when the file starts with qcow's magic,
//!   else "raw"; `kind` 0 (file).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;

use crate::MAX_TRANSFER;
use crate::blocks::{ScanError, copy_sparse, fill_zeros, read_full, wipe_data};
use crate::error::Error;
use crate::flags::{
    CREATE_PREALLOC_METADATA, CREATE_REFLINK, RESIZE_ALLOCATE, RESIZE_DELTA, RESIZE_SHRINK,
};
use crate::names::{self, Kind};
use crate::qcow2::{self, Probe, Qcow2Error};
use crate::records::{Refresh, VolumeConfig, VolumeInfo, check_flags};

use wirt_vocab::flags::WIPE_ALGORITHMS;

/// One active pool: its directory as the plugin sees it, and its host path.
#[derive(Debug, Clone)]
pub struct Pool {
    name: String,
    dir: PathBuf,
    target: String,
}

/// A volume file opened for an operation, with what its header says.
struct Opened {
    file: File,
    len: u64,
    probe: Option<Probe>,
}

impl Opened {
    fn capacity(&self) -> u64 {
        self.probe.map_or(self.len, |p| p.size)
    }

    fn format(&self) -> &'static str {
        self.probe.map_or("raw", |p| p.format)
    }
}

impl Pool {
    pub fn new(name: &str, dir: PathBuf, target: &str) -> Self {
        Pool {
            name: name.to_string(),
            dir,
            target: target.to_string(),
        }
    }

    /// The pool's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The volume's path on the host: what `path` and `key` report.
    fn host_path(&self, name: &str) -> String {
        match self.target.as_str() {
            "/" => format!("/{name}"),
            dir => format!("{dir}/{name}"),
        }
    }

    /// The regular file that volume `name` is: its own entry, or the in-pool
    /// file its links lead to. Anything else is no volume.
    fn existing(&self, name: &str) -> Result<String, Error> {
        names::validate(name)?;
        match names::classify(&self.dir, &self.target, name) {
            Ok(Kind::File { real }) => Ok(real),
            Ok(Kind::NotVolume(_)) => Err(Error::NoVolume(name.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NoVolume(name.to_string())),
            Err(e) => Err(Error::Io {
                what: format!("cannot access volume '{}'", self.host_path(name)),
                source: e,
            }),
        }
    }

    fn open(&self, name: &str, write: bool) -> Result<Opened, Error> {
        let real = self.existing(name)?;
        let path = self.host_path(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(write)
            .open(self.dir.join(&real))
            .map_err(Error::io(format!("cannot open volume '{path}'")))?;
        let len = file
            .metadata()
            .map_err(Error::io(format!("cannot stat volume '{path}'")))?
            .len();
        let probe =
            qcow2::probe(&mut file).map_err(Error::io(format!("cannot read volume '{path}'")))?;
        Ok(Opened { file, len, probe })
    }

    fn describe(&self, name: &str, opened: &Opened) -> VolumeInfo {
        let path = self.host_path(name);
        VolumeInfo {
            name: name.to_string(),
            key: path.clone(),
            path,
            kind: 0,
            capacity: opened.capacity(),
            allocation: opened.len,
            format: opened.format().to_string(),
        }
    }

    pub fn info(&self, name: &str) -> Result<VolumeInfo, Error> {
        let opened = self.open(name, false)?;
        Ok(self.describe(name, &opened))
    }

    /// Scans the directory: every regular file (or in-pool link to one) is a
    /// volume; everything else is listed in `skipped` with the reason.
    pub fn refresh(&self) -> Result<Refresh, Error> {
        let what = || format!("cannot open directory '{}'", self.target);
        let mut out = Refresh::default();
        for entry in fs::read_dir(&self.dir).map_err(Error::io(what()))? {
            let entry = entry.map_err(Error::io(what()))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                let lossy = entry.file_name().to_string_lossy().into_owned();
                out.skipped.push((lossy, "the name is not UTF-8".into()));
                continue;
            };
            if let Err(e) = names::validate(&name) {
                out.skipped
                    .push((name.escape_debug().to_string(), e.to_string()));
                continue;
            }
            match names::classify(&self.dir, &self.target, &name) {
                Ok(Kind::File { .. }) => match self.info(&name) {
                    Ok(info) => out.volumes.push(info),
                    // Gone since the listing, unreadable...: not a volume now.
                    Err(e) => out.skipped.push((name, e.to_string())),
                },
                Ok(Kind::NotVolume(why)) => out.skipped.push((name, why)),
                Err(e) => out.skipped.push((name, crate::error::errno_text(&e))),
            }
        }
        out.volumes.sort_by(|a, b| a.name.cmp(&b.name));
        out.skipped.sort();
        Ok(out)
    }

    /// Fails with `storage-vol-exist` when anything, even a dangling link,
    /// has the name.
    fn check_free(&self, name: &str) -> Result<(), Error> {
        names::validate(name)?;
        match fs::symlink_metadata(self.dir.join(name)) {
            Ok(_) => Err(Error::VolumeExists(name.to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io {
                what: format!("cannot access '{}'", self.host_path(name)),
                source: e,
            }),
        }
    }

    /// Creates the file for a new volume (never through an existing entry),
    /// runs `fill` on it and removes it again if `fill` fails.
    fn create_with(
        &self,
        name: &str,
        fill: impl FnOnce(&mut File, &str) -> Result<(), Error>,
    ) -> Result<VolumeInfo, Error> {
        self.check_free(name)?;
        let guest = self.dir.join(name);
        let path = self.host_path(name);
        let mut file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&guest)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::VolumeExists(name.to_string()));
            }
            Err(e) => return Err(Error::io(format!("cannot create volume '{path}'"))(e)),
        };
        if let Err(e) = fill(&mut file, &path) {
            drop(file);
            let _ = fs::remove_file(&guest);
            return Err(e);
        }
        drop(file);
        self.info(name)
    }

    /// Creates a raw volume (sparse, with its first `allocation` bytes
    /// written as zeros) or an empty qcow2 image of virtual size `capacity`.
    pub fn create(&self, config: &VolumeConfig, flags: u32) -> Result<VolumeInfo, Error> {
        check_flags(flags, CREATE_PREALLOC_METADATA, "virStorageVolCreateXML")?;
        names::validate(&config.name)?;
        match config.format.as_str() {
            "" | "raw" if config.backing.is_some() => Err(Error::NoSupport(format!(
                "volume '{}': a backing store needs the qcow2 format",
                config.name
            ))),
            "" | "raw" => {
                if flags & CREATE_PREALLOC_METADATA != 0 {
                    return Err(Error::NoSupport(
                        "metadata preallocation only available with qcow2".into(),
                    ));
                }
                if config.allocation > config.capacity {
                    return Err(Error::InvalidArg(format!(
                        "allocation {} is larger than capacity {} for volume '{}'",
                        config.allocation, config.capacity, config.name
                    )));
                }
                self.create_with(&config.name, |file, path| {
                    fill_zeros(file, 0, config.allocation)
                        .map_err(Error::io(format!("cannot fill file '{path}'")))?;
                    file.set_len(config.capacity)
                        .map_err(Error::io(format!("cannot extend file '{path}'")))
                })
            }
            "qcow2" => {
                if flags & CREATE_PREALLOC_METADATA != 0 {
                    return Err(Error::NoSupport(
                        "metadata preallocation of qcow2 volumes is not supported".into(),
                    ));
                }
                qcow2::round_size(config.capacity).map_err(|e| qcow2_error(e, &config.name))?;
                let backing = config
                    .backing
                    .as_ref()
                    .map(|(p, f)| (p.as_str(), f.as_str()));
                self.create_with(&config.name, |file, _| {
                    qcow2::create_overlay(file, config.capacity, backing)
                        .map(drop)
                        .map_err(|e| qcow2_error(e, &config.name))
                })
            }
            other => Err(unsupported_format(other)),
        }
    }

    /// Creates `config` with the content of volume `source` of pool `from`
    /// (which may be this pool). Only blocks holding data are written. A raw
    /// source gives a raw volume of `max(capacity, source capacity)` bytes; a
    /// qcow/qcow2 source is copied as is (then grown to `capacity` when that
    /// is larger). `config.allocation` is not used: the copy is as sparse as
    /// the source's data allows. Format conversion is not supported.
    pub fn clone_from(
        &self,
        config: &VolumeConfig,
        from: &Pool,
        source: &str,
        flags: u32,
    ) -> Result<VolumeInfo, Error> {
        check_flags(flags, CREATE_REFLINK, "virStorageVolCreateXMLFrom")?;
        if flags & CREATE_REFLINK != 0 {
            return Err(Error::NoSupport(
                "reflink copies are not supported by the storage-dir driver".into(),
            ));
        }
        names::validate(&config.name)?;
        self.check_free(&config.name)?;
        let mut src = from.open(source, false)?;
        let src_format = src.format();
        let format = if config.format.is_empty() {
            src_format
        } else {
            config.format.as_str()
        };
        if format != src_format {
            return Err(Error::NoSupport(format!(
                "cannot create a {format} volume from {src_format} volume '{source}': format conversion is not supported"
            )));
        }
        let src_path = from.host_path(source);
        let ranges = crate::extents::data_ranges(&from.dir.join(source));
        self.create_with(&config.name, |dst, path| {
            copy_sparse(&mut src.file, dst, src.len, ranges.as_deref()).map_err(|e| match e {
                ScanError::Read(e) => Error::io(format!("cannot read volume '{src_path}'"))(e),
                ScanError::Write(e) => Error::io(format!("cannot write volume '{path}'"))(e),
            })?;
            let len = match src.probe {
                None => config.capacity.max(src.len),
                Some(_) => src.len,
            };
            dst.set_len(len)
                .map_err(Error::io(format!("cannot extend file '{path}'")))?;
            if format == "qcow2" && config.capacity > src.capacity() {
                qcow2::grow(dst, config.capacity).map_err(|e| qcow2_error(e, &config.name))?;
            }
            Ok(())
        })
    }

    /// Removes the volume's entry (a link itself, not what it points to).
    pub fn delete(&self, name: &str, flags: u32) -> Result<(), Error> {
        check_flags(flags, 0, "virStorageVolDelete")?;
        self.existing(name)?;
        fs::remove_file(self.dir.join(name)).map_err(Error::io(format!(
            "cannot unlink file '{}'",
            self.host_path(name)
        )))
    }

    /// Sets the capacity to `capacity` (absolute, or relative with
    /// `RESIZE_DELTA`). Raw: the file's length, with `RESIZE_ALLOCATE` the
    /// new range written as zeros. qcow2: the virtual size grows in place;
    /// shrinking or allocating a qcow2 volume is not supported.
    ///
    /// Shrinking needs `RESIZE_SHRINK`; the "not below allocation" and "not
    /// beyond the pool's free space" rules are the host's, which knows both.
    pub fn resize(&self, name: &str, capacity: u64, flags: u32) -> Result<VolumeInfo, Error> {
        check_flags(
            flags,
            RESIZE_ALLOCATE | RESIZE_DELTA | RESIZE_SHRINK,
            "virStorageVolResize",
        )?;
        let mut vol = self.open(name, true)?;
        let current = vol.capacity();
        let target = match (flags & RESIZE_DELTA != 0, flags & RESIZE_SHRINK != 0) {
            (false, _) => Some(capacity),
            (true, false) => current.checked_add(capacity),
            (true, true) => current.checked_sub(capacity),
        }
        .ok_or_else(|| Error::InvalidArg(format!("capacity change {capacity} is out of range")))?;
        if target < current && flags & RESIZE_SHRINK == 0 {
            return Err(Error::InvalidArg(
                "Can't shrink capacity below current capacity unless shrink flag explicitly specified".into(),
            ));
        }
        let path = self.host_path(name);
        match vol.format() {
            "raw" if flags & RESIZE_ALLOCATE != 0 && target > vol.len => {
                fill_zeros(&mut vol.file, vol.len, target)
                    .map_err(Error::io(format!("cannot fill file '{path}'")))?;
            }
            "raw" => vol
                .file
                .set_len(target)
                .map_err(Error::io(format!("cannot resize file '{path}'")))?,
            "qcow2" if flags & RESIZE_ALLOCATE != 0 => {
                return Err(Error::NoSupport(
                    "preallocation is not supported for qcow2 volumes".into(),
                ));
            }
            "qcow2" => {
                qcow2::grow(&mut vol.file, target).map_err(|e| qcow2_error(e, name))?;
            }
            other => return Err(Error::NoSupport(format!("cannot resize a {other} volume"))),
        }
        drop(vol);
        self.info(name)
    }

    /// Wipes the volume's content with zeros (algorithm 0, the only one
    /// without libvirt's external `scrub`): every block holding data is
    /// overwritten with zeros; holes stay holes. A qcow2 volume is then
    /// rewritten as an empty image of the same virtual size, so it stays a
    /// valid image that reads as zeros.
    pub fn wipe(&self, name: &str, algorithm: u32, flags: u32) -> Result<(), Error> {
        check_flags(flags, 0, "virStorageVolWipePattern")?;
        match WIPE_ALGORITHMS.get(algorithm as usize) {
            None => {
                return Err(Error::InvalidArg(format!(
                    "wiping algorithm {algorithm} not supported"
                )));
            }
            Some(&alg) if algorithm != 0 => {
                return Err(Error::NoSupport(format!(
                    "wipe algorithm {algorithm} ({alg}) needs 'scrub', which the storage-dir driver does not have; only 0 (zero) is supported"
                )));
            }
            Some(_) => {}
        }
        let mut vol = self.open(name, true)?;
        let path = self.host_path(name);
        let format = vol.format();
        if format == "qcow" {
            return Err(Error::NoSupport(
                "cannot wipe a qcow (version 1) volume".into(),
            ));
        }
        let ranges = crate::extents::data_ranges(&self.dir.join(name));
        wipe_data(&mut vol.file, vol.len, ranges.as_deref())
            .map_err(|e| Error::io(format!("cannot wipe volume '{path}'"))(e.into_io()))?;
        if format == "qcow2" {
            let size = vol.capacity();
            qcow2::create(&mut vol.file, size).map_err(|e| qcow2_error(e, name))?;
        }
        vol.file
            .sync_data()
            .map_err(Error::io(format!("cannot sync volume '{path}'")))
    }

    /// Up to `max_len` bytes (at most `MAX_TRANSFER`) of the volume's file
    /// from `offset`; empty at or past its end.
    pub fn read(&self, name: &str, offset: u64, max_len: u32) -> Result<Vec<u8>, Error> {
        let mut vol = self.open(name, false)?;
        let path = self.host_path(name);
        let len = u64::from(max_len.min(MAX_TRANSFER)).min(vol.len.saturating_sub(offset));
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len as usize];
        vol.file
            .seek(SeekFrom::Start(offset))
            .map_err(Error::io(format!("cannot seek in volume '{path}'")))?;
        let n = read_full(&mut vol.file, &mut buf)
            .map_err(Error::io(format!("cannot read volume '{path}'")))?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Writes `data` (at most `MAX_TRANSFER` bytes) into the volume's file at
    /// `offset`. A write must end within the volume: its length for raw, its
    /// length or virtual size, whichever is larger, for qcow2 (an image
    /// being uploaded into it may be longer than the empty one).
    pub fn write(&self, name: &str, offset: u64, data: &[u8]) -> Result<(), Error> {
        if data.len() > MAX_TRANSFER as usize {
            return Err(Error::InvalidArg(format!(
                "cannot write {} bytes in one call: at most {MAX_TRANSFER}",
                data.len()
            )));
        }
        let mut vol = self.open(name, true)?;
        let path = self.host_path(name);
        let limit = match vol.probe {
            None => vol.len,
            Some(p) => p.size.max(vol.len),
        };
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|end| end > limit)
        {
            return Err(Error::OperationFailed(format!(
                "cannot write {} bytes at offset {offset} to volume '{path}' of {limit} bytes: No space left on device",
                data.len()
            )));
        }
        vol.file
            .seek(SeekFrom::Start(offset))
            .map_err(Error::io(format!("cannot seek in volume '{path}'")))?;
        vol.file
            .write_all(data)
            .map_err(Error::io(format!("cannot write to volume '{path}'")))
    }
}

fn unsupported_format(format: &str) -> Error {
    Error::NoSupport(format!(
        "storage volume format '{format}' is not supported by the storage-dir driver (raw and qcow2 are)"
    ))
}

fn qcow2_error(e: Qcow2Error, name: &str) -> Error {
    match e {
        Qcow2Error::Io(source) => Error::Io {
            what: format!("cannot write qcow2 image of volume '{name}'"),
            source,
        },
        Qcow2Error::TooLarge(_) => Error::InvalidArg(e.to_string()),
        Qcow2Error::Unsupported(_) => Error::NoSupport(e.to_string()),
        Qcow2Error::Corrupt(_) => Error::OperationFailed(format!("volume '{name}': {e}")),
    }
}
