//! Port: the wall clock. The rules that depend on the time of day read it here (the Relay
//! signature's timestamp window, a client JWT's lifetime, how long a refused provider stays
//! suspended across a restart), so their tests set the time instead of reading it.

/// Wall-clock time in whole Unix seconds, the unit every rule above compares in.
#[cfg_attr(test, mockall::automock)]
pub trait Clock: Send + Sync {
    /// Seconds since 1970-01-01T00:00:00Z, now. A system clock set before 1970 reads `0`: every
    /// window check then fails closed rather than wrapping around.
    fn unix_now(&self) -> i64;
}
