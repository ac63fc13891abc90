//! `--baseline`: one scenario measured on two server binaries in one run, alternately (this
//! build, the baseline, this build, ...), so a change in the machine's state between the runs
//! shows in both binaries' figures rather than as a difference between them.
//!
//! Each run is this benchmark again as a child process, with the same command line but for
//! `--baseline`/`--rounds`, plus the binary (`--server-bin`) and its name (`--variant`), so a run
//! is exactly what a run without `--baseline` would be, and its row lands in the same table.

use std::{ffi::OsString, process::Command, process::ExitCode};

use crate::common::Common;

pub fn run(common: &Common) -> ExitCode {
    match alternate(common) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn alternate(common: &Common) -> Result<(), String> {
    let baseline = common.baseline.as_deref().expect("called with --baseline");
    // Absolute: the server starts in a directory of its own.
    let baseline = std::fs::canonicalize(baseline)
        .ok()
        .filter(|path| path.is_file())
        .ok_or_else(|| format!("--baseline {}: no such binary", baseline.display()))?;
    let this_build = match &common.server_bin {
        Some(path) => std::fs::canonicalize(path).map_err(|e| format!("--server-bin {}: {e}", path.display()))?,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name(format!("push-server{}", std::env::consts::EXE_SUFFIX)),
    };
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let arguments = without_alternation(std::env::args_os().skip(1));
    let mut failed = Vec::new();
    for round in 1..=common.rounds {
        for (variant, binary) in [("this build", &this_build), ("baseline", &baseline)] {
            println!("\n=== round {round} of {}: {variant} ({})", common.rounds, binary.display());
            let status = Command::new(&me)
                .args(&arguments)
                .arg("--server-bin")
                .arg(binary)
                .arg("--variant")
                .arg(variant)
                .status()
                .map_err(|e| format!("cannot run {}: {e}", me.display()))?;
            if !status.success() {
                failed.push(format!("round {round}, {variant}"));
            }
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(format!("runs that failed: {}", failed.join("; "))) }
}

/// The command line without what only the alternation reads (`--baseline`, `--rounds`,
/// `--server-bin`, each as `--flag value` or `--flag=value`).
fn without_alternation(arguments: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    const DROPPED: [&str; 3] = ["--baseline", "--rounds", "--server-bin"];
    let mut kept = Vec::new();
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        let text = argument.to_string_lossy();
        if DROPPED.contains(&text.as_ref()) {
            arguments.next();
        } else if !DROPPED.iter().any(|flag| text.starts_with(&format!("{flag}="))) {
            kept.push(argument);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn kept(line: &str) -> Vec<String> {
        let arguments = line.split_whitespace().map(OsString::from);
        without_alternation(arguments).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn the_alternation_flags_are_dropped_and_the_rest_kept_in_order() {
        assert_eq!(
            kept("send --baseline /old/push-server -d 10 --rounds=3 --server-bin /new --label x"),
            ["send", "-d", "10", "--label", "x"]
        );
        assert_eq!(kept("mixed --rounds 2 --baseline=/b --register-rate 100"), ["mixed", "--register-rate", "100"]);
    }

    #[test]
    fn a_missing_baseline_is_refused_before_anything_runs() {
        let common = Common { baseline: Some(PathBuf::from("/nonexistent/push-server")), ..test_common() };
        assert!(alternate(&common).unwrap_err().contains("no such binary"));
    }

    fn test_common() -> Common {
        use clap::Parser;
        #[derive(Parser)]
        struct Line {
            #[command(flatten)]
            common: Common,
        }
        Line::parse_from(["push-bench"]).common
    }
}
