//! Saving a running domain's machine state (to a stream or straight into a
//! file) and restoring one into a new VMM.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;

use wirt_kvm::control::protocol::{FdRef, KernelRef, Request, RestoreRequest};

use super::{
    DomainConfig, DomainStatus, Error, ErrorCode, KvmDriver, Result, SAVE_PAUSED, copy_all,
    io_error, nic, policies, status_from, vmm_error,
};

impl KvmDriver {
    pub(super) fn save_stream(&self, uuid: &str, sink: &mut dyn Write) -> Result<u64> {
        let vm = self.vm(uuid)?;
        let (mut reader, writer) =
            std::io::pipe().map_err(|e| io_error("cannot create a pipe", e))?;
        // The VMM writes into the pipe while this thread copies out of it;
        // the request waits on its own thread so neither side blocks the other.
        let (copied, answer) = std::thread::scope(|scope| {
            let request = scope.spawn(|| {
                let fd = writer.as_raw_fd();
                let answer = vm.call(
                    Request::Save {
                        to: FdRef::Passed(0),
                        stop: true,
                    },
                    &[fd],
                );
                drop(writer);
                answer
            });
            let copied = copy_all(&mut reader, sink);
            (copied, request.join())
        });
        let answer =
            answer.map_err(|_| Error::driver(ErrorCode::INTERNAL_ERROR, "save thread panicked"))?;
        answer.map_err(|e| vmm_error("save", e))?;
        let copied = copied.map_err(|e| io_error("cannot store the saved state", e))?;
        self.stop(uuid, &vm);
        Ok(copied)
    }

    /// The VMM writes straight into the file (sparse: zero pages become
    /// holes), so the host's memory does not grow with the guest's.
    pub(super) fn save_into_file(&self, uuid: &str, file: &mut File) -> Result<u64> {
        let vm = self.vm(uuid)?;
        let start = file
            .stream_position()
            .map_err(|e| io_error("cannot locate the save file's offset", e))?;
        // The descriptor shares this file's offset: the VMM writes on from it.
        vm.call(
            Request::Save {
                to: FdRef::Passed(0),
                stop: true,
            },
            &[file.as_raw_fd()],
        )
        .map_err(|e| vmm_error("save", e))?;
        let end = file
            .stream_position()
            .map_err(|e| io_error("cannot locate the save file's offset", e))?;
        self.stop(uuid, &vm);
        Ok(end - start)
    }

    pub(super) fn restore_from(
        &self,
        config: &DomainConfig,
        source: &mut dyn Read,
        size: u64,
        flags: u32,
    ) -> Result<DomainStatus> {
        self.check_not_running(&config.uuid)?;
        let opened = self.open_with_nics(config)?;
        let (vm, numbers, opened) = self.spawn(config, opened)?;
        self.record_taps(&config.uuid, &opened);
        let (reader, mut writer) =
            std::io::pipe().map_err(|e| io_error("cannot create a pipe", e))?;
        let request = Request::Restore(RestoreRequest {
            from: FdRef::Passed(0),
            disks: Self::boot_request(config, &opened, &numbers, false).disks,
            nics: nic::nic_refs(&opened.nics, &numbers),
            kernel: opened.kernel.map(|i| KernelRef::Fd(numbers[i])),
            initrd: opened.initrd.map(|i| FdRef::Fd(numbers[i])),
            paused: flags & SAVE_PAUSED != 0,
            copy_storage: false,
            policies: policies(config),
        });
        drop(opened);
        let (fed, answer) = std::thread::scope(|scope| {
            let answer = scope.spawn(|| {
                let fd = reader.as_raw_fd();
                let answer = vm.call(request, &[fd]);
                drop(reader);
                answer
            });
            let fed = std::io::copy(&mut source.take(size), &mut writer);
            drop(writer);
            (fed, answer.join())
        });
        let answer =
            answer.map_err(|_| Error::driver(ErrorCode::INTERNAL_ERROR, "restore thread panicked"));
        let result = match (fed, answer) {
            (Ok(_), Ok(Ok(result))) => result,
            (_, Ok(Err(e))) => {
                self.stop(&config.uuid, &vm);
                return Err(vmm_error("restore", e));
            }
            (Err(e), _) => {
                self.stop(&config.uuid, &vm);
                return Err(io_error("cannot feed the saved state to the VMM", e));
            }
            (_, Err(e)) => {
                self.stop(&config.uuid, &vm);
                return Err(e);
            }
        };
        self.register(&config.uuid, vm)?;
        let mut status = status_from(&result)?;
        // Paused because restored paused: libvirt's reason is "save".
        if flags & SAVE_PAUSED != 0 && status.state == 3 {
            status.reason = crate::lifecycle::reason::PAUSED_SAVE;
        }
        Ok(status)
    }
}
