//! Legacy (non-zip) checkpoints as `torch.load` reads them: first as the pre-1.0 tar
//! format (Python's `tarfile` decides, from the first header's checksum), whose
//! `storages`, `tensors` and `pickle` members hold pickles between raw tensor bytes;
//! otherwise as a sequence of pickles (magic number, protocol, system info, data,
//! storage keys), each of any protocol.

use super::source::{Missing, Source};

/// Size of a tar block.
const BLOCK: u64 = 512;
/// Most tar headers read.
const MAX_TAR_MEMBERS: usize = 4096;

/// A tar member's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// `tarfile.nti`: a numeric header field (octal text or base-256).
fn nti(s: &[u8]) -> Option<i128> {
    if s.first().is_some_and(|&b| b == 0o200 || b == 0o377) {
        let mut n: i128 = 0;
        for &b in &s[1..] {
            n = (n << 8) + i128::from(b);
        }
        if s[0] == 0o377 {
            n -= 1i128 << (8 * (s.len() - 1));
        }
        return Some(n);
    }
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    let t = std::str::from_utf8(&s[..end]).ok()?;
    if !t.is_ascii() {
        return None;
    }
    let t = t.trim();
    if t.is_empty() {
        return Some(0);
    }
    let (neg, t) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let t = t
        .strip_prefix("0o")
        .or_else(|| t.strip_prefix("0O"))
        .unwrap_or(t);
    if t.is_empty() || t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    let v = i128::from_str_radix(&digits, 8).ok()?;
    Some(if neg { -v } else { v })
}

fn nts(s: &[u8]) -> String {
    let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// Whether a 512-byte block is a header `tarfile` accepts (numbers parse, checksum fits).
fn header_ok(b: &[u8]) -> bool {
    if b.len() != BLOCK as usize {
        return false;
    }
    for (s, e) in [
        (100, 108),
        (108, 116),
        (116, 124),
        (124, 136),
        (136, 148),
        (329, 337),
        (337, 345),
    ] {
        if nti(&b[s..e]).is_none() {
            return false;
        }
    }
    let Some(chk) = nti(&b[148..156]) else {
        return false;
    };
    let unsigned: i128 = 256
        + b[..148]
            .iter()
            .chain(&b[156..])
            .map(|&x| i128::from(x))
            .sum::<i128>();
    let signed: i128 = 256
        + b[..148]
            .iter()
            .chain(&b[156..])
            .map(|&x| i128::from(x as i8))
            .sum::<i128>();
    chk == unsigned || chk == signed
}

/// The members of a tar archive as `tarfile` lists them, or None when the first
/// header is not one (`torch.load` then reads a pickle sequence).
pub fn tar_members<S: Source + ?Sized>(src: &S) -> Result<Option<Vec<TarMember>>, Missing> {
    let size = src.size();
    let first = src.get(0, BLOCK)?;
    if first.len() < BLOCK as usize {
        return Ok(None);
    }
    if first.iter().all(|&b| b == 0) {
        // `tarfile` opens this as an empty archive (torch.load then fails on `storages`).
        return Ok(Some(Vec::new()));
    }
    if !header_ok(first) {
        return Ok(None);
    }
    let mut out: Vec<TarMember> = Vec::new();
    let mut at = 0u64;
    let mut long_name: Option<String> = None;
    let mut pax_path: Option<String> = None;
    while out.len() < MAX_TAR_MEMBERS && at + BLOCK <= size {
        let h = src.get(at, BLOCK)?;
        if h.iter().all(|&b| b == 0) || !header_ok(h) {
            break;
        }
        let msize = nti(&h[124..136]).unwrap_or(0).max(0) as u64;
        let kind = h[156];
        let mut name = nts(&h[..100]);
        if &h[257..263] == b"ustar\x00" && !matches!(kind, b'L' | b'K') {
            let prefix = nts(&h[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let data = at + BLOCK;
        let next = data.saturating_add(msize.div_ceil(BLOCK) * BLOCK);
        match kind {
            b'L' => {
                let body = src.get(data, msize.min(1 << 16))?;
                long_name = Some(nts(body));
            }
            b'x' => {
                let body = src.get(data, msize.min(1 << 20))?;
                pax_path = pax_value(body, "path");
            }
            b'g' | b'K' => {}
            _ => {
                let name = pax_path.take().or(long_name.take()).unwrap_or(name);
                out.push(TarMember {
                    name,
                    offset: data,
                    size: msize,
                });
            }
        }
        at = next;
    }
    Ok(Some(out))
}

fn pax_value(body: &[u8], key: &str) -> Option<String> {
    let mut rest = body;
    let mut found = None;
    while let Some(sp) = rest.iter().position(|&b| b == b' ') {
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        let rec = rest.get(..len)?;
        let kv = rec.get(sp + 1..len.checked_sub(1)?)?;
        if let Some(eq) = kv.iter().position(|&b| b == b'=')
            && &kv[..eq] == key.as_bytes()
        {
            found = Some(String::from_utf8_lossy(&kv[eq + 1..]).into_owned());
        }
        rest = &rest[len..];
    }
    found
}

/// `tarfile.getmember`: the last member of that name.
pub fn member<'a>(members: &'a [TarMember], name: &str) -> Option<&'a TarMember> {
    members.iter().rev().find(|m| m.name == name)
}

/// Element size of a legacy storage type (`torch._utils._element_size(storage._dtype)`).
pub fn element_size(storage: &str) -> Option<u64> {
    let short = storage
        .strip_prefix("torch.cuda.")
        .or_else(|| storage.strip_prefix("torch."))?;
    Some(match short {
        "DoubleStorage" | "LongStorage" | "ComplexFloatStorage" => 8,
        "ComplexDoubleStorage" => 16,
        "FloatStorage" | "IntStorage" | "QInt32Storage" => 4,
        "HalfStorage" | "ShortStorage" | "BFloat16Storage" => 2,
        "CharStorage" | "ByteStorage" | "BoolStorage" | "QUInt8Storage" | "QInt8Storage"
        | "QUInt4x2Storage" | "QUInt2x4Storage" => 1,
        _ => return None,
    })
}

/// The legacy magic number pickle (`0x1950a86a20f9469cfc6c`), in any protocol.
pub fn is_magic(stream: &[u8]) -> bool {
    const LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
    let s = match stream {
        [0x80, _, rest @ ..] => rest,
        s => s,
    };
    let long1 = s.len() == 13 && s[0] == 0x8a && s[1] == 10 && s[2..12] == LE && s[12] == b'.';
    let text = s.starts_with(b"L119547037146038801333356") && s.ends_with(b"\n.");
    long1 || text
}

/// The int a tiny pickle holds (`pickle.dump(n)`), when it is that simple.
pub fn simple_int(stream: &[u8]) -> Option<u64> {
    let s = match stream {
        [0x80, _, rest @ ..] => rest,
        s => s,
    };
    let (v, rest): (u64, &[u8]) = match s {
        [b'K', v, rest @ ..] => (u64::from(*v), rest),
        [b'M', a, b, rest @ ..] => (u64::from(u16::from_le_bytes([*a, *b])), rest),
        [b'J', a, b, c, d, rest @ ..] => {
            let v = i32::from_le_bytes([*a, *b, *c, *d]);
            (u64::try_from(v).ok()?, rest)
        }
        [b'I', rest @ ..] => {
            let nl = rest.iter().position(|&b| b == b'\n')?;
            let v = std::str::from_utf8(&rest[..nl]).ok()?.trim().parse().ok()?;
            (v, &rest[nl + 1..])
        }
        _ => return None,
    };
    // A memo PUT may follow before STOP.
    let rest = match rest {
        [b'q', _, rest @ ..] => rest,
        [0x94, rest @ ..] => rest,
        r => r,
    };
    (rest == b".").then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_magic() {
        assert_eq!(nti(b"0000644\0"), Some(0o644));
        assert_eq!(nti(b"  17 \0\0\0"), Some(0o17));
        assert_eq!(nti(b"9\0"), None);
        assert!(is_magic(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."));
        assert_eq!(simple_int(b"\x80\x02K\x03."), Some(3));
        assert_eq!(simple_int(b"\x80\x02cos\nsystem\n."), None);
        assert_eq!(element_size("torch.cuda.HalfStorage"), Some(2));
    }
}
