//! The byte prefilter in front of the parser: does a file (code only: docstrings
//! and comments do not count) import a hub library and name one of its loaders?
//! Most files fail it, so it must cost little per byte.
//!
//! The import lines are read by hand, not by a regex: the one regex that found
//! them (`^[ \t]*(?:from[ \t]+(LIBS)\b|import[ \t][^\n#]*?\b(LIBS)\b)`, multi-line,
//! kept in the tests as the reference this code must agree with) has Unicode word
//! boundaries, which the regex crate's DFA cannot follow past a non-ASCII byte, so
//! most files (any `é` or `—` anywhere) were searched by its PikeVM, byte by byte:
//! a third of the site corpus's time.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::catalogue;

/// One bit per library of the table below.
const _: () = assert!(catalogue::PREFILTER.len() <= 64);

/// The compiled regexes: one finds whether any hub library is named at all,
/// then each imported library's own loader words are checked.
struct Compiled {
    libs: Regex,
    words: Vec<Regex>,
}

static COMPILED: LazyLock<Option<Compiled>> = LazyLock::new(|| {
    let libs = catalogue::PREFILTER
        .iter()
        .map(|(l, _)| regex::escape(l))
        .collect::<Vec<_>>()
        .join("|");
    let words = catalogue::PREFILTER
        .iter()
        .map(|(_, w)| Regex::new(w).ok())
        .collect::<Option<Vec<_>>>()?;
    Some(Compiled {
        libs: Regex::new(&libs).ok()?,
        words,
    })
});

/// Compile the regexes now (not inside the first file's timing).
pub fn init() {
    LazyLock::force(&COMPILED);
    LazyLock::force(&WORD_CHAR);
}

/// Can `bytes` hold a loader call? `false` only when it certainly cannot.
pub fn may_hold_loader(bytes: &[u8]) -> bool {
    if catalogue::IMPORT_FREE_WORDS
        .iter()
        .any(|w| memchr::memmem::find(bytes, w.as_bytes()).is_some())
    {
        return true;
    }
    // Unreachable unless the table in `catalogue` is edited into an invalid
    // regex; then parse everything rather than miss a call.
    let Some(p) = COMPILED.as_ref() else {
        return true;
    };
    // Most files name no hub library at all: one SIMD literal search rules them out.
    if !p.libs.is_match(bytes) {
        return false;
    }
    // Imports and loader names must be code: a library's own files quote both in
    // their docstrings. Calls are found through code alone, so this loses none.
    // Blanking only removes matches, so the cheaper check on the raw bytes goes first.
    imports_a_loader(p, bytes)
        && crate::python::pylex::code_only(bytes).is_none_or(|code| imports_a_loader(p, &code))
}

/// Does `bytes` import a hub library and name one of its loaders?
fn imports_a_loader(p: &Compiled, bytes: &[u8]) -> bool {
    let mut tried = 0u64;
    let mut found = false;
    import_lines(bytes, |lib| {
        let bit = 1u64 << lib;
        if tried & bit == 0 {
            tried |= bit;
            // Every entry of the same library (the table names each once today).
            found = catalogue::PREFILTER
                .iter()
                .zip(&p.words)
                .any(|((l, _), w)| *l == catalogue::PREFILTER[lib].0 && w.is_match(bytes));
        }
        !found
    });
    found
}

/// Calls `each` with the library (its index in [`catalogue::PREFILTER`]) that
/// each import line of `bytes` imports first, in order, until `each` returns
/// `false`. An import line is `from LIB...` or `import ... LIB ...` (any other
/// names before it, a comment after it), after spaces or tabs at the start of a
/// line; `LIB` stands between word boundaries (Unicode ones, as the regex it
/// replaces read them).
fn import_lines(bytes: &[u8], mut each: impl FnMut(usize) -> bool) {
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |e| start + e);
        let indent = bytes[start..end]
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
        let at = start + indent;
        let line = &bytes[at..end];
        let lib = if let Some(rest) = line.strip_prefix(b"from") {
            let gap = rest
                .iter()
                .take_while(|&&c| c == b' ' || c == b'\t')
                .count();
            if gap > 0 {
                lib_at(bytes, at + 4 + gap)
            } else {
                None
            }
        } else if line.starts_with(b"import") && matches!(line.get(6), Some(b' ' | b'\t')) {
            // The first library named before a comment, at a word start.
            let names = at + 7;
            let stop = memchr::memchr(b'#', &bytes[names..end]).map_or(end, |k| names + k);
            (names..stop).find_map(|q| {
                let first = bytes[q];
                if !first.is_ascii_lowercase() || word_before(bytes, q) {
                    return None;
                }
                lib_at(bytes, q)
            })
        } else {
            None
        };
        if let Some(lib) = lib
            && !each(lib)
        {
            return;
        }
        start = end + 1;
    }
}

/// The first library of the table (the regex alternation's order) that stands at
/// `q` followed by a word boundary.
fn lib_at(bytes: &[u8], q: usize) -> Option<usize> {
    let rest = &bytes[q..];
    catalogue::PREFILTER
        .iter()
        .position(|(l, _)| rest.starts_with(l.as_bytes()) && !word_after(bytes, q + l.len()))
}

/// Unicode `\w` (the regex crate's tables), for the rare non-ASCII neighbour.
static WORD_CHAR: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"\A\w\z").ok());

fn is_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    // Only if the pattern above stopped compiling: a boundary is the answer
    // that lets more files through (fail open).
    let Some(w) = WORD_CHAR.as_ref() else {
        return false;
    };
    w.is_match(c.encode_utf8(&mut [0; 4]))
}

/// Is the character that ends at `q` a word character? (Invalid UTF-8 is not,
/// as for the regex crate.)
fn word_before(bytes: &[u8], q: usize) -> bool {
    let from = q.saturating_sub(4);
    let tail = &bytes[from..q];
    // The last character: its start is the last byte that is no continuation byte.
    let Some(k) = tail.iter().rposition(|&b| b & 0xC0 != 0x80) else {
        return false;
    };
    std::str::from_utf8(&tail[k..])
        .ok()
        .and_then(|s| s.chars().next())
        .is_some_and(is_word)
}

/// Is the character that starts at `q` a word character?
fn word_after(bytes: &[u8], q: usize) -> bool {
    let head = &bytes[q..(q + 4).min(bytes.len())];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    valid.chars().next().is_some_and(is_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regex `import_lines` replaces.
    static IMPORTS: LazyLock<Regex> = LazyLock::new(|| {
        let libs = catalogue::PREFILTER
            .iter()
            .map(|(l, _)| regex::escape(l))
            .collect::<Vec<_>>()
            .join("|");
        Regex::new(&format!(
            r"(?m)^[ \t]*(?:from[ \t]+({libs})\b|import[ \t][^\n#]*?\b({libs})\b)"
        ))
        .unwrap()
    });

    /// The libraries the reference regex's captures name, in order.
    fn reference(bytes: &[u8]) -> Vec<usize> {
        IMPORTS
            .captures_iter(bytes)
            .filter_map(|c| c.get(1).or_else(|| c.get(2)))
            .map(|m| {
                catalogue::PREFILTER
                    .iter()
                    .position(|(l, _)| l.as_bytes() == m.as_bytes())
                    .unwrap()
            })
            .collect()
    }

    fn ours(bytes: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        import_lines(bytes, |l| {
            out.push(l);
            true
        });
        out
    }

    fn names(libs: &[usize]) -> Vec<&'static str> {
        libs.iter().map(|&l| catalogue::PREFILTER[l].0).collect()
    }

    #[test]
    fn import_lines_name_their_first_library() {
        let src = "import os, torch, transformers\nfrom transformers.models import x\n\
                   \t from\tpaddlehub import y\nimport paddle_x, x.paddle as p # datasets\n\
                   import éterm, mytorch, torch_, vllm\nfrom os import transformers\n\
                   fromtorch import z\nimportlib.import_module('peft')\n  import\tkernels";
        assert_eq!(
            names(&ours(src.as_bytes())),
            [
                "torch",
                "transformers",
                "paddlehub",
                "paddle",
                "vllm",
                "kernels"
            ]
        );
        assert_eq!(ours(src.as_bytes()), reference(src.as_bytes()));
    }

    #[test]
    fn unicode_neighbours_are_word_characters_as_for_the_regex() {
        // `é` and `ٰ` (a combining mark) are word characters: no boundary there.
        for src in [
            "import étorch, peft\n",
            "import torché, peft\n",
            "import tor\u{670}ch, x\u{670}torch, peft\n",
            "from torch\u{670} import x\nfrom torch— import y\n",
            "import —torch\n",
            "import x\u{2014}torch\u{2014}\n",
        ] {
            assert_eq!(ours(src.as_bytes()), reference(src.as_bytes()), "{src:?}");
        }
        assert_eq!(names(&ours("import étorch, peft\n".as_bytes())), ["peft"]);
        assert_eq!(names(&ours("import —torch\n".as_bytes())), ["torch"]);
    }

    /// Seeded property test (`HUBWARDEN_FUZZ_CASES`, `HUBWARDEN_FUZZ_SEED` to run
    /// more): on random lines of import-like pieces, the same libraries as the regex.
    #[test]
    fn generated_import_lines_agree_with_the_regex() {
        let env = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        let cases = env("HUBWARDEN_FUZZ_CASES", 3000);
        let seed = env("HUBWARDEN_FUZZ_SEED", 13);
        let pieces: &[&str] = &[
            "import",
            "from",
            " ",
            "\t",
            "\n",
            "\r\n",
            "#",
            ",",
            ".",
            "_",
            "x",
            "as",
            "é",
            "\u{670}",
            "\u{2014}",
            "\u{1F600}",
            "(",
            "\\",
            "torch",
            "paddle",
            "paddlehub",
            "hub",
            "transformers",
            "sentence_transformers",
            "peft",
            "mmcv",
            "vllm",
            "datasets",
            "huggingface_hub",
            "kernels",
            "1",
        ];
        for case in 0..cases {
            let mut rng = fastrand::Rng::with_seed(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ case);
            let mut src = String::new();
            for _ in 0..rng.usize(1..24) {
                // Line heads more often than anywhere else.
                if rng.u8(0..4) == 0 {
                    src.push_str(
                        ["\nimport ", "\nfrom ", "\n  import\t", "\n\tfrom  "][rng.usize(..4)],
                    );
                }
                src.push_str(pieces[rng.usize(..pieces.len())]);
            }
            assert_eq!(
                ours(src.as_bytes()),
                reference(src.as_bytes()),
                "case {case}: {src:?}"
            );
        }
    }

    #[test]
    fn files_need_an_import_and_a_word_in_code() {
        assert!(may_hold_loader(
            b"from transformers import AutoModel\nAutoModel.from_pretrained(x)\n"
        ));
        assert!(may_hold_loader(b"import torch\ntorch.hub.load(x)\n"));
        assert!(may_hold_loader(b"m.generate(custom_generate=x)\n"));
        // Named only in a docstring or a comment.
        assert!(!may_hold_loader(
            b"\"\"\"\nfrom transformers import x\n\"\"\"\nx.from_pretrained(y)\n"
        ));
        assert!(!may_hold_loader(
            b"import transformers\n# from_pretrained\n"
        ));
        // The words belong to the library imported.
        assert!(!may_hold_loader(
            b"import torch\nAutoModel.from_pretrained(x)\n"
        ));
        assert!(!may_hold_loader(b"import os\nx = 1\n"));
    }
}
