//! Interface link state: `domif-setlink` and `domif-getlink`, as virsh
//! does them: on the interface's element of the domain XML, found by MAC
//! address or host device name.

use super::info::def_of;
use super::*;
use wirt::xml::Element;

/// The `<interface>` element `iface` names: a MAC address, or else a
/// `<target dev>`; virsh's error otherwise.
fn find(def: &wirt::xml::DomainDef, iface: &str) -> Result<Element, CmdError> {
    let by_mac = wirt::xml::devices::valid_mac(iface);
    def.devices
        .iter()
        .filter(|d| d.name == "interface")
        .find(|e| {
            let i = wirt::xml::devices::Interface::from_element(e);
            if by_mac {
                i.mac.is_some_and(|m| m.eq_ignore_ascii_case(iface))
            } else {
                i.target_dev.as_deref() == Some(iface)
            }
        })
        .cloned()
        .ok_or_else(|| {
            let key = if by_mac { "mac" } else { "dev" };
            CmdError::msg(format!("interface ({key}: {iface}) not found"))
        })
}

fn link_state(e: &Element) -> &str {
    e.child("link")
        .and_then(|l| l.attr("state"))
        .unwrap_or("up")
}

pub(super) fn domif_setlink(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let iface = args.req("interface");
    let state = args.req("state");
    if state != "up" && state != "down" {
        return Err(CmdError::msg(format!("invalid link state '{state}'")));
    }
    // virsh: the persistent config with --config or for an inactive
    // domain, the running one otherwise.
    let active = d.is_active().map_err(|e| CmdError::bare(&e))?;
    let config = args.has("config") || !active;
    let def = def_of(&d, config)?;
    let mut element = find(&def, iface)?;
    element
        .children
        .retain(|n| !matches!(n, wirt::xml::tree::Node::Element(c) if c.name == "link"));
    element = element.with_child(Element::new("link").with_attr("state", state));
    let flags = if config {
        df::AFFECT_CONFIG
    } else {
        df::AFFECT_LIVE
    };
    d.update_device(&element.to_xml(), flags)
        .ctx(|| "Failed to update interface link state".to_string())?;
    Ok(Reply::message("Device updated successfully"))
}

pub(super) fn domif_getlink(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let iface = args.req("interface");
    let def = def_of(&d, args.has("config"))?;
    let element = find(&def, iface)?;
    let state = link_state(&element);
    Ok(Reply::text(
        format!("{iface} {state}\n"),
        json!({"interface": iface, "state": state}),
    ))
}
