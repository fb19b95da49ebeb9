//! Weights files read for the pickle scanner without downloading whole weights: the
//! scanner's own readers (`scan::pickle`) say which byte ranges they need (the zip tail,
//! the central directory, local headers and pickle members as torch and Python's
//! zipfile would read them, or the pickle sequence of a legacy file), those ranges are
//! fetched with HTTP range requests, and the result is kept as a sparse image that the
//! scanner later reads exactly as it planned. Bytes are only parsed, never unpickled.

use std::future::Future;

use crate::hub::HubError;
use crate::scan::pickle::{self, source::Sparse};

/// Bytes read first: enough for a small raw pickle or a zip's local header.
pub const HEAD_BYTES: u64 = 64 * 1024;
/// Most bytes a sparse image may hold (tail, central directory, pickle members).
pub const MAX_IMAGE_BYTES: u64 = 40 << 20;
/// Smallest range requested (many small reads are slower than one larger one).
const MIN_REQUEST: u64 = 64 * 1024;
/// The end of a zip read first.
const SHORT_TAIL: u64 = 16 * 1024;
/// Most fetch rounds (each round asks for everything the readers still miss).
const MAX_ROUNDS: usize = 16;

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

/// Bytes already in memory.
pub struct MemRange<'a>(pub &'a [u8]);

impl RangeSource for MemRange<'_> {
    async fn range(&self, start: u64, len: u64) -> Result<Chunk, HubError> {
        let s = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let e = usize::try_from(start.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        Ok(Chunk {
            start,
            data: self.0[s..e].to_vec(),
            total: Some(self.0.len() as u64),
        })
    }
}

/// The sparse image (serialised) of everything the pickle scanner reads from a
/// weights file. A file whose size is unknown (a server without range support that
/// truncated its answer) keeps what it got; what is missing then makes the scan
/// unverified, never clean.
pub async fn read_pickle<S: RangeSource>(src: &S) -> Result<Vec<u8>, HubError> {
    let head = src.range(0, HEAD_BYTES).await?;
    let size = match head.total {
        Some(t) => t,
        None if head.data.starts_with(b"PK\x03\x04") => {
            return Err(HubError::Cap(format!(
                "zip checkpoint over {} bytes from a server without range support",
                head.data.len()
            )));
        }
        // Unknown size: more bytes may follow what the server sent.
        None => head.start + head.data.len() as u64 + 1,
    };
    let mut image = Sparse::new(size);
    image.add(head.start, &head.data);
    for _ in 0..MAX_ROUNDS {
        let missing = pickle::analyze_source(&image).missing;
        if missing.is_empty() {
            break;
        }
        let mut progressed = false;
        for m in plan(&missing, size) {
            if image.held() + m.1 > MAX_IMAGE_BYTES {
                // The scan of the image reports what is missing as unverified.
                break;
            }
            let c = src.range(m.0, m.1).await?;
            let before = image.held();
            image.add(c.start, &c.data);
            progressed |= image.held() > before;
        }
        if !progressed {
            break;
        }
    }
    Ok(image.encode())
}

/// The image of a weights file held in memory (local scans, benchmarks, fuzzing):
/// the same ranges a remote read would fetch.
pub fn image_of_bytes(bytes: &[u8]) -> Result<Vec<u8>, HubError> {
    futures::executor::block_on(read_pickle(&MemRange(bytes)))
}

/// Requests for the missing ranges: near the end, the whole zip tail at once; else at
/// least `MIN_REQUEST` bytes; overlapping requests merged.
fn plan(missing: &[pickle::source::Missing], size: u64) -> Vec<(u64, u64)> {
    // Most archives end with their end record: the last 16 KiB first, the whole
    // searchable tail (a long comment) only when asked for more.
    let short_tail = size.saturating_sub(SHORT_TAIL);
    let tail_start = size.saturating_sub(pickle::zip::TAIL);
    let mut reqs: Vec<(u64, u64)> = missing
        .iter()
        .map(|m| {
            let start = if m.start >= short_tail {
                short_tail
            } else if m.start >= tail_start {
                tail_start
            } else {
                m.start
            };
            let end = m
                .start
                .saturating_add(m.len.max(MIN_REQUEST))
                .min(size)
                .max(start + 1);
            (start, end)
        })
        .collect();
    reqs.sort();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in reqs {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out.into_iter().map(|(s, e)| (s, e - s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal stored-method zip with the given members.
    pub(crate) fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let crc = crc.sum().to_le_bytes();
            let off = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&crc);
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

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    #[test]
    fn reads_only_what_the_scanner_needs() {
        let filler: Vec<u8> = (0..3_000_000u32).map(|i| (i * 131 % 251) as u8).collect();
        let z = zip_of(&[
            ("archive/data/0", &filler),
            (
                "archive/data.pkl",
                b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R.",
            ),
            ("archive/version", b"3\n"),
        ]);
        let image = block_on(read_pickle(&MemRange(&z))).unwrap();
        assert!(image.len() < 400_000, "{} bytes", image.len());
        let a = pickle::analyze(&image);
        assert_eq!(a.unverified, None);
        assert_eq!(a.streams[0].label, "archive/data.pkl");
        assert_eq!(a.streams[0].report.imports[0].name, "os.system");
        assert!(a.mismatches.is_empty(), "{:?}", a.mismatches);
    }
}
