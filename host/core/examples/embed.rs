//! Embedding wirt in a tool: this example depends on the core crate alone
//! (no CLI, no daemon, no wire protocol). It opens the simulated test host,
//! defines and runs a domain, and prints the lifecycle events it caused.
//!
//! `cargo run -p wirt --example embed` (add `--no-default-features` for a
//! build without the KVM driver).

use std::time::Duration;

use wirt::Connect;
use wirt::lifecycle::State;

fn main() -> Result<(), wirt::Error> {
    let conn = Connect::open("test:///default")?;
    let events = conn.events();
    let xml = "<domain type='test'><name>embedded</name>\
               <memory unit='MiB'>128</memory><vcpu>1</vcpu>\
               <os><type>hvm</type></os></domain>";
    let dom = conn.define_domain_xml(xml, 0)?;
    dom.start(0)?;
    assert_eq!(dom.state()?.0, State::Running);
    dom.suspend()?;
    dom.resume()?;
    dom.destroy()?;
    dom.undefine(0)?;
    for d in conn.list_all_domains(0)? {
        println!("domain {} is {}", d.name(), d.state()?.0.virsh_name());
    }
    // The events were queued as they happened.
    while let Some(event) = events.next_timeout(Duration::from_millis(100)) {
        let (what, detail) = event.event.describe(event.detail);
        println!("event: {} {what} {detail}", event.name);
    }
    Ok(())
}
