//! Tests that need several processes run this test binary again as a child,
//! with `--exact <test>` and an environment variable naming its role; the
//! child reports over stdout in lines starting with [`SAY`].

use std::io::Write;
use std::process::{Child, Command, Stdio};

/// The variable naming a child's role.
pub const ROLE: &str = "WORKFLOW_HISTORY_TEST_ROLE";
/// Lines of the child protocol start with this, apart from libtest's own.
pub const SAY: &str = "@@ ";

/// Runs this binary's test `test` as a child with `role` and `envs`,
/// stdout piped.
pub fn spawn_child(test: &str, role: &str, envs: &[(&str, &str)]) -> Child {
    let mut command = child_command(test, role);
    command.stderr(Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    command.spawn().expect("spawn child")
}

/// The command [`spawn_child`] runs, for callers that set more (a working
/// directory, removed variables); stdout piped.
pub fn child_command(test: &str, role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdout(Stdio::piped());
    command
}

/// The role this process plays, if it is a child.
pub fn child_role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// Tells the parent something.
pub fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{SAY}{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}
