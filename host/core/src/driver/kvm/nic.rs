//! Network cards of KVM guests: each `<interface>` becomes a tap the host
//! creates (`IFF_VNET_HDR`), sets up (MAC, MTU, bridge port, up) and passes
//! to the VMM. The taps are not persistent: they vanish when the last
//! descriptor closes, i.e. when the VMM exits (the host keeps no copy past
//! the start), so a stopped, crashed or failed guest leaves none behind.
//! `<interface type='user'>` runs on passt instead, as libvirt 9's
//! `<backend type='passt'/>`: the host starts one per card, connects to its
//! socket and passes the connection to the VMM (see [`start_passt`]).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use wirt_kvm::control::protocol::{FdRef, LinkState, NicKind, NicRef};
use wirt_kvm::netdev::{self, NetDevError};

use super::{Error, ErrorCode, KvmDriver, Opened, Result};
use crate::driver::{DomainConfig, HostNic, InterfaceConfig};
use crate::xml::devices::is_generated_ifname;

/// How long `destroy` waits for the kernel to delete a stopped VMM's taps.
const TAP_GONE_WAIT: Duration = Duration::from_secs(5);

/// A tap among [`Opened::fds`].
pub(super) struct OpenedNic {
    fd: usize,
    mac: String,
    link: LinkState,
    mtu: Option<u16>,
    /// Its name and index, to see it gone (empty for passt).
    tap: String,
    index: u32,
    kind: NicKind,
}

/// What one interface needs, checked before anything is created.
struct NicSpec {
    mac: [u8; 6],
    /// A name or the kernel template `vnet%d` (first free, as libvirt).
    name: String,
    bridge: Option<String>,
    link: LinkState,
    mtu: Option<u16>,
    /// A user-mode card: passt, not a tap.
    passt: bool,
}

fn unsupported(message: String) -> Error {
    Error::driver(ErrorCode::CONFIG_UNSUPPORTED, message)
}

/// "No such device", not "No such device (os error 19)": libvirt's wording.
fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" (os error ") {
        Some((head, _)) => head.to_string(),
        None => text,
    }
}

fn system(e: NetDevError) -> Error {
    Error::driver(
        ErrorCode::SYSTEM_ERROR,
        format!("{}: {}", e.what, strerror(&e.source)),
    )
}

fn parse_mac(mac: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = mac
        .split([':', '-'])
        .map(|p| u8::from_str_radix(p, 16))
        .collect::<std::result::Result<_, _>>()
        .ok()?;
    parts.try_into().ok()
}

fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Checks one interface against what the KVM driver runs, refusing (never
/// ignoring) what it cannot: other types, other models, user networking.
fn spec(i: &InterfaceConfig, nic: &HostNic) -> Result<NicSpec> {
    let mac = match &i.mac {
        Some(m) => {
            parse_mac(m).ok_or_else(|| unsupported(format!("unable to parse mac address '{m}'")))?
        }
        // Defined before wirt generated MACs at define: one for this run.
        None => {
            let r = uuid::Uuid::new_v4();
            let b = r.as_bytes();
            [0x52, 0x54, 0x00, b[0], b[1], b[2]]
        }
    };
    let who = format_mac(mac);
    if let Some(model) = i.model.as_deref().filter(|m| *m != "virtio") {
        return Err(unsupported(format!(
            "interface {who}: <model type='{model}'/> is not supported by the KVM driver, only 'virtio'"
        )));
    }
    let bridge = match i.kind.as_str() {
        "ethernet" => None,
        "bridge" => Some(nic.bridge.clone().ok_or_else(|| {
            Error::driver(
                ErrorCode::XML_ERROR,
                format!(
                    "No <source> 'bridge' attribute specified with <interface type='bridge'/> ({who})"
                ),
            )
        })?),
        "network" => Some(nic.bridge.clone().ok_or_else(|| {
            Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("interface {who}: the host resolved no bridge for its network"),
            )
        })?),
        // libvirt runs slirp without <backend type='passt'/>; wirt has only
        // passt, and uses it for both.
        "user" => match nic.backend.as_deref() {
            None | Some("passt") if find_in_path("passt") => None,
            None | Some("passt") => {
                return Err(Error::driver(
                    ErrorCode::OPERATION_UNSUPPORTED,
                    format!(
                        "interface {who}: <interface type='user'> needs passt, which is not installed"
                    ),
                ));
            }
            Some(other) => {
                return Err(unsupported(format!(
                    "interface {who}: <backend type='{other}'/> is not supported by the KVM driver, only 'passt'"
                )));
            }
        },
        other => {
            return Err(unsupported(format!(
                "interface {who}: <interface type='{other}'> is not supported by the KVM driver"
            )));
        }
    };
    let mtu = match nic.mtu {
        None => None,
        Some(m @ 68..=65535) => Some(m as u16),
        Some(m) => {
            return Err(unsupported(format!(
                "interface {who}: <mtu size='{m}'/> is out of range (68 to 65535)"
            )));
        }
    };
    let name = match i.target_dev.as_deref() {
        Some(dev) if !is_generated_ifname(dev) => dev.to_string(),
        _ => "vnet%d".to_string(),
    };
    Ok(NicSpec {
        passt: i.kind == "user",
        mac,
        name,
        bridge,
        link: if nic.link_up {
            LinkState::Up
        } else {
            LinkState::Down
        },
        mtu,
    })
}

fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// Creates and sets up the tap of `spec`, in libvirt's order: the bridge
/// must be there first; the tap gets the guest's MAC with `fe` in front (so
/// the bridge never takes the guest's address as its own), the MTU asked
/// for or the bridge's, the bridge port, then up. On failure the
/// descriptor drops and the kernel deletes the tap.
fn create_tap(spec: &NicSpec) -> Result<(OwnedFd, String, u32)> {
    let bridge_mtu = match &spec.bridge {
        Some(b) => Some(netdev::mtu(b).map_err(system)?),
        None => None,
    };
    let (fd, name) = wirt_kvm::tap::open_tap(Some(&spec.name), true).map_err(|e| {
        Error::driver(
            ErrorCode::SYSTEM_ERROR,
            format!(
                "Unable to create tap device {}: {}",
                spec.name.replace("%d", ""),
                strerror(&e)
            ),
        )
    })?;
    let mut host_mac = spec.mac;
    host_mac[0] = 0xfe;
    netdev::set_mac(&name, host_mac).map_err(system)?;
    if let Some(mtu) = spec.mtu.map(u32::from).or(bridge_mtu) {
        netdev::set_mtu(&name, mtu).map_err(system)?;
    }
    if let Some(bridge) = &spec.bridge {
        netdev::bridge_add_port(bridge, &name).map_err(system)?;
    }
    netdev::set_up(&name, true).map_err(system)?;
    let index = netdev::index(&name).map_err(system)?;
    Ok((fd, name, index))
}

/// Starts passt for one card and returns the VMM's end of a socket pair
/// whose other end passt serves (`--fd`, given as its stdin: no socket
/// path, so nothing to clean up and no directory passt, once it has dropped
/// to `nobody`, would need to write). With `--one-off` it exits when the
/// VMM closes the connection, so it lives exactly as long as the guest's
/// card. It serves the guest DHCP, DNS and NAT through the host's own
/// sockets (no tap, no privilege), in the caller's network namespace.
fn start_passt(spec: &NicSpec) -> Result<OwnedFd> {
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};
    let failed = |what: &str, e: &std::io::Error| {
        Error::driver(
            ErrorCode::SYSTEM_ERROR,
            format!(
                "cannot {what} passt for interface {}: {}",
                format_mac(spec.mac),
                strerror(e)
            ),
        )
    };
    let (ours, theirs) = UnixStream::pair().map_err(|e| failed("connect", &e))?;
    let mut cmd = Command::new("passt");
    cmd.args(["--foreground", "--one-off", "--quiet", "--fd", "0"])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(mtu) = spec.mtu {
        cmd.arg("--mtu").arg(mtu.to_string());
    }
    let mut child = cmd.spawn().map_err(|e| failed("start", &e))?;
    // Reaped when it exits, so a long-lived host keeps no zombie.
    std::thread::spawn(move || child.wait());
    Ok(ours.into())
}

/// The tap (or passt connection) of `spec`, to be descriptor number `fd`
/// of a request.
fn open_nic(spec: &NicSpec, fd: usize) -> Result<(OpenedNic, OwnedFd)> {
    let (file, tap, index, kind) = if spec.passt {
        (start_passt(spec)?, String::new(), 0, NicKind::Stream)
    } else {
        let (file, tap, index) = create_tap(spec)?;
        (file, tap, index, NicKind::Tap)
    };
    let nic = OpenedNic {
        fd,
        mac: format_mac(spec.mac),
        link: spec.link,
        mtu: spec.mtu,
        tap,
        index,
        kind,
    };
    Ok((nic, file))
}

/// The VMM's `nics` for `opened`, with the descriptor numbers it got.
pub(super) fn nic_refs(nics: &[OpenedNic], numbers: &[i32]) -> Vec<NicRef> {
    nics.iter()
        .map(|n| NicRef {
            fd: FdRef::Fd(numbers[n.fd]),
            backend: n.kind,
            mac: n.mac.clone(),
            link: Some(n.link),
            mtu: n.mtu,
        })
        .collect()
}

/// The taps of running VMs (name, index), by UUID.
pub(super) type Taps = HashMap<String, Vec<(String, u32)>>;

impl KvmDriver {
    /// What the host said about `config`'s interfaces, or (started without
    /// it) what the config alone says.
    fn take_plan(&self, config: &DomainConfig) -> Vec<HostNic> {
        let plan = self
            .nic_plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&config.uuid);
        match plan {
            Some(plan) if plan.len() == config.interfaces.len() => plan,
            _ => config
                .interfaces
                .iter()
                .map(|i| HostNic {
                    bridge: (i.kind == "bridge").then(|| i.source.clone()).flatten(),
                    link_up: true,
                    ..HostNic::default()
                })
                .collect(),
        }
    }

    pub(super) fn prepare(&self, uuid: &str, nics: Vec<HostNic>) {
        self.nic_plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(uuid.to_string(), nics);
    }

    /// [`KvmDriver::open_files`], then a tap per interface. Every
    /// interface is checked before the first tap is made.
    pub(super) fn open_with_nics(&self, config: &DomainConfig) -> Result<Opened> {
        let plan = self.take_plan(config);
        let specs = config
            .interfaces
            .iter()
            .zip(&plan)
            .map(|(i, n)| spec(i, n))
            .collect::<Result<Vec<_>>>()?;
        let mut opened = Self::open_files(config)?;
        for spec in &specs {
            let nic = open_nic(spec, opened.fds.len())?;
            opened.nics.push(nic.0);
            opened.fds.push(nic.1);
        }
        Ok(opened)
    }

    /// Plugs interface `index` of `config` (the running domain's live
    /// definition, the new interface last) into its VMM; returns the tap's
    /// name ("" for passt).
    pub(super) fn plug_interface(
        &self,
        config: &DomainConfig,
        index: usize,
        host: &HostNic,
    ) -> Result<String> {
        let vm = self.vm(&config.uuid)?;
        let iface = config.interfaces.get(index).ok_or_else(|| {
            Error::driver(
                ErrorCode::INTERNAL_ERROR,
                format!("no interface {index} to plug in"),
            )
        })?;
        let (nic, fd) = open_nic(&spec(iface, host)?, 0)?;
        let request = wirt_kvm::control::protocol::Request::AttachNic {
            nic: NicRef {
                fd: FdRef::Passed(0),
                backend: nic.kind,
                mac: nic.mac.clone(),
                link: Some(nic.link),
                mtu: nic.mtu,
            },
        };
        vm.call(request, &[std::os::fd::AsRawFd::as_raw_fd(&fd)])
            .map_err(|e| super::vmm_error("attach-nic", e))?;
        if nic.kind == NicKind::Tap {
            self.lock_taps()
                .entry(config.uuid.clone())
                .or_default()
                .push((nic.tap.clone(), nic.index));
        }
        Ok(nic.tap)
    }

    /// Pulls interface `index` out of the running domain's VMM and waits
    /// (briefly) until its tap is gone.
    pub(super) fn unplug_interface(
        &self,
        uuid: &str,
        index: usize,
        tap: Option<&str>,
    ) -> Result<()> {
        let vm = self.vm(uuid)?;
        let request = wirt_kvm::control::protocol::Request::DetachNic { index };
        vm.call(request, &[])
            .map_err(|e| super::vmm_error("detach-nic", e))?;
        let Some(tap) = tap else {
            return Ok(());
        };
        let gone = {
            let mut taps = self.lock_taps();
            let list = taps.entry(uuid.to_string()).or_default();
            let at = list.iter().position(|(name, _)| name == tap);
            at.map(|at| list.remove(at))
        };
        if let Some((name, index)) = gone {
            let deadline = Instant::now() + TAP_GONE_WAIT;
            while netdev::index(&name).is_ok_and(|i| i == index) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Remembers the taps a VM runs on, to wait for them at its stop.
    pub(super) fn record_taps(&self, uuid: &str, opened: &Opened) {
        let taps = opened
            .nics
            .iter()
            .filter(|n| n.kind == NicKind::Tap)
            .map(|n| (n.tap.clone(), n.index))
            .collect();
        self.lock_taps().insert(uuid.to_string(), taps);
    }

    /// A re-attached VM: its taps are the live definition's targets.
    pub(super) fn adopt_taps(&self, config: &DomainConfig) {
        let taps = config
            .interfaces
            .iter()
            .filter_map(|i| i.target_dev.clone())
            .filter_map(|t| netdev::index(&t).ok().map(|x| (t, x)))
            .collect();
        self.lock_taps().insert(config.uuid.clone(), taps);
    }

    fn lock_taps(&self) -> std::sync::MutexGuard<'_, Taps> {
        self.taps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After the VMM was told to quit: waits (briefly) until the kernel has
    /// deleted its taps, so a `destroy` that returned left none behind.
    pub(super) fn wait_taps_gone(&self, uuid: &str) {
        let Some(taps) = self.lock_taps().remove(uuid) else {
            return;
        };
        let deadline = Instant::now() + TAP_GONE_WAIT;
        for (name, index) in taps {
            // A tap of that name with another index is someone else's.
            while netdev::index(&name).is_ok_and(|i| i == index) {
                if Instant::now() > deadline {
                    tracing::warn!(tap = %name, "a stopped VMM's tap is still there");
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// `set-link` on card `index` of a running VM.
    pub(super) fn set_link(&self, uuid: &str, index: usize, up: bool) -> Result<()> {
        let vm = self.vm(uuid)?;
        let link = if up { LinkState::Up } else { LinkState::Down };
        let request = wirt_kvm::control::protocol::Request::SetLink {
            nic: Some(index),
            mac: None,
            link,
        };
        self.request(&vm, "set-link", request).map(drop)
    }

    /// The taps of a running VM, in `<interface>` order, as the VMM
    /// reports them.
    pub(super) fn targets(&self, uuid: &str) -> Vec<String> {
        use crate::driver::HypervisorDriver;
        self.guest_stats(uuid)
            .map(|s| s.nics.into_iter().map(|n| n.name).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(kind: &str, model: Option<&str>, target: Option<&str>) -> InterfaceConfig {
        InterfaceConfig {
            kind: kind.into(),
            mac: Some("52:54:00:aa:bb:cc".into()),
            source: Some("br0".into()),
            model: model.map(String::from),
            target_dev: target.map(String::from),
        }
    }

    fn up() -> HostNic {
        HostNic {
            link_up: true,
            ..HostNic::default()
        }
    }

    #[test]
    fn other_models_and_types_are_refused_never_ignored() {
        let e = spec(&iface("ethernet", Some("e1000"), None), &up())
            .err()
            .unwrap();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
        assert!(e.to_string().contains("<model type='e1000'/>"), "{e}");
        let e = spec(&iface("direct", None, None), &up()).err().unwrap();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
        assert!(e.to_string().contains("<interface type='direct'>"), "{e}");
        // A user card runs on passt; any other backend is refused.
        let mut slirp = up();
        slirp.backend = Some("slirp".into());
        let e = spec(&iface("user", None, None), &slirp).err().unwrap();
        assert_eq!(e.code(), ErrorCode::CONFIG_UNSUPPORTED);
        assert!(e.to_string().contains("only 'passt'"), "{e}");
        match spec(&iface("user", None, None), &up()) {
            Ok(s) => assert!(s.passt && s.bridge.is_none()),
            Err(e) => {
                assert!(!find_in_path("passt"), "{e}");
                assert_eq!(e.code(), ErrorCode::OPERATION_UNSUPPORTED);
                assert!(e.to_string().contains("passt"), "{e}");
            }
        }
        let mut big = up();
        big.mtu = Some(70_000);
        assert!(spec(&iface("ethernet", None, None), &big).is_err());
    }

    #[test]
    fn names_macs_links_and_bridges() {
        let s = spec(&iface("ethernet", Some("virtio"), Some("tap-mine")), &up()).unwrap();
        assert_eq!((s.name.as_str(), s.bridge), ("tap-mine", None));
        assert_eq!(format_mac(s.mac), "52:54:00:aa:bb:cc");
        // Names of libvirt's own form are regenerated.
        let s = spec(&iface("ethernet", None, Some("vnet7")), &up()).unwrap();
        assert_eq!(s.name, "vnet%d");
        let nic = HostNic {
            bridge: Some("virbr1".into()),
            link_up: false,
            mtu: Some(9000),
            backend: None,
        };
        let s = spec(&iface("network", None, None), &nic).unwrap();
        assert_eq!(s.bridge.as_deref(), Some("virbr1"));
        assert_eq!((s.link, s.mtu), (LinkState::Down, Some(9000)));
        // A network the host did not resolve is not silently unattached.
        assert!(spec(&iface("network", None, None), &up()).is_err());
    }

    #[test]
    fn a_missing_bridge_fails_in_libvirts_words_before_any_tap() {
        let s = NicSpec {
            mac: [0x52, 0x54, 0, 1, 2, 3],
            name: "wirt-never%d".into(),
            bridge: Some("wirt-nobr-x".into()),
            link: LinkState::Up,
            mtu: None,
            passt: false,
        };
        let e = create_tap(&s).err().unwrap();
        assert_eq!(e.code(), ErrorCode::SYSTEM_ERROR);
        assert_eq!(
            e.to_string(),
            "Cannot get interface MTU on 'wirt-nobr-x': No such device"
        );
    }
}
