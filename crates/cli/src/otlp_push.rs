//! `--otlp-endpoint`: pushing the traces of `kspan analyze` (and `import-psv`) to an
//! OpenTelemetry collector over OTLP/HTTP, beside the chosen output, and saying at the end
//! what was delivered; spans that were not make the command exit with status
//! [`UNDELIVERED_EXIT`].

use crate::analyze_cmd::parse_duration_ns;
use anyhow::Context;
use kspan_output::otlp::push::{OtlpPushSink, PushConfig, PushOutcome, PushReport};
use kspan_output::OutputContext;
use std::fmt;
use std::io::Write;
use std::time::Duration;

/// The exit status of an analysis whose outputs were written but whose OTLP push dropped
/// spans (1 is any other error, 2 a usage error).
pub const UNDELIVERED_EXIT: i32 = 3;

/// The push options.
#[derive(clap::Args)]
pub struct PushArgs {
    /// Also push the traces to this OpenTelemetry collector over OTLP/HTTP (protobuf,
    /// gzip), e.g. http://127.0.0.1:4318 (`/v1/traces` is added to a URL without a path).
    /// The same traces as the output (the filters apply). When some spans cannot be
    /// delivered kspan says how many and why, and exits with status 3.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// How long to retry a batch the collector does not take before dropping it; at the end
    /// kspan waits about this long at most for the collector.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ns, default_value = "10s")]
    pub otlp_timeout: u64,
    /// The most spans waiting to be sent; traces that do not fit while the collector is
    /// slow or down are dropped (and counted).
    #[arg(long, value_name = "SPANS", default_value_t = 65536)]
    pub otlp_queue: usize,
}

/// The push sink `args` ask for, and where its report will be.
pub fn push_sink(
    args: &PushArgs,
    context: OutputContext,
) -> anyhow::Result<Option<(OtlpPushSink, PushOutcome)>> {
    let Some(endpoint) = &args.otlp_endpoint else {
        return Ok(None);
    };
    let timeout = Duration::from_nanos(args.otlp_timeout);
    let config = PushConfig::new(endpoint, timeout, args.otlp_queue).map_err(anyhow::Error::msg)?;
    let pushing = OtlpPushSink::start(config, context).context("cannot start the OTLP sender")?;
    Ok(Some(pushing))
}

/// An OTLP push that did not deliver every span: its report is the error's sentence.
#[derive(Debug)]
pub struct Undelivered(pub PushReport);

impl fmt::Display for Undelivered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Undelivered {}

/// Says what the push delivered; an error when it dropped spans.
pub fn report(outcome: Option<&PushOutcome>, out: &mut dyn Write) -> anyhow::Result<()> {
    let Some(report) = outcome.and_then(PushOutcome::report) else {
        return Ok(());
    };
    if report.dropped() > 0 {
        return Err(Undelivered(report.clone()).into());
    }
    writeln!(out, "kspan: {report}")?;
    Ok(())
}
