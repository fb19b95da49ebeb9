//! The error of an unusable rule file, shared by the rule loader and the
//! engines that read their own rule data (pickle lists, catalogues): a leaf
//! module, so that none of them imports another for it.

use std::fmt;

/// A rule file that cannot be used: `<file>:<line>: <message>` (line 0 = whole file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl RuleError {
    pub(crate) fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        RuleError {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}
