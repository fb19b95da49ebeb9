//! `.hubwarden.yml`: typed configuration read at the scanned root (or `--config FILE`).
