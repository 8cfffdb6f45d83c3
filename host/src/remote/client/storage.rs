//! Storage pools and volumes over the wire, with volume upload and download
//! as libvirt streams.

use std::io::{Read, Write};
use std::sync::mpsc::Receiver;

use uuid::Uuid;

use super::{ClientError, RemoteConn, Session, wait};
use crate::connect::{Connect, Error, PoolInfo, Result, StoragePool, StorageVol, VolInfo};
use crate::driver::VolumeInfo;
use crate::error::ErrorCode;
use crate::remote::packet::{Header, MessageStatus, MessageType, Packet, StreamHole};
use crate::remote::protocol::*;
use crate::remote::refs::{self, wire_pool};
use crate::xml::Element;

/// Data per stream packet: libvirt's legacy payload limit, which every
/// daemon version accepts.
pub(crate) const STREAM_CHUNK: usize = 256 * 1024 - 24;

/// Daemons find a volume by pool and name, so the key is left empty.
fn wire_vol(vol: &StorageVol) -> NonnullStorageVol {
    refs::wire_vol(vol, String::new())
}

fn handle(conn: &Connect, p: NonnullStoragePool) -> StoragePool {
    refs::pool(conn, p)
}

fn pool_args(pool: &StoragePool) -> StoragePoolArgs {
    StoragePoolArgs {
        pool: wire_pool(pool),
    }
}

fn pool_flags(pool: &StoragePool, flags: u32) -> StoragePoolFlagsArgs {
    StoragePoolFlagsArgs {
        pool: wire_pool(pool),
        flags,
    }
}

fn vol_args(vol: &StorageVol) -> StorageVolArgs {
    StorageVolArgs { vol: wire_vol(vol) }
}

fn vol_flags(vol: &StorageVol, flags: u32) -> StorageVolFlagsArgs {
    StorageVolFlagsArgs {
        vol: wire_vol(vol),
        flags,
    }
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

impl RemoteConn {
    pub(crate) fn lookup_pool_by_name(&self, conn: &Connect, name: &str) -> Result<StoragePool> {
        let args = StoragePoolLookupByNameArgs {
            name: name.to_string(),
        };
        let ret: StoragePoolRet = self.call(REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_NAME, &args)?;
        Ok(handle(conn, ret.pool))
    }

    pub(crate) fn lookup_pool_by_uuid(&self, conn: &Connect, uuid: &Uuid) -> Result<StoragePool> {
        let args = StoragePoolLookupByUuidArgs {
            uuid: *uuid.as_bytes(),
        };
        let ret: StoragePoolRet = self.call(REMOTE_PROC_STORAGE_POOL_LOOKUP_BY_UUID, &args)?;
        Ok(handle(conn, ret.pool))
    }

    pub(crate) fn list_all_pools(&self, conn: &Connect, flags: u32) -> Result<Vec<StoragePool>> {
        let args = ConnectListAllStoragePoolsArgs {
            need_results: 1,
            flags,
        };
        let ret: ConnectListAllStoragePoolsRet =
            self.call(REMOTE_PROC_CONNECT_LIST_ALL_STORAGE_POOLS, &args)?;
        Ok(ret.pools.into_iter().map(|p| handle(conn, p)).collect())
    }

    pub(crate) fn define_pool_xml(&self, conn: &Connect, xml: &str) -> Result<StoragePool> {
        let args = StoragePoolXmlArgs {
            xml: xml.to_string(),
            flags: 0,
        };
        let ret: StoragePoolRet = self.call(REMOTE_PROC_STORAGE_POOL_DEFINE_XML, &args)?;
        Ok(handle(conn, ret.pool))
    }

    pub(crate) fn create_pool_xml(&self, conn: &Connect, xml: &str) -> Result<StoragePool> {
        let args = StoragePoolXmlArgs {
            xml: xml.to_string(),
            flags: 0,
        };
        let ret: StoragePoolRet = self.call(REMOTE_PROC_STORAGE_POOL_CREATE_XML, &args)?;
        Ok(handle(conn, ret.pool))
    }

    fn vol_handle(&self, conn: &Connect, v: NonnullStorageVol) -> Result<StorageVol> {
        let pool = self.lookup_pool_by_name(conn, &v.pool)?;
        Ok(pool.vol_ref(v.name))
    }

    pub(crate) fn lookup_vol_by_path(&self, conn: &Connect, path: &str) -> Result<StorageVol> {
        let args = StorageVolLookupByPathArgs {
            path: path.to_string(),
        };
        let ret: StorageVolRet = self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_PATH, &args)?;
        self.vol_handle(conn, ret.vol)
    }

    pub(crate) fn pool_is_active(&self, pool: &StoragePool) -> Result<bool> {
        let ret: IsActiveRet = self.call(REMOTE_PROC_STORAGE_POOL_IS_ACTIVE, &pool_args(pool))?;
        Ok(ret.active != 0)
    }

    pub(crate) fn pool_is_persistent(&self, pool: &StoragePool) -> Result<bool> {
        let ret: IsPersistentRet =
            self.call(REMOTE_PROC_STORAGE_POOL_IS_PERSISTENT, &pool_args(pool))?;
        Ok(ret.persistent != 0)
    }

    pub(crate) fn pool_autostart(&self, pool: &StoragePool) -> Result<bool> {
        let ret: AutostartRet =
            self.call(REMOTE_PROC_STORAGE_POOL_GET_AUTOSTART, &pool_args(pool))?;
        Ok(ret.autostart != 0)
    }

    pub(crate) fn pool_info(&self, pool: &StoragePool) -> Result<PoolInfo> {
        let ret: StoragePoolGetInfoRet =
            self.call(REMOTE_PROC_STORAGE_POOL_GET_INFO, &pool_args(pool))?;
        Ok(PoolInfo {
            state: u32::from(ret.state),
            capacity: ret.capacity,
            allocation: ret.allocation,
            available: ret.available,
        })
    }

    pub(crate) fn pool_xml_desc(&self, pool: &StoragePool, flags: u32) -> Result<String> {
        let ret: XmlRet = self.call(
            REMOTE_PROC_STORAGE_POOL_GET_XML_DESC,
            &pool_flags(pool, flags),
        )?;
        Ok(ret.xml)
    }

    pub(crate) fn pool_build(&self, pool: &StoragePool, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_BUILD, &pool_flags(pool, flags))?)
    }

    pub(crate) fn pool_create(&self, pool: &StoragePool, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_CREATE, &pool_flags(pool, flags))?)
    }

    pub(crate) fn pool_destroy(&self, pool: &StoragePool) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_DESTROY, &pool_args(pool))?)
    }

    pub(crate) fn pool_delete(&self, pool: &StoragePool, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_DELETE, &pool_flags(pool, flags))?)
    }

    pub(crate) fn pool_undefine(&self, pool: &StoragePool) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_UNDEFINE, &pool_args(pool))?)
    }

    pub(crate) fn pool_refresh(&self, pool: &StoragePool) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_REFRESH, &pool_flags(pool, 0))?)
    }

    pub(crate) fn pool_set_autostart(&self, pool: &StoragePool, autostart: bool) -> Result<()> {
        let args = StoragePoolSetAutostartArgs {
            pool: wire_pool(pool),
            autostart: i32::from(autostart),
        };
        Ok(self.call(REMOTE_PROC_STORAGE_POOL_SET_AUTOSTART, &args)?)
    }

    fn pool_element(&self, pool: &StoragePool) -> Result<Element> {
        Ok(Element::parse(&self.pool_xml_desc(pool, 0)?, "pool")?)
    }

    pub(crate) fn pool_target_path(&self, pool: &StoragePool) -> Result<Option<String>> {
        Ok(self
            .pool_element(pool)?
            .child("target")
            .and_then(|t| t.child_text("path")))
    }

    pub(crate) fn pool_type(&self, pool: &StoragePool) -> Result<String> {
        Ok(self
            .pool_element(pool)?
            .attr("type")
            .unwrap_or_default()
            .to_string())
    }

    pub(crate) fn list_all_volumes(&self, pool: &StoragePool) -> Result<Vec<StorageVol>> {
        let args = StoragePoolListAllVolumesArgs {
            pool: wire_pool(pool),
            need_results: 1,
            flags: 0,
        };
        let ret: StoragePoolListAllVolumesRet =
            self.call(REMOTE_PROC_STORAGE_POOL_LIST_ALL_VOLUMES, &args)?;
        Ok(ret.vols.into_iter().map(|v| pool.vol_ref(v.name)).collect())
    }

    pub(crate) fn lookup_vol_by_name(&self, pool: &StoragePool, name: &str) -> Result<StorageVol> {
        let args = StorageVolLookupByNameArgs {
            pool: wire_pool(pool),
            name: name.to_string(),
        };
        let ret: StorageVolRet = self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, &args)?;
        Ok(pool.vol_ref(ret.vol.name))
    }

    pub(crate) fn create_volume_xml(
        &self,
        pool: &StoragePool,
        xml: &str,
        flags: u32,
    ) -> Result<StorageVol> {
        let args = StorageVolCreateXmlArgs {
            pool: wire_pool(pool),
            xml: xml.to_string(),
            flags,
        };
        let ret: StorageVolRet = self.call(REMOTE_PROC_STORAGE_VOL_CREATE_XML, &args)?;
        Ok(pool.vol_ref(ret.vol.name))
    }

    pub(crate) fn create_volume_xml_from(
        &self,
        pool: &StoragePool,
        xml: &str,
        source: &StorageVol,
        flags: u32,
    ) -> Result<StorageVol> {
        let args = StorageVolCreateXmlFromArgs {
            pool: wire_pool(pool),
            xml: xml.to_string(),
            clonevol: wire_vol(source),
            flags,
        };
        let ret: StorageVolRet = self.call(REMOTE_PROC_STORAGE_VOL_CREATE_XML_FROM, &args)?;
        Ok(pool.vol_ref(ret.vol.name))
    }

    pub(crate) fn vol_info(&self, vol: &StorageVol) -> Result<VolInfo> {
        let ret: StorageVolGetInfoRet =
            self.call(REMOTE_PROC_STORAGE_VOL_GET_INFO, &vol_args(vol))?;
        Ok(VolInfo {
            kind: u32::try_from(ret.r#type).unwrap_or(0),
            capacity: ret.capacity,
            allocation: ret.allocation,
        })
    }

    /// The whole record: key from a lookup, sizes from the info, path and
    /// format from the XML.
    pub(crate) fn vol_info_full(&self, vol: &StorageVol) -> Result<VolumeInfo> {
        let args = StorageVolLookupByNameArgs {
            pool: wire_pool(vol.pool()),
            name: vol.name().to_string(),
        };
        let found: StorageVolRet = self.call(REMOTE_PROC_STORAGE_VOL_LOOKUP_BY_NAME, &args)?;
        let info = self.vol_info(vol)?;
        let xml = self.vol_xml_desc(vol, 0)?;
        let target = Element::parse(&xml, "volume")?.child("target").cloned();
        Ok(VolumeInfo {
            name: vol.name().to_string(),
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

    pub(crate) fn vol_path(&self, vol: &StorageVol) -> Result<String> {
        let ret: StorageVolGetPathRet =
            self.call(REMOTE_PROC_STORAGE_VOL_GET_PATH, &vol_args(vol))?;
        Ok(ret.name)
    }

    pub(crate) fn vol_key(&self, vol: &StorageVol) -> Result<String> {
        Ok(self.vol_info_full(vol)?.key)
    }

    pub(crate) fn vol_xml_desc(&self, vol: &StorageVol, flags: u32) -> Result<String> {
        let ret: XmlRet =
            self.call(REMOTE_PROC_STORAGE_VOL_GET_XML_DESC, &vol_flags(vol, flags))?;
        Ok(ret.xml)
    }

    pub(crate) fn vol_delete(&self, vol: &StorageVol, flags: u32) -> Result<()> {
        Ok(self.call(REMOTE_PROC_STORAGE_VOL_DELETE, &vol_flags(vol, flags))?)
    }

    pub(crate) fn vol_wipe(&self, vol: &StorageVol, algorithm: u32, flags: u32) -> Result<()> {
        if algorithm == 0 {
            return Ok(self.call(REMOTE_PROC_STORAGE_VOL_WIPE, &vol_flags(vol, flags))?);
        }
        let args = StorageVolWipePatternArgs {
            vol: wire_vol(vol),
            algorithm,
            flags,
        };
        Ok(self.call(REMOTE_PROC_STORAGE_VOL_WIPE_PATTERN, &args)?)
    }

    pub(crate) fn vol_resize(&self, vol: &StorageVol, capacity: u64, flags: u32) -> Result<()> {
        let args = StorageVolResizeArgs {
            vol: wire_vol(vol),
            capacity,
            flags,
        };
        Ok(self.call(REMOTE_PROC_STORAGE_VOL_RESIZE, &args)?)
    }

    /// A volume stream: the call and its reply, `body` moving the data
    /// (told the expected total for progress), then STREAM/OK each way.
    /// The daemon reports a failed transfer with STREAM/ERROR at any point.
    fn vol_transfer(
        &self,
        procedure: i32,
        vol: &StorageVol,
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
        let args = StorageVolTransferArgs {
            vol: wire_vol(vol),
            offset,
            length,
            flags: 0,
        };
        let (call, rx) = session.start(procedure, &args)?;
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

    /// Download: data packets until an empty one.
    pub(crate) fn vol_download(
        &self,
        vol: &StorageVol,
        offset: u64,
        length: u64,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        let write_error = || io_error(format!("cannot write data of volume '{}'", vol.name()));
        self.vol_transfer(
            REMOTE_PROC_STORAGE_VOL_DOWNLOAD,
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
    pub(crate) fn vol_upload(
        &self,
        vol: &StorageVol,
        offset: u64,
        length: u64,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        self.vol_transfer(
            REMOTE_PROC_STORAGE_VOL_UPLOAD,
            vol,
            offset,
            length,
            |session, call, rx, total| {
                let limit = if length == 0 { u64::MAX } else { length };
                let mut buf = vec![0u8; STREAM_CHUNK];
                let mut sent = 0u64;
                while sent < limit {
                    let want = (limit - sent).min(STREAM_CHUNK as u64) as usize;
                    let n = crate::connect::storage::read_full(source, &mut buf[..want]).map_err(
                        io_error(format!("cannot read data for volume '{}'", vol.name())),
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
