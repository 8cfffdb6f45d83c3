//! Commands that define, start, stop, save and restore domains.

use super::*;

pub(super) fn define(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let flags = if args.has("validate") {
        df::DEFINE_VALIDATE
    } else {
        0
    };
    let d = ctx
        .conn()?
        .define_domain_xml(&xml, flags)
        .ctx(|| format!("Failed to define domain from {file}"))?;
    Ok(Reply::message(format!(
        "Domain '{}' defined from {file}",
        d.name()
    )))
}

pub(super) fn create(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = common::read_file(file)?;
    let mut flags = 0;
    if args.has("paused") {
        flags |= df::START_PAUSED;
    }
    if args.has("autodestroy") {
        flags |= df::START_AUTODESTROY;
    }
    if args.has("validate") {
        flags |= df::CREATE_VALIDATE;
    }
    let d = ctx
        .conn()?
        .create_domain_xml(&xml, flags)
        .ctx(|| format!("Failed to create domain from {file}"))?;
    Ok(Reply::message(format!(
        "Domain '{}' created from {file}",
        d.name()
    )))
}

pub(super) fn undefine(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    let flags = args.flags(&[
        ("managed-save", df::UNDEFINE_MANAGED_SAVE),
        ("snapshots-metadata", df::UNDEFINE_SNAPSHOTS_METADATA),
        ("nvram", df::UNDEFINE_NVRAM),
        ("keep-nvram", df::UNDEFINE_KEEP_NVRAM),
        ("checkpoints-metadata", df::UNDEFINE_CHECKPOINTS_METADATA),
    ]);
    d.undefine(flags)
        .ctx(|| format!("Failed to undefine domain '{}'", name))?;
    Ok(Reply::message(format!(
        "Domain '{}' has been undefined",
        name
    )))
}

pub(super) fn start(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    let flags = args.flags(&[
        ("paused", df::START_PAUSED),
        ("autodestroy", df::START_AUTODESTROY),
        ("bypass-cache", df::START_BYPASS_CACHE),
        ("force-boot", df::START_FORCE_BOOT),
    ]);
    if d.is_active().unwrap_or(false) {
        return Err(CmdError::msg("Domain is already active"));
    }
    d.start(flags)
        .ctx(|| format!("Failed to start domain '{}'", d.name()))?;
    Ok(Reply::message(format!("Domain '{}' started", d.name())))
}

pub(super) fn reboot(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    d.reboot(0)
        .ctx(|| format!("Failed to reboot domain '{}'", name))?;
    Ok(Reply::message(format!(
        "Domain '{}' is being rebooted",
        name
    )))
}

pub(super) fn save(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    let file = args.req("file");
    let flags = args.flags(&[
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ]);
    d.save(Path::new(file), flags)
        .ctx(|| format!("Failed to save domain '{}' to {file}", name))?;
    Ok(Reply::message(format!(
        "\nDomain '{}' saved to {file}",
        name
    )))
}

pub(super) fn restore(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let flags = args.flags(&[
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ]);
    ctx.conn()?
        .restore(Path::new(file), flags)
        .ctx(|| format!("Failed to restore domain from {file}"))?;
    Ok(Reply::message(format!("Domain restored from {file}")))
}

pub(super) fn save_image_dumpxml(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let file = args.req("file");
    let xml = ctx
        .conn()?
        .save_image_xml(Path::new(file))
        .ctx(|| format!("failed to get domain from saved image {file}"))?;
    Ok(Reply::text(xml.clone(), json!({"xml": xml})))
}

pub(super) fn managedsave(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    let flags = args.flags(&[
        ("bypass-cache", df::SAVE_BYPASS_CACHE),
        ("running", df::SAVE_RUNNING),
        ("paused", df::SAVE_PAUSED),
    ]);
    d.managed_save(flags)
        .ctx(|| format!("Failed to save domain '{}' state", name))?;
    Ok(Reply::message(format!(
        "\nDomain '{}' state saved by libvirt",
        name
    )))
}

pub(super) fn managedsave_remove(ctx: &mut Ctx, args: &Args) -> CmdResult {
    let d = dom(ctx, args)?;
    // virsh names the domain as the user did (`undefine 1`).
    let name = args.req("domain");
    let has = d
        .has_managed_save_image()
        .ctx(|| "Failed to check for domain managed save image".into())?;
    if !has {
        return Ok(Reply::message(format!(
            "Domain '{}' has no manage save image; removal skipped",
            name
        )));
    }
    d.managed_save_remove()
        .ctx(|| format!("Failed to remove managed save image for domain '{}'", name))?;
    Ok(Reply::message(format!(
        "Removed managedsave image for domain '{}'",
        name
    )))
}
