//! Failed credential attempts per client (dashboard token, login form, session
//! cookie): after a burst of failures a client must wait, and every attempt in the
//! meantime gets 429 before its credential is even looked at, so waiting out the
//! limit is the only way to learn whether a guess was right.
//!
//! A leaky bucket per client (GCRA): each failure costs [`FAILURE_COST`]; at most
//! [`BURST`] failures fit. Clients are IPv4 addresses or IPv6 /64 networks. The
//! table holds at most [`MAX_CLIENTS`]; when it is full of active clients, new ones
//! share one overflow bucket, so spraying addresses cannot grow memory.
//!
//! governor was considered: it has no way to look at a key's state without spending
//! from it, and this limiter must count failures only while refusing everything.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Failures a client may make in a burst.
pub const BURST: i64 = 10;
/// One failure is forgiven after this long (so 10 a minute, sustained).
pub const FAILURE_COST: SignedDuration = SignedDuration::from_secs(6);
/// Most clients tracked at once.
pub const MAX_CLIENTS: usize = 10_000;

/// The failure buckets of every client.
#[derive(Debug, Default)]
pub struct FailedAttempts {
    /// Per client, the time at which its bucket is empty again (GCRA's "theoretical
    /// arrival time").
    empty_at: Mutex<HashMap<IpAddr, Timestamp>>,
}

impl FailedAttempts {
    pub fn new() -> Self {
        Self::default()
    }

    /// `Err(seconds to wait)` when the client has used up its failures.
    pub fn check(&self, client: Option<IpAddr>, now: Timestamp) -> Result<(), u32> {
        let table = self.lock();
        let mut key = key_of(client);
        if !table.contains_key(&key) && table.len() >= MAX_CLIENTS {
            key = OVERFLOW;
        }
        table
            .get(&key)
            .map_or(Ok(()), |empty_at| wait(*empty_at, now))
    }

    /// Counts a failure; `Err(seconds to wait)` when this one used up the burst.
    pub fn record_failure(&self, client: Option<IpAddr>, now: Timestamp) -> Result<(), u32> {
        let mut table = self.lock();
        let mut key = key_of(client);
        if !table.contains_key(&key) && table.len() >= MAX_CLIENTS {
            table.retain(|_, empty_at| *empty_at > now);
            if table.len() >= MAX_CLIENTS {
                key = OVERFLOW;
            }
        }
        let empty_at = table.entry(key).or_insert(now);
        *empty_at = (*empty_at).max(now) + FAILURE_COST;
        wait(*empty_at, now)
    }

    /// Clients tracked now (for tests of the bound).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Timestamp>> {
        // The table holds plain timestamps; whatever a panicking holder left is usable.
        self.empty_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The bucket shared by clients that do not fit in the table.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// IPv6 clients usually hold a whole /64: count it as one.
fn key_of(client: Option<IpAddr>) -> IpAddr {
    match client {
        Some(IpAddr::V6(address)) if address.to_ipv4_mapped().is_none() => {
            let segments = address.segments();
            IpAddr::V6(Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
        Some(IpAddr::V6(address)) => address.to_ipv4_mapped().map_or(OVERFLOW, IpAddr::V4),
        Some(address) => address,
        None => OVERFLOW,
    }
}

/// A bucket holding more than `BURST - 1` failures refuses the next attempt.
fn wait(empty_at: Timestamp, now: Timestamp) -> Result<(), u32> {
    let allowance = FAILURE_COST * (BURST as i32 - 1);
    let over = empty_at.duration_since(now) - allowance;
    if over > SignedDuration::ZERO {
        // Round up, so a client that waits exactly Retry-After is let in.
        Err(u32::try_from(over.as_secs() + 1).unwrap_or(u32::MAX))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("valid time")
    }

    #[test]
    fn a_burst_of_failures_locks_the_client_out_until_the_bucket_leaks() {
        let attempts = FailedAttempts::new();
        let client = Some("192.0.2.1".parse().unwrap());
        for _ in 0..BURST - 1 {
            assert_eq!(attempts.record_failure(client, at(0)), Ok(()));
        }
        assert!(attempts.record_failure(client, at(0)).is_err());
        let wait = attempts.check(client, at(0)).unwrap_err();
        assert!((1..=7).contains(&wait), "{wait}");
        assert_eq!(
            attempts.check(Some("192.0.2.2".parse().unwrap()), at(0)),
            Ok(()),
            "another client is not affected"
        );
        assert_eq!(attempts.check(client, at(i64::from(wait))), Ok(()));
    }

    #[test]
    fn addresses_of_one_ipv6_network_share_a_bucket() {
        let attempts = FailedAttempts::new();
        for host in 0..BURST {
            let address: IpAddr = format!("2001:db8::{host:x}").parse().unwrap();
            let _ = attempts.record_failure(Some(address), at(0));
        }
        assert!(
            attempts
                .check(Some("2001:db8::ffff".parse().unwrap()), at(0))
                .is_err()
        );
    }

    #[test]
    fn spraying_addresses_cannot_grow_the_table_past_its_bound() {
        let attempts = FailedAttempts::new();
        for index in 0..(MAX_CLIENTS as u32 + 500) {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + index));
            let _ = attempts.record_failure(Some(address), at(0));
        }
        assert!(attempts.tracked() <= MAX_CLIENTS + 1);
    }
}
