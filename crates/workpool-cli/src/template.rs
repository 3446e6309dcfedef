//! Command templates with GNU parallel's replacement strings.
//!
//! | string | becomes |
//! |---|---|
//! | `{}` | the arguments, separated by spaces |
//! | `{.}` | the argument without its extension (`a/b.tar.gz` → `a/b.tar`) |
//! | `{/}` | its base name (`a/b.c` → `b.c`) |
//! | `{//}` | its directory (`a/b.c` → `a`, `b.c` → `.`) |
//! | `{/.}` | its base name without extension |
//! | `{#}` | the job's number, from 1 |
//! | `{%}` | the job slot it runs in, from 1 to the number of jobs at once |
//! | `{N}`, `{N.}`, `{N/}`, `{N//}`, `{N/.}` | the same for the Nth argument (input source or column) |
//!
//! Each argument is quoted for the shell, so that names with spaces, quotes, `$` or `;` reach
//! the command whole. A template without any replacement string gets the arguments appended.
//! These follow GNU parallel, which takes them from Perl's `dirname` and a regular expression.

use std::fmt::Write as _;

/// What a replacement string takes of an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Whole,
    NoExt,
    Base,
    Dir,
    BaseNoExt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// An argument (`None`: all of them), transformed.
    Arg(Option<usize>, Op),
    Seq,
    Slot,
}

/// A parsed command template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A command expanded from a template, with the places where the job slot (`{%}`) goes,
/// known only when the job starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    /// The command, without the job slot.
    pub cmd: String,
    /// Byte offsets in `cmd` where the job slot number is inserted.
    pub slot_at: Vec<usize>,
}

impl Template {
    /// Parses `text`. Braces that are no replacement string stay as they are.
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after
                .find('}')
                .and_then(|close| Some((close, replacement(&after[..close])?)))
            {
                Some((close, part)) => {
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(part);
                    rest = &after[close + 1..];
                }
                None => {
                    literal.push('{');
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Template { parts }
    }

    /// `true` if it has a replacement string; without one, arguments are appended.
    pub fn has_replacement(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Text(_)))
    }

    /// `true` if it uses the job slot `{%}`.
    #[cfg(test)]
    pub fn uses_slot(&self) -> bool {
        self.parts.contains(&Part::Slot)
    }

    /// The command for job `seq` with `args`, each argument quoted for the shell if `quote`.
    pub fn expand(&self, args: &[String], seq: usize, quote: bool) -> Expanded {
        self.expand_with(args, seq, quote, Fill::Whole)
    }

    /// The command for job `seq` with `args`, `{}` filled as `fill` says.
    pub fn expand_with(&self, args: &[String], seq: usize, quote: bool, fill: Fill) -> Expanded {
        let mut out = Expanded::default();
        let q = |text: &str| {
            if quote {
                shell_quote(text)
            } else {
                text.to_owned()
            }
        };
        // `{}` is `all` when given, else every argument.
        let put = |out: &mut Expanded, part: &Part, all: Option<&str>| match part {
            Part::Text(text) => out.cmd.push_str(text),
            Part::Seq => {
                let _ = write!(out.cmd, "{seq}");
            }
            Part::Slot => out.slot_at.push(out.cmd.len()),
            Part::Arg(None, op) => match all {
                Some(arg) => out.cmd.push_str(&q(&apply(*op, arg))),
                None => {
                    let all: Vec<String> = args.iter().map(|a| q(&apply(*op, a))).collect();
                    out.cmd.push_str(&all.join(" "));
                }
            },
            Part::Arg(Some(n), op) => {
                let arg = args.get(n - 1).map_or("", String::as_str);
                out.cmd.push_str(&q(&apply(*op, arg)));
            }
        };
        match fill {
            Fill::Whole => {
                for part in &self.parts {
                    put(&mut out, part, None);
                }
            }
            Fill::Context => {
                for word in self.words() {
                    let repeat = word.iter().any(|p| matches!(p, Part::Arg(None, _)));
                    if !repeat {
                        for part in &word {
                            put(&mut out, part, None);
                        }
                        continue;
                    }
                    for (i, arg) in args.iter().enumerate() {
                        if i > 0 {
                            out.cmd.push(' ');
                        }
                        for part in &word {
                            put(&mut out, part, Some(arg));
                        }
                    }
                }
            }
        }
        if !self.has_replacement() && !args.is_empty() {
            let all: Vec<String> = args.iter().map(|a| q(a)).collect();
            if !out.cmd.is_empty() {
                out.cmd.push(' ');
            }
            out.cmd.push_str(&all.join(" "));
        }
        out
    }
}

impl Template {
    /// About how many bytes one more argument `arg` adds to a command (exactly, but for
    /// positional strings that an added argument may fill): the job builder of `-X` and `-m`
    /// adds arguments while this keeps the command under the kernel's limit, then checks.
    pub fn cost_of(&self, arg: &str, fill: Fill) -> usize {
        let two = [arg.to_owned(), arg.to_owned()];
        let with_two = self.expand_with(&two, 1, true, fill).cmd.len();
        let with_one = self.expand_with(&two[..1], 1, true, fill).cmd.len();
        with_two.saturating_sub(with_one).max(1)
    }

    /// The parts split at white space in the text: each item is a word (no white space) or
    /// the white space between two words, for -X's context replacement.
    fn words(&self) -> Vec<Vec<Part>> {
        let mut words: Vec<Vec<Part>> = Vec::new();
        let mut word: Vec<Part> = Vec::new();
        for part in &self.parts {
            let Part::Text(text) = part else {
                word.push(part.clone());
                continue;
            };
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let space = rest.starts_with(char::is_whitespace);
                let end = rest
                    .find(|c: char| c.is_whitespace() != space)
                    .unwrap_or(rest.len());
                if space {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    words.push(vec![Part::Text(rest[..end].to_owned())]);
                } else {
                    word.push(Part::Text(rest[..end].to_owned()));
                }
                rest = &rest[end..];
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
        words
    }
}

/// How `{}` is filled when a job has several arguments (`-X`, `-m`, `-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// `{}` is every argument, each quoted, separated by spaces (one input item per job, and
    /// `-m`).
    Whole,
    /// `-X`, and `-N` without `-m`: the word around `{}` is repeated for each argument, with
    /// `{}` that argument (`pre{}post ::: a b` → `prea`post `preb`post).
    Context,
}

/// `text` with its replacement strings expanded for `spec`, unquoted (for `--tagstring`).
pub fn expand_unquoted(text: &str, spec: &crate::input::JobSpec) -> String {
    let template = Template::parse(text);
    if !template.has_replacement() {
        return text.to_owned();
    }
    template.expand(&spec.args, spec.seq, false).cmd
}

/// The replacement string between braces, if `inner` is one.
fn replacement(inner: &str) -> Option<Part> {
    match inner {
        "#" => return Some(Part::Seq),
        "%" => return Some(Part::Slot),
        _ => {}
    }
    let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
    let (number, op) = inner.split_at(digits);
    let op = match op {
        "" => Op::Whole,
        "." => Op::NoExt,
        "/" => Op::Base,
        "//" => Op::Dir,
        "/." => Op::BaseNoExt,
        _ => return None,
    };
    if number.is_empty() {
        return Some(Part::Arg(None, op));
    }
    match number.parse::<usize>() {
        Ok(n) if n >= 1 => Some(Part::Arg(Some(n), op)),
        _ => None,
    }
}

fn apply(op: Op, arg: &str) -> String {
    match op {
        Op::Whole => arg.to_owned(),
        Op::NoExt => no_ext(arg).to_owned(),
        Op::Base => base(arg).to_owned(),
        Op::Dir => dir(arg),
        Op::BaseNoExt => no_ext(base(arg)).to_owned(),
    }
}

/// Without the last `.` and what follows, if no `/` follows it (`s:\.[^/.]*$::`).
fn no_ext(arg: &str) -> &str {
    match arg.rfind('.') {
        Some(dot) if !arg[dot..].contains('/') => &arg[..dot],
        _ => arg,
    }
}

/// After the last `/` (`s:.*/::`).
fn base(arg: &str) -> &str {
    arg.rfind('/').map_or(arg, |slash| &arg[slash + 1..])
}

/// Perl's `dirname`: trailing slashes dropped, then everything up to the last `/`, or `.`.
fn dir(arg: &str) -> String {
    let trimmed = arg.trim_end_matches('/');
    if trimmed.is_empty() {
        return if arg.is_empty() { "." } else { "/" }.to_owned();
    }
    match trimmed.rfind('/') {
        None => ".".to_owned(),
        Some(slash) => {
            let head = trimmed[..slash].trim_end_matches('/');
            if head.is_empty() { "/" } else { head }.to_owned()
        }
    }
}

/// `text` quoted for `sh`: as it is when it holds only characters the shell takes literally,
/// otherwise in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Template::parse(template).expand(&args, 7, true).cmd
    }

    #[test]
    fn replacement_strings_follow_gnu_parallel() {
        let t = "[{}] [{.}] [{/}] [{//}] [{/.}] [{#}]";
        let cases = [
            ("a/b.c.d", "[a/b.c.d] [a/b.c] [b.c.d] [a] [b.c] [7]"),
            (".bashrc", "[.bashrc] [''] [.bashrc] [.] [''] [7]"),
            ("/x", "[/x] [/x] [x] [/] [x] [7]"),
            ("dir/", "[dir/] [dir/] [''] [.] [''] [7]"),
            ("a.b/c", "[a.b/c] [a.b/c] [c] [a.b] [c] [7]"),
        ];
        for (arg, expected) in cases {
            assert_eq!(expand(t, &[arg]), expected, "{arg}");
        }
    }

    #[test]
    fn arguments_are_quoted_and_appended_without_a_replacement_string() {
        assert_eq!(expand("gzip -9", &["a b.log"]), "gzip -9 'a b.log'");
        assert_eq!(expand("echo", &["it's", "$x;y"]), "echo 'it'\\''s' '$x;y'");
        assert_eq!(expand("echo {2} {1}", &["a", "b"]), "echo b a");
        assert_eq!(expand("echo {3}", &["a"]), "echo ''");
        assert_eq!(expand("echo {1.} {2/}", &["x.y", "d/e"]), "echo x e");
        assert_eq!(expand("awk '{print}' {}", &["f"]), "awk '{print}' f");
        assert_eq!(expand("echo {0} {x}", &["f"]), "echo {0} {x} f");
    }

    #[test]
    fn context_replacement_repeats_the_word_around_the_braces() {
        let args: Vec<String> = ["a/b.c", "d e"].map(str::to_owned).to_vec();
        let x = |t: &str| {
            Template::parse(t)
                .expand_with(&args, 4, true, Fill::Context)
                .cmd
        };
        assert_eq!(x("echo pre{}post"), "echo prea/b.cpost pre'd e'post");
        assert_eq!(x("echo {.} x{/}y {#}"), "echo a/b 'd e' xb.cy x'd e'y 4");
        assert_eq!(x("echo x{}y{1}z"), "echo xa/b.cya/b.cz x'd e'ya/b.cz");
        assert_eq!(x("echo\t{2}  {}"), "echo\t'd e'  a/b.c 'd e'");
        let m = Template::parse("echo pre{}post").expand_with(&args, 1, true, Fill::Whole);
        assert_eq!(m.cmd, "echo prea/b.c 'd e'post");
        let slots = Template::parse("x{%}{}").expand_with(&args, 1, true, Fill::Context);
        assert_eq!(
            (slots.cmd.as_str(), &slots.slot_at[..]),
            ("xa/b.c x'd e'", &[1, 8][..])
        );
    }

    #[test]
    fn the_slot_is_left_to_the_start() {
        let t = Template::parse("echo {%}-{#}");
        assert!(t.uses_slot());
        let e = t.expand(&["a".to_owned()], 3, true);
        assert_eq!(
            (e.cmd.as_str(), e.slot_at.as_slice()),
            ("echo -3", &[5][..])
        );
    }
}
