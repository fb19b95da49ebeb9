//! Policy findings, inline suppressions, the allow-list, rule overrides and pin fixes.

use super::*;

#[test]
fn policy_findings_name_their_cwe_and_pin_fix() {
    let report: Report = read_json("report/report.json");
    let root = project();
    let read = policy::fs_sources(&root);
    let fs = policy::policy_findings(&report.calls, &read);
    let metas: HashMap<String, RuleMeta> = policy::rule_metas()
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    for f in &fs {
        assert_eq!(f.engine, Engine::Policy);
        assert!(!f.cwe.is_empty(), "{} has no CWE", f.rule_id);
        assert!(metas.contains_key(&f.rule_id));
    }
    let at = |path: &str, line: u32, id: &str| {
        fs.iter()
            .find(|f| f.path == path && f.line == line && f.rule_id == id)
            .unwrap_or_else(|| panic!("no {id} at {path}:{line}"))
    };
    // Single-line call: revision inserted.
    let f = at("app/train.py", 4, "remote-code-unpinned");
    assert_eq!(f.cwe, vec!["CWE-494".to_string()]);
    let fix = f.fix.as_ref().unwrap();
    assert_eq!((fix.start_line, fix.start_column, fix.end_line), (4, 9, 4));
    assert_eq!(
        fix.replacement,
        format!(
            "AutoModelForCausalLM.from_pretrained(\"acme/chat\", trust_remote_code=True, revision=\"{CHAT}\")"
        )
    );
    // Multi-line call with a tag: the revision value is replaced.
    let fix = at("app/train.py", 5, "remote-code-unpinned")
        .fix
        .clone()
        .unwrap();
    assert_eq!((fix.start_line, fix.end_line, fix.end_column), (5, 9, 2));
    assert!(fix.replacement.contains(&format!("revision=\"{CHAT}\",")));
    assert!(!fix.replacement.contains("v1"));
    // torch.hub: owner/repo:commit.
    let fix = at("app/train.py", 10, "remote-code-unpinned")
        .fix
        .clone()
        .unwrap();
    assert_eq!(
        fix.replacement,
        "torch.hub.load(\"someone/nets:12fb5d00de0e665fa9f0674130aadb39ae9d20ac\", \"resnet\")"
    );
    at("app/train.py", 5, "cross-repo-code-unpinned");
    assert_eq!(
        at("data/load.py", 4, "remote-code-unverified").level,
        Level::Error
    );
    at("data/load.py", 5, "pickle-weights");
    at("data/load.py", 5, "gate-false-needs-remote-code");
    // Pinned: enabled but not unpinned. gate false: nothing enabled.
    assert!(
        fs.iter()
            .any(|f| f.line == 11 && f.rule_id == "remote-code-enabled")
    );
    assert!(
        !fs.iter()
            .any(|f| f.line == 11 && f.rule_id == "remote-code-unpinned")
    );
    assert!(
        !fs.iter()
            .any(|f| f.path == "data/load.py" && f.line == 5 && f.rule_id == "remote-code-enabled")
    );
}

#[test]
fn inline_suppressions_with_ids_and_bare() {
    let (report, _) = build(&Config::default());
    // `ignore[remote-code-unpinned]`: only that rule is gone.
    assert_eq!(
        ids_at(&report, "app/train.py", 12),
        vec!["remote-code-enabled"]
    );
    // Bare `ignore`: everything on the call is gone, even the reverse shell.
    assert!(ids_at(&report, "app/train.py", 13).is_empty());
    let s = report.summary.unwrap();
    // unpinned on line 12; enabled + unpinned + reverse-shell on line 13.
    assert_eq!(s.suppressed, 4);
}

#[test]
fn suppression_from_the_discovered_site_wins() {
    let mut report: Report = read_json("report/report.json");
    report.calls[0].site.suppress = Some(vec!["reverse-shell".into()]);
    let (report, _) = build_at(&Config::default(), &project(), report);
    let ids = ids_at(&report, "app/train.py", 4);
    assert!(!ids.contains(&"reverse-shell".to_string()));
    assert!(ids.contains(&"exec-dynamic".to_string()));
}

fn allow(entries: Vec<AllowEntry>) -> Config {
    Config {
        allow: entries,
        ..Default::default()
    }
}

#[test]
fn allow_list_org_silences_policy_but_not_malicious() {
    let cfg = allow(vec![AllowEntry {
        org: Some("acme".into()),
        ..Default::default()
    }]);
    let (report, _) = build(&cfg);
    // The reverse shell in acme/chat stays; the policy findings and the warning go.
    assert_eq!(ids_at(&report, "app/train.py", 4), vec!["reverse-shell"]);
    // The malicious pickle in acme/old stays too.
    assert_eq!(
        ids_at(&report, "data/load.py", 5),
        vec!["pickle-dangerous-global"]
    );
    // someone/nets is not acme.
    assert!(ids_at(&report, "app/train.py", 10).contains(&"os-system".to_string()));
    assert!(report.summary.unwrap().allowed > 0);
}

#[test]
fn allow_list_exact_commit_silences_malicious_too() {
    let exact = |commit: &str| {
        allow(vec![AllowEntry {
            repo: Some("acme/chat".into()),
            commit: Some(commit.into()),
            ..Default::default()
        }])
    };
    let (report, _) = build(&exact(CHAT));
    assert!(ids_at(&report, "app/train.py", 4).is_empty());
    // Another commit: nothing is silenced.
    let (report, _) = build(&exact(EVIL));
    assert!(ids_at(&report, "app/train.py", 4).contains(&"reverse-shell".to_string()));
    // A whole-repo entry restricted to another hub does not match.
    let (report, _) = build(&allow(vec![AllowEntry {
        repo: Some("acme/chat".into()),
        hub: Some(HubKind::Modelscope),
        ..Default::default()
    }]));
    assert!(ids_at(&report, "app/train.py", 4).contains(&"remote-code-unpinned".to_string()));
}

#[test]
fn rule_overrides_and_fail_on() {
    let mut rules = BTreeMap::new();
    rules.insert("exec-dynamic".to_string(), RuleOverride::Level(Level::Note));
    rules.insert("pickle-weights".to_string(), RuleOverride::Off);
    let cfg = Config {
        rules,
        ..Default::default()
    };
    let (report, _) = build(&cfg);
    let fs = report.findings.as_ref().unwrap();
    assert!(
        fs.iter()
            .filter(|f| f.rule_id == "exec-dynamic")
            .all(|f| f.level == Level::Note)
    );
    assert!(!fs.iter().any(|f| f.rule_id == "pickle-weights"));

    // Exit-code threshold: only notes left -> fails at note, passes at warning.
    let calls = &report.calls;
    let notes: Vec<Finding> = fs
        .iter()
        .filter(|f| f.level == Level::Note)
        .cloned()
        .collect();
    assert!(policy::summarize(calls, &notes, 0, 0, Level::Note).failed);
    assert!(!policy::summarize(calls, &notes, 0, 0, Level::Warning).failed);
    assert!(!policy::summarize(calls, &[], 0, 0, Level::Note).failed);
    let s = report.summary.unwrap();
    assert!(s.failed);
    assert_eq!(s.fail_on, Level::Error);
}

#[test]
fn notebook_calls_get_no_source_edit() {
    let mut report: Report = read_json("report/report.json");
    report.calls[0].site.cell = Some(0);
    let root = project();
    let read = policy::fs_sources(&root);
    let fs = policy::policy_findings(&report.calls[..1], &read);
    let f = fs
        .iter()
        .find(|f| f.rule_id == "remote-code-unpinned")
        .unwrap();
    assert!(f.fix.is_none());
    assert!(f.message.contains(CHAT));
}

#[test]
fn pin_fix_follows_each_platform() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.py"),
        "p = pipeline(\"chat\", model=\"damo/x\")\nq = AutoModel.from_pretrained(\"csg/y\", trust_remote_code=True)\n",
    )
    .unwrap();
    let mut report: Report = read_json("report/report.json");
    report.calls.truncate(2);
    let ms = &mut report.calls[0];
    ms.site.path = "m.py".into();
    (ms.site.line, ms.site.column, ms.site.end_line) = (1, 5, 1);
    ms.site.platform = Platform::Modelscope;
    ms.site.api = "modelscope.pipelines.pipeline".into();
    ms.site.repo_id = Some("damo/x".into());
    ms.site.gate = "absent".into();
    let csg = &mut report.calls[1];
    csg.site.path = "m.py".into();
    (csg.site.line, csg.site.column, csg.site.end_line) = (2, 5, 2);
    csg.site.platform = Platform::Opencsg;
    csg.site.revision = None;
    csg.site.repo_id = Some("csg/y".into());
    let read = policy::fs_sources(dir.path());
    let fs = policy::policy_findings(&report.calls, &read);
    let get = |line: u32, id: &str| {
        fs.iter()
            .find(|f| f.line == line && f.rule_id == id)
            .unwrap()
    };
    assert!(
        get(1, "remote-code-enabled")
            .message
            .contains("ModelScope trusts")
    );
    let fix = get(1, "remote-code-unpinned").fix.clone().unwrap();
    assert_eq!(
        fix.replacement,
        format!("pipeline(\"chat\", model=\"damo/x\", model_revision=\"{CHAT}\")")
    );
    assert!(get(2, "remote-code-unpinned").fix.is_none());
}

#[test]
fn an_unresolved_id_fails_closed() {
    let mut report: Report = read_json("report/report.json");
    report.calls.truncate(1);
    report.calls[0].target = None;
    report.calls[0].site.repo_id = None;
    report.calls[0].site.resolution = "function parameter without default".into();
    let read = |_: &str| None;
    let fs = policy::policy_findings(&report.calls, &read);
    let f = fs
        .iter()
        .find(|f| f.rule_id == "remote-code-unverified")
        .unwrap();
    assert_eq!(f.level, Level::Error);
    assert!(f.message.contains("function parameter without default"));
}
