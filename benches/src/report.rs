//! The suite's table: one section per workload, printed at the end of the run and written
//! as Markdown to `benches/RESULTS.md` with a description of the machine.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Mode, Summary};

/// One measured subject at one grid point of a timing workload.
#[derive(Clone, Debug)]
pub struct TimingRow {
    /// The grid point ("1 producer", "64 workers" ...); ratios compare rows of one case.
    pub case: String,
    /// Who was measured.
    pub subject: String,
    /// Whether this is the row the others of its case are compared with (workpool).
    pub reference: bool,
    /// Mean time of one batch.
    pub time: Duration,
    /// Relative standard deviation of the samples, if there were several.
    pub spread: Option<f64>,
    /// Jobs in one batch; 0 if a throughput makes no sense.
    pub jobs: u64,
    /// Anything else worth a column (percentiles, distance from an ideal).
    pub note: String,
}

impl TimingRow {
    /// A row from a criterion summary.
    pub fn measured(
        case: impl Into<String>,
        subject: impl Into<String>,
        summary: Summary,
        jobs: u64,
    ) -> Self {
        Self {
            case: case.into(),
            subject: subject.into(),
            reference: false,
            time: summary.mean,
            spread: (summary.samples > 1).then_some(summary.rel_stddev),
            jobs,
            note: String::new(),
        }
    }

    /// Marks the row as its case's reference.
    pub fn reference(self) -> Self {
        self.reference_if(true)
    }

    /// Marks the row as its case's reference if `yes`.
    pub fn reference_if(mut self, yes: bool) -> Self {
        self.reference |= yes;
        self
    }

    /// Sets the note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

/// One workload's part of the report: a title, the paragraph that explains its grid, and
/// a table.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Heading.
    pub title: String,
    /// What was run, in a paragraph.
    pub description: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub footnotes: Vec<String>,
}

impl Section {
    /// An empty section with these columns.
    pub fn new(title: impl Into<String>, description: impl Into<String>, columns: &[&str]) -> Self {
        Self {
            title: title.into(),
            description: description.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// The standard timing table: case, subject, time, throughput, ratio to the case's
    /// reference (workpool), note.
    pub fn timing(
        title: impl Into<String>,
        description: impl Into<String>,
        rows: &[TimingRow],
    ) -> Self {
        let mut section = Self::new(
            title,
            description,
            &[
                "case",
                "subject",
                "time",
                "throughput",
                "vs workpool",
                "notes",
            ],
        );
        for row in rows {
            let reference = rows
                .iter()
                .find(|r| r.reference && r.case == row.case)
                .map(|r| r.time);
            let ratio = match reference {
                Some(t) if !t.is_zero() => {
                    format!("{:.2}×", row.time.as_secs_f64() / t.as_secs_f64())
                }
                _ => "—".to_owned(),
            };
            let time = match row.spread {
                Some(s) => format!("{} ±{:.0}%", fmt_duration(row.time), s * 100.0),
                None => fmt_duration(row.time),
            };
            let throughput = if row.jobs == 0 || row.time.is_zero() {
                "—".to_owned()
            } else {
                let per_job = row.time / u32::try_from(row.jobs).unwrap_or(u32::MAX);
                format!(
                    "{} ({}/job)",
                    fmt_rate(row.jobs as f64 / row.time.as_secs_f64()),
                    fmt_duration(per_job)
                )
            };
            section.rows.push(vec![
                row.case.clone(),
                row.subject.clone(),
                time,
                throughput,
                ratio,
                row.note.clone(),
            ]);
        }
        section
    }

    /// Adds a footnote.
    pub fn footnote(&mut self, line: impl Into<String>) {
        self.footnotes.push(line.into());
    }

    /// The section as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "## {}\n\n{}\n", self.title, self.description);
        let _ = writeln!(out, "| {} |", self.columns.join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            self.columns.iter().map(|_| " --- |").collect::<String>()
        );
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        if !self.footnotes.is_empty() {
            out.push('\n');
            for line in &self.footnotes {
                let _ = writeln!(out, "{line}  ");
            }
        }
        out
    }
}

/// What the numbers were measured on.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// Cores this process may use (what `nproc` prints).
    pub cores: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// `MemTotal` from `/proc/meminfo`.
    pub memory: String,
    /// The kernel release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// The commit of the work tree, marked when it has uncommitted changes.
    pub commit: String,
    /// Versions of the peers and tools, from `Cargo.lock`.
    pub crates: Vec<(String, String)>,
}

impl Machine {
    /// Looks at this machine; anything unreadable is "unknown".
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = field(&meminfo, "MemTotal")
            .and_then(|kb| kb.trim_end_matches(" kB").trim().parse::<f64>().ok())
            .map_or_else(|| "unknown".to_owned(), |kb| fmt_bytes(kb * 1024.0));
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |s| s.trim().to_owned());
        let rustc = command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".to_owned());
        let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let commit = command_output("git", &["-C", workspace, "rev-parse", "--short", "HEAD"])
            .map_or_else(
                || "unknown".to_owned(),
                |head| {
                    let dirty = command_output("git", &["-C", workspace, "status", "--porcelain"])
                        .is_some_and(|s| !s.is_empty());
                    if dirty {
                        format!("{head} (with uncommitted changes)")
                    } else {
                        head
                    }
                },
            );
        let lock =
            std::fs::read_to_string(Path::new(workspace).join("Cargo.lock")).unwrap_or_default();
        let crates = [
            "criterion",
            "rayon",
            "threadpool",
            "rusty_pool",
            "tokio",
            "executors",
            "crossbeam-channel",
        ]
        .iter()
        .map(|name| {
            (
                (*name).to_owned(),
                locked_version(&lock, name).unwrap_or_else(|| "?".to_owned()),
            )
        })
        .collect();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory,
            kernel,
            rustc,
            commit,
            crates,
        }
    }

    /// The machine as a Markdown list.
    pub fn to_markdown(&self) -> String {
        let crates: Vec<String> = self
            .crates
            .iter()
            .map(|(name, version)| format!("{name} {version}"))
            .collect();
        format!(
            "- nproc: {}\n- CPU: {}\n- memory: {}\n- kernel: {}\n- {}\n- workpool commit: {}\n- crates: {}\n",
            self.cores,
            self.cpu,
            self.memory,
            self.kernel,
            self.rustc,
            self.commit,
            crates.join(", ")
        )
    }
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            let version = lines.next()?.trim();
            return version
                .strip_prefix("version = \"")
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned);
        }
    }
    None
}

/// The whole run's report.
#[derive(Clone, Debug)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// How thoroughly.
    pub mode: Mode,
    /// Worker threads of the workloads that use the core count.
    pub workers: usize,
    /// One per workload, in run order.
    pub sections: Vec<Section>,
    /// Wall time of the whole run, once known.
    pub elapsed: Option<Duration>,
}

impl Report {
    /// An empty report.
    pub fn new(machine: Machine, mode: Mode, workers: usize) -> Self {
        Self {
            machine,
            mode,
            workers,
            sections: Vec::new(),
            elapsed: None,
        }
    }

    /// The report as a Markdown document.
    pub fn to_markdown(&self) -> String {
        let mode = match self.mode {
            Mode::Full => "full",
            Mode::Quick => {
                "quick (WORKPOOL_BENCH_QUICK=1: fewer jobs, short samples; rough numbers)"
            }
            Mode::Test => "test (not measured)",
        };
        let mut out = String::new();
        let _ = writeln!(out, "# workpool benchmark results\n");
        let _ = writeln!(
            out,
            "Written by `cargo bench -p workpool-benches --bench suite`; do not edit by hand. \
             Every workload ran in the same process, one pool at a time, with the same job \
             bodies and the same completion signal (a countdown latch). Absolute times on a \
             small shared machine are noisy: compare ratios within one run. \
             \"vs workpool\" is a subject's time divided by workpool's in the same case \
             (below 1 = faster than workpool). Times are the mean of criterion's samples, \
             ± the samples' relative standard deviation.\n"
        );
        let _ = writeln!(
            out,
            "Run mode: {mode}. Default worker count: {}.",
            self.workers
        );
        if let Some(elapsed) = self.elapsed {
            let _ = writeln!(out, "Whole run: {:.0} s.", elapsed.as_secs_f64());
        }
        let _ = writeln!(out, "\n### Machine\n\n{}", self.machine.to_markdown());
        for section in &self.sections {
            let _ = writeln!(out, "{}", section.to_markdown());
        }
        out
    }
}

/// A duration with three significant digits and a unit that suits it.
pub fn fmt_duration(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    format!("{} {unit}", three_digits(value))
}

/// Jobs per second, scaled.
pub fn fmt_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{} M jobs/s", three_digits(per_second / 1e6))
    } else if per_second >= 1e3 {
        format!("{} k jobs/s", three_digits(per_second / 1e3))
    } else {
        format!("{} jobs/s", three_digits(per_second))
    }
}

/// A byte count, scaled to B, KiB, MiB or GiB.
pub fn fmt_bytes(bytes: f64) -> String {
    let (value, unit) = if bytes.abs() < 1024.0 {
        (bytes, "B")
    } else if bytes.abs() < 1024.0 * 1024.0 {
        (bytes / 1024.0, "KiB")
    } else if bytes.abs() < 1024.0 * 1024.0 * 1024.0 {
        (bytes / (1024.0 * 1024.0), "MiB")
    } else {
        (bytes / (1024.0 * 1024.0 * 1024.0), "GiB")
    };
    format!("{} {unit}", three_digits(value))
}

fn three_digits(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_three_digits() {
        assert_eq!(fmt_duration(Duration::from_nanos(153)), "153 ns");
        assert_eq!(fmt_duration(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(fmt_rate(6_670_000.0), "6.67 M jobs/s");
        assert_eq!(fmt_bytes(48.0), "48.0 B");
        assert_eq!(fmt_bytes(3.0 * 1024.0 * 1024.0), "3.00 MiB");
    }

    #[test]
    fn timing_section_compares_within_a_case() {
        let summary = |ms| Summary {
            mean: Duration::from_millis(ms),
            rel_stddev: 0.05,
            samples: 10,
        };
        let rows = [
            TimingRow::measured("1 producer", "workpool", summary(100), 1_000).reference(),
            TimingRow::measured("1 producer", "peer", summary(150), 1_000),
            TimingRow::measured("2 producers", "peer", summary(150), 1_000),
        ];
        let section = Section::timing("t", "d", &rows);
        assert_eq!(section.rows[0][4], "1.00×");
        assert_eq!(section.rows[1][4], "1.50×");
        assert_eq!(section.rows[2][4], "—");
        assert_eq!(section.rows[1][3], "6.67 k jobs/s (150 µs/job)");
        let md = section.to_markdown();
        assert!(md.contains("| case | subject | time |"), "{md}");
    }

    #[test]
    fn reads_locked_versions() {
        let lock = "[[package]]\nname = \"rayon\"\nversion = \"1.12.0\"\n";
        assert_eq!(locked_version(lock, "rayon").as_deref(), Some("1.12.0"));
        assert_eq!(locked_version(lock, "tokio"), None);
    }
}
