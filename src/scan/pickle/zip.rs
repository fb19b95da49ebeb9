//! Zip checkpoints read two ways: as torch reads them (its vendored miniz: the end
//! record found scanning back from the end, the zip64 record preferred when its locator
//! is present, no CRC checks, the archive folder from central-directory entry 0, records
//! looked up case-insensitively by binary search over a heap-sorted directory) and as
//! Python's `zipfile` reads them (which pickle scanners use: its own end-record search,
//! zip64 record read next to the locator, offsets shifted by prepended data, names
//! decoded and cut at NUL, last duplicate wins, local names and CRCs checked).

use std::io::Read;

use super::source::{Missing, Source};

/// Largest central directory read (bytes).
pub const MAX_CENTRAL_DIR: u64 = 4 << 20;
/// Most central-directory entries considered.
pub const MAX_ENTRIES: u64 = 200_000;
/// Largest member inflated (the pickle cap).
pub const MAX_MEMBER: u64 = 8 << 20;
/// How far back from the end the end record is searched (miniz: 64 KiB + record, in
/// 4 KiB steps).
pub const TAIL: u64 = 65_535 + 22 + 4096 + 76;

/// Why a view could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZErr {
    /// The reader rejects the archive (torch or zipfile raises).
    Bad(String),
    /// These bytes are needed first.
    Missing(Missing),
    /// Over a cap.
    Capped(String),
}

impl From<Missing> for ZErr {
    fn from(m: Missing) -> ZErr {
        ZErr::Missing(m)
    }
}

type R<T> = Result<T, ZErr>;

fn bad<T>(why: impl Into<String>) -> R<T> {
    Err(ZErr::Bad(why.into()))
}

fn u16at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 2)
        .map_or(0, |s| u64::from(u16::from_le_bytes([s[0], s[1]])))
}
fn u32at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 4).map_or(0, |s| {
        u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    })
}
fn u64at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Exactly `len` bytes at `start`, or the reader's failure.
fn exact<'a, S: Source + ?Sized>(src: &'a S, start: u64, len: u64, what: &str) -> R<&'a [u8]> {
    let b = src.get(start, len)?;
    if (b.len() as u64) < len {
        return bad(format!(
            "{what} at offset {start} runs past the end of the file"
        ));
    }
    Ok(b)
}

/// A central-directory entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: Vec<u8>,
    pub flags: u64,
    pub method: u64,
    /// The 32 bits at the method offset (method and time): miniz's stored-size check
    /// reads them as one word.
    pub method_word: u64,
    pub crc: u64,
    pub comp: u64,
    pub uncomp: u64,
    pub local: u64,
    pub extract_version: u64,
    pub external_attr: u64,
    pub extra: Vec<u8>,
}

impl Entry {
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

fn parse_entry(p: &[u8]) -> (Entry, usize) {
    let (n, x, c) = (
        u16at(p, 28) as usize,
        u16at(p, 30) as usize,
        u16at(p, 32) as usize,
    );
    let name = p.get(46..46 + n).unwrap_or(&[]).to_vec();
    let extra = p.get(46 + n..46 + n + x).unwrap_or(&[]).to_vec();
    let e = Entry {
        name,
        flags: u16at(p, 8),
        method: u16at(p, 10),
        method_word: u32at(p, 10),
        crc: u32at(p, 16),
        comp: u32at(p, 20),
        uncomp: u32at(p, 24),
        local: u32at(p, 42),
        extract_version: p.get(6).copied().map_or(0, u64::from),
        external_attr: u32at(p, 38),
        extra,
    };
    (e, 46 + n + x + c)
}

/// miniz `mz_zip_file_stat_internal`: zip64 extra fields replace the 0xFFFFFFFF sizes.
fn miniz_zip64(e: &mut Entry) -> R<()> {
    if e.comp.max(e.uncomp).max(e.local) != 0xFFFF_FFFF {
        return Ok(());
    }
    let mut x: &[u8] = &e.extra;
    while !x.is_empty() {
        if x.len() < 4 {
            return bad("corrupt extra field");
        }
        let (id, len) = (u16at(x, 0), u16at(x, 2) as usize);
        if len + 4 > x.len() {
            return bad("corrupt extra field");
        }
        if id == 1 {
            let mut f = &x[4..4 + len];
            for v in [&mut e.uncomp, &mut e.comp, &mut e.local] {
                if *v == 0xFFFF_FFFF {
                    if f.len() < 8 {
                        return bad("corrupt zip64 extra field");
                    }
                    *v = u64at(f, 0);
                    f = &f[8..];
                }
            }
            return Ok(());
        }
        x = &x[4 + len..];
    }
    Ok(())
}

/// torch's view of an archive's directory (miniz `mz_zip_reader_read_central_dir`).
pub fn miniz_dir<S: Source + ?Sized>(src: &S) -> R<Vec<Entry>> {
    let size = src.size();
    if size < 22 {
        return bad("too small to be a zip archive");
    }
    // mz_zip_reader_locate_header_sig: the last signature with a whole record after it.
    let mut cur = size.saturating_sub(4096);
    let eocd = loop {
        let n = (size - cur).min(4096);
        let buf = exact(src, cur, n, "end of central directory search")?;
        let found = (0..=buf.len().saturating_sub(4))
            .rev()
            .filter(|&i| buf.len() >= 4 && buf[i..i + 4] == *b"PK\x05\x06")
            .find(|&i| size - (cur + i as u64) >= 22);
        if let Some(i) = found {
            break cur + i as u64;
        }
        if cur == 0 || size - cur >= 65_535 + 22 {
            return bad("no end of central directory record");
        }
        cur = cur.saturating_sub(4096 - 3);
    };
    let rec = exact(src, eocd, 22, "end of central directory")?.to_vec();
    let mut total = u16at(&rec, 10);
    let mut on_disk = u16at(&rec, 8);
    let mut this_disk = u16at(&rec, 4);
    let mut cd_disk = u16at(&rec, 6);
    let mut cd_size = u32at(&rec, 12);
    let mut cd_ofs = u32at(&rec, 16);
    if eocd >= 20 + 56 {
        let loc = exact(src, eocd - 20, 20, "zip64 locator")?.to_vec();
        if loc[..4] == *b"PK\x06\x07" {
            let z_ofs = u64at(&loc, 8);
            if z_ofs > size - 56 {
                return bad("zip64 end record offset outside the file");
            }
            let z = exact(src, z_ofs, 56, "zip64 end of central directory")?.to_vec();
            if z[..4] == *b"PK\x06\x06" {
                if u64at(&z, 4) < 56 - 12 {
                    return bad("zip64 end record too small");
                }
                if u32at(&loc, 16) != 1 {
                    return bad("multi-disk zip64 archive");
                }
                let t = u64at(&z, 32);
                let d = u64at(&z, 24);
                let s = u64at(&z, 40);
                if t > u64::from(u32::MAX) || d > u64::from(u32::MAX) {
                    return bad("too many files");
                }
                if s > u64::from(u32::MAX) {
                    return bad("unsupported central directory size");
                }
                total = t;
                on_disk = d;
                cd_size = s;
                this_disk = u32at(&z, 16);
                cd_disk = u32at(&z, 20);
                cd_ofs = u64at(&z, 48);
            }
        }
    }
    if total != on_disk {
        return bad("multi-disk archive");
    }
    if (this_disk | cd_disk) != 0 && (this_disk != 1 || cd_disk != 1) {
        return bad("multi-disk archive");
    }
    if cd_size < total.saturating_mul(46) {
        return bad("central directory smaller than its entries");
    }
    if cd_ofs.saturating_add(cd_size) > size {
        return bad("central directory outside the file");
    }
    if cd_size > MAX_CENTRAL_DIR || total > MAX_ENTRIES {
        return Err(ZErr::Capped(format!(
            "zip central directory of {cd_size} bytes and {total} entries"
        )));
    }
    let cd = exact(src, cd_ofs, cd_size, "central directory")?;
    let mut out = Vec::with_capacity(total as usize);
    let mut p = cd;
    for _ in 0..total {
        if p.len() < 46 || p[..4] != *b"PK\x01\x02" {
            return bad("bad central directory entry");
        }
        let (mut e, len) = parse_entry(p);
        // miniz reads the method and the time as one 32-bit word here.
        if e.comp != 0xFFFF_FFFF
            && e.uncomp != 0xFFFF_FFFF
            && ((e.method_word == 0 && e.uncomp != e.comp) || (e.uncomp != 0 && e.comp == 0))
        {
            return bad(format!("{}: stored sizes disagree", e.display()));
        }
        let disk = u16at(p, 34);
        if disk == 0xFFFF || (disk != this_disk && disk != 1) {
            return bad("multi-disk archive");
        }
        if e.comp != 0xFFFF_FFFF && e.local + 30 + e.comp > size {
            return bad(format!(
                "{}: member runs past the end of the file",
                e.display()
            ));
        }
        if e.flags & 0x2000 != 0 {
            return bad("masked local headers (encrypted central directory)");
        }
        if len > p.len() {
            return bad("central directory entry runs past the directory");
        }
        miniz_zip64(&mut e)?;
        out.push(e);
        p = &p[len..];
    }
    Ok(out)
}

fn lower(b: u8) -> u8 {
    b.to_ascii_lowercase()
}

/// `mz_zip_reader_filename_less`.
fn name_less(l: &[u8], r: &[u8]) -> bool {
    let n = l.len().min(r.len());
    for i in 0..n {
        let (a, b) = (lower(l[i]), lower(r[i]));
        if a != b {
            return a < b;
        }
    }
    l.len() < r.len()
}

/// `mz_zip_filename_compare` (sign only).
fn name_cmp(l: &[u8], r: &[u8]) -> std::cmp::Ordering {
    let n = l.len().min(r.len());
    for i in 0..n {
        let (a, b) = (lower(l[i]), lower(r[i]));
        if a != b {
            return a.cmp(&b);
        }
    }
    l.len().cmp(&r.len())
}

/// miniz's heap sort of the directory (not stable: which duplicate a lookup finds
/// depends on it, so it is reproduced step by step).
fn heap_sorted(entries: &[Entry]) -> Vec<usize> {
    let size = entries.len();
    let mut idx: Vec<usize> = (0..size).collect();
    if size <= 1 {
        return idx;
    }
    let less =
        |idx: &[usize], a: usize, b: usize| name_less(&entries[idx[a]].name, &entries[idx[b]].name);
    let mut start = (size - 2) >> 1;
    loop {
        let mut root = start;
        loop {
            let mut child = (root << 1) + 1;
            if child >= size {
                break;
            }
            if child + 1 < size && less(&idx, child, child + 1) {
                child += 1;
            }
            if !less(&idx, root, child) {
                break;
            }
            idx.swap(root, child);
            root = child;
        }
        if start == 0 {
            break;
        }
        start -= 1;
    }
    let mut end = size - 1;
    while end > 0 {
        idx.swap(end, 0);
        let mut root = 0;
        loop {
            let mut child = (root << 1) + 1;
            if child >= end {
                break;
            }
            if child + 1 < end && less(&idx, child, child + 1) {
                child += 1;
            }
            if !less(&idx, root, child) {
                break;
            }
            idx.swap(root, child);
            root = child;
        }
        end -= 1;
    }
    idx
}

/// `mz_zip_reader_locate_file` with flags 0: the index torch reads for `key`.
pub fn miniz_locate(entries: &[Entry], sorted: &[usize], key: &[u8]) -> Option<usize> {
    let (mut l, mut h) = (0i64, entries.len() as i64 - 1);
    while l <= h {
        let m = l + ((h - l) >> 1);
        let i = sorted[m as usize];
        match name_cmp(&entries[i].name, key) {
            std::cmp::Ordering::Equal => return Some(i),
            std::cmp::Ordering::Less => l = m + 1,
            std::cmp::Ordering::Greater => h = m - 1,
        }
    }
    None
}

fn inflate(data: &[u8], cap: u64, what: &str) -> R<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
        .take(cap + 1)
        .read_to_end(&mut out)
        .or_else(|e| bad(format!("{what}: {e}")))?;
    if out.len() as u64 > cap {
        return Err(ZErr::Capped(format!("{what} inflates past {cap} bytes")));
    }
    Ok(out)
}

/// `mz_zip_reader_extract_to_mem` as torch calls it (CRC checks compiled out).
pub fn miniz_extract<S: Source + ?Sized>(src: &S, e: &Entry) -> R<Vec<u8>> {
    let what = e.display();
    let is_dir = e.name.last() == Some(&b'/') || e.external_attr & 0x10 != 0;
    if is_dir || e.comp == 0 {
        return Ok(Vec::new());
    }
    if e.flags & (1 | 0x40 | 0x20) != 0 {
        return bad(format!("{what}: encrypted or patch member"));
    }
    if e.method != 0 && e.method != 8 {
        return bad(format!(
            "{what}: compression method {} (miniz reads stored and deflate)",
            e.method
        ));
    }
    if e.uncomp > MAX_MEMBER || (e.method == 8 && e.comp > MAX_MEMBER * 4) {
        return Err(ZErr::Capped(format!("{what} is {} bytes", e.uncomp)));
    }
    let lh = exact(src, e.local, 30, "local header")?;
    if lh[..4] != *b"PK\x03\x04" {
        return bad(format!("{what}: bad local header signature"));
    }
    let data_at = e.local + 30 + u16at(lh, 26) + u16at(lh, 28);
    if data_at + e.comp > src.size() {
        return bad(format!("{what}: data runs past the end of the file"));
    }
    if e.method == 0 {
        Ok(exact(src, data_at, e.uncomp, &what)?.to_vec())
    } else {
        let data = exact(src, data_at, e.comp, &what)?;
        let out = inflate(data, e.uncomp.min(MAX_MEMBER), &what)?;
        if out.len() as u64 != e.uncomp {
            return bad(format!(
                "{what}: inflates to {} bytes, not {}",
                out.len(),
                e.uncomp
            ));
        }
        Ok(out)
    }
}

/// What torch reads from a zip checkpoint.
#[derive(Debug)]
pub struct TorchRead {
    pub entries: Vec<Entry>,
    /// The folder of entry 0 (before the first `/`).
    pub folder: String,
    /// (record, entry index) for `data.pkl` and, in TorchScript archives, `constants.pkl`.
    pub records: Vec<(&'static str, Option<usize>)>,
    /// For each record: every entry whose name matches it case-insensitively.
    pub candidates: Vec<Vec<usize>>,
}

/// The key torch looks up: `<folder>/<record>`, cut at the first NUL (a C string).
fn record_key(folder: &[u8], record: &str) -> Vec<u8> {
    let mut k = folder.to_vec();
    k.push(b'/');
    k.extend_from_slice(record.as_bytes());
    if let Some(i) = k.iter().position(|&b| b == 0) {
        k.truncate(i);
    }
    k
}

/// torch's `PyTorchStreamReader` lookup of the pickles it unpickles.
pub fn torch_read<S: Source + ?Sized>(src: &S) -> R<TorchRead> {
    let entries = miniz_dir(src)?;
    let Some(first) = entries.first() else {
        return bad("archive does not contain any files");
    };
    let Some(slash) = first.name.iter().position(|&b| b == b'/') else {
        return bad(format!(
            "file in archive is not in a subdirectory: {}",
            first.display()
        ));
    };
    let folder = first.name[..slash].to_vec();
    let sorted = heap_sorted(&entries);
    let mut records = Vec::new();
    let mut candidates = Vec::new();
    for record in ["data.pkl", "constants.pkl"] {
        let key = record_key(&folder, record);
        let found = miniz_locate(&entries, &sorted, &key);
        if record == "constants.pkl" && found.is_none() {
            continue;
        }
        let all: Vec<usize> = (0..entries.len())
            .filter(|&i| name_cmp(&entries[i].name, &key).is_eq())
            .collect();
        records.push((record, found));
        candidates.push(all);
    }
    Ok(TorchRead {
        entries,
        folder: String::from_utf8_lossy(&folder).into_owned(),
        records,
        candidates,
    })
}

const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}";

/// A name as `zipfile` decodes it (UTF-8 when flag bit 11 is set, else cp437).
pub fn py_decode(name: &[u8], flags: u64) -> Option<String> {
    if flags & 0x800 != 0 {
        return String::from_utf8(name.to_vec()).ok();
    }
    let high: Vec<char> = CP437_HIGH.chars().collect();
    Some(
        name.iter()
            .map(|&b| {
                if b < 0x80 {
                    char::from(b)
                } else {
                    high[usize::from(b - 0x80)]
                }
            })
            .collect(),
    )
}

/// A member as `zipfile` lists it.
#[derive(Clone, Debug)]
pub struct PyEntry {
    pub entry: Entry,
    /// `ZipInfo.filename`: cut at the first NUL.
    pub filename: String,
    /// `ZipInfo.orig_filename`.
    pub orig: String,
}

/// Python's `zipfile.ZipFile` directory (3.11-3.12 rules): `NameToInfo` keeps the last
/// entry of a name.
pub fn zipfile_dir<S: Source + ?Sized>(src: &S) -> R<Vec<PyEntry>> {
    let size = src.size();
    if size < 22 {
        return bad("File is not a zip file");
    }
    let last = exact(src, size - 22, 22, "end record")?;
    let (rec, location) = if last[..4] == *b"PK\x05\x06" && last[20..22] == [0, 0] {
        (last.to_vec(), size - 22)
    } else {
        let start = size.saturating_sub((1 << 16) + 22);
        let tail = exact(src, start, size - start, "end record search")?;
        let Some(i) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else {
            return bad("File is not a zip file");
        };
        if tail.len() - i < 22 {
            return bad("File is not a zip file (truncated end record)");
        }
        (tail[i..i + 22].to_vec(), start + i as u64)
    };
    let mut size_cd = u32at(&rec, 12);
    let mut offset_cd = u32at(&rec, 16);
    let mut zip64 = false;
    if location >= 20 {
        let loc = exact(src, location - 20, 20, "zip64 locator")?;
        if loc[..4] == *b"PK\x06\x07" {
            if u32at(loc, 4) != 0 || u32at(loc, 16) > 1 {
                return bad("zipfiles that span multiple disks are not supported");
            }
            if location >= 20 + 56 {
                let z = exact(src, location - 20 - 56, 56, "zip64 end record")?;
                if z[..4] == *b"PK\x06\x06" {
                    size_cd = u64at(z, 40);
                    offset_cd = u64at(z, 48);
                    zip64 = true;
                }
            }
        }
    }
    let mut concat = location as i128 - size_cd as i128 - offset_cd as i128;
    if zip64 {
        concat -= 76;
    }
    let start_dir = offset_cd as i128 + concat;
    if start_dir < 0 {
        return bad("Bad offset for central directory");
    }
    if size_cd > MAX_CENTRAL_DIR {
        return Err(ZErr::Capped(format!(
            "zip central directory of {size_cd} bytes"
        )));
    }
    let cd = src.get(start_dir as u64, size_cd)?;
    let mut out = Vec::new();
    let mut total = 0usize;
    while (total as u64) < size_cd {
        let p = &cd[total.min(cd.len())..];
        if p.len() < 46 {
            return bad("Truncated central directory");
        }
        if p[..4] != *b"PK\x01\x02" {
            return bad("Bad magic number for central directory");
        }
        if out.len() as u64 >= MAX_ENTRIES {
            return Err(ZErr::Capped(format!("more than {MAX_ENTRIES} zip entries")));
        }
        let (mut e, len) = parse_entry(p);
        let Some(orig) = py_decode(&e.name, e.flags) else {
            return bad("member name is not valid UTF-8");
        };
        if e.extract_version > 63 {
            return bad(format!(
                "zip file version {:.1}",
                e.extract_version as f64 / 10.0
            ));
        }
        // _decodeExtra
        let mut x: &[u8] = &e.extra;
        while x.len() >= 4 {
            let (id, ln) = (u16at(x, 0), u16at(x, 2) as usize);
            if ln + 4 > x.len() {
                return bad("Corrupt extra field");
            }
            if id == 1 {
                let mut f = &x[4..4 + ln];
                for v in [&mut e.uncomp, &mut e.comp, &mut e.local] {
                    if *v == 0xFFFF_FFFF {
                        if f.len() < 8 {
                            return bad("Corrupt zip64 extra field");
                        }
                        *v = u64at(f, 0);
                        f = &f[8..];
                    }
                }
            }
            x = &x[ln + 4..];
        }
        let local = e.local as i128 + concat;
        if local < 0 {
            return bad("negative local header offset");
        }
        e.local = local as u64;
        let filename = orig.split('\0').next().unwrap_or("").to_string();
        out.push(PyEntry {
            entry: e,
            filename,
            orig,
        });
        total += len;
    }
    Ok(out)
}

/// `NameToInfo[name]`: the last entry with that filename.
pub fn zipfile_lookup<'a>(entries: &'a [PyEntry], name: &str) -> Option<&'a PyEntry> {
    entries.iter().rev().find(|e| e.filename == name)
}

/// `ZipFile.read(name)`: local header checks, decompression and the CRC check.
pub fn zipfile_extract<S: Source + ?Sized>(src: &S, pe: &PyEntry) -> R<Vec<u8>> {
    let e = &pe.entry;
    let what = &pe.filename;
    let lh = exact(src, e.local, 30, "local header")?;
    if lh[..4] != *b"PK\x03\x04" {
        return bad(format!("{what}: Bad magic number for file header"));
    }
    let (n, x) = (u16at(lh, 26), u16at(lh, 28));
    let lflags = u16at(lh, 6);
    let lname = exact(src, e.local + 30, n, "local name")?;
    if e.flags & 0x20 != 0 || e.flags & 0x40 != 0 {
        return bad(format!(
            "{what}: compressed patched data or strong encryption"
        ));
    }
    if py_decode(lname, lflags).as_deref() != Some(pe.orig.as_str()) {
        return bad(format!("{what}: file name in directory and header differ"));
    }
    if e.flags & 1 != 0 {
        return bad(format!("{what}: encrypted, password required"));
    }
    let data_at = e.local + 30 + n + x;
    if e.comp > MAX_MEMBER * 4 || e.uncomp > MAX_MEMBER {
        return Err(ZErr::Capped(format!("{what} is {} bytes", e.uncomp)));
    }
    let data = exact(src, data_at, e.comp, what)?;
    let out = match e.method {
        0 => data[..(e.uncomp.min(e.comp) as usize)].to_vec(),
        8 => inflate(data, MAX_MEMBER, what)?,
        m => {
            return bad(format!(
                "{what}: compression method {m} (not read by hubwarden)"
            ));
        }
    };
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if u64::from(crc.sum()) != e.crc {
        return bad(format!("{what}: Bad CRC-32"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::source::Whole;
    use super::*;

    #[test]
    fn heap_sort_orders_case_insensitively() {
        let mk = |n: &str| Entry {
            name: n.as_bytes().to_vec(),
            flags: 0,
            method: 0,
            method_word: 0,
            crc: 0,
            comp: 0,
            uncomp: 0,
            local: 0,
            extract_version: 20,
            external_attr: 0,
            extra: vec![],
        };
        let es: Vec<Entry> = ["b", "A", "c", "a/x", "B"].iter().map(|n| mk(n)).collect();
        let s = heap_sorted(&es);
        let names: Vec<String> = s.iter().map(|&i| es[i].display().to_lowercase()).collect();
        let mut want = names.clone();
        want.sort();
        assert_eq!(names, want);
        assert!(miniz_locate(&es, &s, b"A/X").is_some());
        assert!(miniz_dir(&Whole(b"not a zip")).is_err());
    }
}
