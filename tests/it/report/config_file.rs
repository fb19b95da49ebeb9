//! `.hubwarden.yml`: parsing, defaults and error messages.

use super::*;

#[test]
fn config_full_file_parses() {
    let cfg = Config::load(&project(), Some(&common::fixture("config/full.yml"))).unwrap();
    assert_eq!(cfg.fail_on, Some(Level::Warning));
    assert_eq!(cfg.exclude, vec!["tests/**".to_string()]);
    assert_eq!(cfg.allow.len(), 3);
    assert_eq!(cfg.allow[1].hub, Some(HubKind::Github));
    assert_eq!(cfg.rules["exec-dynamic"], RuleOverride::Level(Level::Note));
    assert_eq!(cfg.rules["pickle-weights"], RuleOverride::Off);
    assert_eq!(cfg.offline, Some(true));
}

#[test]
fn config_at_root_or_defaults() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Config::load(dir.path(), None).unwrap(), Config::default());
    std::fs::write(dir.path().join(".hubwarden.yml"), "# nothing yet\n").unwrap();
    assert_eq!(Config::load(dir.path(), None).unwrap(), Config::default());
    std::fs::write(dir.path().join(".hubwarden.yml"), "fail-on: note\n").unwrap();
    assert_eq!(
        Config::load(dir.path(), None).unwrap().fail_on,
        Some(Level::Note)
    );
}

#[test]
fn config_errors_are_clear() {
    let err = |rel: &str| {
        Config::load(&project(), Some(&common::fixture(rel)))
            .unwrap_err()
            .to_string()
    };
    let e = err("config/unknown-key.yml");
    assert!(e.contains("unknown-key.yml:2:"), "{e}");
    assert!(e.contains("unknown field `alow`"), "{e}");
    assert!(e.contains("`allow`") && e.contains("`fail-on`"), "{e}");

    let e = err("config/bad-level.yml");
    assert!(e.contains("bad-level.yml:3:"), "{e}");
    assert!(e.contains("fatal") && e.contains("warning"), "{e}");

    let e = err("config/bad-allow.yml");
    assert!(e.contains("40-hex"), "{e}");

    let missing = common::fixture("config/does-not-exist.yml");
    let e = Config::load(&project(), Some(&missing)).unwrap_err();
    assert!(matches!(e, ConfigError::NotFound { .. }));
    assert!(e.to_string().contains("does-not-exist.yml"));

    let e = Config::parse(
        "allow:\n  - org: acme\n    repo: acme/x\n",
        Path::new("x.yml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not both"), "{e}");
    let e = Config::parse("exclude: ['a/[b']\n", Path::new("x.yml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad glob"), "{e}");
    let e = Config::parse("fail-on: fatal\n", Path::new("x.yml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("x.yml:1:") && e.contains("unknown level `fatal`"),
        "{e}"
    );
    let e = Config::parse("allow:\n  - org: a\n    bogus: 1\n", Path::new("x.yml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.yml:3:5: allow[0]: unknown field `bogus`, expected one of `org`, `repo`, `commit`, `hub`"), "{e}");
    assert!(!e.contains("at line"), "{e}");
}
