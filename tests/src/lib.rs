//! End-to-end tests live in `tests/tests/`; they bring the local stack up through
//! `crosspost_cli::Sandbox`, the same way `make demo` does.
