//! The system clock behind the `Clock` port.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ports::Clock;

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_time_after_this_code_was_written() {
        // 2025-01-01T00:00:00Z: a clock reading earlier is not the system's.
        assert!(SystemClock.unix_now() > 1_735_689_600);
    }
}
