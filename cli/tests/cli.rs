//! The command line's answers to bad input and to each documented knob,
//! from the table corpus/cli/inputs.toml: exit code, message, no panic, and
//! errors on one line.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    exit: i32,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    in_stdout: Option<String>,
    #[serde(default)]
    stdout_to_dev_full: bool,
    #[serde(default)]
    root: bool,
}

#[derive(Deserialize)]
struct Table {
    case: Vec<Case>,
}

fn cli_dir() -> PathBuf {
    oracle::corpus_dir().join("cli")
}

#[test]
fn every_input_gets_its_exit_code_and_message() {
    let text = std::fs::read_to_string(cli_dir().join("inputs.toml")).expect("the table");
    let table: Table = toml::from_str(&text).expect("the table parses");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (mut checked, mut skipped, mut failures) = (0, 0, Vec::new());
    for c in &table.case {
        if c.root && !root {
            skipped += 1;
            eprintln!("SKIPPED {}: needs root", c.name);
            continue;
        }
        let dir = cli_dir().display().to_string();
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{cli}", &dir)).collect();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ringspec"));
        cmd.args(&args).stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("RINGSPEC_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(&c.env);
        if c.stdout_to_dev_full {
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("/dev/full");
            cmd.stdout(full);
        } else {
            cmd.stdout(Stdio::piped());
        }
        let out = cmd.stderr(Stdio::piped()).output().expect("ringspec runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut problems = Vec::new();
        if out.status.code() != Some(c.exit) {
            problems.push(format!("exit {:?}, want {}", out.status.code(), c.exit));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            problems.push("panicked".to_string());
        }
        if let Some(m) = &c.message {
            if !stderr.contains(m.as_str()) {
                problems.push(format!("stderr lacks {m:?}"));
            }
        }
        if let Some(m) = &c.in_stdout {
            if !stdout.contains(m.as_str()) {
                problems.push(format!("stdout lacks {m:?}"));
            }
        }
        if c.exit == 2 {
            // The error is one line; clap adds only its "try --help" hint.
            let errors: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with("For more information"))
                .collect();
            if errors.len() != 1 {
                problems.push(format!("{} lines of error, want 1", errors.len()));
            }
        }
        checked += 1;
        if !problems.is_empty() {
            failures.push(format!(
                "{}: ringspec {}: {}\n  stderr: {}\n  stdout: {}",
                c.name,
                args.join(" "),
                problems.join("; "),
                stderr.trim().replace('\n', "\n          "),
                stdout.lines().last().unwrap_or("")
            ));
        }
    }
    eprintln!(
        "cli inputs: {checked} checked, {} failed, {skipped} skipped",
        failures.len()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(checked > 0, "no case ran");
}
