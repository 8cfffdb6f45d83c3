//! libvirt's error numbering, shared by every module's error enum.
//!
//! Each module has its own `thiserror` enum; every one of them can say which
//! [`ErrorCode`] it is, so the CLI, the RPC server and embedders see the
//! same stable numbers libvirt clients already handle.

use std::fmt;

/// A libvirt `virErrorNumber`. A newtype rather than an enum: drivers may
/// answer with any number libvirt defines, including ones newer than wirt.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub u32);

/// (number, symbolic name, message without detail, message with `%s` detail)
/// from libvirt 9.0's `virErrorMsgStrings`.
const MESSAGES: &[(u32, &str, &str, &str)] = &[
    (0, "ok", "", "%s"),
    (1, "internal-error", "internal error", "internal error: %s"),
    (2, "no-memory", "out of memory", "out of memory: %s"),
    (
        3,
        "no-support",
        "this function is not supported by the connection driver",
        "this function is not supported by the connection driver: %s",
    ),
    (4, "unknown-host", "unknown host", "unknown host %s"),
    (
        5,
        "no-connect",
        "no connection driver available",
        "no connection driver available for %s",
    ),
    (
        6,
        "invalid-conn",
        "invalid connection pointer in",
        "invalid connection pointer in %s",
    ),
    (
        7,
        "invalid-domain",
        "invalid domain pointer in",
        "invalid domain pointer in %s",
    ),
    (8, "invalid-arg", "invalid argument", "invalid argument: %s"),
    (
        9,
        "operation-failed",
        "operation failed",
        "operation failed: %s",
    ),
    (16, "os-type", "unknown OS type", "unknown OS type %s"),
    (
        19,
        "no-source",
        "missing source information for device",
        "missing source information for device %s",
    ),
    (
        20,
        "no-target",
        "missing target information for device",
        "missing target information for device %s",
    ),
    (
        21,
        "no-name",
        "missing name information",
        "missing name information in %s",
    ),
    (
        22,
        "no-os",
        "missing operating system information",
        "missing operating system information for %s",
    ),
    (
        23,
        "no-device",
        "missing devices information",
        "missing devices information for %s",
    ),
    (
        26,
        "call-failed",
        "library call failed",
        "library call failed: %s",
    ),
    (
        27,
        "xml-error",
        "XML description is invalid or not well formed",
        "XML error: %s",
    ),
    (
        28,
        "dom-exist",
        "this domain exists already",
        "domain %s exists already",
    ),
    (
        29,
        "operation-denied",
        "operation forbidden for read only access",
        "operation forbidden: %s",
    ),
    (
        30,
        "open-failed",
        "failed to open configuration file",
        "failed to open configuration file %s",
    ),
    (
        31,
        "read-failed",
        "failed to read configuration file",
        "failed to read configuration file %s",
    ),
    (
        33,
        "conf-syntax",
        "failed to parse configuration file",
        "failed to parse configuration file %s",
    ),
    (
        34,
        "write-failed",
        "failed to write configuration file",
        "failed to write configuration file: %s",
    ),
    (35, "xml-detail", "parser error", "%s"),
    (
        37,
        "network-exist",
        "this network exists already",
        "network %s exists already",
    ),
    (38, "system-error", "system call error", "%s"),
    (39, "rpc", "RPC error", "%s"),
    (42, "no-domain", "Domain not found", "Domain not found: %s"),
    (
        43,
        "no-network",
        "Network not found",
        "Network not found: %s",
    ),
    (
        44,
        "invalid-mac",
        "invalid MAC address",
        "invalid MAC address: %s",
    ),
    (
        45,
        "auth-failed",
        "authentication failed",
        "authentication failed: %s",
    ),
    (
        49,
        "no-storage-pool",
        "Storage pool not found",
        "Storage pool not found: %s",
    ),
    (
        50,
        "no-storage-vol",
        "Storage volume not found",
        "Storage volume not found: %s",
    ),
    (
        53,
        "no-node-device",
        "Node device not found",
        "Node device not found: %s",
    ),
    (
        55,
        "operation-invalid",
        "Requested operation is not valid",
        "Requested operation is not valid: %s",
    ),
    (
        57,
        "no-interface",
        "Interface not found",
        "Interface not found: %s",
    ),
    (65, "invalid-secret", "Invalid secret", "Invalid secret: %s"),
    (66, "no-secret", "Secret not found", "Secret not found: %s"),
    (
        67,
        "config-unsupported",
        "unsupported configuration",
        "unsupported configuration: %s",
    ),
    (
        68,
        "operation-timeout",
        "Timed out during operation",
        "Timed out during operation: %s",
    ),
    (
        71,
        "invalid-domain-snapshot",
        "Invalid domain snapshot",
        "Invalid domain snapshot: %s",
    ),
    (
        72,
        "no-domain-snapshot",
        "Domain snapshot not found",
        "Domain snapshot not found: %s",
    ),
    (
        73,
        "invalid-stream",
        "invalid stream pointer",
        "invalid stream pointer in %s",
    ),
    (
        74,
        "argument-unsupported",
        "argument unsupported",
        "argument unsupported: %s",
    ),
    (
        76,
        "storage-pool-built",
        "Storage pool already built",
        "Storage pool already built: %s",
    ),
    (
        78,
        "operation-aborted",
        "operation aborted",
        "operation aborted: %s",
    ),
    (
        80,
        "no-domain-metadata",
        "metadata not found",
        "metadata not found: %s",
    ),
    (
        82,
        "overflow",
        "numerical overflow",
        "numerical overflow: %s",
    ),
    (
        84,
        "operation-unsupported",
        "Operation not supported",
        "Operation not supported: %s",
    ),
    (87, "resource-busy", "resource busy", "resource busy: %s"),
    (88, "access-denied", "access denied", "access denied: %s"),
    (
        90,
        "storage-vol-exist",
        "this storage volume exists already",
        "storage volume %s exists already",
    ),
    (
        92,
        "xml-invalid-schema",
        "XML document failed to validate against schema",
        "XML document failed to validate against schema: %s",
    ),
    (
        99,
        "device-missing",
        "device not found",
        "device not found: %s",
    ),
];

impl ErrorCode {
    /// `VIR_ERR_INTERNAL_ERROR` (1).
    pub const INTERNAL_ERROR: Self = Self(1);
    /// `VIR_ERR_NO_MEMORY` (2).
    pub const NO_MEMORY: Self = Self(2);
    /// `VIR_ERR_NO_SUPPORT` (3).
    pub const NO_SUPPORT: Self = Self(3);
    /// `VIR_ERR_NO_CONNECT` (5).
    pub const NO_CONNECT: Self = Self(5);
    /// `VIR_ERR_INVALID_CONN` (6).
    pub const INVALID_CONN: Self = Self(6);
    /// `VIR_ERR_INVALID_ARG` (8).
    pub const INVALID_ARG: Self = Self(8);
    /// `VIR_ERR_OPERATION_FAILED` (9).
    pub const OPERATION_FAILED: Self = Self(9);
    /// `VIR_ERR_NO_NAME` (21).
    pub const NO_NAME: Self = Self(21);
    /// `VIR_ERR_XML_ERROR` (27).
    pub const XML_ERROR: Self = Self(27);
    /// `VIR_ERR_OPERATION_DENIED` (29).
    pub const OPERATION_DENIED: Self = Self(29);
    /// `VIR_ERR_OPEN_FAILED` (30).
    pub const OPEN_FAILED: Self = Self(30);
    /// `VIR_ERR_CONF_SYNTAX` (33).
    pub const CONF_SYNTAX: Self = Self(33);
    /// `VIR_ERR_WRITE_FAILED` (34).
    pub const WRITE_FAILED: Self = Self(34);
    /// `VIR_ERR_XML_DETAIL` (35).
    pub const XML_DETAIL: Self = Self(35);
    /// `VIR_ERR_NETWORK_EXIST` (37).
    pub const NETWORK_EXIST: Self = Self(37);
    /// `VIR_ERR_SYSTEM_ERROR` (38).
    pub const SYSTEM_ERROR: Self = Self(38);
    /// `VIR_ERR_RPC` (39).
    pub const RPC: Self = Self(39);
    /// `VIR_ERR_NO_DOMAIN` (42).
    pub const NO_DOMAIN: Self = Self(42);
    /// `VIR_ERR_NO_NETWORK` (43).
    pub const NO_NETWORK: Self = Self(43);
    /// `VIR_ERR_AUTH_FAILED` (45).
    pub const AUTH_FAILED: Self = Self(45);
    /// `VIR_ERR_NO_STORAGE_POOL` (49).
    pub const NO_STORAGE_POOL: Self = Self(49);
    /// `VIR_ERR_NO_STORAGE_VOL` (50).
    pub const NO_STORAGE_VOL: Self = Self(50);
    /// `VIR_ERR_NO_NODE_DEVICE` (53).
    pub const NO_NODE_DEVICE: Self = Self(53);
    /// `VIR_ERR_OPERATION_INVALID` (55).
    pub const OPERATION_INVALID: Self = Self(55);
    /// `VIR_ERR_NO_INTERFACE` (57).
    pub const NO_INTERFACE: Self = Self(57);
    /// `VIR_ERR_INVALID_SECRET` (65).
    pub const INVALID_SECRET: Self = Self(65);
    /// `VIR_ERR_NO_SECRET` (66).
    pub const NO_SECRET: Self = Self(66);
    /// `VIR_ERR_CONFIG_UNSUPPORTED` (67).
    pub const CONFIG_UNSUPPORTED: Self = Self(67);
    /// `VIR_ERR_OPERATION_TIMEOUT` (68).
    pub const OPERATION_TIMEOUT: Self = Self(68);
    /// `VIR_ERR_INVALID_DOMAIN_SNAPSHOT` (71).
    pub const INVALID_DOMAIN_SNAPSHOT: Self = Self(71);
    /// `VIR_ERR_NO_DOMAIN_SNAPSHOT` (72).
    pub const NO_DOMAIN_SNAPSHOT: Self = Self(72);
    /// `VIR_ERR_ARGUMENT_UNSUPPORTED` (74).
    pub const ARGUMENT_UNSUPPORTED: Self = Self(74);
    /// `VIR_ERR_STORAGE_POOL_BUILT` (76).
    pub const STORAGE_POOL_BUILT: Self = Self(76);
    /// `VIR_ERR_OPERATION_UNSUPPORTED` (84).
    pub const OPERATION_UNSUPPORTED: Self = Self(84);
    /// `VIR_ERR_STORAGE_VOL_EXIST` (90).
    pub const STORAGE_VOL_EXIST: Self = Self(90);
    /// `VIR_ERR_XML_INVALID_SCHEMA` (92).
    pub const XML_INVALID_SCHEMA: Self = Self(92);
    /// `VIR_ERR_DEVICE_MISSING` (99).
    pub const DEVICE_MISSING: Self = Self(99);

    fn entry(self) -> Option<&'static (u32, &'static str, &'static str, &'static str)> {
        MESSAGES.iter().find(|(n, ..)| *n == self.0)
    }

    /// A stable kebab-case name (`operation-invalid`), for `--json` output.
    pub fn name(self) -> &'static str {
        self.entry().map_or("unknown", |e| e.1)
    }

    /// libvirt's wording of the error with `detail` filled in, exactly as
    /// `virsh` prints the second `error:` line.
    pub fn describe(self, detail: &str) -> String {
        match self.entry() {
            Some((_, _, bare, _)) if detail.is_empty() => (*bare).to_string(),
            Some((_, _, _, with)) => with.replacen("%s", detail, 1),
            None if detail.is_empty() => format!("error {}", self.0),
            None => detail.to_string(),
        }
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// libvirt's `virErrorDomain`: which subsystem raised an error. Carried on
/// the wire next to the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorDomain(pub u32);

impl ErrorDomain {
    /// `VIR_FROM_NONE` (0).
    pub const NONE: Self = Self(0);
    /// `VIR_FROM_XML` (5).
    pub const XML: Self = Self(5);
    /// `VIR_FROM_DOM` (6).
    pub const DOM: Self = Self(6);
    /// `VIR_FROM_RPC` (7).
    pub const RPC: Self = Self(7);
    /// `VIR_FROM_QEMU` (10).
    pub const QEMU: Self = Self(10);
    /// `VIR_FROM_TEST` (12).
    pub const TEST: Self = Self(12);
    /// `VIR_FROM_REMOTE` (13).
    pub const REMOTE: Self = Self(13);
    /// `VIR_FROM_STORAGE` (18).
    pub const STORAGE: Self = Self(18);
    /// `VIR_FROM_NETWORK` (19).
    pub const NETWORK: Self = Self(19);
    /// `VIR_FROM_DOMAIN` (20).
    pub const DOMAIN: Self = Self(20);
    /// `VIR_FROM_NODEDEV` (22).
    pub const NODEDEV: Self = Self(22);
    /// `VIR_FROM_INTERFACE` (26).
    pub const INTERFACE: Self = Self(26);
    /// `VIR_FROM_SECRET` (30).
    pub const SECRET: Self = Self(30);
    /// `VIR_FROM_DOMAIN_SNAPSHOT` (35).
    pub const DOMAIN_SNAPSHOT: Self = Self(35);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_like_libvirt() {
        assert_eq!(
            ErrorCode::OPERATION_INVALID.describe("domain is not running"),
            "Requested operation is not valid: domain is not running"
        );
        assert_eq!(
            ErrorCode::NO_DOMAIN.describe("no domain with matching name 'x'"),
            "Domain not found: no domain with matching name 'x'"
        );
        assert_eq!(ErrorCode::XML_DETAIL.describe("line 3"), "line 3");
        assert_eq!(
            ErrorCode::STORAGE_VOL_EXIST.describe("'a'"),
            "storage volume 'a' exists already"
        );
        assert_eq!(ErrorCode(4242).describe("odd"), "odd");
    }

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(MESSAGES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
