//! `kspan check`: compares kspan's traces (OTLP JSON) with an application's ground-truth logs
//! and prints the accuracy report (see the `kspan-truth` crate for what is compared).

use anyhow::Context;
use kspan_truth::CheckOptions;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `kspan check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// kspan's traces, as written by `kspan analyze --format otlp-json`.
    #[arg(long)]
    pub otlp: PathBuf,
    /// The ground-truth directory: gateway.jsonl, one <service>.jsonl per service, and
    /// optionally loadgen.jsonl.
    #[arg(long)]
    pub truth: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// How far (ms) a span may lie outside its true time and still match, once the clock
    /// offset between kspan and the services (estimated from the data) is removed. Small, so
    /// that the previous request's span on a keep-alive connection is not taken for this one's.
    #[arg(long, default_value_t = 0.1, value_parser = parse_tolerance)]
    pub tolerance_ms: f64,
    /// The same for a root known only from nginx's log (1 ms resolution), when the load
    /// generator's log lacks the request.
    #[arg(long, default_value_t = 1.0, value_parser = parse_tolerance)]
    pub coarse_tolerance_ms: f64,
    /// A service kspan names otherwise than the truth, as KSPAN_NAME=TRUTH_NAME
    /// (e.g. redis-server=redis); repeatable.
    #[arg(long = "alias", value_parser = parse_alias)]
    pub aliases: Vec<(String, String)>,
    /// How many failing requests to list.
    #[arg(long, default_value_t = 10)]
    pub failures: usize,
    /// Exit with an error when the exact-tree accuracy (percent) is below this.
    #[arg(long)]
    pub min_accuracy: Option<f64>,
}

/// Runs `kspan check`.
pub fn run(args: CheckArgs) -> anyhow::Result<()> {
    let options = CheckOptions {
        tolerance_ns: (args.tolerance_ms * 1e6).round() as i64,
        coarse_tolerance_ns: (args.coarse_tolerance_ms * 1e6).round() as i64,
        aliases: args.aliases.into_iter().collect(),
        max_failures: args.failures,
    };
    let report = kspan_truth::check(&args.otlp, &args.truth, &options)?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).context("cannot print the report")? + "\n"
    } else {
        report.to_string()
    };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write the report to stdout")?,
    }
    match args.min_accuracy {
        Some(min) if report.exact_tree_accuracy_pct < min => anyhow::bail!(
            "exact-tree accuracy {:.1}% is below --min-accuracy {min}%",
            report.exact_tree_accuracy_pct
        ),
        _ => Ok(()),
    }
}

/// A non-negative, finite number of milliseconds.
fn parse_tolerance(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ms) if ms >= 0.0 && ms.is_finite() => Ok(ms),
        _ => Err(format!(
            "{text:?} is not a number of milliseconds (e.g. 2 or 0.5)"
        )),
    }
}

/// `KSPAN_NAME=TRUTH_NAME`.
fn parse_alias(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((kspan, truth)) if !kspan.is_empty() && !truth.is_empty() => {
            Ok((kspan.to_string(), truth.to_string()))
        }
        _ => Err(format!(
            "{text:?} is not KSPAN_NAME=TRUTH_NAME (e.g. redis-server=redis)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(min_accuracy: Option<f64>, truth: &str) -> CheckArgs {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../truth/tests/fixtures/base");
        CheckArgs {
            otlp: fixture.join("otlp.json"),
            truth: fixture.join(truth),
            json: true,
            tolerance_ms: 0.1,
            coarse_tolerance_ms: 1.0,
            aliases: vec![],
            failures: 10,
            min_accuracy,
        }
    }

    #[test]
    fn the_accuracy_floor_decides_success() {
        assert!(run(args(Some(100.0), "truth")).is_ok());
        let err = run(args(None, "no-such-dir")).unwrap_err().to_string();
        assert!(err.starts_with("cannot read "), "{err}");
    }

    #[test]
    fn aliases_and_tolerances_parse() {
        assert_eq!(parse_alias("a=b"), Ok(("a".to_string(), "b".to_string())));
        assert!(parse_alias("=b").is_err());
        assert_eq!(parse_tolerance("0.5"), Ok(0.5));
        assert!(parse_tolerance("-1").is_err());
    }
}
