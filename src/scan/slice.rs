//! Which parts of a file to parse: only the top-level statements that contain an
//! occurrence of a wanted rule's prefilter (or a signature match), since parsing and
//! query traversal dominate the cost of a scan and most of a large file cannot match.
//!
//! Sound because a built-in rule's prefilter text occurs inside every match of its
//! query (the test suite checks each rule's examples both ways), a match lies inside
//! one top-level statement, and a statement's syntax does not depend on the others.

use std::ops::Range;

use crate::python::pylex;

/// Below this share of the file, slicing is not worth its bookkeeping.
const MAX_SHARE_PERCENT: usize = 85;

/// The byte ranges to parse (whole top-level statements, merged when adjacent), or
/// `None` to parse the whole file: the source is not plainly lexable, or the
/// statements to parse cover most of it anyway.
pub(crate) fn plan(src: &[u8], occurrences: &[Range<usize>]) -> Option<Vec<Range<usize>>> {
    if occurrences.is_empty() {
        return None;
    }
    let starts = pylex::top_level_starts(src)?;
    let end_of = |k: usize| starts.get(k + 1).copied().unwrap_or(src.len());
    let mut keep = vec![false; starts.len()];
    for occ in occurrences {
        // The statement holding the occurrence's first byte, and every one up to its last.
        let mut k = starts
            .partition_point(|&s| s <= occ.start)
            .saturating_sub(1);
        keep[k] = true;
        while end_of(k) < occ.end {
            k += 1;
            keep[k] = true;
        }
    }
    let mut ranges: Vec<Range<usize>> = Vec::new();
    for (k, _) in keep.iter().enumerate().filter(|(_, kept)| **kept) {
        let (s, e) = (starts[k], end_of(k));
        match ranges.last_mut() {
            Some(last) if last.end == s => last.end = e,
            _ => ranges.push(s..e),
        }
    }
    let kept: usize = ranges.iter().map(|r| r.len()).sum();
    (kept * 100 < src.len() * MAX_SHARE_PERCENT).then_some(ranges)
}

#[cfg(test)]
// One occurrence is a one-element slice of ranges, not a misspelt range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::plan;

    #[test]
    fn keeps_only_the_statements_holding_an_occurrence() {
        let src = "import os\n\ndef a():\n    return 1\n\ndef b():\n    os.system('x')\n\nclass C:\n    pass\n\nZ = [\n  1,\n]\n";
        let at = src.find("os.system").unwrap();
        let ranges = plan(src.as_bytes(), &[at..at + 9]).unwrap();
        assert_eq!(ranges.len(), 1);
        assert_eq!(&src[ranges[0].clone()], "def b():\n    os.system('x')\n\n");
        // An occurrence spanning two statements keeps both, merged.
        let from = src.find("return").unwrap();
        let ranges = plan(src.as_bytes(), &[from..at]).unwrap();
        assert_eq!(
            &src[ranges[0].clone()],
            "def a():\n    return 1\n\ndef b():\n    os.system('x')\n\n"
        );
    }

    #[test]
    fn whole_file_when_most_of_it_is_kept_or_it_cannot_be_lexed() {
        let src = "def b():\n    os.system('x')\n";
        assert_eq!(plan(src.as_bytes(), &[13..22]), None);
        assert_eq!(
            plan(b"x = 'open\nos.system(1)\ny = 2\nz = 3\nw = 4\n", &[10..19]),
            None
        );
        assert_eq!(plan(b"x = 1\n", &[]), None);
    }
}
