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
