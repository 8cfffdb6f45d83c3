//! `virDomainUpdateDeviceFlags` on a `<disk>`: a cdrom's or floppy's media
//! changed (`change-media`). Only `<source>` (and the `type` that goes
//! with it) may differ; no driver of wirt's has removable media in a
//! running guest, so only the definition changes.

use super::Local;
use super::domain::persist;
use super::domain_config::affected;
use crate::connect::{DomainRef, Error, Result};
use crate::error::ErrorCode;
use crate::xml::DomainDef;
use crate::xml::tree::{Element, Node};

fn target(disk: &Element) -> Option<&str> {
    disk.child("target").and_then(|t| t.attr("dev"))
}

/// What an update may not change: everything but the media and what the
/// host fills in.
fn without_media(disk: &Element) -> Element {
    let mut e = disk.clone();
    e.remove_attr("type");
    e.children.retain(|n| match n {
        Node::Element(c) => !matches!(c.name.as_str(), "source" | "alias" | "address"),
        Node::Text(t) => !t.trim().is_empty(),
        Node::Comment(_) => false,
    });
    e
}

/// `def` with the disk `new` names by target taking `new`'s media.
fn with_media(def: &DomainDef, new: &Element) -> Result<DomainDef> {
    let dev = target(new).ok_or_else(|| {
        Error::api(
            ErrorCode::XML_ERROR,
            "a disk to update must name its <target dev>",
        )
    })?;
    let mut out = def.clone();
    let old = out
        .devices
        .iter_mut()
        .find(|d| d.name == "disk" && target(d) == Some(dev))
        .ok_or_else(|| {
            Error::api(
                ErrorCode::DEVICE_MISSING,
                format!("disk '{dev}' not found in domain"),
            )
        })?;
    if !matches!(old.attr("device"), Some("cdrom" | "floppy")) {
        return Err(Error::api(
            ErrorCode::OPERATION_UNSUPPORTED,
            format!("disk '{dev}': only the media of a cdrom or floppy can be changed"),
        ));
    }
    if without_media(old) != without_media(new) {
        return Err(Error::api(
            ErrorCode::OPERATION_UNSUPPORTED,
            format!("cannot change disk '{dev}' beyond its media (<source>)"),
        ));
    }
    *old = new.clone();
    super::domain_config::checked(&out)
}

impl Local {
    pub(super) fn update_media(&self, dom: &DomainRef, device: &Element, flags: u32) -> Result<()> {
        let state = &self.state;
        self.with(dom, |reg, uuid| {
            let obj = reg.domain_mut(uuid).expect("checked");
            let (live, config) = affected(obj, flags)?;
            if live {
                // Found (or not) first, for the error that names the cause.
                with_media(obj.def(), device)?;
                return Err(Error::api(
                    ErrorCode::OPERATION_UNSUPPORTED,
                    format!(
                        "disk '{}': this driver cannot change the media of a running guest; use --config",
                        target(device).unwrap_or_default()
                    ),
                ));
            }
            if config {
                let def = obj.config.as_ref().ok_or_else(|| {
                    Error::api(
                        ErrorCode::OPERATION_INVALID,
                        "cannot change persistent config of a transient domain",
                    )
                })?;
                obj.config = Some(with_media(def, device)?);
                persist(state, reg, uuid)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::ParseOptions;

    fn def(disk: &str) -> DomainDef {
        DomainDef::parse(
            &format!(
                "<domain type='kvm'><name>m</name><memory>1024</memory><os><type>hvm</type></os>\
                 <devices>{disk}</devices></domain>"
            ),
            ParseOptions { validate: true },
        )
        .unwrap()
    }

    #[test]
    fn only_a_removable_disks_media_changes() {
        let cd = def(
            "<disk type='file' device='cdrom'><source file='/a.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>",
        );
        let e = |x: &str| Element::parse(x, "d").unwrap();
        let ejected = with_media(
            &cd,
            &e("<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/><readonly/></disk>"),
        )
        .unwrap();
        assert!(ejected.disks()[0].source.is_none());
        let inserted = with_media(&ejected, &e("<disk type='block' device='cdrom'><source dev='/dev/sr0'/><target dev='hdc' bus='ide'/><readonly/></disk>")).unwrap();
        assert_eq!(inserted.disks()[0].source.as_deref(), Some("/dev/sr0"));
        let other = with_media(
            &cd,
            &e("<disk type='file' device='cdrom'><target dev='hdc' bus='sata'/></disk>"),
        );
        assert!(other.unwrap_err().to_string().contains("beyond its media"));
        let missing = with_media(&cd, &e("<disk device='cdrom'><target dev='hdd'/></disk>"));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("disk 'hdd' not found")
        );
        let vda = def(
            "<disk type='file' device='disk'><source file='/a.img'/><target dev='vda'/></disk>",
        );
        let fixed = with_media(
            &vda,
            &e("<disk type='file' device='disk'><target dev='vda'/></disk>"),
        );
        assert!(
            fixed
                .unwrap_err()
                .to_string()
                .contains("only the media of a cdrom")
        );
    }
}
