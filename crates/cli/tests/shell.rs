//! `kspan completions` and `kspan man`: the completion scripts and manual pages generated
//! from the command line's definition exist for every shell and subcommand, know the
//! subcommands and their options, and (for bash) parse.

mod common;

use common::{kspan, succeeded};
use std::process::Command;

fn stdout(args: &[&str]) -> String {
    String::from_utf8(succeeded(kspan(args)).stdout).unwrap()
}

#[test]
fn completions_know_every_subcommand_and_option() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        for word in ["analyze", "record", "otlp-endpoint", "completions", "man"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        assert!(
            script.contains("perfetto"),
            "{shell} completes --format's values"
        );
    }
}

#[test]
fn the_bash_completion_parses() {
    let script = stdout(&["completions", "bash"]);
    let out = Command::new("bash")
        .args(["-n", "-c", &script])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn man_pages_exist_for_kspan_and_each_subcommand() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH kspan 1"), "{page}");
    for sub in ["record", "analyze", "dump", "info", "completions", "man"] {
        assert!(page.contains(sub), "kspan(1) lists {sub}");
        let page = stdout(&["man", sub]);
        assert!(page.contains(&format!(".TH kspan-{sub} 1")), "{page}");
        assert!(page.contains(&format!("kspan {sub}")), "synopsis of {sub}");
    }
    assert!(stdout(&["man", "analyze"]).contains("otlp\\-endpoint"));
    let missing = kspan(&["man", "guard"]);
    assert_eq!(
        missing.status.code(),
        Some(1),
        "the hidden guard has no page"
    );
}
