//! GNU parallel's grammar: each command line is run by `workpool run` and, where GNU parallel
//! is installed, by `parallel` too, and the outputs must be the same. Without `parallel`,
//! workpool's output is checked against the expected text alone.

mod common;

use common::{have_parallel, workpool, Scratch};

/// Runs `args` (everything after `run`, or after `parallel`) with `-k -j 2` through workpool
/// and checks its output is `expected`; then, if GNU parallel is installed, that parallel's
/// output is the same.
fn same_as_parallel(args: &[&str], stdin: &str, expected: &str) {
    let mut argv = vec!["run", "-q", "-k", "-j", "2"];
    argv.extend_from_slice(args);
    let out = workpool(&argv).write_stdin(stdin).assert().success();
    let ours = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(ours, expected, "workpool {args:?}");
    if !have_parallel() {
        eprintln!("GNU parallel is not installed: not compared");
        return;
    }
    let mut parallel = assert_cmd::Command::new("parallel");
    parallel
        .args(["--will-cite", "-k", "-j", "2"])
        .args(args)
        .write_stdin(stdin)
        .timeout(common::CAP);
    let out = parallel.assert().success();
    let theirs = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(ours, theirs, "workpool and GNU parallel differ on {args:?}");
}

#[test]
fn arguments_after_three_colons_fill_the_command() {
    same_as_parallel(&["echo", ":::", "a", "b", "c"], "", "a\nb\nc\n");
    same_as_parallel(&["echo", "x{}y", ":::", "a", "b"], "", "xay\nxby\n");
}

#[test]
fn several_sources_multiply_and_a_plus_links_them() {
    same_as_parallel(
        &["echo", ":::", "a", "b", ":::", "1", "2"],
        "",
        "a 1\na 2\nb 1\nb 2\n",
    );
    same_as_parallel(
        &["echo", "{2}{1}", ":::", "a", "b", "c", ":::+", "1", "2"],
        "",
        "1a\n2b\n",
    );
    same_as_parallel(
        &[
            "echo", ":::", "a", "b", ":::", "1", "2", ":::+", "x", "y", "z",
        ],
        "",
        "a 1 x\na 2 y\nb 1 x\nb 2 y\n",
    );
}

#[test]
fn replacement_strings_take_parts_of_paths() {
    same_as_parallel(
        &[
            "echo",
            "[{}] [{.}] [{/}] [{//}] [{/.}] [{#}]",
            ":::",
            "a/b.c.d",
            ".bashrc",
            "/x",
            "dir/",
            "x y.tar.gz",
        ],
        "",
        "[a/b.c.d] [a/b.c] [b.c.d] [a] [b.c] [1]\n\
         [.bashrc] [] [.bashrc] [.] [] [2]\n\
         [/x] [/x] [x] [/] [x] [3]\n\
         [dir/] [dir/] [] [.] [] [4]\n\
         [x y.tar.gz] [x y.tar] [x y.tar.gz] [.] [x y.tar] [5]\n",
    );
    same_as_parallel(
        &["echo", "{1.}", "{2/}", ":::", "x.y", ":::", "d/e"],
        "",
        "x e\n",
    );
}

#[test]
fn arguments_are_safe_from_the_shell() {
    // Spaces, quotes, $, ; and a glob reach the command as they are.
    same_as_parallel(
        &[
            "printf '%s|\\n'",
            ":::",
            "a b",
            "it's",
            "$HOME;x",
            "*",
            "\"q\"",
        ],
        "",
        "a b|\nit's|\n$HOME;x|\n*|\n\"q\"|\n",
    );
}

#[test]
fn lines_of_standard_input_and_of_files_are_arguments() {
    same_as_parallel(&["echo", "in:{}"], "a\nb\n", "in:a\nin:b\n");
    let s = Scratch::new();
    let file = s.jobs("args", &["x".to_owned(), "y z".to_owned()]);
    same_as_parallel(&["echo", "::::", &file], "", "x\ny z\n");
    same_as_parallel(&["-a", &file, "echo", "{}!"], "", "x!\ny z!\n");
    same_as_parallel(
        &["echo", "::::", &file, ":::", "1", "2"],
        "",
        "x 1\nx 2\ny z 1\ny z 2\n",
    );
}

#[test]
fn colsep_splits_lines_into_numbered_arguments() {
    same_as_parallel(
        &["--colsep", ",", "echo", "{2}{1}"],
        "a,b\nc,d\n",
        "ba\ndc\n",
    );
    same_as_parallel(&["--colsep", ",", "echo"], "a,b\n", "a b\n");
}

#[test]
fn null_separated_input() {
    same_as_parallel(&["-0", "echo", "[{}]"], "a b\0c\nd\0", "[a b]\n[c\nd]\n");
}

#[test]
fn without_a_command_each_item_is_a_command() {
    same_as_parallel(&[":::", "echo a", "echo b; echo c"], "", "a\nb\nc\n");
    same_as_parallel(&[], "echo 1\necho 2\n", "1\n2\n");
}

#[test]
fn tag_prefixes_each_line_with_the_arguments() {
    same_as_parallel(
        &["--tag", "echo", "hi", ":::", "a", "b", ":::", "1"],
        "",
        "a 1\thi a 1\nb 1\thi b 1\n",
    );
    same_as_parallel(
        &["--tagstring", "<{}>", "echo", "x", ":::", "a"],
        "",
        "<a>\tx a\n",
    );
}

#[test]
fn the_job_slot_is_between_1_and_the_jobs_at_once() {
    let out = workpool([
        "run", "-q", "-j", "2", "echo", "{%}", ":::", "a", "b", "c", "d",
    ])
    .assert()
    .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(stdout.lines().count(), 4);
    assert!(stdout.lines().all(|l| l == "1" || l == "2"), "{stdout}");
}

/// Every file under `dir`, as (path relative to `dir`, contents), sorted.
fn tree(dir: &std::path::Path) -> Vec<(String, String)> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Runs `args` through workpool (and GNU parallel, if installed) in scratch directories and
/// returns what each left in the file or directory `name`, through `read`.
fn results_of<T: PartialEq + std::fmt::Debug>(
    args: &[&str],
    name: &str,
    read: impl Fn(&std::path::Path) -> T,
) -> T {
    let ours = Scratch::new();
    // One job at a time: rows are written as jobs end (GNU parallel writes them in order
    // with -k; workpool does not).
    let mut argv = vec!["run", "-q", "-k", "-j", "1", "--results", name];
    argv.extend_from_slice(args);
    let code = workpool(&argv)
        .current_dir(ours.dir.path())
        .output()
        .unwrap()
        .status
        .code();
    let result = read(&ours.path(name));
    if have_parallel() {
        let theirs = Scratch::new();
        let gnu_code = common::parallel(["-k", "-j", "1", "--results", name].iter().chain(args))
            .current_dir(theirs.dir.path())
            .output()
            .unwrap()
            .status
            .code();
        // Both exit 0 when every job succeeded, 1 when one job failed.
        assert_eq!(code, gnu_code, "exit status");
        assert_eq!(
            result,
            read(&theirs.path(name)),
            "workpool and GNU parallel differ on --results {name} {args:?}"
        );
    } else {
        eprintln!("GNU parallel is not installed: not compared");
    }
    result
}

#[test]
fn results_dir_has_gnu_parallels_layout() {
    let files = results_of(
        &[
            "echo",
            ":::",
            "a b",
            "it's",
            "x/y",
            "back\\slash",
            ":::",
            "1",
            "2",
        ],
        "out",
        tree,
    );
    let expected_dirs = [
        "1/a b/2/1",
        "1/it's/2/2",
        "1/x\\_y/2/1",
        "1/back\\\\slash/2/2",
    ];
    for dir in expected_dirs {
        assert!(
            files
                .iter()
                .any(|(name, _)| name == &format!("{dir}/stdout")),
            "{dir}/stdout in {files:?}"
        );
    }
    let find = |name: &str| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    };
    assert_eq!(find("1/it's/2/2/stdout"), Some("it's 2\n"));
    assert_eq!(find("1/it's/2/2/seq"), Some("4"));
    assert_eq!(find("1/it's/2/2/stderr"), Some(""));
    assert_eq!(files.len(), 8 * 3);
}

#[test]
fn results_dir_keeps_outputs_whole_and_stderr_apart() {
    let files = results_of(
        &["echo out {}; echo err {} >&2", ":::", "a", "b"],
        "r",
        tree,
    );
    assert_eq!(
        files,
        [
            ("1/a/seq", "1"),
            ("1/a/stderr", "err a\n"),
            ("1/a/stdout", "out a\n"),
            ("1/b/seq", "2"),
            ("1/b/stderr", "err b\n"),
            ("1/b/stdout", "out b\n"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
}

/// A results table's lines, without the columns that hold times.
fn table(path: &std::path::Path, sep: char) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .split('\n')
        .map(|line| {
            let mut fields: Vec<&str> = line.split(sep).collect();
            if fields.len() > 3 && fields[0] != "Seq" && !fields[0].starts_with('"') {
                fields[2] = "T";
                fields[3] = "T";
            }
            fields.join(&sep.to_string())
        })
        .collect()
}

/// Output that is not UTF-8 reaches a results table byte for byte, as in GNU parallel's (the
/// tables once held U+FFFD for such a byte).
#[test]
fn results_tables_keep_output_bytes_that_are_not_utf8() {
    for (name, sep) in [("r.csv", ','), ("r.tsv", '\t')] {
        let stdout_field = results_of(&[":::", r"printf '\351t\351'"], name, |p| {
            let bytes = std::fs::read(p).unwrap();
            let row = bytes.split(|b| *b == b'\n').nth(1).unwrap().to_vec();
            row.rsplit(|b| *b == sep as u8).nth(1).unwrap().to_vec()
        });
        assert_eq!(stdout_field, b"\xe9t\xe9", "{name}");
    }
}

#[test]
fn results_csv_tsv_and_json_have_gnu_parallels_columns() {
    // Whole commands as items: GNU parallel quotes arguments for the shell otherwise (with
    // backslashes, where workpool uses single quotes), and the Command column would differ.
    let csv = results_of(&[":::", "echo a", "echo b,c"], "r.csv", |p| table(p, ','));
    assert_eq!(
        csv,
        [
            "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr",
            "1,:,T,T,0,2,0,0,\"echo a\",\"echo a\",\"a",
            "\",",
            "2,:,T,T,0,4,0,0,\"echo b,c\",\"echo b,c\",\"b,c",
            "\",",
            "",
        ]
    );
    let tsv = results_of(&["echo", ":::", "a"], "r.tsv", |p| table(p, '\t'));
    assert_eq!(tsv[1], "1\t:\tT\tT\t0\t2\t0\t0\t\"echo a\"\ta\t\"a");
    let json = results_of(&["echo {}; exit 3", ":::", "q\"t"], "r.json", |p| {
        let text = std::fs::read_to_string(p).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            value["Seq"].clone(),
            value["Exitval"].clone(),
            value["V"].clone(),
            value["Stdout"].clone(),
        )
    });
    assert_eq!(
        json,
        (
            serde_json::json!(1),
            serde_json::json!(3),
            serde_json::json!(["q\"t"]),
            serde_json::json!("q\"t\n")
        )
    );
}

#[test]
fn results_refuses_a_file_where_a_directory_is_meant() {
    let s = Scratch::new();
    std::fs::write(s.path("taken"), "keep me").unwrap();
    workpool(["run", "--results", "taken", "echo", ":::", "a"])
        .current_dir(s.dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--results taken is a file"));
    assert_eq!(s.read("taken"), "keep me");
}

#[test]
fn line_buffer_prints_a_line_while_its_job_still_runs() {
    use std::io::{BufRead, BufReader};
    let s = Scratch::new();
    let gate = s.path("gate");
    // The job prints a line, then waits (up to 30 s) for the gate, which the test opens only
    // once it has read that line: grouped output would never show it in time.
    let job = format!(
        "echo first; i=0; while [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         [ -e '{}' ] && echo second",
        gate.display(),
        gate.display()
    );
    let mut child = common::workpool_process(["run", "-q", "--line-buffer", "--tag", ":::", &job])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.ends_with("\tfirst"), "{first}");
    std::fs::write(&gate, "").unwrap();
    let second = lines.next().unwrap().unwrap();
    assert!(second.ends_with("\tsecond"), "{second}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn line_buffer_never_mixes_lines_of_different_jobs() {
    // Each job writes every line in two pieces; whole lines must come out, each all one job's.
    let job = "i=0; while [ $i -lt 500 ]; do printf {}{}{}{}{}; printf '%s\\n' {}{}{}{}{}; \
               i=$((i+1)); done";
    let run = |gnu: bool| -> Vec<String> {
        let args = ["-j", "3", "--line-buffer", job, ":::", "a", "b", "c"];
        let out = if gnu {
            common::parallel(args).output().unwrap()
        } else {
            workpool(["run", "-q"].iter().chain(&args))
                .output()
                .unwrap()
        };
        assert!(out.status.success());
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    };
    let ours = run(false);
    assert_eq!(ours.len(), 1500);
    for line in &ours {
        assert!(
            ["a", "b", "c"].iter().any(|x| *line == x.repeat(10)),
            "a mixed line: {line:?}"
        );
    }
    if have_parallel() {
        assert_eq!(ours, run(true), "workpool and GNU parallel differ");
    }
}

#[test]
fn x_and_m_put_several_items_in_a_job_and_spread_a_short_input_over_the_slots() {
    // same_as_parallel runs -j 2: five items make jobs of three and two.
    same_as_parallel(
        &["-X", "echo", ":::", "1", "2", "3", "4", "5"],
        "",
        "1 2 3\n4 5\n",
    );
    same_as_parallel(
        &["-m", "echo", ":::", "1", "2", "3", "4", "5"],
        "",
        "1 2 3\n4 5\n",
    );
    // -X repeats the word around {}; -m puts all the items in its place.
    same_as_parallel(
        &["-X", "echo", "pre{}post", ":::", "a b", "it's", "c"],
        "",
        "prea bpost preit'spost\nprecpost\n",
    );
    same_as_parallel(
        &["-m", "echo", "pre{}post", ":::", "a b", "it's", "c"],
        "",
        "prea b it'spost\nprecpost\n",
    );
    same_as_parallel(
        &["-X", "echo", "x{}y", ":::", "a", "b", ":::", "1"],
        "",
        "xay x1y\nxby x1y\n",
    );
}

#[test]
fn n_and_capital_n_bound_the_items_per_job() {
    same_as_parallel(
        &["-N", "2", "echo", "{1}-{2}", ":::", "1", "2", "3", "4", "5"],
        "",
        "1-2\n3-4\n5-\n",
    );
    same_as_parallel(
        &["-N2", "echo", "{}:{#}", ":::", "a", "b", "c"],
        "",
        "a:1 b:1\nc:2\n",
    );
    same_as_parallel(
        &["-n", "2", "echo", "x{}y", ":::", "a", "b", "c"],
        "",
        "xa by\nxcy\n",
    );
    same_as_parallel(&["-N0", "echo", "x", ":::", "a", "b"], "", "x\nx\n");
    same_as_parallel(
        &["-X", "-N", "2", "echo", ":::", "1", "2", "3", "4", "5"],
        "",
        "1 2\n3 4\n5\n",
    );
    same_as_parallel(
        &["-N2", "--colsep", ",", "echo", "{1}{2}{3}{4}"],
        "a,b\nc,d\ne,f\n",
        "abcd\nef\n",
    );
}

#[test]
fn x_fills_each_command_up_to_the_kernels_limit_and_loses_no_item() {
    // 60,000 file names with spaces and quotes: several jobs, each command under the
    // 128 KiB a single argument may have, and every name exactly once.
    let names: Vec<String> = (0..60_000).map(|i| format!("it's file {i}.txt")).collect();
    let out = workpool(["run", "-q", "-j", "1", "-X", "printf '%s\\n'"])
        .write_stdin(names.join("\n") + "\n")
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let printed: Vec<&str> = stdout.lines().collect();
    assert!(
        printed == names,
        "{} names printed of {}",
        printed.len(),
        names.len()
    );
    let log = Scratch::new();
    let log_path = log.path("log");
    workpool([
        "run",
        "-q",
        "-j",
        "1",
        "-X",
        "--joblog",
        log_path.to_str().unwrap(),
        "true",
    ])
    .write_stdin(names.join("\n") + "\n")
    .assert()
    .success();
    let commands: Vec<String> = std::fs::read_to_string(&log_path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split('\t').nth(8).unwrap().to_owned())
        .collect();
    assert!(commands.len() > 1, "{} jobs", commands.len());
    // The log doubles each backslash (the quoting of `it's` has one).
    let longest = commands
        .iter()
        .map(|c| c.replace("\\\\", "\\").len())
        .max()
        .unwrap();
    assert!(longest < 128 * 1024, "a command of {longest} bytes");
}

#[test]
fn several_items_per_job_need_a_command() {
    workpool(["run", "-X", ":::", "echo a", "echo b"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("give a COMMAND"));
}

#[test]
fn pipe_cuts_standard_input_into_blocks_of_whole_records() {
    let numbers: String = (1..=12).map(|n| format!("{n}\n")).collect();
    same_as_parallel(
        &["--pipe", "--block", "5", "echo \"[{#}]\"; cat"],
        &numbers,
        "[1]\n1\n2\n[2]\n3\n4\n[3]\n5\n6\n[4]\n7\n8\n[5]\n9\n10\n[6]\n11\n[7]\n12\n",
    );
    same_as_parallel(
        &["--pipe", "--recend", ";", "--block", "3", "cat; echo"],
        "a;b;c;d;",
        "a;\nb;\nc;\nd;\n",
    );
    // A record starts with '>' (FASTA): a block never cuts one, and is cut only where the
    // next record's start is within the block.
    same_as_parallel(
        &[
            "--pipe",
            "--recstart",
            ">",
            "--block",
            "10",
            "echo \"[{#}]\"; cat",
        ],
        ">a\n1\n>b\n2\n>c\n3\n",
        "[1]\n>a\n1\n[2]\n>b\n2\n[3]\n>c\n3\n",
    );
    same_as_parallel(
        &[
            "--pipe",
            "--recstart",
            ">",
            "--block",
            "11",
            "echo \"[{#}]\"; cat",
        ],
        ">a\n1\n>b\n2\n>c\n3\n",
        "[1]\n>a\n1\n>b\n2\n[2]\n>c\n3\n",
    );
    same_as_parallel(&["--pipe", "cat"], "a\nlast, unended", "a\nlast, unended");
    same_as_parallel(&["--pipe", "echo ran"], "", "");
}

#[test]
fn pipe_passes_every_byte_once() {
    // 200,000 lines, among them names with quotes and bytes that are not UTF-8, in blocks
    // of 64 KiB over three jobs: the blocks, put back in order, are the input.
    let mut input = Vec::new();
    for i in 0..200_000 {
        input.extend_from_slice(format!("it's line {i} \"q\" ").as_bytes());
        input.extend_from_slice(b"caf\xe9\n");
    }
    let out = workpool([
        "run", "-q", "-k", "-j", "3", "--pipe", "--block", "64K", "cat",
    ])
    .write_stdin(input.clone())
    .assert()
    .success();
    assert!(
        out.get_output().stdout == input,
        "the output differs from the input"
    );
    let log = Scratch::new();
    let log_path = log.path("log");
    workpool([
        "run",
        "-q",
        "--pipe",
        "--block",
        "64K",
        "--joblog",
        log_path.to_str().unwrap(),
        "true",
    ])
    .write_stdin(input.clone())
    .assert()
    .success();
    let jobs = std::fs::read_to_string(&log_path).unwrap().lines().count() - 1;
    let expected = input.len().div_ceil(64 * 1024);
    assert!(
        (expected..=expected + 1).contains(&jobs),
        "{jobs} blocks for {} bytes",
        input.len()
    );
}

#[test]
fn pipe_needs_a_command_and_one_input() {
    workpool(["run", "--pipe"])
        .write_stdin("x\n")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--pipe feeds blocks"));
    workpool(["run", "--pipe", "cat", ":::", "a"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("at most one input file"));
    workpool(["run", "--pipe", "--block", "0", "cat"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("invalid size \"0\""));
    workpool(["run", "--block", "1M", "cat"]).assert().code(2);
}

#[test]
fn names_that_are_not_utf8_reach_the_command_byte_for_byte() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let names: [&[u8]; 3] = [b"caf\xe9 it's.txt", b"na\xefve $x.log", b"plain.txt"];
    let s = Scratch::new();
    for name in names {
        std::fs::write(s.dir.path().join(OsStr::from_bytes(name)), name).unwrap();
    }
    let expected: Vec<u8> = names.iter().flat_map(|n| [*n, b"|\n"].concat()).collect();
    let lines: Vec<u8> = names.iter().flat_map(|n| [*n, b"\n"].concat()).collect();
    let log = s.path("log");
    let log_arg = log.to_str().unwrap();
    // From standard input, as find or ls give them; the command reads each file by its name.
    let args = [
        "-k",
        "--joblog",
        log_arg,
        "--results",
        "out",
        "cat {}; echo '|'",
    ];
    let out = workpool(["run", "-q"].iter().chain(&args))
        .current_dir(s.dir.path())
        .write_stdin(lines.clone())
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, expected);
    for name in names {
        let dir = s.dir.path().join("out/1").join(OsStr::from_bytes(name));
        assert_eq!(
            std::fs::read(dir.join("stdout")).unwrap(),
            [name, b"|\n"].concat()
        );
    }
    // The job log holds the bytes, so a rerun recognises every job.
    workpool(["run", "--resume"].iter().chain(&args))
        .current_dir(s.dir.path())
        .write_stdin(lines.clone())
        .assert()
        .success()
        .stdout("")
        .stderr(predicates::str::contains("3 skipped"));
    // After :::, as a shell glob gives them.
    let mut argv: Vec<&OsStr> = ["run", "-q", "-k", "printf '%s|\\n'", ":::"]
        .iter()
        .map(OsStr::new)
        .collect();
    argv.extend(names.iter().map(|n| OsStr::from_bytes(n)));
    let out = workpool(&argv).assert().success();
    assert_eq!(out.get_output().stdout, expected);
    if have_parallel() {
        let gnu = common::parallel(["-k", "cat {}; echo '|'"])
            .current_dir(s.dir.path())
            .write_stdin(lines)
            .output()
            .unwrap();
        assert_eq!(gnu.stdout, expected, "GNU parallel");
    }
}

#[test]
fn input_holding_the_characters_reserved_for_bytes_is_refused() {
    workpool(["run", "echo"])
        .write_stdin("a\nb\u{10ff90}\n")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("input line 2"))
        .stderr(predicates::str::contains("U+10FF80 to U+10FFFF"));
}

#[test]
fn line_buffer_with_keep_order_prints_the_first_job_live_and_the_rest_in_order() {
    use std::io::{BufRead, BufReader};
    let s = Scratch::new();
    let gate = s.path("gate");
    // Job 1 prints a line and waits for the gate; job 2 ends at once. With -k its line comes
    // after job 1's, and job 1's first line comes while job 1 still runs.
    let first = format!(
        "echo a1; i=0; while [ ! -e '{}' ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
         [ -e '{}' ] && echo a2",
        gate.display(),
        gate.display()
    );
    let mut child = common::workpool_process([
        "run",
        "-q",
        "-k",
        "--lb",
        "-j",
        "2",
        ":::",
        &first,
        "echo b1; echo b2",
    ])
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "a1");
    std::fs::write(&gate, "").unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["a2", "b1", "b2"]);
    assert!(child.wait().unwrap().success());
    same_as_parallel(
        &[
            "--lb",
            "echo {}; sleep 0.{}; echo {}-2",
            ":::",
            "2",
            "1",
            "3",
        ],
        "",
        "2\n2-2\n1\n1-2\n3\n3-2\n",
    );
}

#[test]
fn pipe_reads_the_one_input_file_too() {
    // GNU parallel 20221122 runs nothing for --pipe -a FILE; workpool cuts the file as it
    // cuts standard input.
    let s = Scratch::new();
    let file = s.jobs("records", &["1", "2", "3", "4"].map(str::to_owned));
    for source in [vec!["-a", &file], vec!["::::", &file]] {
        let mut argv = vec!["run", "-q", "-k", "--pipe", "--block", "4"];
        if source[0] == "-a" {
            argv.extend(&source);
            argv.push("cat; echo .");
        } else {
            argv.push("cat; echo .");
            argv.extend(&source);
        }
        workpool(&argv)
            .assert()
            .success()
            .stdout("1\n2\n.\n3\n4\n.\n");
    }
}
