//! PaddleHub module archives (tar.gz): extracted in memory with caps on entry
//! count, total bytes, per-file size and depth; `..`, absolute paths, links and
//! special files are rejected, so no member can escape the module folder.

use std::collections::BTreeMap;
use std::io::Read;

use crate::hub::HubError;
use crate::hub::validate::{
    MAX_ARCHIVE_ENTRIES, MAX_ARCHIVE_KEPT_BYTES, MAX_ARCHIVE_TOTAL_BYTES, MAX_CODE_FILE_BYTES,
    validate_path,
};

/// An extracted module: every member path, and the bytes of those small enough to keep.
#[derive(Debug, Default)]
pub struct Archive {
    /// Member path (top folder stripped) -> bytes, `None` when over the per-file cap.
    pub files: BTreeMap<String, Option<Vec<u8>>>,
}

fn cap(msg: String) -> HubError {
    HubError::Cap(msg)
}

/// Extract a `.tar.gz` (or plain `.tar`) module archive.
pub fn extract(bytes: &[u8]) -> Result<Archive, HubError> {
    let gz = bytes.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    // Bound the decompressed stream itself: a tar bomb cannot run past this.
    let mut ar = tar::Archive::new(reader.take(MAX_ARCHIVE_TOTAL_BYTES + 1));
    let mut raw: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let (mut total, mut kept) = (0u64, 0u64);
    let entries = ar
        .entries()
        .map_err(|e| HubError::Protocol(format!("module archive: {e}")))?;
    for (i, ent) in entries.enumerate() {
        if i >= MAX_ARCHIVE_ENTRIES {
            return Err(cap(format!(
                "module archive has more than {MAX_ARCHIVE_ENTRIES} entries"
            )));
        }
        let mut ent = ent.map_err(|e| HubError::Protocol(format!("module archive: {e}")))?;
        let kind = ent.header().entry_type();
        let path_bytes = ent.path_bytes().into_owned();
        let name = String::from_utf8(path_bytes)
            .map_err(|_| HubError::Invalid("non-UTF-8 archive member name".into()))?;
        let name = name
            .strip_prefix("./")
            .unwrap_or(&name)
            .trim_end_matches('/')
            .to_string();
        if kind.is_dir() {
            if !name.is_empty() {
                validate_path(&name)?;
            }
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(HubError::Invalid(format!(
                "archive member {name} is a link"
            )));
        }
        if !kind.is_file() {
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader
                    | tar::EntryType::XHeader
                    | tar::EntryType::GNULongName
            ) {
                continue;
            }
            return Err(HubError::Invalid(format!(
                "archive member {name} is not a regular file"
            )));
        }
        validate_path(&name)?;
        let size = ent.header().size().unwrap_or(u64::MAX);
        total = total.saturating_add(size);
        if total > MAX_ARCHIVE_TOTAL_BYTES {
            return Err(cap(format!(
                "module archive over {MAX_ARCHIVE_TOTAL_BYTES} bytes unpacked"
            )));
        }
        let body = if size <= MAX_CODE_FILE_BYTES && kept + size <= MAX_ARCHIVE_KEPT_BYTES {
            let mut b = Vec::with_capacity(size as usize);
            (&mut ent)
                .take(MAX_CODE_FILE_BYTES + 1)
                .read_to_end(&mut b)
                .map_err(|e| HubError::Protocol(format!("module archive {name}: {e}")))?;
            kept += b.len() as u64;
            Some(b)
        } else {
            None
        };
        raw.push((name, body));
    }
    // Strip one top-level folder when every member shares it (`<name>/module.py`).
    let top = raw
        .first()
        .and_then(|(n, _)| n.split_once('/').map(|(t, _)| t.to_string()));
    let strip = top.filter(|t| raw.iter().all(|(n, _)| n.starts_with(&format!("{t}/"))));
    let mut files = BTreeMap::new();
    for (name, body) in raw {
        let name = match &strip {
            Some(t) => name[t.len() + 1..].to_string(),
            None => name,
        };
        if files.insert(name.clone(), body).is_some() {
            return Err(HubError::Invalid(format!(
                "archive member {name} appears twice"
            )));
        }
    }
    Ok(Archive { files })
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
        for name in [&b"../evil.py"[..], b"/etc/x", b"a/../../x"] {
            let t = tar_with(name, tar::EntryType::Regular, b"x");
            assert!(extract(&t).is_err(), "{}", String::from_utf8_lossy(name));
        }
        let t = tar_with(b"mod/link", tar::EntryType::Symlink, b"");
        assert!(matches!(extract(&t), Err(HubError::Invalid(_))));
        let t = tar_with(b"mod/hard", tar::EntryType::Link, b"");
        assert!(matches!(extract(&t), Err(HubError::Invalid(_))));
    }

    #[test]
    fn strips_top_folder() {
        let t = tar_with(b"lac/module.py", tar::EntryType::Regular, b"print(1)");
        let a = extract(&t).unwrap();
        assert_eq!(
            a.files.get("module.py").unwrap().as_deref(),
            Some(&b"print(1)"[..])
        );
    }
}
