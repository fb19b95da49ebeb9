//! Scan: rules as data (tree-sitter queries, YARA-X signatures) and a pickle scanner.
