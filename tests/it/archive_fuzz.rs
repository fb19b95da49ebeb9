//! Property tests of the PaddleHub module-archive reader (`hub::archive`), the
//! parser of untrusted archive bytes: tars (plain, gzip, bzip2, xz) and zips
//! (stored, deflated, bzip2 and LZMA members) built from generated members (names from a pool with traversal, absolute,
//! deep, duplicate, folder and top-level entries; random bodies), then
//! optionally corrupted (bytes flipped, truncated, garbage appended), each
//! drawn through `arbitrary::Unstructured` from a seeded PRNG (case `i` of seed
//! `s` is always the same input). For every input: no panic; an accepted
//! archive lists only safe paths under the module folder, keeps no member over
//! the per-file cap and no more than the kept cap in all; and an intact archive
//! of safe, distinct names is read exactly: the members under the folder of
//! the last member, with their bytes (PaddleHub's rule). The streaming reader
//! of a downloaded file (`extract_file`) gives the same answer on every input.
//!
//! More cases: `HUBWARDEN_FUZZ_CASES=100000 cargo test --test it archive_fuzz`.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use arbitrary::{Result as AResult, Unstructured};
use hubwarden::hub::archive::{self, Format};
use hubwarden::hub::validate::{MAX_ARCHIVE_KEPT_BYTES, MAX_CODE_FILE_BYTES, validate_path};

const NAMES: &[&str] = &[
    "lac/module.py",
    "lac/__init__.py",
    "lac/nets/backbone.py",
    "lac/assets/vocab.txt",
    "./lac/utils.py",
    "lac//double.py",
    "lac/./dot.py",
    "other/module.py",
    "other/x.py",
    "module.py",
    "lac/../../evil.py",
    "../evil.py",
    "/etc/passwd",
    "lac/a@b.py",
    "lac/\u{e9}t\u{e9}.py",
    "lac\\win.py",
    "lac/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/x.py",
];

const DIRS: &[&str] = &["lac/", "other/", "./", "lac/nets/"];

/// One generated member: name, body, or a folder.
#[derive(Clone, Debug)]
struct M {
    name: String,
    body: Vec<u8>,
    dir: bool,
}

fn members(u: &mut Unstructured) -> AResult<Vec<M>> {
    let n = u.int_in_range(0..=8)?;
    let mut out = Vec::new();
    for _ in 0..n {
        if u.ratio(1, 6)? {
            out.push(M {
                name: u.choose(DIRS)?.to_string(),
                body: Vec::new(),
                dir: true,
            });
            continue;
        }
        let name = u.choose(NAMES)?.to_string();
        let len = u.int_in_range(0..=64)?;
        out.push(M {
            name,
            body: u.bytes(len)?.to_vec(),
            dir: false,
        });
    }
    Ok(out)
}

fn tar(ms: &[M]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in ms {
        // Old-style headers take any name bytes (the builder refuses `..`).
        let mut h = tar::Header::new_old();
        let name = m.name.as_bytes();
        let n = name.len().min(99);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        h.set_size(if m.dir { 0 } else { m.body.len() as u64 });
        h.set_entry_type(if m.dir {
            tar::EntryType::Directory
        } else {
            tar::EntryType::Regular
        });
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, if m.dir { &[][..] } else { &m.body[..] })
            .unwrap();
    }
    b.into_inner().unwrap()
}

/// A raw LZMA1 member as `zipfile._LZMACompressor` writes it: version 9.4,
/// the length of the properties (5), the properties, then the stream with
/// an end marker.
fn zip_lzma(body: &[u8]) -> Vec<u8> {
    let opts = lzma_rust2::LzmaOptions::with_preset(0);
    let mut w = lzma_rust2::LzmaWriter::new_no_header(Vec::new(), &opts, true).unwrap();
    let props = w.props();
    w.write_all(body).unwrap();
    let mut out = vec![9, 4, 5, 0, props];
    out.extend(opts.dict_size.to_le_bytes());
    out.extend(w.finish().unwrap());
    out
}

/// A zip as Python's `zipfile` writes one (stored, deflated, bzip2 or LZMA
/// members; UTF-8 flag).
fn zip(ms: &[M], u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for m in ms {
        let method: u16 = if m.dir {
            0
        } else {
            *u.choose(&[0u16, 8, 12, 14])?
        };
        let body = match method {
            8 => {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&m.body).unwrap();
                e.finish().unwrap()
            }
            12 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(&m.body).unwrap();
                e.finish().unwrap()
            }
            14 => zip_lzma(&m.body),
            _ if m.dir => Vec::new(),
            _ => m.body.clone(),
        };
        let mut crc = flate2::Crc::new();
        crc.update(if m.dir { &[][..] } else { &m.body[..] });
        let name = m.name.as_bytes();
        let unc = if m.dir { 0 } else { m.body.len() };
        let off = out.len() as u32;
        out.extend(b"PK\x03\x04");
        out.extend([20, 0, 0, 8]);
        out.extend(method.to_le_bytes());
        out.extend([0, 0, 0x21, 0]);
        out.extend(crc.sum().to_le_bytes());
        out.extend((body.len() as u32).to_le_bytes());
        out.extend((unc as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend([0, 0]);
        out.extend(name);
        out.extend(&body);
        cd.extend(b"PK\x01\x02");
        cd.extend([20, 3, 20, 0, 0, 8]);
        cd.extend(method.to_le_bytes());
        cd.extend([0, 0, 0x21, 0]);
        cd.extend(crc.sum().to_le_bytes());
        cd.extend((body.len() as u32).to_le_bytes());
        cd.extend((unc as u32).to_le_bytes());
        cd.extend((name.len() as u16).to_le_bytes());
        cd.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        cd.extend((if m.dir { 0x10u32 } else { 0o644 << 16 }).to_le_bytes());
        cd.extend(off.to_le_bytes());
        cd.extend(name);
    }
    let cd_off = out.len() as u32;
    out.extend(&cd);
    out.extend(b"PK\x05\x06\0\0\0\0");
    out.extend((ms.len() as u16).to_le_bytes());
    out.extend((ms.len() as u16).to_le_bytes());
    out.extend((cd.len() as u32).to_le_bytes());
    out.extend(cd_off.to_le_bytes());
    out.extend([0, 0]);
    Ok(out)
}

fn pack(format: Format, ms: &[M], u: &mut Unstructured) -> AResult<Vec<u8>> {
    Ok(match format {
        Format::Tar => tar(ms),
        Format::TarGz => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&tar(ms)).unwrap();
            e.finish().unwrap()
        }
        Format::TarBz2 => {
            let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
            e.write_all(&tar(ms)).unwrap();
            e.finish().unwrap()
        }
        Format::TarXz => {
            let mut w =
                lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(0))
                    .unwrap();
            w.write_all(&tar(ms)).unwrap();
            w.finish().unwrap()
        }
        Format::Zip => zip(ms, u)?,
    })
}

/// What PaddleHub installs from intact members, or None when hubwarden must
/// refuse the archive (unsafe or duplicate names, or a top-level file last).
fn expected(ms: &[M]) -> Option<BTreeMap<String, Vec<u8>>> {
    let norm = |n: &str| -> Option<String> {
        if n.starts_with('/') || n.contains('\\') {
            return None;
        }
        let segs: Vec<&str> = n
            .split('/')
            .filter(|s| !s.is_empty() && *s != ".")
            .collect();
        if segs.contains(&"..") || segs.len() > 32 {
            return None;
        }
        Some(segs.join("/"))
    };
    let last = ms.last()?;
    let last_name = norm(&last.name)?;
    let top = last_name.split('/').next().unwrap_or("").to_string();
    if !top.is_empty() && !last.dir && !last_name.contains('/') {
        return None;
    }
    let mut out = BTreeMap::new();
    for m in ms {
        let n = norm(&m.name)?;
        if m.dir {
            continue;
        }
        if !top.is_empty() && !n.starts_with(&format!("{top}/")) {
            continue;
        }
        if validate_path(&n).is_err() {
            continue;
        }
        if out.insert(n, m.body.clone()).is_some() {
            return None;
        }
    }
    Some(out)
}

fn corrupt(bytes: &mut Vec<u8>, u: &mut Unstructured) -> AResult<bool> {
    if !u.ratio(1, 3)? || bytes.is_empty() {
        return Ok(false);
    }
    match u.int_in_range(0..=2)? {
        0 => {
            for _ in 0..u.int_in_range(1..=4)? {
                let i = u.choose_index(bytes.len())?;
                bytes[i] ^= u.int_in_range(1..=255)?;
            }
        }
        1 => {
            let keep = u.choose_index(bytes.len())?;
            bytes.truncate(keep);
        }
        _ => {
            let n = u.int_in_range(1..=32)?;
            bytes.extend(u.bytes(n)?);
        }
    }
    Ok(true)
}

/// One case; true when an intact archive was compared member by member.
fn case(seed: u64, i: u64) -> AResult<bool> {
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(1_000_003).wrapping_add(i));
    let raw: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
    let mut u = Unstructured::new(&raw);
    let format = *u.choose(&[
        Format::Tar,
        Format::TarGz,
        Format::TarBz2,
        Format::TarXz,
        Format::Zip,
    ])?;
    let ms = members(&mut u)?;
    let mut bytes = pack(format, &ms, &mut u)?;
    let corrupted = corrupt(&mut bytes, &mut u)?;
    let got = catch_unwind(AssertUnwindSafe(|| archive::extract(&bytes)))
        .unwrap_or_else(|_| panic!("seed {seed} case {i}: panic on {format:?}"));
    // The streaming reader of a downloaded file reads exactly the same.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let from_file = catch_unwind(AssertUnwindSafe(|| archive::extract_file(file.path())))
        .unwrap_or_else(|_| panic!("seed {seed} case {i}: panic on {format:?} from a file"));
    match (&got, &from_file) {
        (Ok(a), Ok(b)) => {
            assert_eq!(
                a.files, b.files,
                "seed {seed} case {i}: file reader differs"
            );
            assert_eq!(a.format, b.format, "seed {seed} case {i}");
            assert_eq!(a.module_dir, b.module_dir, "seed {seed} case {i}");
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "seed {seed} case {i}: memory {:?} vs file {:?}",
            a.as_ref().map(|a| &a.files),
            b.as_ref().map(|b| &b.files)
        ),
    }
    if let Ok(a) = &got {
        let prefix = if a.module_dir.is_empty() {
            String::new()
        } else {
            format!("{}/", a.module_dir)
        };
        let mut kept = 0u64;
        for (p, body) in &a.files {
            assert!(validate_path(p).is_ok(), "seed {seed} case {i}: path {p:?}");
            assert!(
                p.starts_with(&prefix),
                "seed {seed} case {i}: {p} outside {prefix}"
            );
            if let Some(b) = body {
                assert!(b.len() as u64 <= MAX_CODE_FILE_BYTES);
                kept += b.len() as u64;
            }
        }
        assert!(kept <= MAX_ARCHIVE_KEPT_BYTES);
    }
    let mut compared = false;
    if !corrupted {
        match (expected(&ms), got) {
            (Some(want), Ok(a)) => {
                let have: BTreeMap<String, Vec<u8>> = a
                    .files
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect();
                assert_eq!(have, want, "seed {seed} case {i}: {format:?} {ms:?}");
                assert_eq!(a.format, format, "seed {seed} case {i}");
                compared = !want.is_empty();
            }
            (Some(want), Err(e)) if !ms.is_empty() => {
                panic!("seed {seed} case {i}: {format:?} {ms:?} refused ({e}), want {want:?}")
            }
            (None, Ok(a)) => {
                panic!(
                    "seed {seed} case {i}: {format:?} {ms:?} accepted as {:?}",
                    a.files
                )
            }
            _ => {}
        }
    }
    Ok(compared)
}

#[test]
fn generated_archives_read_as_paddlehub_installs_them_or_are_refused() {
    let cases: u64 = std::env::var("HUBWARDEN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("HUBWARDEN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let mut compared = 0;
    for i in 0..cases {
        // Running out of generator bytes ends a case early; that is fine.
        compared += usize::from(case(seed, i).unwrap_or(false));
    }
    // The generator must reach the interesting path: intact archives read back.
    assert!(
        compared as u64 * 10 >= cases,
        "only {compared} of {cases} cases compared"
    );
}

/// Bombs stop at the caps: a member over the per-file cap is listed without
/// being kept, and an xz whose block asks for a 1 GiB dictionary is refused
/// before the dictionary is allocated.
#[test]
fn archive_bombs_stop_at_the_caps() {
    let big = vec![0u8; (MAX_CODE_FILE_BYTES + 1) as usize];
    let ms = [
        M {
            name: "lac/big.bin".into(),
            body: big,
            dir: false,
        },
        M {
            name: "lac/module.py".into(),
            body: b"x = 1\n".to_vec(),
            dir: false,
        },
    ];
    let mut u = Unstructured::new(&[]);
    let gz = pack(Format::TarGz, &ms, &mut u).unwrap();
    assert!(gz.len() < 1 << 20);
    let a = archive::extract(&gz).unwrap();
    assert_eq!(a.files["lac/big.bin"], None);
    assert_eq!(a.files["lac/module.py"].as_deref(), Some(&b"x = 1\n"[..]));

    let mut xz = pack(Format::TarXz, &ms[1..], &mut u).unwrap();
    // The block header after the 12-byte stream header: LZMA2 filter (0x21),
    // one property byte (the dictionary size, 36 = 1 GiB), then its CRC32.
    let hsize = (usize::from(xz[12]) + 1) * 4;
    let h = &mut xz[12..12 + hsize];
    let at = h.windows(2).position(|w| w == [0x21, 0x01]).unwrap() + 2;
    h[at] = 36;
    let mut crc = flate2::Crc::new();
    crc.update(&h[..hsize - 4]);
    h[hsize - 4..].copy_from_slice(&crc.sum().to_le_bytes());
    let e = archive::extract(&xz).unwrap_err();
    assert!(e.to_string().contains("module archive"), "{e}");
}
