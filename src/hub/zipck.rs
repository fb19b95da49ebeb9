//! Pickle extraction from weights files without reading whole weights: a zip
//! checkpoint (torch's format) is read through ranges (end of central
//! directory, central directory, then only the `data.pkl` member); a raw
//! pickle is read up to the pickle cap. Bytes are only parsed, never unpickled.

use std::io::Read;

use crate::hub::HubError;
use crate::hub::validate::{MAX_PICKLE_BYTES, MAX_ZIP_CENTRAL_DIR_BYTES};

/// Bytes read first: enough for a small raw pickle or a zip's local header.
pub const HEAD_BYTES: u64 = 64 * 1024;
/// EOCD (22) + max comment (65535) + zip64 locator (20) + zip64 EOCD (56).
const TAIL_BYTES: u64 = 22 + 65535 + 20 + 56;
/// A tail that holds the EOCD records of a zip with a short comment.
const SHORT_TAIL_BYTES: u64 = 22 + 1024 + 20 + 56;

/// A contiguous piece of a file.
pub struct Chunk {
    pub start: u64,
    pub data: Vec<u8>,
    /// The file's total size, when known.
    pub total: Option<u64>,
}

/// Something that can serve byte ranges of one file.
pub trait RangeSource {
    /// Bytes `[start, start+len)` (fewer at the end of file). A source that cannot
    /// serve ranges returns the file from 0 (possibly truncated), with `total`
    /// set only when the whole file is in `data`.
    fn range(&self, start: u64, len: u64) -> impl Future<Output = Result<Chunk, HubError>> + Send;
}

fn u16le(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}
fn u32le(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}
fn u64le(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

fn bad(msg: &str) -> HubError {
    HubError::Protocol(format!("zip checkpoint: {msg}"))
}

/// Where the central directory is: (offset, size).
pub fn find_central_dir(tail: &[u8], tail_start: u64) -> Result<(u64, u64), HubError> {
    let pos = tail
        .windows(4)
        .rposition(|w| w == b"PK\x05\x06")
        .ok_or_else(|| bad("no end of central directory"))?;
    let mut size = u32le(tail, pos + 12).ok_or_else(|| bad("short EOCD"))?;
    let mut off = u32le(tail, pos + 16).ok_or_else(|| bad("short EOCD"))?;
    if (size == 0xFFFF_FFFF || off == 0xFFFF_FFFF)
        && pos >= 20
        && &tail[pos - 20..pos - 16] == b"PK\x06\x07"
    {
        let z64_off = u64le(tail, pos - 20 + 8).ok_or_else(|| bad("short zip64 locator"))?;
        let rel = z64_off
            .checked_sub(tail_start)
            .ok_or_else(|| bad("zip64 EOCD outside the tail"))? as usize;
        if tail.get(rel..rel + 4) != Some(b"PK\x06\x06") {
            return Err(bad("zip64 EOCD signature"));
        }
        size = u64le(tail, rel + 40).ok_or_else(|| bad("short zip64 EOCD"))?;
        off = u64le(tail, rel + 48).ok_or_else(|| bad("short zip64 EOCD"))?;
    }
    Ok((off, size))
}

/// A central-directory entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub method: u64,
    pub compressed: u64,
    pub uncompressed: u64,
    pub local_offset: u64,
}

fn zip64_extra(extra: &[u8], e: &mut Entry, need: (bool, bool, bool)) {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let (Some(id), Some(len)) = (u16le(extra, i), u16le(extra, i + 2)) else {
            return;
        };
        let body = &extra[(i + 4).min(extra.len())..(i + 4 + len as usize).min(extra.len())];
        if id == 1 {
            let mut j = 0;
            if need.0 {
                if let Some(v) = u64le(body, j) {
                    e.uncompressed = v;
                }
                j += 8;
            }
            if need.1 {
                if let Some(v) = u64le(body, j) {
                    e.compressed = v;
                }
                j += 8;
            }
            if need.2
                && let Some(v) = u64le(body, j)
            {
                e.local_offset = v;
            }
            return;
        }
        i += 4 + len as usize;
    }
}

/// Every entry of a central directory.
pub fn parse_central_dir(cd: &[u8]) -> Result<Vec<Entry>, HubError> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 46 <= cd.len() && &cd[i..i + 4] == b"PK\x01\x02" {
        let g = |at| u32le(cd, i + at).ok_or_else(|| bad("short entry"));
        let h = |at| u16le(cd, i + at).ok_or_else(|| bad("short entry"));
        let (n, x, c) = (h(28)? as usize, h(30)? as usize, h(32)? as usize);
        let name_bytes = cd
            .get(i + 46..i + 46 + n)
            .ok_or_else(|| bad("short name"))?;
        let mut e = Entry {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            method: h(10)?,
            compressed: g(20)?,
            uncompressed: g(24)?,
            local_offset: g(42)?,
        };
        let need = (
            e.uncompressed == 0xFFFF_FFFF,
            e.compressed == 0xFFFF_FFFF,
            e.local_offset == 0xFFFF_FFFF,
        );
        if need.0 || need.1 || need.2 {
            let extra = cd
                .get(i + 46 + n..i + 46 + n + x)
                .ok_or_else(|| bad("short extra"))?;
            zip64_extra(extra, &mut e, need);
        }
        out.push(e);
        i += 46 + n + x + c;
    }
    Ok(out)
}

/// The member torch unpickles: `data.pkl` at the root or one folder down
/// (`<archive>/data.pkl`); the shallowest wins.
pub fn pick_data_pkl(entries: &[Entry]) -> Option<&Entry> {
    entries
        .iter()
        .filter(|e| {
            e.name == "data.pkl"
                || (e.name.ends_with("/data.pkl") && e.name.matches('/').count() == 1)
        })
        .min_by_key(|e| e.name.len())
}

/// Decompress a member's data (stored or deflated), capped.
pub fn inflate(e: &Entry, data: &[u8]) -> Result<Vec<u8>, HubError> {
    match e.method {
        0 => Ok(data.to_vec()),
        8 => {
            let mut out = Vec::new();
            flate2::read::DeflateDecoder::new(data)
                .take(MAX_PICKLE_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(|err| bad(&format!("inflating {}: {err}", e.name)))?;
            if out.len() as u64 > MAX_PICKLE_BYTES {
                return Err(HubError::Cap(format!(
                    "{} inflates past {MAX_PICKLE_BYTES} bytes",
                    e.name
                )));
            }
            Ok(out)
        }
        m => Err(bad(&format!(
            "unsupported compression method {m} for {}",
            e.name
        ))),
    }
}

/// Extract `data.pkl` from a whole zip held in memory.
pub fn data_pkl_from_bytes(zip: &[u8]) -> Result<Vec<u8>, HubError> {
    let (off, size) = find_central_dir(zip, 0)?;
    let cd = zip
        .get(off as usize..(off + size) as usize)
        .ok_or_else(|| bad("central directory out of bounds"))?;
    let entries = parse_central_dir(cd)?;
    let e = pick_data_pkl(&entries).ok_or_else(|| bad("no data.pkl member"))?;
    let lh = zip
        .get(e.local_offset as usize..)
        .ok_or_else(|| bad("local header out of bounds"))?;
    let start = local_data_start(lh)?;
    let data = lh
        .get(start..start + e.compressed as usize)
        .ok_or_else(|| bad("member data out of bounds"))?;
    inflate(e, data)
}

fn local_data_start(lh: &[u8]) -> Result<usize, HubError> {
    if lh.get(0..4) != Some(b"PK\x03\x04") {
        return Err(bad("local header signature"));
    }
    let n = u16le(lh, 26).ok_or_else(|| bad("short local header"))? as usize;
    let x = u16le(lh, 28).ok_or_else(|| bad("short local header"))? as usize;
    Ok(30 + n + x)
}

/// The pickle stream of a weights file read through `src`: `data.pkl` for a
/// zip checkpoint, else the first `MAX_PICKLE_BYTES` of the file.
pub async fn read_pickle<S: RangeSource>(src: &S) -> Result<Vec<u8>, HubError> {
    let head = src.range(0, HEAD_BYTES).await?;
    let is_zip = head.data.starts_with(b"PK\x03\x04");
    let whole = head.total.is_some_and(|t| t == head.data.len() as u64) && head.start == 0;
    if !is_zip {
        if whole || head.data.len() as u64 >= MAX_PICKLE_BYTES || head.total.is_none() {
            let mut d = head.data;
            d.truncate(MAX_PICKLE_BYTES as usize);
            return Ok(d);
        }
        let total = head.total.unwrap_or(0).min(MAX_PICKLE_BYTES);
        let got = head.data.len() as u64;
        let rest = src.range(got, total.saturating_sub(got)).await?;
        let mut d = head.data;
        if rest.start == got {
            d.extend_from_slice(&rest.data);
        } else {
            d = rest.data;
        }
        d.truncate(MAX_PICKLE_BYTES as usize);
        return Ok(d);
    }
    if whole {
        return data_pkl_from_bytes(&head.data);
    }
    let total = head.total.ok_or_else(|| {
        HubError::Cap(format!(
            "zip checkpoint over {HEAD_BYTES} bytes from a server without range support"
        ))
    })?;
    // Checkpoints rarely carry a zip comment: try a short tail before the longest one.
    let short = SHORT_TAIL_BYTES.min(total);
    let mut tail = src.range(total - short, short).await?;
    let found = match find_central_dir(&tail.data, tail.start) {
        Ok(loc) => Ok(loc),
        Err(_) if short < TAIL_BYTES.min(total) => {
            let len = TAIL_BYTES.min(total);
            tail = src.range(total - len, len).await?;
            find_central_dir(&tail.data, tail.start)
        }
        Err(e) => Err(e),
    };
    let (cd_off, cd_size) = found?;
    if cd_size > MAX_ZIP_CENTRAL_DIR_BYTES {
        return Err(HubError::Cap(format!(
            "zip central directory of {cd_size} bytes"
        )));
    }
    let cd = if cd_off >= tail.start && cd_off + cd_size <= tail.start + tail.data.len() as u64 {
        let a = (cd_off - tail.start) as usize;
        tail.data[a..a + cd_size as usize].to_vec()
    } else {
        let c = src.range(cd_off, cd_size).await?;
        if c.start != cd_off {
            return Err(bad("range not honoured"));
        }
        c.data
    };
    let entries = parse_central_dir(&cd)?;
    let e = pick_data_pkl(&entries)
        .ok_or_else(|| bad("no data.pkl member"))?
        .clone();
    if e.compressed > MAX_PICKLE_BYTES || e.uncompressed > MAX_PICKLE_BYTES {
        return Err(HubError::Cap(format!(
            "{} is over {MAX_PICKLE_BYTES} bytes",
            e.name
        )));
    }
    // Local extra fields are small (torch pads to 64 bytes); guess generously once.
    let guess = 30 + e.name.len() as u64 + 1024 + e.compressed;
    let in_head = e.local_offset + guess <= head.data.len() as u64;
    let lh = if in_head {
        head.data[e.local_offset as usize..].to_vec()
    } else {
        src.range(e.local_offset, guess).await?.data
    };
    let start = local_data_start(&lh)?;
    let data = if start as u64 + e.compressed <= lh.len() as u64 {
        lh[start..start + e.compressed as usize].to_vec()
    } else {
        src.range(e.local_offset + start as u64, e.compressed)
            .await?
            .data
    };
    if data.len() as u64 != e.compressed {
        return Err(bad("short member data"));
    }
    inflate(&e, &data)
}

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal stored-method zip with the given members.
    pub(crate) fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in members {
            let off = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0u8; 12]);
            cd.extend_from_slice(&off.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn extracts_data_pkl_in_memory() {
        let z = zip_of(&[
            ("archive/data/0", b"weights"),
            ("archive/data.pkl", b"\x80\x02N."),
        ]);
        assert_eq!(data_pkl_from_bytes(&z).unwrap(), b"\x80\x02N.");
        let z = zip_of(&[("archive/x/data.pkl", b"no")]);
        assert!(data_pkl_from_bytes(&z).is_err());
    }
}
