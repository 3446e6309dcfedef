//! Fuzzing of what the command reads from users: the job list (plain lines and JSON Lines, in
//! both dialects and both delimiters) and command templates, fed random bytes and random
//! fragments of the grammar. It runs on stable Rust through proptest.
//!
//! The default test run takes a short run (`PROPTEST_CASES`, 256 by default);
//! `PROPTEST_CASES=200000 cargo test --release -p workpool-cli input_fuzz` is a long one.
//!
//! What it checks, whatever the bytes:
//!
//! - nothing panics;
//! - the reader yields jobs in line order, numbered 1, 2, 3 ... with no gap, and stops at the
//!   first bad line with an error that names a line of the input;
//! - a plain line becomes its own command, trimmed, and nothing of it is lost;
//! - a template expands without panicking, and an argument quoted for the shell reaches the
//!   command byte for byte (checked through `sh`).

use std::io::Cursor;
use std::process::Command;

use proptest::prelude::*;

use crate::error::CliError;
use crate::input::{looks_like_json, Dialect, JobReader};
use crate::template::{shell_quote, Template};

/// Pieces of the job-list grammar, so that random input reaches past the first check.
const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "\"",
    "\"cmd\"",
    "\"id\"",
    "\"priority\"",
    "\"timeout\"",
    "\"retries\"",
    "\"env\"",
    "\"cwd\"",
    "\"queue\"",
    "\"run_at\"",
    "\"delay\"",
    ":",
    ",",
    "[",
    "]",
    "null",
    "true",
    "-1",
    "0",
    "255",
    "256",
    "1e400",
    "18446744073709551616",
    "\"1ms\"",
    "\"-1s\"",
    "\"99999999999999999999h\"",
    "\"2026-11-30T00:00:00Z\"",
    "\"high\"",
    "\"a b\"",
    "'",
    "#",
    " ",
    "\t",
    "\n",
    "\r",
    "\0",
    "\\",
    "\\u0000",
    "\\ud800",
    "é",
    "日本",
    "\u{feff}",
    "{}",
    "{1}",
    "{.}",
    "{/}",
    "{//}",
    "{/.}",
    "{#}",
    "{%}",
    "{0}",
    "{99999999999999999999}",
    "echo",
    "; rm -rf",
    "$(x)",
    "`x`",
    "a b.txt",
    "it's",
];

fn fragments() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40)
        .prop_map(|parts| parts.concat().into_bytes())
}

/// Random bytes, grammar fragments, or both interleaved.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        fragments(),
        prop::collection::vec(
            prop_oneof![prop::collection::vec(any::<u8>(), 0..8), fragments()],
            0..6
        )
        .prop_map(|chunks| chunks.concat()),
    ]
}

/// Reads `bytes` as a job list and checks what must hold whatever they are.
fn check_reader(bytes: &[u8], dialect: Dialect, null: bool) -> Result<(), TestCaseError> {
    let delimiter = if null { 0 } else { b'\n' };
    let lines = bytes.split(|b| *b == delimiter).count();
    let reader = JobReader::new(Cursor::new(bytes), "fuzz")
        .dialect(dialect)
        .null_separated(null);
    let mut last_line = 0;
    let mut seq = 0;
    let mut ended_by_error = false;
    for item in reader {
        prop_assert!(!ended_by_error, "the reader went on after an error");
        match item {
            Ok(job) => {
                seq += 1;
                prop_assert_eq!(job.seq, seq, "jobs are numbered without a gap");
                prop_assert!(
                    job.line > last_line && job.line <= lines,
                    "line {}",
                    job.line
                );
                last_line = job.line;
                prop_assert!(!job.cmd.trim().is_empty(), "an empty command was accepted");
                prop_assert!(job.slot_at.iter().all(|&at| at <= job.cmd.len()));
            }
            Err(CliError::Input { line, message }) => {
                prop_assert!(line > last_line && line <= lines, "error on line {}", line);
                prop_assert!(!message.is_empty(), "an error that says nothing");
                ended_by_error = true;
            }
            Err(other) => prop_assert!(false, "an unexpected error: {}", other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_job_list_reader_survives_any_bytes(bytes in input(), null in any::<bool>(), submit in any::<bool>()) {
        let dialect = if submit { Dialect::Submit } else { Dialect::Run };
        check_reader(&bytes, dialect, null)?;
    }

    #[test]
    fn a_plain_line_is_its_own_command(line in "[^\n\r#{\0\u{10FF80}-\u{10FFFF}]?[^\n\r\0\u{10FF80}-\u{10FFFF}]{0,60}") {
        let trimmed = line.trim();
        // (Characters U+10FF80 to U+10FFFF carry bytes that are not UTF-8, and are refused as input.)
        prop_assume!(!trimmed.is_empty() && !trimmed.starts_with('#') && !looks_like_json(trimmed));
        let jobs: Vec<_> = JobReader::new(Cursor::new(format!("{line}\n")), "fuzz").collect();
        prop_assert_eq!(jobs.len(), 1);
        let job = jobs.into_iter().next().unwrap().expect("a plain line is a command");
        prop_assert_eq!(job.cmd, trimmed);
        prop_assert_eq!(job.line, 1);
    }

    #[test]
    fn templates_expand_whatever_they_and_their_arguments_hold(
        text in prop_oneof![any::<String>(), fragments().prop_map(|b| String::from_utf8_lossy(&b).into_owned())],
        args in prop::collection::vec(any::<String>(), 0..4),
        seq in any::<usize>(),
        quote in any::<bool>(),
    ) {
        let template = Template::parse(&text);
        let expanded = template.expand(&args, seq, quote);
        prop_assert!(expanded.slot_at.iter().all(|&at| expanded.cmd.is_char_boundary(at)));
        if !template.has_replacement() {
            // Without a replacement string the template stays as written, arguments after it.
            prop_assert!(expanded.cmd.starts_with(&text));
        }
    }
}

proptest! {
    // Each case starts a shell: fewer of them.
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_quoted_argument_reaches_the_command_byte_for_byte(arg in "[^\0]{0,40}") {
        let cmd = Template::parse("printf %s {}").expand(std::slice::from_ref(&arg), 1, true).cmd;
        prop_assert_eq!(&cmd, &format!("printf %s {}", shell_quote(&arg)));
        let out = Command::new("sh").arg("-c").arg(&cmd).output().expect("sh runs");
        prop_assert!(out.status.success());
        prop_assert_eq!(String::from_utf8_lossy(&out.stdout), arg);
    }
}
