//! `workflow-history`: query recorded workflow runs from a terminal, and
//! serve them over HTTP. Built with the `server` feature:
//!
//! ```sh
//! cargo install --path . --features server
//! workflow-history --db history.db runs --status failed --since 1d
//! ```

// The command line is the binary's own code, using only the library's
// public API; it lives beside the library's modules to keep this file thin.
#[path = "../cli/mod.rs"]
mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
