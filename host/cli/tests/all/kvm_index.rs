//! The domain index: a cold read-only command on a host with many guests
//! reads one file, not every definition, and still tells the truth.

use crate::kvm::kvm;

/// A listing after a change reads the state dir and writes the index; the
/// next one answers from the index alone (with the domain's files damaged,
/// it still lists it); using a domain reads its definition then,
/// attaches to its VMM through the runtime record, and a VMM that died
/// since is seen dead by the first command that asks.
#[test]
fn kvm_a_domain_index_answers_listings_until_the_state_dir_changes() {
    let Some(k) = kvm() else { return };
    let xml = k.domain("i1");
    k.ok(&format!("define {}; start i1", xml.display()));
    let uuid = k.ok("domuuid i1").trim().to_string();
    let _ = std::fs::remove_file(k.domain_index());
    assert!(k.ok("list").contains(" i1     running"));
    assert!(k.domain_index().exists(), "a full read writes the index");

    // The index alone answers a listing: neither the stored definition nor
    // the runtime record is read (a full read skips a domain whose files
    // are damaged). Written in place, as a hand edit: files added or
    // removed would change their directories and retire the index.
    let files = [
        k.dir.path().join(format!("state/domains/{uuid}.xml")),
        k.dir.path().join(format!("run/domains/{uuid}.json")),
    ];
    let kept: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for file in &files {
        std::fs::write(file, b"damaged").unwrap();
    }
    let listed = k.ok("list --all");
    for (file, data) in files.iter().zip(&kept) {
        std::fs::write(file, data).unwrap();
    }
    assert!(listed.contains(" i1     running"), "{listed}");

    // Using the domain reads its definition and attaches to its VMM.
    k.ok("suspend i1");
    assert_eq!(k.state("i1"), "paused (user)");
    k.ok("resume i1");
    let info = k.ok("dominfo i1");
    assert!(info.contains("State:          running"), "{info}");

    // A change by another process makes the index stale: it is not used.
    let xml2 = k.domain("i2");
    k.ok(&format!("define {}", xml2.display()));
    assert!(k.ok("list --all").contains(" i2     shut off"));

    // The index is current again; the VMM dies behind the host's back.
    k.ok("list");
    k.kill_vmm("i1");
    let info = k.ok("dominfo i1");
    assert!(info.contains("State:          shut off"), "{info}");
    assert_eq!(k.state("i1"), "shut off (crashed)");
    assert!(k.ok("list --all").contains(" i1     shut off"));

    // A listing is what finds the next one dead.
    k.ok("start i1");
    k.ok("list");
    k.kill_vmm("i1");
    let listed = k.ok("list --all");
    assert!(listed.contains(" i1     shut off"), "{listed}");
    assert_eq!(k.state("i1"), "shut off (crashed)");
    k.assert_no_vmms_left();
}
