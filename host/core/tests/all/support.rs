//! Helpers shared by the integration tests.

use std::path::PathBuf;

use wirt::Connect;

pub const MIN_DOMAIN: &str = "<domain type='test'>\n  <name>NAME</name>\n  <memory unit='MiB'>128</memory>\n  <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n";

pub fn domain_xml(name: &str) -> String {
    MIN_DOMAIN.replace("NAME", name)
}

/// A private test host: an empty node file in a temporary directory.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub conn: Connect,
}

impl Host {
    pub fn empty() -> Host {
        Host::with_node("<node/>")
    }

    pub fn with_node(node: &str) -> Host {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node.xml");
        std::fs::write(&path, node).expect("write node");
        let conn = Connect::open(&format!("test://{}", path.display())).expect("open test node");
        Host { dir, conn }
    }

    pub fn uri(&self) -> String {
        format!("test://{}", self.dir.path().join("node.xml").display())
    }

    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).expect("write file");
        path
    }
}
