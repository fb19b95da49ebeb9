//! Report: text, JSON, SARIF, GitHub annotations and job summary, upload.

pub mod inventory;
