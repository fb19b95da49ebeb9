//! The bytes of a weights file as the scanner sees them: the whole file, or a sparse
//! image of the ranges that a ranged fetch read (serialised as the cached "pickle"
//! content). Readers ask for ranges; a range that is not there is `Missing`, which tells
//! the fetcher what to read next.

/// Magic of a serialised sparse image.
const MAGIC: &[u8; 12] = b"HWSPARSE\x01\0\0\0";
/// Most chunks a sparse image may hold.
const MAX_CHUNKS: usize = 4096;

/// A range that the reader needs and the image does not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    pub start: u64,
    pub len: u64,
}

/// Random access to a file's bytes.
pub trait Source {
    /// The file's size.
    fn size(&self) -> u64;
    /// Bytes `[start, start + len)` clipped to the file's end (fewer at the end of file,
    /// as a read would return), or the range that is not held.
    fn get(&self, start: u64, len: u64) -> Result<&[u8], Missing>;
    /// The held bytes from `start` up to the first gap or the end of file.
    fn run_from(&self, start: u64) -> Result<&[u8], Missing>;
}

/// A whole file in memory.
pub struct Whole<'a>(pub &'a [u8]);

impl Source for Whole<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn get(&self, start: u64, len: u64) -> Result<&[u8], Missing> {
        let s = usize::try_from(start)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        let e = usize::try_from(start.saturating_add(len))
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        Ok(&self.0[s..e.max(s)])
    }
    fn run_from(&self, start: u64) -> Result<&[u8], Missing> {
        self.get(start, u64::MAX)
    }
}

/// Chunks of a file, sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sparse {
    pub size: u64,
    chunks: Vec<(u64, Vec<u8>)>,
}

impl Sparse {
    pub fn new(size: u64) -> Sparse {
        Sparse {
            size,
            chunks: Vec::new(),
        }
    }

    /// Bytes held in total.
    pub fn held(&self) -> u64 {
        self.chunks.iter().map(|(_, d)| d.len() as u64).sum()
    }

    /// Add bytes read at `start` (clipped to the file size), merging with neighbours.
    pub fn add(&mut self, start: u64, data: &[u8]) {
        if start >= self.size || data.is_empty() {
            return;
        }
        let keep = usize::try_from(self.size - start)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let (mut s, mut d) = (start, data[..keep].to_vec());
        let mut out = Vec::with_capacity(self.chunks.len() + 1);
        for (cs, cd) in std::mem::take(&mut self.chunks) {
            let ce = cs + cd.len() as u64;
            let e = s + d.len() as u64;
            if ce < s || cs > e {
                out.push((cs, cd));
                continue;
            }
            // Overlapping or touching: union, keeping the new bytes where both exist.
            let ns = s.min(cs);
            let ne = e.max(ce);
            let mut merged = vec![0u8; (ne - ns) as usize];
            merged[(cs - ns) as usize..(ce - ns) as usize].copy_from_slice(&cd);
            merged[(s - ns) as usize..(e - ns) as usize].copy_from_slice(&d);
            s = ns;
            d = merged;
        }
        out.push((s, d));
        out.sort_by_key(|(s, _)| *s);
        self.chunks = out;
    }

    /// Serialise (the cached form).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.held() as usize + 32 + 16 * self.chunks.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&(self.chunks.len() as u64).to_le_bytes());
        for (s, d) in &self.chunks {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&(d.len() as u64).to_le_bytes());
            out.extend_from_slice(d);
        }
        out
    }

    /// Whether `bytes` are a serialised image.
    pub fn is_encoded(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Parse a serialised image; None when it is not one or is inconsistent.
    pub fn decode(bytes: &[u8]) -> Option<Sparse> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let u = |b: &[u8], at: usize| -> Option<u64> {
            Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
        };
        let size = u(rest, 0)?;
        let n = usize::try_from(u(rest, 8)?)
            .ok()
            .filter(|&n| n <= MAX_CHUNKS)?;
        let mut at = 16usize;
        let mut sp = Sparse::new(size);
        for _ in 0..n {
            let s = u(rest, at)?;
            let l = usize::try_from(u(rest, at + 8)?).ok()?;
            let d = rest.get(at + 16..(at + 16).checked_add(l)?)?;
            if s.checked_add(l as u64)? > size {
                return None;
            }
            sp.add(s, d);
            at += 16 + l;
        }
        (at == rest.len()).then_some(sp)
    }

    fn chunk_at(&self, pos: u64) -> Option<&(u64, Vec<u8>)> {
        let i = self.chunks.partition_point(|(s, _)| *s <= pos);
        let c = self.chunks.get(i.checked_sub(1)?)?;
        (pos < c.0 + c.1.len() as u64).then_some(c)
    }
}

impl Source for Sparse {
    fn size(&self) -> u64 {
        self.size
    }
    fn get(&self, start: u64, len: u64) -> Result<&[u8], Missing> {
        let end = start.saturating_add(len).min(self.size);
        if start >= end {
            return Ok(&[]);
        }
        match self.chunk_at(start) {
            Some((cs, d)) if end <= cs + d.len() as u64 => {
                Ok(&d[(start - cs) as usize..(end - cs) as usize])
            }
            Some((cs, d)) => {
                let have = cs + d.len() as u64;
                Err(Missing {
                    start: have,
                    len: end - have,
                })
            }
            None => Err(Missing {
                start,
                len: end - start,
            }),
        }
    }
    fn run_from(&self, start: u64) -> Result<&[u8], Missing> {
        if start >= self.size {
            return Ok(&[]);
        }
        match self.chunk_at(start) {
            Some((cs, d)) => Ok(&d[(start - cs) as usize..]),
            None => Err(Missing { start, len: 1 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_merge_and_round_trip() {
        let mut s = Sparse::new(100);
        s.add(10, b"abcd");
        s.add(14, b"ef");
        s.add(90, &[1; 20]);
        assert_eq!(s.get(10, 6), Ok(&b"abcdef"[..]));
        assert_eq!(s.get(12, 10), Err(Missing { start: 16, len: 6 }));
        assert_eq!(s.get(0, 4), Err(Missing { start: 0, len: 4 }));
        assert_eq!(s.get(95, 10).map(<[u8]>::len), Ok(5));
        let e = s.encode();
        assert_eq!(Sparse::decode(&e), Some(s));
        assert_eq!(Sparse::decode(&e[..e.len() - 1]), None);
    }
}
