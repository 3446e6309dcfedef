//! `workpool`: run shell commands through a worker pool (`run`), watch a pool at work
//! (`demo`), find the best pool size for a kind of work (`bench`), and keep command jobs in
//! a durable queue that workers on many machines share (`submit`, `worker`, `status`,
//! `cancel`, `retry`, `pause`, `resume`), with a live dashboard of it (`serve`).
//!
//! This file only parses the command line, hands the typed configuration to a subcommand and
//! turns the result into an exit code; see [`exit::Exit`] for the codes.

#![forbid(unsafe_code)]

mod bench;
mod bytes;
mod cli;
mod config;
mod demo;
mod error;
mod exit;
mod input;
#[cfg(test)]
mod input_fuzz;
mod pipe;
mod queue;
mod run;
mod serve;
mod sources;
mod svg;
mod template;
mod units;
mod worker;
mod workload;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::config::{BenchConfig, DemoConfig, RunConfig};
use crate::error::CliError;
use crate::exit::Exit;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // --help and --version are "errors" that print to standard output and succeed.
            return if err.use_stderr() {
                Exit::Error
            } else {
                Exit::Success
            }
            .into();
        }
    };
    match dispatch(cli.command) {
        Ok(exit) => exit.into(),
        Err(err) => {
            eprintln!("workpool: error: {err}");
            Exit::Error.into()
        }
    }
}

fn dispatch(command: Command) -> Result<Exit, CliError> {
    match command {
        Command::Run(args) => {
            run::run(RunConfig::from_args(args, std::io::stderr().is_terminal())?)
        }
        Command::Demo(args) => demo::demo(&DemoConfig::from_args(args)?),
        Command::Bench(args) => bench::bench(&BenchConfig::from_args(args)?),
        Command::Submit(args) => queue::submit(&args),
        Command::Worker(args) => worker::worker(&args, std::io::stderr().is_terminal()),
        Command::Status(args) => queue::status(&args),
        Command::Cancel(args) => queue::cancel(&args),
        Command::Retry(args) => queue::retry(&args),
        Command::Pause(args) => queue::pause(&args, true),
        Command::Resume(args) => queue::pause(&args, false),
        Command::Serve(args) => serve::serve(&args),
    }
}
