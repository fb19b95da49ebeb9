//! Sets of versions (unions of intervals) and the specifier languages that
//! describe them: PEP 440 (`>=4.40,<5`), Poetry (`^4.40`, `~4.40`, `4.*`, `||`)
//! and conda match specs (`=2.1`, `2.1.*`, `>=2,<3|3.1`).
//!
//! A library's declared version is a `VersionSet`; a version-dependent rule is
//! one too, and deciding a rule is set arithmetic (is the declared set inside
//! the affected set, outside it, or across its border).

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use super::version::Version;

/// One end of an interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    Unbounded,
    Incl(Version),
    Excl(Version),
}

/// A non-empty interval of versions.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interval {
    lo: Bound,
    hi: Bound,
}

/// Order two lower bounds: which one admits less.
fn cmp_lo(a: &Bound, b: &Bound) -> Ordering {
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => Ordering::Equal,
        (Bound::Unbounded, _) => Ordering::Less,
        (_, Bound::Unbounded) => Ordering::Greater,
        (Bound::Incl(x) | Bound::Excl(x), Bound::Incl(y) | Bound::Excl(y)) => {
            x.cmp(y).then_with(|| match (a, b) {
                (Bound::Incl(_), Bound::Excl(_)) => Ordering::Less,
                (Bound::Excl(_), Bound::Incl(_)) => Ordering::Greater,
                _ => Ordering::Equal,
            })
        }
    }
}

/// Order two upper bounds: which one admits less.
fn cmp_hi(a: &Bound, b: &Bound) -> Ordering {
    match (a, b) {
        (Bound::Unbounded, Bound::Unbounded) => Ordering::Equal,
        (Bound::Unbounded, _) => Ordering::Greater,
        (_, Bound::Unbounded) => Ordering::Less,
        (Bound::Incl(x) | Bound::Excl(x), Bound::Incl(y) | Bound::Excl(y)) => {
            x.cmp(y).then_with(|| match (a, b) {
                (Bound::Excl(_), Bound::Incl(_)) => Ordering::Less,
                (Bound::Incl(_), Bound::Excl(_)) => Ordering::Greater,
                _ => Ordering::Equal,
            })
        }
    }
}

/// Whether an interval from `lo` to `hi` holds at least one version.
fn nonempty(lo: &Bound, hi: &Bound) -> bool {
    match (lo, hi) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => true,
        (Bound::Incl(a), Bound::Incl(b)) => a <= b,
        (Bound::Incl(a) | Bound::Excl(a), Bound::Incl(b) | Bound::Excl(b)) => a < b,
    }
}

/// Whether an interval ending at `hi` and one starting at `lo` leave no gap.
fn touches(hi: &Bound, lo: &Bound) -> bool {
    match (hi, lo) {
        (Bound::Unbounded, _) | (_, Bound::Unbounded) => true,
        (Bound::Excl(a), Bound::Excl(b)) => a > b,
        (Bound::Incl(a) | Bound::Excl(a), Bound::Incl(b) | Bound::Excl(b)) => a >= b,
    }
}

fn flip(b: &Bound) -> Bound {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Incl(v) => Bound::Excl(v.clone()),
        Bound::Excl(v) => Bound::Incl(v.clone()),
    }
}

/// A set of versions: sorted, disjoint, non-touching intervals. Empty means
/// "not installed"; one unbounded interval means "any version".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionSet {
    parts: Vec<Interval>,
}

impl VersionSet {
    pub fn any() -> VersionSet {
        VersionSet {
            parts: vec![Interval {
                lo: Bound::Unbounded,
                hi: Bound::Unbounded,
            }],
        }
    }

    pub fn none() -> VersionSet {
        VersionSet { parts: Vec::new() }
    }

    fn interval(lo: Bound, hi: Bound) -> VersionSet {
        if nonempty(&lo, &hi) {
            VersionSet {
                parts: vec![Interval { lo, hi }],
            }
        } else {
            VersionSet::none()
        }
    }

    pub fn at_least(v: Version) -> VersionSet {
        VersionSet::interval(Bound::Incl(v), Bound::Unbounded)
    }

    pub fn below(v: Version) -> VersionSet {
        VersionSet::interval(Bound::Unbounded, Bound::Excl(v))
    }

    /// Exactly `v` (any local build of it when `v` has no local part).
    pub fn exactly(v: Version) -> VersionSet {
        if v.local.is_empty() {
            let hi = v.last_with_locals();
            VersionSet::interval(Bound::Incl(v), Bound::Incl(hi))
        } else {
            VersionSet::interval(Bound::Incl(v.clone()), Bound::Incl(v))
        }
    }

    /// Every version that starts with `prefix` (`==2.1.*`).
    pub fn prefix(prefix: &Version) -> VersionSet {
        let lo = prefix.first_of_release();
        let hi = prefix.bump_last().first_of_release();
        VersionSet::interval(Bound::Incl(lo), Bound::Excl(hi))
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    pub fn is_any(&self) -> bool {
        matches!(
            self.parts.as_slice(),
            [Interval {
                lo: Bound::Unbounded,
                hi: Bound::Unbounded
            }]
        )
    }

    /// No upper bound: future releases are in the set.
    pub fn is_open(&self) -> bool {
        self.parts.last().is_some_and(|i| i.hi == Bound::Unbounded)
    }

    pub fn contains(&self, v: &Version) -> bool {
        self.parts.iter().any(|i| {
            let above = match &i.lo {
                Bound::Unbounded => true,
                Bound::Incl(l) => v >= l,
                Bound::Excl(l) => v > l,
            };
            let below = match &i.hi {
                Bound::Unbounded => true,
                Bound::Incl(h) => v <= h,
                Bound::Excl(h) => v < h,
            };
            above && below
        })
    }

    pub fn intersect(&self, other: &VersionSet) -> VersionSet {
        let mut parts = Vec::new();
        for a in &self.parts {
            for b in &other.parts {
                let lo = if cmp_lo(&a.lo, &b.lo) == Ordering::Less {
                    b.lo.clone()
                } else {
                    a.lo.clone()
                };
                let hi = if cmp_hi(&a.hi, &b.hi) == Ordering::Less {
                    a.hi.clone()
                } else {
                    b.hi.clone()
                };
                if nonempty(&lo, &hi) {
                    parts.push(Interval { lo, hi });
                }
            }
        }
        VersionSet::normalised(parts)
    }

    pub fn union(&self, other: &VersionSet) -> VersionSet {
        let mut parts = self.parts.clone();
        parts.extend(other.parts.iter().cloned());
        VersionSet::normalised(parts)
    }

    pub fn complement(&self) -> VersionSet {
        let mut parts = Vec::new();
        let mut lo = Bound::Unbounded;
        let mut first = true;
        for i in &self.parts {
            if !(first && i.lo == Bound::Unbounded) {
                let hi = flip(&i.lo);
                if nonempty(&lo, &hi) {
                    parts.push(Interval { lo, hi });
                }
            }
            first = false;
            lo = flip(&i.hi);
            if i.hi == Bound::Unbounded {
                return VersionSet { parts };
            }
        }
        parts.push(Interval {
            lo,
            hi: Bound::Unbounded,
        });
        VersionSet::normalised(parts)
    }

    pub fn is_subset(&self, of: &VersionSet) -> bool {
        self.intersect(&of.complement()).is_empty()
    }

    pub fn overlaps(&self, other: &VersionSet) -> bool {
        !self.intersect(other).is_empty()
    }

    fn normalised(mut parts: Vec<Interval>) -> VersionSet {
        parts.sort_by(|a, b| cmp_lo(&a.lo, &b.lo));
        let mut out: Vec<Interval> = Vec::with_capacity(parts.len());
        for p in parts {
            if let Some(last) = out.last_mut()
                && touches(&last.hi, &p.lo)
            {
                if cmp_hi(&last.hi, &p.hi) == Ordering::Less {
                    last.hi = p.hi;
                }
                continue;
            }
            out.push(p);
        }
        VersionSet { parts: out }
    }
}

impl fmt::Display for VersionSet {
    /// PEP 440 spelling, `||` between disjoint parts: `>=4.52, <5.3`, `==2.1.0`,
    /// `any`, `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.parts.is_empty() {
            return f.write_str("none");
        }
        if self.is_any() {
            return f.write_str("any");
        }
        let rendered: Vec<String> = self.parts.iter().map(render_interval).collect();
        f.write_str(&rendered.join(" || "))
    }
}

fn render_interval(i: &Interval) -> String {
    // `==V` is [V, V+MAX]; a local pin is [V+l, V+l].
    if let (Bound::Incl(a), Bound::Incl(b)) = (&i.lo, &i.hi)
        && (a == b || (b.is_sentinel() && *b == a.last_with_locals()))
    {
        return format!("=={a}");
    }
    let mut out = Vec::new();
    match &i.lo {
        Bound::Unbounded => {}
        Bound::Incl(v) => out.push(format!(">={v}")),
        // `>V` is kept as the sentinel after V's posts or local builds.
        Bound::Excl(v) => out.push(format!(">{v}")),
    }
    match &i.hi {
        Bound::Unbounded => {}
        Bound::Incl(v) => out.push(format!("<={v}")),
        Bound::Excl(v) if v.dev == Some(0) && v.pre.is_none() && v.post.is_none() => {
            // `<X` is stored as "before X.dev0".
            let mut x = v.clone();
            x.dev = None;
            out.push(format!("<{x}"));
        }
        Bound::Excl(v) => out.push(format!("<{v}")),
    }
    out.join(", ")
}

/// A specifier that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version specifier {spec:?}: {reason}")]
pub struct BadSpec {
    pub spec: String,
    pub reason: String,
}

fn bad(spec: &str, reason: impl Into<String>) -> BadSpec {
    BadSpec {
        spec: spec.to_string(),
        reason: reason.into(),
    }
}

/// One PEP 440 clause (`>=1.0`, `==2.*`, `~=1.4.5`).
fn pep440_clause(op: &str, ver: &str, whole: &str) -> Result<VersionSet, BadSpec> {
    let ver = ver.trim();
    if op == "===" {
        // Arbitrary equality: a string match. A parseable string is that version.
        return Version::parse(ver)
            .map(|v| VersionSet::interval(Bound::Incl(v.clone()), Bound::Incl(v)))
            .map_err(|e| bad(whole, e.to_string()));
    }
    if let Some(prefix) = ver.strip_suffix(".*") {
        let v = Version::parse(prefix).map_err(|e| bad(whole, e.to_string()))?;
        if !v.local.is_empty() || v.pre.is_some() || v.post.is_some() || v.dev.is_some() {
            return Err(bad(whole, "a wildcard follows a plain release"));
        }
        let set = VersionSet::prefix(&v);
        return match op {
            "==" => Ok(set),
            "!=" => Ok(set.complement()),
            _ => Err(bad(whole, format!("`{op}` takes no wildcard"))),
        };
    }
    let v = Version::parse(ver).map_err(|e| bad(whole, e.to_string()))?;
    if !v.local.is_empty() && !matches!(op, "==" | "!=") {
        return Err(bad(whole, format!("`{op}` takes no local version")));
    }
    Ok(match op {
        "==" => VersionSet::exactly(v),
        "!=" => VersionSet::exactly(v).complement(),
        ">=" => VersionSet::at_least(v),
        "<=" => VersionSet::interval(Bound::Unbounded, Bound::Incl(v.last_with_locals())),
        ">" => {
            // `>V` skips V's post-releases (unless V is one) and its local builds.
            let after = if v.post.is_some() {
                v.last_with_locals()
            } else {
                v.last_post()
            };
            VersionSet::interval(Bound::Excl(after), Bound::Unbounded)
        }
        "<" => {
            // `<V` of a final V also excludes V's own pre-releases.
            let before = if v.is_prerelease() || v.post.is_some() {
                v
            } else {
                v.first_of_release()
            };
            VersionSet::below(before)
        }
        "~=" => {
            if v.release.len() < 2 {
                return Err(bad(whole, "`~=` needs at least two release numbers"));
            }
            let prefix = Version::release(&v.release[..v.release.len() - 1]);
            VersionSet::at_least(v).intersect(&VersionSet::prefix(&prefix))
        }
        _ => return Err(bad(whole, format!("unknown operator `{op}`"))),
    })
}

static PEP440_CLAUSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(===|==|!=|~=|<=|>=|<|>)\s*(\S+?)\s*$")
        .unwrap_or_else(|e| unreachable!("a valid regex: {e}"))
});

/// A PEP 440 specifier set: comma-separated clauses, all of which hold. An
/// empty string is "any version".
pub fn parse_pep440(spec: &str) -> Result<VersionSet, BadSpec> {
    if spec.len() > 4096 {
        return Err(bad(&spec[..64], "too long"));
    }
    let mut set = VersionSet::any();
    for clause in spec.split(',') {
        if clause.trim().is_empty() {
            if spec.trim().is_empty() {
                continue;
            }
            return Err(bad(spec, "empty clause"));
        }
        let c = PEP440_CLAUSE
            .captures(clause)
            .ok_or_else(|| bad(spec, format!("cannot read clause {:?}", clause.trim())))?;
        set = set.intersect(&pep440_clause(&c[1], &c[2], spec)?);
    }
    Ok(set)
}

static LOOSE_ATOM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(===|==|!=|~=|<=|>=|<|>|\^|~|=)?\s*([^\s,<>=!~^|]+)")
        .unwrap_or_else(|e| unreachable!("a valid regex: {e}"))
});

/// The first version past a caret or tilde range: bump component `index`
/// and drop what follows.
fn bumped(v: &Version, index: usize) -> Version {
    let mut release: Vec<u64> = v.release.iter().take(index + 1).copied().collect();
    while release.len() <= index {
        release.push(0);
    }
    release[index] = release[index].saturating_add(1);
    let mut out = Version::release(&release);
    out.epoch = v.epoch;
    out.first_of_release()
}

/// A Poetry constraint: `^1.2`, `~1.2`, `~=1.2`, `1.2.*`, `*`, bare `1.2.3`
/// (exactly), `>=1,<2`, clauses separated by `,` or spaces, alternatives by `||`.
pub fn parse_poetry(spec: &str) -> Result<VersionSet, BadSpec> {
    if spec.len() > 4096 {
        return Err(bad(&spec[..64], "too long"));
    }
    let mut union = VersionSet::none();
    for alt in spec.split("||").flat_map(|a| a.split('|')) {
        let alt = alt.trim();
        if alt.is_empty() {
            return Err(bad(spec, "empty alternative"));
        }
        let mut set = VersionSet::any();
        let mut consumed = 0;
        for c in LOOSE_ATOM.captures_iter(alt) {
            let whole = c.get(0).map(|m| m.range()).unwrap_or(0..0);
            // Only separators may sit between clauses.
            if !alt[consumed..whole.start]
                .chars()
                .all(|ch| ch == ',' || ch.is_whitespace())
            {
                return Err(bad(spec, "unexpected text"));
            }
            consumed = whole.end;
            let op = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let ver = &c[2];
            let clause = match op {
                "" | "=" if ver == "*" => VersionSet::any(),
                "" | "=" => pep440_clause("==", ver, spec)?,
                "^" => {
                    let v = Version::parse(ver).map_err(|e| bad(spec, e.to_string()))?;
                    // Bump the first non-zero component; all zero: the last given one.
                    let idx = v
                        .release
                        .iter()
                        .position(|&n| n != 0)
                        .unwrap_or(v.release.len().saturating_sub(1));
                    VersionSet::at_least(v.clone()).intersect(&VersionSet::below(bumped(&v, idx)))
                }
                "~" => {
                    let v = Version::parse(ver).map_err(|e| bad(spec, e.to_string()))?;
                    let idx = if v.release.len() >= 2 { 1 } else { 0 };
                    VersionSet::at_least(v.clone()).intersect(&VersionSet::below(bumped(&v, idx)))
                }
                other => pep440_clause(other, ver, spec)?,
            };
            set = set.intersect(&clause);
        }
        if !alt[consumed..]
            .trim_matches(|c: char| c == ',' || c.is_whitespace())
            .is_empty()
        {
            return Err(bad(spec, "unexpected text"));
        }
        if consumed == 0 {
            return Err(bad(spec, "no clause"));
        }
        union = union.union(&set);
    }
    Ok(union)
}

/// A conda match-spec version: `=2.1` and `2.1*` are prefixes, `==2.1.0` and a
/// bare `2.1.0` are exact, `,` joins clauses, `|` separates alternatives.
pub fn parse_conda(spec: &str) -> Result<VersionSet, BadSpec> {
    if spec.len() > 4096 {
        return Err(bad(&spec[..64], "too long"));
    }
    let mut union = VersionSet::none();
    for alt in spec.split('|') {
        let mut set = VersionSet::any();
        for clause in alt.split(',') {
            let clause = clause.trim();
            if clause.is_empty() {
                return Err(bad(spec, "empty clause"));
            }
            let (op, ver) = split_op(clause);
            let star = ver.strip_suffix(".*").or_else(|| ver.strip_suffix('*'));
            let part = match (op, star) {
                (_, Some("")) => VersionSet::any(),
                ("" | "=" | "==", Some(prefix)) => {
                    pep440_clause("==", &format!("{prefix}.*"), spec)?
                }
                ("=", None) => pep440_clause("==", &format!("{ver}.*"), spec)?,
                ("" | "==", None) => pep440_clause("==", ver, spec)?,
                ("!=", Some(prefix)) => pep440_clause("!=", &format!("{prefix}.*"), spec)?,
                (op, None) => pep440_clause(op, ver, spec)?,
                (_, Some(_)) => return Err(bad(spec, "a wildcard with an ordering operator")),
            };
            set = set.intersect(&part);
        }
        union = union.union(&set);
    }
    Ok(union)
}

fn split_op(clause: &str) -> (&str, &str) {
    for op in ["===", "==", "!=", "~=", "<=", ">=", "<", ">", "="] {
        if let Some(rest) = clause.strip_prefix(op) {
            return (op, rest.trim());
        }
    }
    ("", clause)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }
    fn p(s: &str) -> VersionSet {
        parse_pep440(s).unwrap()
    }

    #[test]
    fn pep440_clauses_match_packaging() {
        let s = p(">=4.40,<5");
        assert!(s.contains(&v("4.40.0")) && s.contains(&v("4.57.6")));
        assert!(!s.contains(&v("5.0.0rc1")), "<5 excludes 5's pre-releases");
        assert!(!s.contains(&v("4.39.9")));
        let eq = p("==2.1.0");
        assert!(eq.contains(&v("2.1.0+cu118")) && eq.contains(&v("2.1")));
        assert!(!eq.contains(&v("2.1.0.post1")));
        let local = p("==2.1.0+cu118");
        assert!(local.contains(&v("2.1.0+cu118")) && !local.contains(&v("2.1.0")));
        let gt = p(">1.0");
        assert!(!gt.contains(&v("1.0.post3")) && !gt.contains(&v("1.0+l")));
        assert!(gt.contains(&v("1.0.1")));
        let le = p("<=1.0");
        assert!(le.contains(&v("1.0+l")) && !le.contains(&v("1.0.post0")));
        let compat = p("~=2.2");
        assert!(compat.contains(&v("2.9")) && !compat.contains(&v("3.0")));
        let compat3 = p("~=1.4.5");
        assert!(compat3.contains(&v("1.4.9")) && !compat3.contains(&v("1.5.0")));
        let wild = p("==2.*");
        assert!(
            wild.contains(&v("2.0.0a1"))
                && wild.contains(&v("2.99"))
                && !wild.contains(&v("3.0.dev0"))
        );
        let ne = p("!=2.1.*,>=2");
        assert!(ne.contains(&v("2.0.5")) && !ne.contains(&v("2.1.3")) && ne.contains(&v("2.2")));
        assert!(p("").is_any());
        assert!(p(">=2,<1").is_empty());
    }

    #[test]
    fn rejects_malformed_specifiers() {
        for s in [
            ">=",
            "=>1.0",
            "1.0",
            ">=1.0,",
            ">=1.*",
            "~=1",
            "==1.0+l.*",
            ">1.0+local",
            ">=1.0 <2",
        ] {
            assert!(parse_pep440(s).is_err(), "{s}");
        }
    }

    #[test]
    fn set_algebra() {
        let a = p(">=4.52,<5.3");
        assert_eq!(a.to_string(), ">=4.52, <5.3");
        assert!(p("==5.2.0").is_subset(&a));
        assert!(!p(">=5").is_subset(&a));
        assert!(p(">=5").overlaps(&a));
        assert!(!p(">=5.3").overlaps(&a));
        assert_eq!(a.complement().complement(), a);
        assert_eq!(VersionSet::any().complement(), VersionSet::none());
        assert_eq!(VersionSet::none().complement(), VersionSet::any());
        let u = p("<1").union(&p(">=1.dev0"));
        assert!(u.is_any(), "{u}");
        // `<1` and `>=1` both leave out 1's pre-releases, as pip does.
        assert!(!p("<1").union(&p(">=1")).contains(&v("1.0rc1")));
        let gap = p("<1").union(&p(">1"));
        assert!(!gap.contains(&v("1")) && gap.contains(&v("1.0.1")));
        assert_eq!(p("==2.1.0").to_string(), "==2.1.0");
        assert_eq!(p("!=3").to_string(), "<3 || >3");
        assert!(p(">=4").is_open() && !a.is_open());
    }

    #[test]
    fn poetry_constraints() {
        let caret = parse_poetry("^1.2.3").unwrap();
        assert!(caret.contains(&v("1.9")) && !caret.contains(&v("2.0.0")));
        let caret0 = parse_poetry("^0.2.3").unwrap();
        assert!(caret0.contains(&v("0.2.9")) && !caret0.contains(&v("0.3")));
        let caret00 = parse_poetry("^0.0.3").unwrap();
        assert!(!caret00.contains(&v("0.0.4")));
        let tilde = parse_poetry("~1.2").unwrap();
        assert!(tilde.contains(&v("1.2.7")) && !tilde.contains(&v("1.3")));
        let tilde1 = parse_poetry("~1").unwrap();
        assert!(tilde1.contains(&v("1.9")) && !tilde1.contains(&v("2")));
        assert!(parse_poetry("*").unwrap().is_any());
        assert_eq!(parse_poetry("4.40.0").unwrap(), p("==4.40.0"));
        assert_eq!(parse_poetry(">= 4.40, < 5").unwrap(), p(">=4.40,<5"));
        assert_eq!(parse_poetry(">=4.40 <5").unwrap(), p(">=4.40,<5"));
        let or = parse_poetry("^4.40 || ^5.3").unwrap();
        assert!(or.contains(&v("4.50")) && or.contains(&v("5.9")) && !or.contains(&v("6")));
        for s in ["", "^", "^x", ">=1 || ", "1.0 foo", "^1.0 ~~2"] {
            assert!(parse_poetry(s).is_err(), "{s}");
        }
    }

    #[test]
    fn conda_specs() {
        let fuzzy = parse_conda("=2.1").unwrap();
        assert!(fuzzy.contains(&v("2.1.2")) && !fuzzy.contains(&v("2.2")));
        assert_eq!(parse_conda("2.1.*").unwrap(), fuzzy);
        assert_eq!(parse_conda("2.1*").unwrap(), fuzzy);
        assert_eq!(parse_conda("==2.1.0").unwrap(), p("==2.1.0"));
        assert_eq!(parse_conda("2.1.0").unwrap(), p("==2.1.0"));
        assert_eq!(parse_conda(">=2,<3").unwrap(), p(">=2,<3"));
        let or = parse_conda("2.1.*|>=2.5").unwrap();
        assert!(or.contains(&v("2.1.1")) && !or.contains(&v("2.3")) && or.contains(&v("2.6")));
        assert!(parse_conda("*").unwrap().is_any());
        assert!(parse_conda(">=2.*").is_err());
        assert!(parse_conda("abc").is_err());
    }
}

/// Property tests: the interval arithmetic against a clause-by-clause reading
/// of PEP 440 (packaging's `Specifier.contains`), on generated specifiers and
/// versions; and the parsers never panic on arbitrary input.
#[cfg(test)]
mod properties {
    use super::*;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn gen_release(r: &mut Rng) -> Vec<u64> {
        (0..1 + r.below(3)).map(|_| r.below(4)).collect()
    }

    fn gen_version(r: &mut Rng) -> Version {
        let mut v = Version::release(&gen_release(r));
        if r.below(8) == 0 {
            v.epoch = 1;
        }
        if r.below(3) == 0 {
            let phase = [
                super::super::version::Pre::Alpha,
                super::super::version::Pre::Beta,
                super::super::version::Pre::Rc,
            ][r.below(3) as usize];
            v.pre = Some((phase, r.below(3)));
        }
        if r.below(4) == 0 {
            v.post = Some(r.below(3));
        }
        if r.below(4) == 0 {
            v.dev = Some(r.below(3));
        }
        if r.below(4) == 0 {
            v.local = vec![
                super::super::version::Local::Str("cu".into()),
                super::super::version::Local::Num(r.below(3)),
            ];
        }
        v
    }

    fn public(v: &Version) -> Version {
        let mut p = v.clone();
        p.local.clear();
        p
    }

    fn base(v: &Version) -> Version {
        Version::release(&v.release).with_epoch_for_test(v.epoch)
    }

    /// packaging's Specifier semantics for one clause with a final (or local, for ==/!=) spec version.
    fn naive(op: &str, spec: &Version, wildcard: bool, v: &Version) -> bool {
        let eq = || {
            if wildcard {
                let n = spec.release.len();
                let mut rel = v.release.clone();
                rel.resize(rel.len().max(n), 0);
                v.epoch == spec.epoch && rel[..n] == spec.release[..]
            } else if spec.local.is_empty() {
                public(v) == *spec
            } else {
                v == spec && v.local == spec.local
            }
        };
        match op {
            "==" => eq(),
            "!=" => !eq(),
            ">=" => public(v) >= *spec,
            "<=" => public(v) <= *spec,
            "<" => *v < *spec && !(v.is_prerelease() && base(v) == base(spec)),
            ">" => {
                *v > *spec
                    && !(v.post.is_some() && base(v) == base(spec))
                    && (v.local.is_empty() || base(v) != base(spec))
            }
            "~=" => {
                let prefix = Version::release(&spec.release[..spec.release.len() - 1]);
                public(v) >= *spec && naive("==", &prefix, true, v)
            }
            _ => unreachable!(),
        }
    }

    impl Version {
        fn with_epoch_for_test(mut self, e: u64) -> Version {
            self.epoch = e;
            self
        }
    }

    #[test]
    fn intervals_agree_with_clause_semantics() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let ops = ["==", "!=", ">=", "<=", "<", ">", "~="];
        for _ in 0..2000 {
            let n = 1 + r.below(3);
            let mut clauses = Vec::new();
            let mut text = Vec::new();
            for _ in 0..n {
                let op = ops[r.below(ops.len() as u64) as usize];
                let mut spec = Version::release(&gen_release(&mut r));
                let wildcard = matches!(op, "==" | "!=") && r.below(3) == 0;
                if op == "~=" && spec.release.len() < 2 {
                    spec.release.push(r.below(4));
                }
                if matches!(op, "==" | "!=") && !wildcard && r.below(4) == 0 {
                    spec.local = vec![super::super::version::Local::Str("cu".into())];
                }
                text.push(format!("{op}{spec}{}", if wildcard { ".*" } else { "" }));
                clauses.push((op, spec, wildcard));
            }
            let spec_text = text.join(",");
            let set = parse_pep440(&spec_text).unwrap_or_else(|e| panic!("{spec_text}: {e}"));
            for _ in 0..30 {
                let v = gen_version(&mut r);
                let want = clauses.iter().all(|(op, s, w)| naive(op, s, *w, &v));
                assert_eq!(
                    set.contains(&v),
                    want,
                    "{spec_text} contains {v}? set = {set}"
                );
            }
            // The rendering reads back as the same set (`!=` leaves bounds that
            // PEP 440 cannot spell exactly: V's pre-releases, V's posts).
            if !set.is_any() && !set.is_empty() && !spec_text.contains("!=") {
                let mut back = VersionSet::none();
                for part in set.to_string().split(" || ") {
                    back = back.union(&parse_pep440(part).unwrap_or_else(|e| panic!("{set}: {e}")));
                }
                assert_eq!(back, set, "{spec_text} renders as {set}");
            }
        }
    }

    #[test]
    fn algebra_matches_membership() {
        let mut r = Rng(42);
        let specs = [
            ">=1",
            "<2",
            "==1.*",
            "!=1.1",
            ">0.1,<=3",
            "~=1.2",
            "==2.1+cu",
            ">1",
            "<1.1.dev0",
            "",
        ];
        for _ in 0..2000 {
            let a = parse_pep440(specs[r.below(specs.len() as u64) as usize]).unwrap();
            let b = parse_pep440(specs[r.below(specs.len() as u64) as usize]).unwrap();
            let (i, u, c) = (a.intersect(&b), a.union(&b), a.complement());
            for _ in 0..20 {
                let v = gen_version(&mut r);
                assert_eq!(i.contains(&v), a.contains(&v) && b.contains(&v));
                assert_eq!(u.contains(&v), a.contains(&v) || b.contains(&v));
                assert_eq!(c.contains(&v), !a.contains(&v));
            }
            assert_eq!(a.is_subset(&b), a.intersect(&b) == a);
        }
    }

    #[test]
    fn parsers_never_panic() {
        let mut r = Rng(7);
        let alphabet: Vec<char> = "0123456789.*,|^~=<>! abcdeprv+-_@;:[]()${}\"'\\/\u{e9}\n"
            .chars()
            .collect();
        for _ in 0..20000 {
            let len = r.below(24) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[r.below(alphabet.len() as u64) as usize])
                .collect();
            let _ = Version::parse(&s);
            let _ = parse_pep440(&s);
            let _ = parse_poetry(&s);
            let _ = parse_conda(&s);
            let _ = super::super::requirement::parse_requirement(&format!("pkg{s}"));
            let _ = super::super::requirement::parse_requirement(&s);
        }
    }
}
