//! Policy: allow-list, pinning, suppressions, severity threshold and exit code.
