//! Resolve: which remote files a load would execute, at an exact commit.
