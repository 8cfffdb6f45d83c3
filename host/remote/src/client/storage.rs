//! Storage pools and volumes over the wire, with volume upload and download
//! as libvirt streams.

use std::io::{Read, Write};
use std::sync::mpsc::Receiver;

use uuid::Uuid;

use super::{ClientError, RemoteConn, Session, wait};
use crate::packet::{Header, MessageStatus, MessageType, Packet, StreamHole};
use crate::protocol::*;
use crate::refs::{self, wire_pool};
use wirt::connect::{
    Error, PoolBackend, PoolInfo, PoolRef, Progress, Result, VolInfo, VolRef, VolumeBackend,
};
use wirt::driver::VolumeInfo;
use wirt::error::ErrorCode;
use wirt::xml::Element;

/// Data per stream packet: libvirt's legacy payload limit, which every
/// daemon version accepts.
pub(crate) const STREAM_CHUNK: usize = 256 * 1024 - 24;

/// Daemons find a volume by pool and name, so the key is left empty.
fn wire_vol(vol: &VolRef) -> NonnullStorageVol {
    refs::wire_vol(vol, String::new())
}

fn handle(p: NonnullStoragePool) -> PoolRef {
    refs::pool(p)
}

fn stream_failed(packet: &Packet) -> Error {
    match packet.error() {
        Some(Ok(e)) => ClientError::Server(Box::new(e)).into(),
        Some(Err(e)) => ClientError::Protocol(e).into(),
        None => Error::api(ErrorCode::RPC, "stream aborted by the daemon"),
    }
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { what, source }
}

impl PoolBackend for RemoteConn {
    fn storage_pool_capabilities(&self, flags: u32) -> Result<String> {
        let ret: ConnectGetStoragePoolCapabilitiesRet = self.call(
            REMOTE_PROC_CONNECT_GET_STORAGE_POOL_CAPABILITIES,
            &ConnectGetStoragePoolCapabilitiesArgs { flags },
        )?;
        Ok(ret.capabilities)
    }

    fn pool_events(&self) -> Result<wirt::events::EventStream<wirt::events::PoolEvent>> {
        Ok(self.subscribe_pools()?)
    }

    fn lookup_pool_by_name(&self, name: &str) -> Result<PoolRef> {
        let args = StoragePoolLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: StoragePoolLookupByNameRet =
            self.call(REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME, &args)?;
        Ok(handle(ret.pool))
    }

    fn lookup_pool_by_uuid(&self, uuid: &Uuid) -> Result<PoolRef> {
        let args = StoragePoolLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: StoragePoolLookupByUuidRet =
            self.call(REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID, &args)?;
        Ok(handle(ret.pool))
    }

    fn list_all_pools(&self, flags: u32) -> Result<Vec<PoolRef>> {
        let args = ConnectListAllStoragePoolsArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllStoragePoolsRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS, &args)?;
        Ok(ret.pools.into_iter().map(handle).collect())
    }

    fn define_pool_xml(&self, xml: &str) -> Result<PoolRef> {
        let args = StoragePoolDefineXmlArgs {
            xml: xml.to_string(),
            flags: 0,
        };
        let ret: StoragePoolDefineXmlRet = self.call(REMOTE_PROC_STORAGE_POOL_DEFINE_XML, &args)?;
        Ok(handle(ret.pool))
    }

    fn create_pool_xml(&self, xml: &str) -> Result<PoolRef> {
        let args = StoragePoolCreateXmlArgs {
            xml: xml.to_string(),
            flags: 0,
        };
        let ret: StoragePoolCreateXmlRet = self.call(REMOTE_PROC_STORAGE_POOL_CREATE_XML, &args)?;
        Ok(handle(ret.pool))
    }

    fn pool_is_active(&self, pool: &PoolRef) -> Result<bool> {
        let ret: StoragePoolIsActiveRet = self.call(
            REMOTE_PROC_STORAGE_POOL_IS_ACTIVE,
            &StoragePoolIsActiveArgs {
                pool: wire_pool(pool),
            },
        )?;
        Ok(ret.active != 0)
    }

    fn pool_is_persistent(&self, pool: &PoolRef) -> Result<bool> {
        let ret: StoragePoolIsPersistentRet = self.call(
            REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT,
            &StoragePoolIsPersistentArgs {
                pool: wire_pool(pool),
            },
        )?;
        Ok(ret.persistent != 0)
    }

    fn pool_autostart(&self, pool: &PoolRef) -> Result<bool> {
        let ret: StoragePoolGetAutostartRet = self.call(
            REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART,
            &StoragePoolGetAutostartArgs {
                pool: wire_pool(pool),
            },
        )?;
        Ok(ret.autostart != 0)
    }

    fn pool_info(&self, pool: &PoolRef) -> Result<PoolInfo> {
        let ret: StoragePoolGetInfoRet = self.call(
            REMOTE_PROC_STORAGE_POOL_GET_INFO,
            &StoragePoolGetInfoArgs {
                pool: wire_pool(pool),
            },
        )?;
        Ok(PoolInfo {
            state: u32::from(ret.state),
            capacity: ret.capacity,
            allocation: ret.allocation,
            available: ret.available,
        })
    }

    fn pool_xml_desc(&self, pool: &PoolRef, flags: u32) -> Result<String> {
        let ret: StoragePoolGetXmlDescRet = self.call(
            REMOTE_PROC_STORAGE_POOL_GET_XML_DESC,
            &StoragePoolGetXmlDescArgs {
                pool: wire_pool(pool),
                flags,
            },
        )?;
        Ok(ret.xml)
    }

    fn pool_build(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_BUILD,
            &StoragePoolBuildArgs {
                pool: wire_pool(pool),
                flags,
            },
        )?)
    }

    fn pool_create(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_CREATE,
            &StoragePoolCreateArgs {
                pool: wire_pool(pool),
                flags,
            },
        )?)
    }

    fn pool_destroy(&self, pool: &PoolRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_DESTROY,
            &StoragePoolDestroyArgs {
                pool: wire_pool(pool),
            },
        )?)
    }

    fn pool_delete(&self, pool: &PoolRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_DELETE,
            &StoragePoolDeleteArgs {
                pool: wire_pool(pool),
                flags,
            },
        )?)
    }

    fn pool_undefine(&self, pool: &PoolRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_UNDEFINE,
            &StoragePoolUndefineArgs {
                pool: wire_pool(pool),
            },
        )?)
    }

    fn pool_refresh(&self, pool: &PoolRef) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_POOL_REFRESH,
            &StoragePoolRefreshArgs {
                pool: wire_pool(pool),
                flags: 0,
            },
        )?)
    }

    fn pool_set_autostart(&self, pool: &PoolRef, autostart: bool) -> Result<()> {
        let args = StoragePoolSetAutostartArgs {
            pool: wire_pool(pool),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART, &args)?)
    }

    fn pool_target_path(&self, pool: &PoolRef) -> Result<Option<String>> {
        Ok(self
            .pool_element(pool)?
            .child("target")
            .and_then(|t| t.child_text("path")))
    }

    fn pool_type(&self, pool: &PoolRef) -> Result<String> {
        Ok(self
            .pool_element(pool)?
            .attr("type")
            .unwrap_or_default()
            .to_string())
    }

    fn list_all_volumes(&self, pool: &PoolRef) -> Result<Vec<VolRef>> {
        let args = StoragePoolListAllVolumesArgs {
            pool: wire_pool(pool),
            need_results: 1,
            flags: 0,
        };
        let ret: StoragePoolListAllVolumesRet =
            self.call(REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES, &args)?;
        Ok(ret
            .vols
            .into_iter()
            .map(|v| VolRef {
                pool: pool.clone(),
                name: v.name,
            })
            .collect())
    }

    fn lookup_vol_by_name(&self, pool: &PoolRef, name: &str) -> Result<VolRef> {
        let args = StorageVolLookupByNameArgs {
            pool: wire_pool(pool),
            name: name.to_string(),
        };
        let ret: StorageVolLookupByNameRet =
            self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, &args)?;
        Ok(VolRef {
            pool: pool.clone(),
            name: ret.vol.name,
        })
    }

    fn create_volume_xml(&self, pool: &PoolRef, xml: &str, flags: u32) -> Result<VolRef> {
        let args = StorageVolCreateXmlArgs {
            pool: wire_pool(pool),
            xml: xml.to_string(),
            flags,
        };
        let ret: StorageVolCreateXmlRet = self.call(REMOTE_PROC_STORAGE_VOL_CREATE_XML, &args)?;
        Ok(VolRef {
            pool: pool.clone(),
            name: ret.vol.name,
        })
    }

    fn create_volume_xml_from(
        &self,
        pool: &PoolRef,
        xml: &str,
        source: &VolRef,
        flags: u32,
    ) -> Result<VolRef> {
        let args = StorageVolCreateXmlFromArgs {
            pool: wire_pool(pool),
            xml: xml.to_string(),
            clonevol: wire_vol(source),
            flags,
        };
        let ret: StorageVolCreateXmlFromRet =
            self.call(REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM, &args)?;
        Ok(VolRef {
            pool: pool.clone(),
            name: ret.vol.name,
        })
    }
}

impl RemoteConn {
    /// A volume stream: the call and its reply, `body` moving the data
    /// (told the expected total for progress), then STREAM/OK each way.
    /// The daemon reports a failed transfer with STREAM/ERROR at any point.
    fn vol_transfer(
        &self,
        direction: StreamDirection,
        vol: &VolRef,
        offset: u64,
        length: u64,
        body: impl FnOnce(&Session, &Header, &Receiver<Packet>, u64) -> Result<u64>,
    ) -> Result<u64> {
        let total = if length == 0 {
            self.vol_info(vol)?.capacity.saturating_sub(offset)
        } else {
            length
        };
        let session = self.session()?;
        let (vol, flags) = (wire_vol(vol), 0);
        let args = match direction {
            StreamDirection::Upload => Call::StorageVolUpload(StorageVolUploadArgs {
                vol,
                offset,
                length,
                flags,
            }),
            StreamDirection::Download => Call::StorageVolDownload(StorageVolDownloadArgs {
                vol,
                offset,
                length,
                flags,
            }),
        };
        let (call, rx) = session.start(args.procedure(), &args)?;
        let outcome = (|| -> Result<u64> {
            super::decode_reply::<()>(&wait(&rx, None)?)?;
            let moved = body(&session, &call, &rx, total)?;
            let finish = Packet::stream_finish(&call)
                .to_bytes()
                .map_err(ClientError::Protocol)?;
            session.send(&finish)?;
            let done = wait(&rx, None)?;
            if done.header.status != MessageStatus::Ok {
                return Err(stream_failed(&done));
            }
            Ok(moved)
        })();
        session.finish(call.serial);
        outcome
    }

    fn pool_element(&self, pool: &PoolRef) -> Result<Element> {
        Ok(Element::parse(&self.pool_xml_desc(pool, 0)?, "pool")?)
    }

    fn vol_handle(&self, v: NonnullStorageVol) -> Result<VolRef> {
        let pool = self.lookup_pool_by_name(&v.pool)?;
        Ok(VolRef { pool, name: v.name })
    }
}

impl VolumeBackend for RemoteConn {
    fn lookup_vol_by_path(&self, path: &str) -> Result<VolRef> {
        let args = StorageVolLookupByPathArgs {
            path: path.to_string(),
        };
        let ret: StorageVolLookupByPathRet =
            self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH, &args)?;
        self.vol_handle(ret.vol)
    }

    fn vol_info(&self, vol: &VolRef) -> Result<VolInfo> {
        let ret: StorageVolGetInfoRet = self.call(
            REMOTE_PROC_STORAGE_VOL_GET_INFO,
            &StorageVolGetInfoArgs { vol: wire_vol(vol) },
        )?;
        Ok(VolInfo {
            kind: u32::try_from(ret.r#type).unwrap_or(0),
            capacity: ret.capacity,
            allocation: ret.allocation,
        })
    }

    /// The whole record: key from a lookup, sizes from the info, path and
    /// format from the XML.
    fn vol_cached_info(&self, vol: &VolRef) -> Result<VolumeInfo> {
        self.vol_refreshed_info(vol)
    }

    fn vol_refreshed_info(&self, vol: &VolRef) -> Result<VolumeInfo> {
        let args = StorageVolLookupByNameArgs {
            pool: wire_pool(&vol.pool),
            name: vol.name.to_string(),
        };
        let found: StorageVolLookupByNameRet =
            self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, &args)?;
        let info = self.vol_info(vol)?;
        let xml = self.vol_xml_desc(vol, 0)?;
        let target = Element::parse(&xml, "volume")?.child("target").cloned();
        Ok(VolumeInfo {
            name: vol.name.to_string(),
            key: found.vol.key,
            path: target
                .as_ref()
                .and_then(|t| t.child_text("path"))
                .unwrap_or_default(),
            kind: info.kind,
            capacity: info.capacity,
            allocation: info.allocation,
            format: target
                .as_ref()
                .and_then(|t| t.child("format"))
                .and_then(|f| f.attr("type"))
                .unwrap_or("raw")
                .to_string(),
        })
    }

    fn vol_path(&self, vol: &VolRef) -> Result<String> {
        let ret: StorageVolGetPathRet = self.call(
            REMOTE_PROC_STORAGE_VOL_GET_PATH,
            &StorageVolGetPathArgs { vol: wire_vol(vol) },
        )?;
        Ok(ret.name)
    }

    fn vol_key(&self, vol: &VolRef) -> Result<String> {
        Ok(self.vol_refreshed_info(vol)?.key)
    }

    fn vol_xml_desc(&self, vol: &VolRef, flags: u32) -> Result<String> {
        let ret: StorageVolGetXmlDescRet = self.call(
            REMOTE_PROC_STORAGE_VOL_GET_XML_DESC,
            &StorageVolGetXmlDescArgs {
                vol: wire_vol(vol),
                flags,
            },
        )?;
        Ok(ret.xml)
    }

    fn vol_delete(&self, vol: &VolRef, flags: u32) -> Result<()> {
        Ok(self.call(
            REMOTE_PROC_STORAGE_VOL_DELETE,
            &StorageVolDeleteArgs {
                vol: wire_vol(vol),
                flags,
            },
        )?)
    }

    fn vol_wipe(&self, vol: &VolRef, algorithm: u32, flags: u32) -> Result<()> {
        if algorithm == 0 {
            return Ok(self.call(
                REMOTE_PROC_STORAGE_VOL_WIPE,
                &StorageVolWipeArgs {
                    vol: wire_vol(vol),
                    flags,
                },
            )?);
        }
        let args = StorageVolWipePatternArgs {
            vol: wire_vol(vol),
            algorithm,
            flags,
        };
        Ok(self.call(REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN, &args)?)
    }

    fn vol_resize(&self, vol: &VolRef, capacity: u64, flags: u32) -> Result<()> {
        let args = StorageVolResizeArgs {
            vol: wire_vol(vol),
            capacity,
            flags,
        };
        Ok(self.call(REMOTE_PROC_STORAGE_VOL_RESIZE, &args)?)
    }

    /// Download: data packets until an empty one.
    fn vol_download(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<u64> {
        let write_error = || io_error(format!("cannot write data of volume '{}'", vol.name));
        self.vol_transfer(
            StreamDirection::Download,
            vol,
            offset,
            length,
            |session, call, rx, total| {
                let mut got = 0u64;
                loop {
                    let p = wait(rx, None)?;
                    match (p.header.msg_type, p.header.status) {
                        (MessageType::Stream, MessageStatus::Continue) if p.payload.is_empty() => {
                            return Ok(got);
                        }
                        (MessageType::Stream, MessageStatus::Continue) => {
                            if let Err(e) = sink.write_all(&p.payload) {
                                let _ = session.send(
                                    &Packet::stream_abort(call)
                                        .to_bytes()
                                        .map_err(ClientError::Protocol)?,
                                );
                                return Err(write_error()(e));
                            }
                            got += p.payload.len() as u64;
                        }
                        (MessageType::StreamHole, _) => {
                            let hole: StreamHole = p.decode().map_err(ClientError::Protocol)?;
                            let zeros = vec![0u8; STREAM_CHUNK];
                            let mut left = u64::try_from(hole.length).unwrap_or(0);
                            while left > 0 {
                                let n = left.min(zeros.len() as u64) as usize;
                                sink.write_all(&zeros[..n]).map_err(write_error())?;
                                left -= n as u64;
                            }
                            got += u64::try_from(hole.length).unwrap_or(0);
                        }
                        _ => return Err(stream_failed(&p)),
                    }
                    progress(got, total);
                }
            },
        )
    }

    /// Upload: data packets up to `length` (0: to the end of `source`).
    fn vol_upload(
        &self,
        vol: &VolRef,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: Progress<'_>,
    ) -> Result<u64> {
        self.vol_transfer(
            StreamDirection::Upload,
            vol,
            offset,
            length,
            |session, call, rx, total| {
                let limit = if length == 0 { u64::MAX } else { length };
                let mut buf = vec![0u8; STREAM_CHUNK];
                let mut sent = 0u64;
                while sent < limit {
                    let want = (limit - sent).min(STREAM_CHUNK as u64) as usize;
                    let n = wirt::connect::read_full(source, &mut buf[..want]).map_err(
                        io_error(format!("cannot read data for volume '{}'", vol.name)),
                    )?;
                    if n == 0 {
                        break;
                    }
                    if let Ok(p) = rx.try_recv() {
                        return Err(stream_failed(&p));
                    }
                    let data = Packet::stream_data(call, buf[..n].to_vec())
                        .and_then(|p| p.to_bytes())
                        .map_err(ClientError::Protocol)?;
                    session.send(&data)?;
                    sent += n as u64;
                    progress(sent, total);
                }
                Ok(sent)
            },
        )
    }
}
