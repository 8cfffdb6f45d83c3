//! Small helpers every command group uses: files, errno text, times, yes/no.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::CmdError;

/// virsh's `VSH_MAX_XML_FILE`: the largest XML file a command reads.
pub const MAX_XML_FILE: u64 = 10 * 1024 * 1024;

/// Reads an XML file named on the command line, with virsh's error lines:
/// no further than [`MAX_XML_FILE`], so a huge file (or `/dev/zero`) is
/// refused without being read whole.
pub fn read_file(path: &str) -> Result<String, CmdError> {
    use std::io::Read;
    let file = std::fs::File::open(path)
        .map_err(|e| CmdError::msg(format!("Failed to open file '{path}': {}", io_reason(&e))))?;
    let read_err = |e: &std::io::Error| {
        CmdError::msg(format!("Failed to read file '{path}': {}", io_reason(e)))
    };
    let mut bytes = Vec::new();
    file.take(MAX_XML_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_err(&e))?;
    if bytes.len() as u64 > MAX_XML_FILE {
        // libvirt's virFileReadAll fails with EOVERFLOW.
        return Err(read_err(&std::io::Error::from_raw_os_error(
            libc::EOVERFLOW,
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        read_err(&std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

/// The errno text virsh prints ("No such file or directory").
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// virsh's "yes"/"no".
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

/// `YYYY-MM-DD HH:MM:SS +0000` in UTC, as virsh prints creation times.
pub fn format_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// virsh event's `--timestamp` prefix.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let full = format_time(d.as_secs());
    format!("{}.{:03}+0000", &full[..19], d.subsec_millis())
}
