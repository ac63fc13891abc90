//! How long the `deliver` scenario's fake providers take to answer: a log-normal distribution
//! given by its median and 99th percentile (provider latencies have a long right tail), or a
//! constant.

use std::time::Duration;

/// z of the standard normal distribution's 99th percentile.
const Z99: f64 = 2.326_347_874;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// ln(latency) normal: `median` and `p99` fix its two parameters.
    LogNormal,
    /// Always `median`.
    Constant,
}

#[derive(Debug, Clone, Copy)]
pub struct Latency {
    shape: Shape,
    /// ln(median) and the standard deviation of ln(latency).
    mu: f64,
    sigma: f64,
}

impl Latency {
    pub fn new(shape: Shape, median_ms: f64, p99_ms: f64) -> Result<Self, String> {
        if median_ms <= 0.0 || (shape == Shape::LogNormal && p99_ms < median_ms) {
            return Err(format!("the fake's latency needs 0 < median ({median_ms}) ≤ p99 ({p99_ms})"));
        }
        let mu = median_ms.ln();
        let sigma = if shape == Shape::LogNormal { (p99_ms / median_ms).ln() / Z99 } else { 0.0 };
        Ok(Self { shape, mu, sigma })
    }

    /// One latency, drawn.
    pub fn sample(&self) -> Duration {
        let ms = match self.shape {
            Shape::Constant => self.mu.exp(),
            Shape::LogNormal => (self.mu + self.sigma * standard_normal()).exp(),
        };
        Duration::from_secs_f64(ms / 1e3)
    }

    /// The distribution's mean in seconds: with the streams in flight, it caps throughput
    /// (Little's law: rate ≤ streams ÷ mean latency).
    pub fn mean_secs(&self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp() / 1e3
    }
}

/// Box–Muller: one standard normal variate from two uniform ones.
fn standard_normal() -> f64 {
    let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_normal_percentiles_match_what_was_asked() {
        let latency = Latency::new(Shape::LogNormal, 150.0, 600.0).unwrap();
        let mut samples: Vec<f64> = (0..200_000).map(|_| latency.sample().as_secs_f64() * 1e3).collect();
        samples.sort_by(f64::total_cmp);
        let at = |p: f64| samples[(p * samples.len() as f64) as usize];
        assert!((at(0.5) - 150.0).abs() < 5.0, "median {}", at(0.5));
        assert!((at(0.99) - 600.0).abs() < 40.0, "p99 {}", at(0.99));
    }
}
