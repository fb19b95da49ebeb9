//! Property tests of the checkpoint readers (zip as torch and as zipfile, legacy
//! sequences, tar) and the pickle walker, on generated inputs: opcode streams from a
//! grammar, zips and tars with every header field and offset perturbed, mutated corpus
//! files and raw bytes, each drawn through `arbitrary::Unstructured` from a seeded PRNG
//! (case `i` of seed `s` is always the same input). For every input: no panic; the
//! whole-file reading is complete (scanned or unverified, never half-read); reading it
//! through the ranged fetch gives the same analysis or fails closed (unverified); every
//! walk stays within its caps, also with tiny caps that it must hit.
//!
//! `cargo test` runs a few thousand cases. The benchmark run (bench/pickle.sh --fuzz):
//! `HUBWARDEN_FUZZ_CASES=1000000 HUBWARDEN_FUZZ_SEED=1 cargo test --test it
//! pickle_fuzz::generated_inputs_bench -- --ignored --nocapture`

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use arbitrary::{Result as AResult, Unstructured};
use hubwarden::hub::checkpoint;
use hubwarden::scan::pickle::source::Whole;
use hubwarden::scan::pickle::walker::{self, Budget, CAPS, Caps, End};
use hubwarden::scan::pickle::{self, Analysis};
use rayon::prelude::*;

use crate::common::fixture;

const WORDS: &[&str] = &[
    "os",
    "system",
    "posix",
    "builtins",
    "exec",
    "eval",
    "getattr",
    "torch._utils",
    "_rebuild_tensor_v2",
    "torch",
    "FloatStorage",
    "collections",
    "OrderedDict",
    "numpy",
    "dtype",
    "_os.system",
    "storage",
    "cpu",
    "0",
    "data.pkl",
    "",
    "a.b.c",
    "__builtin__",
    "copy_reg",
    "_reconstructor",
    "\u{e9}t\u{e9}",
];

const NAMES: &[&[u8]] = &[
    b"archive/data.pkl",
    b"ARCHIVE/DATA.PKL",
    b"archive/version",
    b"x/data.pkl",
    b"data.pkl",
    b"archive/data.pkl\0.txt",
    b"archive/data/0",
    b"archive/constants.pkl",
    b"\xff\xfe/data.pkl",
    b"archive/",
    b"a/b/c/data.pkl",
    b"arr_0.npy",
    b"emb.npy",
];

fn word(u: &mut Unstructured) -> AResult<Vec<u8>> {
    Ok(if u.ratio(1, 8)? {
        let n = u.int_in_range(0..=12)?;
        u.bytes(n)?.to_vec()
    } else {
        u.choose(WORDS)?.as_bytes().to_vec()
    })
}

/// An opcode stream from the pickle grammar (valid and invalid arguments mixed).
fn ops(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut b = Vec::new();
    if u.ratio(3, 4)? {
        b.extend([0x80, u.int_in_range(0..=6)?]);
    }
    let n = u.int_in_range(0..=120)?;
    for _ in 0..n {
        match u.int_in_range(0..=22)? {
            0 => {
                b.push(b'c');
                b.extend(word(u)?);
                b.push(b'\n');
                b.extend(word(u)?);
                b.push(b'\n');
            }
            1 | 2 => {
                let w = word(u)?;
                b.push(0x8c);
                b.push(w.len().min(255) as u8);
                b.extend(&w[..w.len().min(255)]);
            }
            3 => b.push(0x93),
            4 => b.push(b'R'),
            5 => b.push(b'('),
            6 => b.push(*u.choose(b"tld}])e us")?),
            7 => b.push(*u.choose(&[0x85, 0x86, 0x87, 0x81, 0x92, b'b', b'o'])?),
            8 => b.extend([b'q', u.int_in_range(0..=8)?]),
            9 => b.extend([b'h', u.int_in_range(0..=8)?]),
            10 => b.push(0x94),
            11 => b.extend([b'K', u.arbitrary()?]),
            12 => b.push(*u.choose(b"N0120\x88\x89")?),
            13 => {
                b.push(b'S');
                b.push(b'\'');
                b.extend(word(u)?);
                b.extend(b"'\n");
            }
            14 => {
                b.push(b'V');
                b.extend(word(u)?);
                b.push(b'\n');
            }
            15 => b.push(b'Q'),
            16 => b.extend([*u.choose(&[0x82u8, 0x83, 0x84])?, u.arbitrary()?, 0, 0, 0]),
            17 => {
                b.push(b'i');
                b.extend(word(u)?);
                b.push(b'\n');
                b.extend(word(u)?);
                b.push(b'\n');
            }
            18 => {
                let len: u32 = if u.ratio(1, 4)? {
                    u.arbitrary()?
                } else {
                    u.int_in_range(0..=16)?
                };
                b.push(*u.choose(b"XTB")?);
                b.extend(len.to_le_bytes());
                let k = u.int_in_range(0..=16)?;
                b.extend(u.bytes(k)?);
            }
            19 => b.extend([0x95, u.arbitrary()?, 0, 0, 0, 0, 0, 0, 0]),
            20 => b.push(u.arbitrary()?),
            21 => b.extend([b'r', u.arbitrary()?, u.arbitrary()?, 0, 0]),
            _ => b.push(b'.'),
        }
    }
    if u.ratio(7, 8)? {
        b.push(b'.');
    }
    Ok(b)
}

fn le16(v: usize) -> [u8; 2] {
    (v as u16).to_le_bytes()
}
fn le32(v: u64) -> [u8; 4] {
    (v as u32).to_le_bytes()
}

/// A zip with perturbed fields: names, flags, methods, CRCs, sizes, offsets, local
/// names, comments with end-record signatures, zip64 locators and records.
fn zip(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    let n = u.int_in_range(0..=5)?;
    for _ in 0..n {
        let name = u.choose(NAMES)?.to_vec();
        // `.npz` members are `.npy` files.
        let data = if name.ends_with(b".npy") && u.ratio(3, 4)? {
            npy(u)?
        } else {
            ops(u)?
        };
        let deflate = u.ratio(1, 4)?;
        let body = if deflate {
            use std::io::Write;
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = e.write_all(&data);
            e.finish().unwrap_or_default()
        } else {
            data.clone()
        };
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let crc = if u.ratio(1, 8)? {
            u.arbitrary()?
        } else {
            crc.sum()
        };
        let flags: u16 = if u.ratio(1, 6)? { u.arbitrary()? } else { 0 };
        let method: u16 = if u.ratio(1, 10)? {
            u.arbitrary()?
        } else if deflate {
            8
        } else {
            0
        };
        let fudge = |u: &mut Unstructured, v: usize| -> AResult<u64> {
            Ok(if u.ratio(1, 10)? {
                u.arbitrary::<u32>()? as u64
            } else {
                v as u64
            })
        };
        let comp = fudge(u, body.len())?;
        let unc = fudge(u, data.len())?;
        let lname = if u.ratio(1, 10)? {
            u.choose(NAMES)?.to_vec()
        } else {
            name.clone()
        };
        let off = fudge(u, out.len())?;
        out.extend(b"PK\x03\x04");
        out.extend([20, 0]);
        out.extend(flags.to_le_bytes());
        out.extend(method.to_le_bytes());
        out.extend([0, 0, 0x21, 0]);
        out.extend(crc.to_le_bytes());
        out.extend(le32(comp));
        out.extend(le32(unc));
        out.extend(le16(lname.len()));
        out.extend(le16(0));
        out.extend(&lname);
        out.extend(&body);
        cd.extend(b"PK\x01\x02");
        cd.extend([20, 3, u.arbitrary()?, 0]);
        cd.extend(flags.to_le_bytes());
        cd.extend(method.to_le_bytes());
        cd.extend([0, 0, 0x21, 0]);
        cd.extend(crc.to_le_bytes());
        cd.extend(le32(comp));
        cd.extend(le32(unc));
        cd.extend(le16(name.len()));
        cd.extend(le16(0));
        cd.extend(le16(0));
        cd.extend([0, 0, 0, 0]);
        cd.extend(le32(if u.ratio(1, 12)? { 0x10 } else { 0o644 << 16 }));
        cd.extend(le32(off));
        cd.extend(&name);
    }
    let cd_off = out.len();
    out.extend(&cd);
    if u.ratio(1, 6)? {
        let z = out.len();
        out.extend(b"PK\x06\x06");
        out.extend(44u64.to_le_bytes());
        out.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.extend((n as u64).to_le_bytes());
        out.extend((n as u64).to_le_bytes());
        out.extend((cd.len() as u64).to_le_bytes());
        let o: u64 = if u.ratio(1, 3)? {
            u.arbitrary()?
        } else {
            cd_off as u64
        };
        out.extend(o.to_le_bytes());
        out.extend(b"PK\x06\x07");
        out.extend([0, 0, 0, 0]);
        let zo: u64 = if u.ratio(1, 3)? {
            u.int_in_range(0..=out.len() as u64)?
        } else {
            z as u64
        };
        out.extend(zo.to_le_bytes());
        out.extend(1u32.to_le_bytes());
    }
    let comment = if u.ratio(1, 4)? {
        let k = u.int_in_range(0..=40)?;
        let mut c = u.bytes(k)?.to_vec();
        if u.ratio(1, 2)? {
            let at = u.int_in_range(0..=c.len())?;
            c.splice(at..at, b"PK\x05\x06".iter().copied());
        }
        c
    } else {
        Vec::new()
    };
    out.extend(b"PK\x05\x06");
    out.extend([0, 0, 0, 0]);
    out.extend(le16(n));
    out.extend(le16(n));
    out.extend(le32(cd.len() as u64));
    let o = if u.ratio(1, 8)? {
        u.arbitrary::<u32>()? as u64
    } else {
        cd_off as u64
    };
    out.extend(le32(o));
    out.extend(le16(comment.len()));
    out.extend(comment);
    Ok(out)
}

/// A tar of pickle members (names the legacy loader looks for), checksums sometimes wrong.
fn tar(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let name: &[u8] = u.choose(&[
            b"storages" as &[u8],
            b"tensors",
            b"pickle",
            b"sys_info",
            b"x",
        ])?;
        let mut data = ops(u)?;
        if u.ratio(1, 2)? {
            let k = u.int_in_range(0..=24)?;
            data.extend(u.bytes(k)?);
            data.extend(ops(u)?);
        }
        let mut h = vec![0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[148..156].copy_from_slice(b"        ");
        h[156] = *u.choose(b"0xLg5")?;
        h[257..263].copy_from_slice(b"ustar\0");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let sum = if u.ratio(1, 8)? { u.arbitrary()? } else { sum };
        h[148..156].copy_from_slice(format!("{:06o}\0 ", sum & 0o777777).as_bytes());
        out.extend(h);
        out.extend(&data);
        out.extend(vec![0; (512 - data.len() % 512) % 512]);
    }
    out.extend(vec![0; 1024]);
    Ok(out)
}

const DESCRS: &[&str] = &[
    "'<f4'",
    "'|O'",
    "'object'",
    "[('a', '<i4'), ('b', '|O')]",
    "[('a', '<i4')]",
    "'<M8[ns]'",
    "('<f4', (2,))",
    "'\\x7cO'",
    "'|O' 'x'",
    "",
];

/// A `.npy`: magic, a version (valid or not), a header from perturbed dict pieces,
/// a header length that may lie, then an opcode stream.
fn npy(u: &mut Unstructured) -> AResult<Vec<u8>> {
    let version = *u.choose(&[1u8, 1, 2, 3, 0, 4])?;
    let descr = u.choose(DESCRS)?;
    let shape = *u.choose(&["(1,)", "()", "(2, 3L)", "[1]", "(1.5,)"])?;
    let order = *u.choose(&["False", "True", "0", "None"])?;
    let mut header = if u.ratio(1, 8)? {
        let n = u.int_in_range(0..=40)?;
        u.bytes(n)?.to_vec()
    } else {
        format!("{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape}, }}").into_bytes()
    };
    header.extend(b"  \n");
    let len = if u.ratio(1, 8)? {
        u.int_in_range(0..=200u32)?
    } else {
        header.len() as u32
    };
    let mut b = b"\x93NUMPY".to_vec();
    b.extend([version, 0]);
    if version == 1 {
        b.extend(le16(len as usize));
    } else {
        b.extend(le32(u64::from(len)));
    }
    b.extend(header);
    b.extend(ops(u)?);
    Ok(b)
}

fn mutate(u: &mut Unstructured, corpus: &[Vec<u8>]) -> AResult<Vec<u8>> {
    let mut b = u.choose(corpus)?.clone();
    for _ in 0..u.int_in_range(1..=8)? {
        if b.is_empty() {
            break;
        }
        let at = u.int_in_range(0..=b.len() - 1)?;
        match u.int_in_range(0..=4)? {
            0 => b[at] ^= 1 << u.int_in_range(0..=7)?,
            1 => b[at] = u.arbitrary()?,
            2 => {
                let k = u.int_in_range(0..=16)?;
                let ins = u.bytes(k)?.to_vec();
                b.splice(at..at, ins);
            }
            3 => {
                let end = (at + u.int_in_range(0..=64)?).min(b.len());
                b.drain(at..end);
            }
            _ => b.truncate(at),
        }
    }
    Ok(b)
}

fn input(seed: u64, case: u64, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ case);
    let raw: Vec<u8> = (0..4096).map(|_| rng.u8(..)).collect();
    let mut u = Unstructured::new(&raw);
    let kind = case % 7;
    let made = match kind {
        0 | 1 => ops(&mut u).map(|mut a| {
            // legacy sequences: several pickles back to back, maybe after the magic
            if case.is_multiple_of(2) {
                a.extend(ops(&mut u).unwrap_or_default());
            }
            a
        }),
        2 => zip(&mut u),
        3 => tar(&mut u),
        4 => mutate(&mut u, corpus),
        6 => npy(&mut u),
        _ => Ok(raw[..(case as usize * 7919) % 2048].to_vec()),
    };
    made.unwrap_or_default()
}

const TINY: Caps = Caps {
    ops: 300,
    memo: 8,
    stack: 24,
    marks: 4,
    objects: 40,
    trace: 200,
};

fn within(p: &walker::Peak, c: &Caps) -> bool {
    p.stack <= c.stack
        && p.marks <= c.marks
        && p.memo <= c.memo
        && p.objects <= c.objects
        && p.links <= c.objects
}

#[derive(Default)]
struct Tally {
    scanned: AtomicUsize,
    unverified: AtomicUsize,
    tiny_capped: AtomicUsize,
}

/// Every property, for one input. Err(description) on a violation.
fn check(bytes: &[u8]) -> Result<bool, String> {
    let whole: Analysis = pickle::analyze_source(&Whole(bytes));
    if !whole.missing.is_empty() {
        return Err(format!(
            "whole file left ranges unread: {:?}",
            whole.missing
        ));
    }
    for s in &whole.streams {
        if !within(&s.report.peak, &CAPS) {
            return Err(format!(
                "{}: peak {:?} over the caps",
                s.label, s.report.peak
            ));
        }
    }
    let image = checkpoint::image_of_bytes(bytes).map_err(|e| format!("range read: {e}"))?;
    let ranged = pickle::analyze(&image);
    if ranged.unverified.is_none() && ranged != whole {
        return Err(format!(
            "ranged reading differs:\nwhole {whole:?}\nranged {ranged:?}"
        ));
    }
    let mut budget = Budget::default();
    let r = walker::walk(bytes, 0, TINY, &mut budget);
    if !within(&r.peak, &TINY) {
        return Err(format!("tiny caps exceeded: {:?}", r.peak));
    }
    if let End::Capped(_) = r.end {
        return Ok(whole.unverified.is_none());
    }
    Ok(whole.unverified.is_none())
}

fn run(cases: u64, seed: u64) -> (Tally, Vec<String>) {
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(fixture("pickles"))
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter(|b| b.len() < 200_000)
        .collect();
    corpus.sort();
    let tally = Tally::default();
    let failures: Vec<String> = (0..cases)
        .into_par_iter()
        .filter_map(|case| {
            let bytes = input(seed, case, &corpus);
            let tiny = walker::walk(&bytes, 0, TINY, &mut Budget::default());
            if matches!(tiny.end, End::Capped(_)) {
                tally.tiny_capped.fetch_add(1, Ordering::Relaxed);
            }
            match catch_unwind(AssertUnwindSafe(|| check(&bytes))) {
                Ok(Ok(true)) => {
                    tally.scanned.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(Ok(false)) => {
                    tally.unverified.fetch_add(1, Ordering::Relaxed);
                    None
                }
                Ok(Err(e)) => Some(format!("seed {seed} case {case}: {e}")),
                Err(_) => Some(format!("seed {seed} case {case}: panic")),
            }
        })
        .collect();
    (tally, failures)
}

#[test]
fn generated_inputs() {
    let (t, failures) = run(3000, 7);
    assert!(
        failures.is_empty(),
        "{:#?}",
        &failures[..failures.len().min(5)]
    );
    let (s, u) = (t.scanned.into_inner(), t.unverified.into_inner());
    assert_eq!(s + u, 3000);
    let tiny = t.tiny_capped.into_inner();
    assert!(
        s > 1000 && tiny > 0,
        "{s} scanned, {u} unverified, {tiny} over the tiny caps"
    );
}

#[test]
#[ignore = "benchmark run: bench/pickle.sh --fuzz"]
fn generated_inputs_bench() {
    let cases = std::env::var("HUBWARDEN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let seed = std::env::var("HUBWARDEN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let start = std::time::Instant::now();
    let (t, failures) = run(cases, seed);
    println!(
        "fuzz: seed {seed}: {cases} inputs in {:.1} s: {} scanned, {} unverified, {} over the tiny caps, {} failures (panics included)",
        start.elapsed().as_secs_f64(),
        t.scanned.into_inner(),
        t.unverified.into_inner(),
        t.tiny_capped.into_inner(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{:#?}",
        &failures[..failures.len().min(10)]
    );
}
