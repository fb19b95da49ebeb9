//! PaddleHub module archives, read as PaddleHub's `xarfile` reads them: a tar
//! (plain, gzip, bzip2 or xz: `tarfile.open(mode="r:*")`) is tried first, then
//! a zip (`zipfile.ZipFile`; members stored, deflated, bzip2 or LZMA, the
//! methods `zipfile` decompresses); rar is recognised and refused
//! (`paddlehub/utils/xarfile.py:77-94`, 2.4.0). Extraction is in memory, with
//! caps on entry count, unpacked bytes, kept bytes, per-file size, path depth
//! and xz dictionary size; absolute paths, `..`, links and special files reject
//! the whole archive, so no member can escape the module folder.
//!
//! The module folder is the one PaddleHub installs: the first path part of the
//! archive's *last* member after `os.path.normpath`
//! (`paddlehub/module/manager.py:370-380`, 2.4.0). Members outside it are never
//! copied into `MODULE_HOME` and are dropped here too. Member paths keep the
//! folder (`lac/module.py`), as the module sits under `MODULE_HOME`.

use std::collections::BTreeMap;
use std::io::Read;

use crate::hub::HubError;
use crate::hub::validate::{
    MAX_ARCHIVE_ENTRIES, MAX_ARCHIVE_KEPT_BYTES, MAX_ARCHIVE_TOTAL_BYTES, MAX_CODE_FILE_BYTES,
    MAX_PATH_DEPTH, MAX_PATH_LEN, validate_path,
};
use crate::scan::pickle::source::{Missing, Source, Sparse, Whole};
use crate::scan::pickle::zip::{
    MAX_MEMBER, PyEntry, TAIL, ZErr, py_decode, zipfile_dir, zipfile_extract,
};

/// Largest xz dictionary accepted (KiB): `xz -9` uses 64 MiB; a larger one is
/// a memory bomb before the first byte comes out.
const MAX_XZ_DICT_KIB: u32 = 256 * 1024;

/// How the archive was packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Tar,
    TarGz,
    TarBz2,
    TarXz,
    Zip,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
            Format::TarBz2 => "tar.bz2",
            Format::TarXz => "tar.xz",
            Format::Zip => "zip",
        }
    }
}

/// An extracted module.
#[derive(Debug)]
pub struct Archive {
    /// Member path (module folder kept, `lac/module.py`; at the root when the
    /// last member is `.`) -> bytes, `None` when over the per-file or kept cap.
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    /// The container read.
    pub format: Format,
    /// The folder PaddleHub installs ("" when it is the archive root).
    pub module_dir: String,
    /// Members outside the module folder (never installed, not listed), and
    /// members whose names cannot be a URL path (`@ : % # ?`; no Python
    /// module or requirements file has such a name), with the reason.
    pub dropped: Vec<String>,
}

fn cap(msg: String) -> HubError {
    HubError::Cap(msg)
}

fn proto(msg: impl std::fmt::Display) -> HubError {
    HubError::Protocol(format!("module archive: {msg}"))
}

/// One member as read from the container.
struct Member {
    /// Normalised path (`os.path.normpath` without `..`), "" for `.`.
    name: String,
    dir: bool,
    body: Option<Vec<u8>>,
}

/// `os.path.normpath` of a member name, with everything that could leave the
/// extraction folder rejected: absolute paths, `..`, backslashes (a separator
/// on Windows), control characters. Empty and `.` segments collapse.
fn normalise(raw: &str) -> Result<String, HubError> {
    if raw.len() > MAX_PATH_LEN
        || raw.starts_with('/')
        || raw.contains('\\')
        || raw.chars().any(char::is_control)
    {
        return Err(HubError::Invalid(format!("archive member {raw:?}")));
    }
    let mut segs = Vec::new();
    for s in raw.split('/') {
        match s {
            "" | "." => {}
            ".." => return Err(HubError::Invalid(format!("archive member {raw:?}"))),
            s => segs.push(s),
        }
    }
    if segs.len() > MAX_PATH_DEPTH {
        return Err(cap(format!(
            "archive member {raw:?} deeper than {MAX_PATH_DEPTH} segments"
        )));
    }
    Ok(segs.join("/"))
}

/// Running totals shared by the tar and zip readers.
#[derive(Default)]
struct Budget {
    entries: usize,
    total: u64,
    kept: u64,
}

impl Budget {
    fn entry(&mut self) -> Result<(), HubError> {
        self.entries += 1;
        if self.entries > MAX_ARCHIVE_ENTRIES {
            return Err(cap(format!(
                "module archive has more than {MAX_ARCHIVE_ENTRIES} entries"
            )));
        }
        Ok(())
    }

    fn bytes(&mut self, size: u64) -> Result<(), HubError> {
        self.total = self.total.saturating_add(size);
        if self.total > MAX_ARCHIVE_TOTAL_BYTES {
            return Err(cap(format!(
                "module archive over {MAX_ARCHIVE_TOTAL_BYTES} bytes unpacked"
            )));
        }
        Ok(())
    }

    /// Whether a member of `size` bytes is kept in memory.
    fn keeps(&self, size: u64) -> bool {
        size <= MAX_CODE_FILE_BYTES && self.kept.saturating_add(size) <= MAX_ARCHIVE_KEPT_BYTES
    }
}

/// Which container an archive is, in `xarfile`'s order: `tarfile.is_tarfile`
/// (`r:*` tries plain tar, then gzip, bzip2 and xz), then `zipfile.is_zipfile`,
/// then rar. `bytes` is the start of the file (512 bytes do).
fn detect(bytes: &[u8], is_zip: impl FnOnce() -> bool) -> Result<Format, HubError> {
    if plain_tar(bytes) {
        return Ok(Format::Tar);
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(Format::TarGz);
    }
    if bytes.starts_with(b"BZh") {
        return Ok(Format::TarBz2);
    }
    if bytes.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Ok(Format::TarXz);
    }
    if is_zip() {
        return Ok(Format::Zip);
    }
    if bytes.starts_with(b"Rar!\x1a\x07") {
        return Err(proto("rar archives are not read by hubwarden"));
    }
    Err(proto("neither a tar (plain, gz, bz2, xz) nor a zip"))
}

/// `tarfile`'s first-header check: a 512-byte block whose checksum field
/// matches the sum of its bytes (the field counted as spaces).
fn plain_tar(bytes: &[u8]) -> bool {
    let Some(h) = bytes.get(..512) else {
        return false;
    };
    let field = String::from_utf8_lossy(&h[148..156]);
    let field = field.trim_matches(|c: char| c == '\0' || c == ' ');
    let Ok(want) = u32::from_str_radix(field, 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    sum == want
}

fn tar_members(reader: Box<dyn Read + '_>, budget: &mut Budget) -> Result<Vec<Member>, HubError> {
    // Bound the decompressed stream itself: a tar bomb cannot run past this.
    let mut ar = tar::Archive::new(reader.take(MAX_ARCHIVE_TOTAL_BYTES + 1));
    let mut out = Vec::new();
    let entries = ar.entries().map_err(proto)?;
    for ent in entries {
        budget.entry()?;
        let mut ent = ent.map_err(proto)?;
        let kind = ent.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            continue;
        }
        let raw = String::from_utf8(ent.path_bytes().into_owned())
            .map_err(|_| HubError::Invalid("non-UTF-8 archive member name".into()))?;
        let name = normalise(&raw)?;
        if kind.is_dir() {
            out.push(Member {
                name,
                dir: true,
                body: None,
            });
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(HubError::Invalid(format!("archive member {raw} is a link")));
        }
        if !kind.is_file() {
            return Err(HubError::Invalid(format!(
                "archive member {raw} is not a regular file"
            )));
        }
        let size = ent.header().size().unwrap_or(u64::MAX);
        budget.bytes(size)?;
        let body = if budget.keeps(size) {
            let mut b = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            (&mut ent)
                .take(MAX_CODE_FILE_BYTES + 1)
                .read_to_end(&mut b)
                .map_err(|e| proto(format!("{raw}: {e}")))?;
            budget.kept += b.len() as u64;
            Some(b)
        } else {
            None
        };
        out.push(Member {
            name,
            dir: false,
            body,
        });
    }
    Ok(out)
}

/// Where a zip's bytes come from: memory, or a file read range by range.
trait ZipInput {
    /// `f` over the bytes it needs.
    fn with<T>(&mut self, f: impl Fn(&dyn Source) -> Result<T, ZErr>) -> Result<T, ZErr>;
}

impl ZipInput for &[u8] {
    fn with<T>(&mut self, f: impl Fn(&dyn Source) -> Result<T, ZErr>) -> Result<T, ZErr> {
        f(&Whole(self))
    }
}

/// A zip on disk: each view (the directory, one member) gets the ranges it
/// asks for read into a fresh `Sparse`, so only the directory and one member
/// (capped by the zip reader) are in memory at a time.
struct ZipFile {
    file: std::fs::File,
    size: u64,
}

impl ZipInput for ZipFile {
    fn with<T>(&mut self, f: impl Fn(&dyn Source) -> Result<T, ZErr>) -> Result<T, ZErr> {
        use std::io::{Seek, SeekFrom};
        let mut sp = Sparse::new(self.size);
        // The tail, where the end record and usually the directory are.
        let mut want = Missing {
            start: self.size.saturating_sub(TAIL),
            len: TAIL,
        };
        for _ in 0..256 {
            let len = want
                .len
                .max(1 << 20)
                .min(self.size.saturating_sub(want.start));
            if want.len > MAX_MEMBER * 4 + (4 << 20) {
                return Err(ZErr::Capped(format!("a read of {} bytes", want.len)));
            }
            let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0)];
            self.file
                .seek(SeekFrom::Start(want.start))
                .and_then(|_| self.file.read_exact(&mut buf))
                .map_err(|e| ZErr::Bad(format!("reading the archive: {e}")))?;
            sp.add(want.start, &buf);
            match f(&sp) {
                Err(ZErr::Missing(m)) => want = m,
                r => return r,
            }
        }
        Err(ZErr::Bad("too many reads".into()))
    }
}

fn zip_members(mut input: impl ZipInput, budget: &mut Budget) -> Result<Vec<Member>, HubError> {
    let zerr = |e: ZErr| match e {
        ZErr::Capped(m) => cap(format!("module archive: {m}")),
        ZErr::Bad(m) => proto(m),
        ZErr::Missing(_) => proto("zip runs past the end of the file"),
    };
    let entries = input.with(|src| zipfile_dir(src)).map_err(zerr)?;
    let mut out = Vec::new();
    for pe in &entries {
        budget.entry()?;
        // `ZipInfo.is_dir()`: the name ends with `/`.
        let dir = pe.filename.ends_with('/');
        let name = normalise(&pe.filename)?;
        if dir {
            out.push(Member {
                name,
                dir,
                body: None,
            });
            continue;
        }
        let size = pe.entry.uncomp;
        budget.bytes(size)?;
        let body = if budget.keeps(size) {
            let read = input.with(|src| match pe.entry.method {
                ZIP_BZIP2 | ZIP_LZMA => zip_read_bz2_lzma(src, pe),
                _ => zipfile_extract(src, pe),
            });
            match read {
                Ok(b) => {
                    budget.kept += b.len() as u64;
                    Some(b)
                }
                // Over the member cap of the zip reader: listed, not read.
                Err(ZErr::Capped(_)) => None,
                Err(e) => return Err(zerr(e)),
            }
        } else {
            None
        };
        out.push(Member { name, dir, body });
    }
    Ok(out)
}

/// zip compression methods that Python's `zipfile` decompresses besides
/// stored and deflate (`zipfile.py` `_get_decompressor`, CPython 3.8-3.13).
const ZIP_BZIP2: u64 = 12;
const ZIP_LZMA: u64 = 14;

fn le16(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 2)
        .map_or(0, |x| u64::from(u16::from_le_bytes([x[0], x[1]])))
}

/// `ZipFile.read` of a member compressed with bzip2 or LZMA: the local-header
/// checks of `ZipFile.open`, then `bz2.BZ2Decompressor` (one stream) or
/// `zipfile.LZMADecompressor` (a 4-byte header: version, then the length of
/// the LZMA1 properties that follow; raw LZMA1 after them), output cut at
/// the member's size as `ZipExtFile` cuts it, then the CRC check.
fn zip_read_bz2_lzma<S: Source + ?Sized>(src: &S, pe: &PyEntry) -> Result<Vec<u8>, ZErr> {
    let e = &pe.entry;
    let what = &pe.filename;
    let bad = |m: &str| ZErr::Bad(format!("{what}: {m}"));
    let lh = src.get(e.local, 30)?;
    if lh.len() < 30 || lh[..4] != *b"PK\x03\x04" {
        return Err(bad("Bad magic number for file header"));
    }
    let (n, x, lflags) = (le16(lh, 26), le16(lh, 28), le16(lh, 6));
    if e.flags & (0x20 | 0x40) != 0 {
        return Err(bad("compressed patched data or strong encryption"));
    }
    let lname = src.get(e.local + 30, n)?;
    if lname.len() as u64 != n || py_decode(lname, lflags).as_deref() != Some(pe.orig.as_str()) {
        return Err(bad("file name in directory and header differ"));
    }
    if e.flags & 1 != 0 {
        return Err(bad("encrypted, password required"));
    }
    if e.comp > MAX_MEMBER * 4 || e.uncomp > MAX_MEMBER {
        return Err(ZErr::Capped(format!("{what} is {} bytes", e.uncomp)));
    }
    let data = src.get(e.local + 30 + n + x, e.comp)?;
    if data.len() as u64 != e.comp {
        return Err(bad("truncated member data"));
    }
    let mut out = Vec::new();
    let read = match e.method {
        ZIP_BZIP2 => bzip2::read::BzDecoder::new(data)
            .take(e.uncomp)
            .read_to_end(&mut out),
        _ => {
            let psize = usize::try_from(le16(data, 2)).unwrap_or(usize::MAX);
            // liblzma's LZMA1 properties are exactly 5 bytes: lc/lp/pb, then
            // the dictionary size.
            let Some(props) = data.get(4..4 + psize).filter(|_| psize == 5) else {
                return Err(bad("bad LZMA properties"));
            };
            let dict = u32::from_le_bytes([props[1], props[2], props[3], props[4]]);
            if u64::from(dict) > u64::from(MAX_XZ_DICT_KIB) * 1024 {
                return Err(ZErr::Capped(format!(
                    "{what}: LZMA dictionary of {dict} bytes"
                )));
            }
            lzma_rust2::LzmaReader::new_with_props(
                &data[4 + psize..],
                e.uncomp,
                props[0],
                dict,
                None,
            )
            .and_then(|r| r.take(e.uncomp).read_to_end(&mut out))
        }
    };
    read.map_err(|err| bad(&err.to_string()))?;
    if out.len() as u64 != e.uncomp {
        return Err(bad(
            "Compressed file ended before the end-of-stream marker was reached",
        ));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    if u64::from(crc.sum()) != e.crc {
        return Err(bad("Bad CRC-32"));
    }
    Ok(out)
}

/// The tar stream of a (compressed) tar archive. Python's gzip, bz2 and lzma
/// readers all read concatenated streams.
fn tar_stream<'a, R: Read + 'a>(format: Format, r: R) -> Box<dyn Read + 'a> {
    match format {
        Format::TarGz => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Format::TarBz2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Format::TarXz => Box::new(lzma_rust2::XzReader::new_mem_limit(
            r,
            true,
            MAX_XZ_DICT_KIB,
        )),
        Format::Tar | Format::Zip => Box::new(r),
    }
}

/// Extract a module archive held in memory (tar, tar.gz, tar.bz2, tar.xz or zip).
pub fn extract(bytes: &[u8]) -> Result<Archive, HubError> {
    let format = detect(bytes, || zipfile_dir(&Whole(bytes)).is_ok())?;
    let mut budget = Budget::default();
    let members = match format {
        Format::Zip => zip_members(bytes, &mut budget)?,
        _ => tar_members(tar_stream(format, bytes), &mut budget)?,
    };
    assemble(members, format)
}

/// Extract a module archive from a file, streaming: a tar is read once
/// front to back, a zip by the ranges its directory and members need; only
/// the kept members are held in memory.
pub fn extract_file(path: &std::path::Path) -> Result<Archive, HubError> {
    let io = |e: std::io::Error| proto(format!("{}: {e}", path.display()));
    let open = || std::fs::File::open(path).map_err(io);
    let mut head = Vec::with_capacity(512);
    open()?.take(512).read_to_end(&mut head).map_err(io)?;
    let size = open()?.metadata().map_err(io)?.len();
    let format = detect(&head, || {
        open().is_ok_and(|file| ZipFile { file, size }.with(|src| zipfile_dir(src)).is_ok())
    })?;
    let mut budget = Budget::default();
    let members = match format {
        Format::Zip => zip_members(
            ZipFile {
                file: open()?,
                size,
            },
            &mut budget,
        )?,
        _ => tar_members(
            tar_stream(format, std::io::BufReader::new(open()?)),
            &mut budget,
        )?,
    };
    assemble(members, format)
}

/// The module folder (PaddleHub's rule) and the members under it.
fn assemble(members: Vec<Member>, format: Format) -> Result<Archive, HubError> {
    let Some(last) = members.last() else {
        return Err(proto("empty archive"));
    };
    // `os.path.normpath(path).split(os.sep)[0]` of the last member; `.` is the
    // extraction folder itself.
    let top = last.name.split('/').next().unwrap_or("").to_string();
    if !top.is_empty() && !last.dir && !last.name.contains('/') {
        // PaddleHub would install the file itself as the module folder and
        // fail reading `<file>/module.py`: nothing of it is imported.
        return Err(HubError::Invalid(format!(
            "module archive's last member {top} is a file at the top: PaddleHub cannot install it"
        )));
    }
    let prefix = if top.is_empty() {
        String::new()
    } else {
        format!("{top}/")
    };
    let mut files = BTreeMap::new();
    let mut dropped = Vec::new();
    for m in members {
        if m.dir {
            continue;
        }
        if !m.name.starts_with(&prefix) {
            dropped.push(format!("{} (outside the module folder {top})", m.name));
            continue;
        }
        if validate_path(&m.name).is_err() {
            dropped.push(format!("{} (not a valid file path)", m.name));
            continue;
        }
        if files.insert(m.name.clone(), m.body).is_some() {
            return Err(HubError::Invalid(format!(
                "archive member {} appears twice",
                m.name
            )));
        }
    }
    Ok(Archive {
        files,
        format,
        module_dir: top,
        dropped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(name: &[u8], kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, data).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn rejects_traversal_links_and_absolute() {
        for name in [&b"../evil.py"[..], b"/etc/x", b"a/../../x", b"a\\..\\x"] {
            let t = tar_with(name, tar::EntryType::Regular, b"x");
            assert!(extract(&t).is_err(), "{}", String::from_utf8_lossy(name));
        }
        let t = tar_with(b"mod/link", tar::EntryType::Symlink, b"");
        assert!(matches!(extract(&t), Err(HubError::Invalid(_))));
        let t = tar_with(b"mod/hard", tar::EntryType::Link, b"");
        assert!(matches!(extract(&t), Err(HubError::Invalid(_))));
    }

    #[test]
    fn keeps_the_module_folder() {
        let t = tar_with(b"./lac/module.py", tar::EntryType::Regular, b"print(1)");
        let a = extract(&t).unwrap();
        assert_eq!(a.module_dir, "lac");
        assert_eq!(a.format, Format::Tar);
        assert_eq!(
            a.files.get("lac/module.py").unwrap().as_deref(),
            Some(&b"print(1)"[..])
        );
        let t = tar_with(b"module.py", tar::EntryType::Regular, b"");
        assert!(matches!(extract(&t), Err(HubError::Invalid(_))));
    }

    #[test]
    fn detects_rar_and_junk() {
        assert!(extract(b"Rar!\x1a\x07\x01\x00rest").is_err());
        assert!(extract(b"hello").is_err());
        assert!(!plain_tar(&[0u8; 512]));
    }
}
