//! Benchmark helper for `scripts/bench.sh`: subscribes to a sensor's alert
//! stream over gRPC and measures syscall-to-alert latency.
//!
//! The latency workload creates files named `lat-<unix ns>`; the alert's
//! `fd.name` (or, failing that, its output text) carries that send time back.
//! For every alert of `--rule` the receive time minus the stamped time is one
//! sample. Prints one JSON object with the percentiles when `--count` samples
//! arrived or `--timeout-secs` passed, and `subscribed` on stderr once the
//! stream is open so the driver knows when to start the workload.
//!
//! Usage: bench_latency --sensor 127.0.0.1:5060 --rule NAME --count N [--timeout-secs S]

use falco_proto::v1::sensor_service_client::SensorServiceClient;
use falco_proto::v1::{SubscribeRequest, subscribe_response::Payload};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Args {
    sensor: String,
    rule: String,
    count: usize,
    timeout: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut sensor = None;
    let mut rule = None;
    let mut count = 10_000usize;
    let mut timeout = 120u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--sensor" => sensor = Some(value()?),
            "--rule" => rule = Some(value()?),
            "--count" => count = value()?.parse()?,
            "--timeout-secs" => timeout = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(Args {
        sensor: sensor.ok_or_else(|| anyhow::anyhow!("--sensor HOST:PORT is required"))?,
        rule: rule.ok_or_else(|| anyhow::anyhow!("--rule NAME is required"))?,
        count,
        timeout: Duration::from_secs(timeout),
    })
}

/// The `<ns>` of the first `lat-<ns>` in `text`.
fn stamped_ns(text: &str) -> Option<i64> {
    let start = text.find("lat-")? + 4;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest-rank percentile.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let mut client = SensorServiceClient::connect(format!("http://{}", args.sensor)).await?;
    let mut stream = client
        .subscribe(SubscribeRequest {
            rules: vec![args.rule.clone()],
            ..Default::default()
        })
        .await?
        .into_inner();
    eprintln!("subscribed");
    let mut samples: Vec<i64> = Vec::with_capacity(args.count);
    let mut unparsed = 0usize;
    let deadline = tokio::time::Instant::now() + args.timeout;
    while samples.len() < args.count {
        let msg = match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => break,
            Ok(Err(status)) => anyhow::bail!("stream error: {status}"),
            Err(_) => break,
        };
        let received = now_ns();
        let Some(Payload::Alert(alert)) = msg.payload else {
            continue;
        };
        let sent = alert
            .output_fields
            .get("fd.name")
            .and_then(|v| stamped_ns(v))
            .or_else(|| stamped_ns(&alert.output));
        match sent {
            Some(sent) => samples.push(received - sent),
            None => unparsed += 1,
        }
    }
    samples.sort_unstable();
    let ms = |ns: i64| ns as f64 / 1e6;
    println!(
        "{{\"samples\":{},\"unparsed\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3},\"min_ms\":{:.3}}}",
        samples.len(),
        unparsed,
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(samples.last().copied().unwrap_or(0)),
        ms(samples.first().copied().unwrap_or(0)),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_is_read_from_a_path() {
        assert_eq!(
            stamped_ns("/tmp/x/lat-1700000000123456789"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(stamped_ns("File opened: lat-42 by x"), Some(42));
        assert_eq!(stamped_ns("/tmp/x/f"), None);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[], 99.0), 0);
    }
}
