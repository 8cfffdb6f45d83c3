//! Character device sources: serial, console, parallel and channel devices,
//! and the chardev backends of USB redirection, smartcard passthrough and
//! EGD random number generators. libvirt checks their `<source>` elements
//! twice: while parsing (how many, and reconnect settings) and when
//! validating the definition (the attributes each type needs).

use super::super::Error;
use super::super::tree::Element;

/// The character device type of `e` (libvirt's default is a pty).
fn chr_type(e: &Element) -> &str {
    e.attr("type").unwrap_or("pty")
}

/// Parse-time checks on `e`, the element holding `type` and `<source>`.
pub(super) fn parse(e: &Element) -> Result<(), Error> {
    let kind = chr_type(e);
    let sources: Vec<&Element> = e.children_named("source").collect();
    if kind == "udp" {
        if sources.len() > 2 {
            return Err(Error::Invalid(
                "only two source elements are allowed for character device".into(),
            ));
        }
    } else if sources.len() > 1 {
        return Err(Error::Invalid(
            "only one source element is allowed for character device".into(),
        ));
    }
    for reconnect in sources.iter().filter_map(|s| s.child("reconnect")) {
        match reconnect.attr("enabled") {
            Some("yes") => {
                if reconnect.attr("timeout").is_none() {
                    return Err(Error::Invalid(
                        "Missing required attribute 'timeout' in element 'reconnect'".into(),
                    ));
                }
            }
            Some("no") | None => {}
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "Invalid value for attribute 'enabled' in element 'reconnect': '{other}'."
                )));
            }
        }
    }
    Ok(())
}

/// Validation of a parsed source: `e` holds `type` and `<source>`, `device`
/// is the device it belongs to (the same element except for an RNG backend).
pub(super) fn validate(e: &Element, device: &Element) -> Result<(), Error> {
    let kind = chr_type(e);
    let sources: Vec<&Element> = e.children_named("source").collect();
    let mode = |s: &&Element| s.attr("mode").unwrap_or("connect").to_string();
    let missing = |what: &str| Error::Internal(format!("Missing source {what} for char device"));
    match kind {
        "file" | "pipe" | "dev" => {
            let has_path = sources.iter().any(|s| s.attr("path").is_some());
            // A container's console may be the host's own terminal device.
            let console_dev = kind == "dev" && device.name == "console";
            if !has_path && !console_dev {
                return Err(missing("path attribute"));
            }
        }
        "tcp" => {
            let source = sources.first();
            if source.and_then(|s| s.attr("host")).is_none() {
                return Err(missing("host attribute"));
            }
            if source.and_then(|s| s.attr("service")).is_none() {
                return Err(missing("service attribute"));
            }
        }
        "udp" => {
            let connect = sources.iter().find(|s| mode(s) == "connect");
            if connect.and_then(|s| s.attr("service")).is_none() {
                return Err(missing("service attribute"));
            }
        }
        "unix" => {
            let source = sources.first();
            // The path of a guest agent channel can be generated.
            let channel_target = device.name == "channel"
                && matches!(
                    device.child("target").and_then(|t| t.attr("type")),
                    Some("virtio" | "xen")
                );
            if source.and_then(|s| s.attr("path")).is_none() && !channel_target {
                return Err(missing("path attribute"));
            }
        }
        _ => {}
    }
    let reconnecting = sources.iter().any(|s| {
        s.child("reconnect")
            .is_some_and(|r| r.attr("enabled") == Some("yes"))
    });
    if reconnecting && sources.iter().any(|s| mode(s) != "connect") {
        return Err(Error::Internal(
            "chardev reconnect is possible only for connect mode".into(),
        ));
    }
    Ok(())
}
