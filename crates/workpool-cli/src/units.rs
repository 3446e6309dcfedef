//! Parsing and printing the units the command speaks: durations (`30s`, `500ms`), rates
//! (`10/s`), backoff ranges (`100ms..10s`) and sizes (`1MiB`).
//!
//! The parsers return `Result<_, String>` so that clap can use them as value parsers and name
//! the flag in its message.

use std::time::Duration;

/// A rate: `count` starts per `period`, as written `10/s`, `5/m`, `100/h` or `3/500ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many starts per period; at least 1.
    pub count: u32,
    /// The period; longer than zero.
    pub period: Duration,
}

/// A backoff range: exponential from `base`, capped at `cap`, as written `100ms..10s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub base: Duration,
    /// The longest delay between two runs.
    pub cap: Duration,
}

/// Parses a duration: a number with a unit (`ns`, `us`, `ms`, `s`, `m`, `h`), or a bare number
/// of seconds. Fractions are allowed: `1.5s`.
///
/// # Errors
///
/// A message naming what is wrong, if `text` is not such a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let nanos_per_unit: u64 = match unit.trim() {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "" | "s" | "sec" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        other => {
            return Err(format!(
                "invalid duration \"{text}\": unknown unit \"{other}\" (use ms, s, m or h)"
            ))
        }
    };
    if number.is_empty() {
        return Err(format!(
            "invalid duration \"{text}\": expected a number, like 30s or 500ms"
        ));
    }
    let invalid = || format!("invalid duration \"{text}\": expected a number, like 30s or 500ms");
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(nanos_per_unit)
            .map(Duration::from_nanos)
            .ok_or_else(|| format!("invalid duration \"{text}\": too long"));
    }
    let value: f64 = number.parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(value * nanos_per_unit as f64 / 1e9)
        .map_err(|_| format!("invalid duration \"{text}\": too long"))
}

/// Parses a rate: `N/s`, `N/m`, `N/h` (or `N/DURATION`, such as `3/500ms`).
///
/// # Errors
///
/// A message naming what is wrong, if `text` is not such a rate.
pub fn parse_rate(text: &str) -> Result<Rate, String> {
    let Some((count, per)) = text.split_once('/') else {
        return Err(format!(
            "invalid rate \"{text}\": expected N/s, N/m or N/h, like 10/s"
        ));
    };
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("invalid rate \"{text}\": \"{count}\" is not a whole number"))?;
    if count == 0 {
        return Err(format!(
            "invalid rate \"{text}\": the count must be at least 1"
        ));
    }
    let period = match per.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3_600),
        other => parse_duration(other).map_err(|_| {
            format!("invalid rate \"{text}\": unknown period \"{other}\" (use s, m or h)")
        })?,
    };
    if period.is_zero() {
        return Err(format!(
            "invalid rate \"{text}\": the period must be longer than zero"
        ));
    }
    Ok(Rate { count, period })
}

/// Parses a backoff range `BASE..CAP` (`100ms..10s`); a single duration means a constant delay.
///
/// # Errors
///
/// A message naming what is wrong, if `text` is not such a range or `BASE` exceeds `CAP`.
pub fn parse_backoff(text: &str) -> Result<Backoff, String> {
    let (base, cap) = match text.split_once("..") {
        Some((base, cap)) => (parse_duration(base)?, parse_duration(cap)?),
        None => {
            let d = parse_duration(text)?;
            (d, d)
        }
    };
    if base > cap {
        return Err(format!(
            "invalid backoff \"{text}\": the first delay is longer than the cap"
        ));
    }
    Ok(Backoff { base, cap })
}

/// Parses a size in bytes: a whole number with an optional unit (`K`, `KiB`, `M`, `MiB`, `G`,
/// `GiB` are powers of 1024; `KB`, `MB`, `GB` powers of 1000).
///
/// # Errors
///
/// A message naming what is wrong, if `text` is not such a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "k" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size \"{text}\": unknown unit \"{other}\" (use K, M or G)"
            ))
        }
    };
    number
        .parse::<u64>()
        .map_err(|_| format!("invalid size \"{text}\": expected a whole number, like 1MiB"))?
        .checked_mul(factor)
        .ok_or_else(|| format!("invalid size \"{text}\": too large"))
}

/// A duration for people: `850us`, `12ms`, `1.5ms`, `3.20s`, `2m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros < 1_000 {
        format!("{micros}us")
    } else if micros < 10_000 {
        format!("{:.1}ms", d.as_secs_f64() * 1e3)
    } else if micros < 1_000_000 {
        format!("{}ms", d.as_millis())
    } else if d.as_secs() < 60 {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        let secs = d.as_secs();
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// A duration as it would be written on the command line: `500ms`, `30s`, `1.5s`.
pub fn fmt_duration_arg(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_nanos().is_multiple_of(1_000) {
        format!("{}us", d.as_micros())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// Parses a `--block` size as GNU parallel writes it: a whole number, optionally followed
/// by K, M, G, T (powers of 1024) or k, m, g, t (powers of 1000), or KiB, MiB, GiB; at least 1.
///
/// # Errors
///
/// A message naming what is wrong.
pub fn parse_block(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "invalid size \"{text}\": unknown unit \"{other}\" (use K, M, G or k, m, g)"
            ))
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("invalid size \"{text}\": expected a whole number, like 1M"))?;
    match n.checked_mul(factor) {
        Some(0) => Err(format!(
            "invalid size \"{text}\": a block needs at least 1 byte"
        )),
        Some(size) => Ok(size),
        None => Err(format!("invalid size \"{text}\": too large")),
    }
}

/// A `--timeout` value: a duration, or a percentage of the median run time of the jobs that
/// succeeded so far (GNU parallel's `--timeout 200%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeoutArg {
    /// This long per run; zero is none.
    Fixed(Duration),
    /// This percentage (above 0) of the median run time of the successful jobs.
    Percent(f64),
}

/// Parses `--timeout`: a duration (`30s`, a bare number of seconds) or `P%`.
///
/// # Errors
///
/// A message naming what is wrong.
pub fn parse_timeout(text: &str) -> Result<TimeoutArg, String> {
    let Some(number) = text.trim().strip_suffix('%') else {
        return parse_duration(text).map(TimeoutArg::Fixed);
    };
    let bad = || {
        format!("invalid timeout \"{text}\" (expected a duration like 30s, or a percentage above 0 like 300%)")
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(bad());
    }
    match number.parse::<f64>() {
        Ok(p) if p.is_finite() && p > 0.0 => Ok(TimeoutArg::Percent(p)),
        _ => Err(bad()),
    }
}

/// A `-j` value, as GNU parallel takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobsArg {
    /// `N`: exactly N; 0 for as many as the machine allows.
    Count(u32),
    /// `+N`: the number of cores plus N.
    Plus(u32),
    /// `-N`: the number of cores minus N (at least 1).
    Minus(u32),
    /// `P%`: P percent of the cores (at least 1).
    Percent(u32),
}

impl JobsArg {
    /// The number of jobs at once on a machine with `cores` cores; `None` for "as many as
    /// the machine allows".
    pub fn resolve(self, cores: usize) -> Option<usize> {
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        match self {
            JobsArg::Count(0) => None,
            JobsArg::Count(v) => Some(n(v)),
            JobsArg::Plus(v) => Some(cores.saturating_add(n(v))),
            JobsArg::Minus(v) => Some(cores.saturating_sub(n(v)).max(1)),
            JobsArg::Percent(p) => Some((cores.saturating_mul(n(p)) / 100).max(1)),
        }
    }
}

/// Parses a `-j` value: `N`, `+N`, `-N` or `P%`.
///
/// # Errors
///
/// A message naming what is wrong.
pub fn parse_jobs(text: &str) -> Result<JobsArg, String> {
    let bad = || {
        format!("invalid number of jobs \"{text}\" (expected N, +N, -N or P%, N a whole number)")
    };
    let number = |digits: &str| -> Result<u32, String> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        digits.parse::<u32>().map_err(|_| {
            format!(
                "number of jobs \"{text}\" is too large (at most {})",
                u32::MAX
            )
        })
    };
    if let Some(rest) = text.strip_prefix('+') {
        Ok(JobsArg::Plus(number(rest)?))
    } else if let Some(rest) = text.strip_prefix('-') {
        Ok(JobsArg::Minus(number(rest)?))
    } else if let Some(rest) = text.strip_suffix('%') {
        Ok(JobsArg::Percent(number(rest)?))
    } else {
        Ok(JobsArg::Count(number(text)?))
    }
}

/// `--halt`: when a run stops early, as GNU parallel says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Halt {
    /// `now`: end the running jobs too; `soon`: let them finish.
    pub now: bool,
    /// What is counted.
    pub on: HaltOn,
    /// How many: a count, or a percentage of the jobs so far.
    pub threshold: Threshold,
}

/// What `--halt` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HaltOn {
    /// Jobs that did not succeed.
    Fail,
    /// Jobs that succeeded.
    Success,
    /// Jobs that ended either way.
    Done,
}

/// How many jobs `--halt` waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// This many.
    Count(u32),
    /// This percentage of the jobs handed to the pool so far.
    Percent(u32),
}

impl Threshold {
    /// `true` once `n` of `total` jobs reach it.
    pub fn reached(self, n: usize, total: usize) -> bool {
        match self {
            Threshold::Count(c) => n >= usize::try_from(c).unwrap_or(usize::MAX),
            Threshold::Percent(p) => {
                n > 0 && n.saturating_mul(100) >= total.saturating_mul(p as usize)
            }
        }
    }
}

/// A `--halt` value: a halt, or `None` for `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltFlag(pub Option<Halt>);

/// Parses `--halt` for the command line.
///
/// # Errors
///
/// As [`parse_halt`].
pub fn parse_halt_flag(text: &str) -> Result<HaltFlag, String> {
    parse_halt(text).map(HaltFlag)
}

/// Parses `--halt`: `now|soon,fail|success|done=N|P%` (also GNU parallel's `never`, and the
/// old `0`, `1`, `2`: never, soon,fail=1, now,fail=1). `never` is `None`.
///
/// # Errors
///
/// A message naming what is wrong.
pub fn parse_halt(text: &str) -> Result<Option<Halt>, String> {
    let bad = || {
        format!(
            "invalid --halt \"{text}\" (expected now|soon,fail|success|done=N or =P%, or never)"
        )
    };
    let fail1 = |now| Halt {
        now,
        on: HaltOn::Fail,
        threshold: Threshold::Count(1),
    };
    match text {
        "never" | "0" => return Ok(None),
        "1" => return Ok(Some(fail1(false))),
        "2" => return Ok(Some(fail1(true))),
        _ => {}
    }
    let (when, rest) = text.split_once(',').ok_or_else(bad)?;
    let now = match when {
        "now" => true,
        "soon" => false,
        _ => return Err(bad()),
    };
    let (what, n) = rest.split_once('=').ok_or_else(bad)?;
    let on = match what {
        "fail" => HaltOn::Fail,
        "success" => HaltOn::Success,
        "done" => HaltOn::Done,
        _ => return Err(bad()),
    };
    let number = |digits: &str| {
        digits
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(bad)
    };
    let threshold = match n.strip_suffix('%') {
        Some(p) => Threshold::Percent(number(p)?.min(100)),
        None => Threshold::Count(number(n)?),
    };
    Ok(Some(Halt { now, on, threshold }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_take_gnu_parallels_units() {
        assert_eq!(parse_block("1M"), Ok(1 << 20));
        assert_eq!(parse_block("10k"), Ok(10_000));
        assert_eq!(parse_block("512"), Ok(512));
        for bad in ["0", "1x", "", "-1", "99999999999T"] {
            let err = parse_block(bad).unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{bad}: {err}");
        }
    }

    #[test]
    fn timeouts_are_durations_or_percentages() {
        assert_eq!(
            parse_timeout("1.5"),
            Ok(TimeoutArg::Fixed(Duration::from_millis(1500)))
        );
        assert_eq!(
            parse_timeout("2m"),
            Ok(TimeoutArg::Fixed(Duration::from_secs(120)))
        );
        assert_eq!(parse_timeout("250%"), Ok(TimeoutArg::Percent(250.0)));
        assert_eq!(parse_timeout("150.5%"), Ok(TimeoutArg::Percent(150.5)));
        for bad in ["0%", "%", "-5%", "x%", "1e9999%", "5 %", "soon"] {
            let err = parse_timeout(bad).unwrap_err();
            assert!(err.contains(&format!("\"{bad}\"")), "{bad}: {err}");
        }
    }

    #[test]
    fn halt_takes_gnu_parallels_forms() {
        let halt = parse_halt("now,fail=1").unwrap().unwrap();
        assert_eq!((halt.now, halt.on), (true, HaltOn::Fail));
        assert!(halt.threshold.reached(1, 10));
        let halt = parse_halt("soon,success=20%").unwrap().unwrap();
        assert_eq!((halt.now, halt.on), (false, HaltOn::Success));
        assert!(!halt.threshold.reached(1, 10));
        assert!(halt.threshold.reached(2, 10));
        assert_eq!(parse_halt("never"), Ok(None));
        assert!(parse_halt("2").unwrap().unwrap().now);
        for bad in [
            "",
            "now",
            "now,fail",
            "later,fail=1",
            "now,oops=1",
            "now,fail=0",
            "now,fail=x%",
        ] {
            assert!(parse_halt(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn jobs_take_gnu_parallels_forms() {
        assert_eq!(parse_jobs("4"), Ok(JobsArg::Count(4)));
        assert_eq!(parse_jobs("+1").map(|j| j.resolve(2)), Ok(Some(3)));
        assert_eq!(parse_jobs("-1").map(|j| j.resolve(2)), Ok(Some(1)));
        assert_eq!(parse_jobs("-5").map(|j| j.resolve(2)), Ok(Some(1)));
        assert_eq!(parse_jobs("50%").map(|j| j.resolve(4)), Ok(Some(2)));
        assert_eq!(parse_jobs("0").map(|j| j.resolve(4)), Ok(None));
        for bad in ["", "x", "+", "1.5", "-x", "%"] {
            assert!(parse_jobs(bad).is_err(), "{bad}");
        }
        assert!(parse_jobs("99999999999").unwrap_err().contains("too large"));
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn durations_take_units_fractions_and_bare_seconds() {
        assert_eq!(parse_duration("30s"), Ok(30_000 * MS));
        assert_eq!(parse_duration("500ms"), Ok(500 * MS));
        assert_eq!(parse_duration("1.5s"), Ok(1_500 * MS));
        assert_eq!(parse_duration("2m"), Ok(120_000 * MS));
        assert_eq!(parse_duration("1h"), Ok(3_600_000 * MS));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("3"), Ok(3_000 * MS));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse_duration("30x")
            .unwrap_err()
            .contains("unknown unit \"x\""));
        assert!(parse_duration("ms")
            .unwrap_err()
            .contains("expected a number"));
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999h")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn rates_take_a_period_word_or_a_duration() {
        let rate = |count, ms| Rate {
            count,
            period: ms * MS,
        };
        assert_eq!(parse_rate("10/s"), Ok(rate(10, 1_000)));
        assert_eq!(parse_rate("5/m"), Ok(rate(5, 60_000)));
        assert_eq!(parse_rate("100/h"), Ok(rate(100, 3_600_000)));
        assert_eq!(parse_rate("3/500ms"), Ok(rate(3, 500)));
        assert!(parse_rate("0/s").unwrap_err().contains("at least 1"));
        assert!(parse_rate("10").is_err());
        assert!(parse_rate("ten/s").is_err());
        assert!(parse_rate("10/fortnight")
            .unwrap_err()
            .contains("unknown period"));
        assert!(parse_rate("10/0s")
            .unwrap_err()
            .contains("longer than zero"));
    }

    #[test]
    fn backoff_is_a_range_or_a_constant() {
        assert_eq!(
            parse_backoff("100ms..10s"),
            Ok(Backoff {
                base: 100 * MS,
                cap: 10_000 * MS
            })
        );
        assert_eq!(parse_backoff("1ms"), Ok(Backoff { base: MS, cap: MS }));
        assert!(parse_backoff("10s..1s")
            .unwrap_err()
            .contains("longer than the cap"));
        assert!(parse_backoff("1s..").is_err());
    }

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("1TiB").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn durations_print_for_people_and_for_the_command_line() {
        assert_eq!(fmt_duration(Duration::from_micros(850)), "850us");
        assert_eq!(fmt_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(fmt_duration(312 * MS), "312ms");
        assert_eq!(fmt_duration(3_200 * MS), "3.20s");
        assert_eq!(fmt_duration(125_000 * MS), "2m05s");
        assert_eq!(fmt_duration_arg(30_000 * MS), "30s");
        assert_eq!(fmt_duration_arg(500 * MS), "500ms");
        assert_eq!(fmt_duration_arg(1_500 * MS), "1500ms");
    }
}
