//! Rate limits and sign-in throttling: slow attackers down, ask for a captcha, and never lock an
//! account out.
//!
//! Counting lives behind the [`RateLimiter`] trait, so that several instances of an application
//! can share counters (a Redis implementation can follow); [`MemoryRateLimiter`] counts in this
//! process with bounded memory. Each key counts events over a sliding window (the usual two-bucket
//! estimate: the current fixed window plus the previous one weighted by how much of it still
//! overlaps), which needs two counters per key however many events arrive.
//!
//! On top of it:
//!
//! - [`Quota`] is a plain "at most N per window" check, as for registrations per IP address;
//! - [`Throttle`] watches failed sign-ins per account and per IP address. Up to a threshold
//!   nothing happens; beyond it, every further attempt needs a captcha and must wait a delay that
//!   doubles with each failure (1 s, 2 s, 4 s, … at most 30 s by default). The account is never
//!   locked: its owner can still sign in, after the delay and with the captcha, so an attacker
//!   cannot lock anyone out, while guessing slows to a crawl. Counting per account stops an
//!   attacker rotating IP addresses against one account; counting per IP address stops one
//!   address trying many accounts.
//!
//! IPv6 clients are counted per /64 network, since one subscriber usually has a whole /64.
//!
//! ```
//! # async fn demo() -> Result<(), palisade::ratelimit::RateLimitError> {
//! use std::net::IpAddr;
//! use palisade::ratelimit::{MemoryRateLimiter, Throttle, ThrottleConfig};
//!
//! let throttle = Throttle::new(MemoryRateLimiter::new(), ThrottleConfig::default());
//! let ip: IpAddr = "192.0.2.7".parse().unwrap();
//!
//! let decision = throttle.check("bob@example.com", ip).await?;
//! assert!(decision.allowed && !decision.captcha_required);
//!
//! for _ in 0..5 {
//!     throttle.record_failure("bob@example.com", ip).await?;
//! }
//! let decision = throttle.check("bob@example.com", ip).await?;
//! assert!(decision.captcha_required);
//! assert!(!decision.allowed); // Too soon after the last failure: wait `decision.delay`.
//! # Ok(()) }
//! # tokio::runtime::Runtime::new().unwrap().block_on(demo()).unwrap();
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Why the counters could not be read or updated.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The backing store failed.
    #[error("rate limiter store failed: {0}")]
    Store(String),
}

/// What a [`RateLimiter`] knows about one key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Estimated events in the last window.
    pub count: u32,
    /// Time since the latest event, if any event is still remembered.
    pub since_last: Option<Duration>,
}

/// Counts events per key over a sliding window. Implementations must be cheap per call and
/// bounded in memory.
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Adds one event for `key` and returns the usage including it.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn record(&self, key: &str, window: Duration) -> Result<Usage, RateLimitError>;

    /// The usage of `key` without adding an event.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn usage(&self, key: &str, window: Duration) -> Result<Usage, RateLimitError>;

    /// Forgets `key`.
    ///
    /// # Errors
    ///
    /// When the store fails.
    async fn clear(&self, key: &str) -> Result<(), RateLimitError>;
}

/// The default number of keys a [`MemoryRateLimiter`] holds.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Counters in this process's memory: at most a fixed number of keys, those least recently
/// recorded dropped first when full. Size the cap above the number of keys active within a
/// window (an attacker able to create more fresh keys than that can push counters out); for
/// more, or for several instances, use a shared store. Cheap to clone; clones share the counters.
#[derive(Clone, Debug)]
pub struct MemoryRateLimiter {
    state: Arc<Mutex<State>>,
    max_keys: usize,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    /// Keys in order of their latest record, with the generation of that record; an entry
    /// whose generation differs from the key's current one is stale.
    order: VecDeque<(String, u64)>,
    next_generation: u64,
}

#[derive(Debug)]
struct Entry {
    generation: u64,
    window_start: Instant,
    current: u32,
    previous: u32,
    last: Instant,
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRateLimiter {
    /// A limiter for up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(DEFAULT_MAX_KEYS)
    }

    /// A limiter for up to `max_keys` keys (at least one).
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::default())),
            max_keys: max_keys.max(1),
        }
    }

    /// How many keys are held now.
    pub fn len(&self) -> usize {
        self.lock().map(|s| s.entries.len()).unwrap_or(0)
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, RateLimitError> {
        self.state
            .lock()
            .map_err(|_| RateLimitError::Store("rate limiter state poisoned".to_owned()))
    }
}

impl Entry {
    /// Moves the buckets forward to `now`.
    fn roll(&mut self, now: Instant, window: Duration) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= window * 2 {
            self.previous = 0;
            self.current = 0;
            self.window_start = now;
        } else if elapsed >= window {
            self.previous = self.current;
            self.current = 0;
            self.window_start += window;
        }
    }

    /// The sliding-window estimate at `now` (after [`Entry::roll`]).
    fn estimate(&self, now: Instant, window: Duration) -> u32 {
        let into_current = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        let overlap = (1.0 - into_current / window.as_secs_f64().max(f64::EPSILON)).clamp(0.0, 1.0);
        // The estimate never exceeds the events actually remembered.
        let weighted = (f64::from(self.previous) * overlap).ceil() as u32;
        self.current.saturating_add(weighted)
    }

    fn usage(&self, now: Instant, window: Duration) -> Usage {
        let count = self.estimate(now, window);
        let since_last = now.saturating_duration_since(self.last);
        Usage {
            count,
            since_last: (since_last < window * 2).then_some(since_last),
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn record(&self, key: &str, window: Duration) -> Result<Usage, RateLimitError> {
        let now = Instant::now();
        let mut guard = self.lock()?;
        let State {
            entries,
            order,
            next_generation,
        } = &mut *guard;
        let generation = *next_generation;
        *next_generation += 1;

        let usage = if let Some(entry) = entries.get_mut(key) {
            entry.roll(now, window);
            entry.current = entry.current.saturating_add(1);
            entry.last = now;
            entry.generation = generation;
            entry.usage(now, window)
        } else {
            // Full: drop the keys least recently recorded.
            while entries.len() >= self.max_keys {
                let Some((old_key, old_generation)) = order.pop_front() else {
                    break;
                };
                if entries
                    .get(&old_key)
                    .is_some_and(|e| e.generation == old_generation)
                {
                    entries.remove(&old_key);
                }
            }
            let entry = Entry {
                generation,
                window_start: now,
                current: 1,
                previous: 0,
                last: now,
            };
            let usage = entry.usage(now, window);
            entries.insert(key.to_owned(), entry);
            usage
        };
        order.push_back((key.to_owned(), generation));

        // Each record leaves the key's older queue entries stale: compact the queue now and
        // then, so that it stays within twice the number of keys.
        if order.len() > self.max_keys.saturating_mul(2) {
            order.retain(|(k, g)| entries.get(k).is_some_and(|e| e.generation == *g));
        }
        Ok(usage)
    }

    async fn usage(&self, key: &str, window: Duration) -> Result<Usage, RateLimitError> {
        let now = Instant::now();
        let mut state = self.lock()?;
        Ok(state
            .entries
            .get_mut(key)
            .map(|entry| {
                entry.roll(now, window);
                entry.usage(now, window)
            })
            .unwrap_or_default())
    }

    async fn clear(&self, key: &str) -> Result<(), RateLimitError> {
        self.lock()?.entries.remove(key);
        Ok(())
    }
}

/// At most `max` events per `window` for one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Events allowed per window.
    pub max: u32,
    /// The window.
    pub window: Duration,
}

impl Quota {
    /// Registrations from one IP address (or IPv6 /64): 5 per hour.
    pub const REGISTRATIONS_PER_IP: Self = Self {
        max: 5,
        window: Duration::from_secs(3600),
    };

    /// Password-reset and verification mails to one address: 3 per hour.
    pub const MAILS_PER_ADDRESS: Self = Self {
        max: 3,
        window: Duration::from_secs(3600),
    };

    /// Counts one event for `key` and says whether it is within the quota. Refused events count
    /// too, so hammering does not open the gate any sooner.
    ///
    /// # Errors
    ///
    /// When the limiter's store fails.
    pub async fn allow(
        &self,
        limiter: &dyn RateLimiter,
        key: &str,
    ) -> Result<bool, RateLimitError> {
        let usage = limiter.record(key, self.window).await?;
        let allowed = usage.count <= self.max;
        if !allowed {
            tracing::warn!(
                key_kind = key.split(':').next().unwrap_or(""),
                count = usage.count,
                "rate limit reached"
            );
        }
        Ok(allowed)
    }
}

/// The key of an IP address for counting: the address itself for IPv4, its /64 network for
/// IPv6 (an IPv4-mapped IPv6 address counts as the IPv4 address).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The thresholds of a [`Throttle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// How long failures are remembered.
    pub window: Duration,
    /// Failures on one account before captcha and delays start.
    pub account_failures: u32,
    /// Failures from one IP address (across accounts) before captcha and delays start.
    pub ip_failures: u32,
    /// The first delay; each further failure doubles it.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

impl Default for ThrottleConfig {
    /// 15 minutes; 5 failures per account, 20 per IP address; delays from 1 s to 30 s.
    fn default() -> Self {
        Self {
            window: Duration::from_secs(15 * 60),
            account_failures: 5,
            ip_failures: 20,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// What to do with a sign-in attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether to check the credentials now. When false, answer "try again in `delay`"
    /// without checking them (and without counting a failure).
    pub allowed: bool,
    /// When not allowed: how long until the next attempt may be checked. When allowed: zero.
    pub delay: Duration,
    /// Whether the attempt must carry a valid captcha solution.
    pub captcha_required: bool,
}

/// Sign-in throttling per account and per IP address; see the [module docs](self). Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct Throttle {
    limiter: Arc<dyn RateLimiter>,
    config: ThrottleConfig,
}

impl Throttle {
    /// Throttling with `config`, counting in `limiter`.
    pub fn new(limiter: impl RateLimiter + 'static, config: ThrottleConfig) -> Self {
        Self {
            limiter: Arc::new(limiter),
            config,
        }
    }

    /// The thresholds in force.
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }

    /// Decides about an attempt on `account` (the normalised email key) from `ip`, before
    /// checking any credential.
    ///
    /// # Errors
    ///
    /// When the limiter's store fails.
    pub async fn check(&self, account: &str, ip: IpAddr) -> Result<Decision, RateLimitError> {
        let window = self.config.window;
        let by_account = self.limiter.usage(&account_key(account), window).await?;
        let by_ip = self.limiter.usage(&ip_failure_key(ip), window).await?;

        let account_wait = self.wait(by_account, self.config.account_failures);
        let ip_wait = self.wait(by_ip, self.config.ip_failures);
        let captcha_required = account_wait.is_some() || ip_wait.is_some();
        let remaining = account_wait
            .unwrap_or_default()
            .max(ip_wait.unwrap_or_default());

        let decision = Decision {
            allowed: remaining.is_zero(),
            delay: remaining,
            captcha_required,
        };
        if captcha_required {
            tracing::warn!(
                account_failures = by_account.count,
                ip_failures = by_ip.count,
                allowed = decision.allowed,
                delay_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
                "sign-in throttled"
            );
        } else {
            tracing::trace!(
                account_failures = by_account.count,
                ip_failures = by_ip.count,
                "sign-in allowed"
            );
        }
        Ok(decision)
    }

    /// Counts a failed sign-in (wrong password, wrong code, unknown account) against both
    /// `account` and `ip`.
    ///
    /// # Errors
    ///
    /// When the limiter's store fails.
    pub async fn record_failure(&self, account: &str, ip: IpAddr) -> Result<(), RateLimitError> {
        let window = self.config.window;
        self.limiter.record(&account_key(account), window).await?;
        self.limiter.record(&ip_failure_key(ip), window).await?;
        Ok(())
    }

    /// Forgets the failures of `account` after a successful sign-in. The IP address's count is
    /// kept: one valid account must not wash away an address's guesses at others.
    ///
    /// # Errors
    ///
    /// When the limiter's store fails.
    pub async fn record_success(&self, account: &str, ip: IpAddr) -> Result<(), RateLimitError> {
        self.limiter.clear(&account_key(account)).await?;
        tracing::trace!(ip = %ip, "sign-in succeeded; account failures cleared");
        Ok(())
    }

    /// `None` below the threshold; else the time still to wait (zero when the delay has passed).
    fn wait(&self, usage: Usage, threshold: u32) -> Option<Duration> {
        if usage.count < threshold {
            return None;
        }
        let doublings = (usage.count - threshold).min(16);
        let delay = self
            .config
            .base_delay
            .saturating_mul(1 << doublings)
            .min(self.config.max_delay);
        let since_last = usage.since_last.unwrap_or(Duration::MAX);
        Some(delay.saturating_sub(since_last))
    }
}

fn account_key(account: &str) -> String {
    format!("signin:account:{}", account.to_lowercase())
}

fn ip_failure_key(ip: IpAddr) -> String {
    format!("signin:ip:{}", ip_key(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn events_are_counted_within_the_window_and_forgotten_after() {
        let limiter = MemoryRateLimiter::new();
        for expected in 1..=3 {
            assert_eq!(limiter.record("k", WINDOW).await.unwrap().count, expected);
        }
        assert_eq!(limiter.usage("k", WINDOW).await.unwrap().count, 3);
        assert_eq!(
            limiter.usage("other", WINDOW).await.unwrap(),
            Usage::default()
        );

        tokio::time::advance(WINDOW * 2).await;
        assert_eq!(limiter.usage("k", WINDOW).await.unwrap().count, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_previous_window_fades_out_gradually() {
        let limiter = MemoryRateLimiter::new();
        for _ in 0..10 {
            limiter.record("k", WINDOW).await.unwrap();
        }
        tokio::time::advance(WINDOW + WINDOW / 4).await;
        // A quarter into the next window, three quarters of the previous one still count.
        let count = limiter.usage("k", WINDOW).await.unwrap().count;
        assert!((7..=8).contains(&count), "{count}");
        tokio::time::advance(WINDOW / 2).await;
        let count = limiter.usage("k", WINDOW).await.unwrap().count;
        assert!((2..=3).contains(&count), "{count}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_time_since_the_last_event_is_reported() {
        let limiter = MemoryRateLimiter::new();
        limiter.record("k", WINDOW).await.unwrap();
        tokio::time::advance(Duration::from_secs(7)).await;
        assert_eq!(
            limiter.usage("k", WINDOW).await.unwrap().since_last,
            Some(Duration::from_secs(7))
        );
    }

    #[tokio::test]
    async fn memory_is_bounded_by_dropping_the_oldest_keys() {
        let limiter = MemoryRateLimiter::with_max_keys(3);
        for key in ["a", "b", "c", "d"] {
            limiter.record(key, WINDOW).await.unwrap();
        }
        assert_eq!(limiter.len(), 3);
        assert_eq!(limiter.usage("a", WINDOW).await.unwrap().count, 0);
        assert_eq!(limiter.usage("d", WINDOW).await.unwrap().count, 1);

        // Clearing and re-adding keys never lets the map grow past the cap.
        for i in 0..50 {
            let key = format!("x{i}");
            limiter.record(&key, WINDOW).await.unwrap();
            limiter.clear(&key).await.unwrap();
            limiter.record(&key, WINDOW).await.unwrap();
        }
        assert!(limiter.len() <= 3);
        assert!(limiter.state.lock().unwrap().order.len() <= 7);
    }

    #[tokio::test]
    async fn a_key_in_active_use_is_kept_when_the_map_is_full() {
        let limiter = MemoryRateLimiter::with_max_keys(3);
        limiter.record("victim", WINDOW).await.unwrap();
        for i in 0..10 {
            limiter.record(&format!("noise{i}"), WINDOW).await.unwrap();
            limiter.record("victim", WINDOW).await.unwrap();
        }
        assert_eq!(limiter.usage("victim", WINDOW).await.unwrap().count, 11);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_allows_up_to_its_maximum_per_window() {
        let limiter = MemoryRateLimiter::new();
        let quota = Quota {
            max: 3,
            window: WINDOW,
        };
        for _ in 0..3 {
            assert!(quota.allow(&limiter, "register:192.0.2.1").await.unwrap());
        }
        assert!(!quota.allow(&limiter, "register:192.0.2.1").await.unwrap());
        assert!(quota.allow(&limiter, "register:192.0.2.2").await.unwrap());
        tokio::time::advance(WINDOW * 2).await;
        assert!(quota.allow(&limiter, "register:192.0.2.1").await.unwrap());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_network() {
        assert_eq!(ip_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            ip_key(ip("2001:db8:1:2:ffff::9")),
            ip_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(ip_key(ip("2001:db8:1:3::1")), ip_key(ip("2001:db8:1:2::1")));
        assert_eq!(ip_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(ip_key(ip("192.0.2.1")), "192.0.2.1");
    }

    fn throttle() -> Throttle {
        Throttle::new(MemoryRateLimiter::new(), ThrottleConfig::default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_few_failures_change_nothing() {
        let throttle = throttle();
        for _ in 0..4 {
            throttle
                .record_failure("bob@example.com", ip("192.0.2.1"))
                .await
                .unwrap();
        }
        let decision = throttle
            .check("bob@example.com", ip("192.0.2.1"))
            .await
            .unwrap();
        assert_eq!(
            decision,
            Decision {
                allowed: true,
                delay: Duration::ZERO,
                captcha_required: false
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn after_five_failures_a_captcha_and_a_growing_delay_are_required() {
        let throttle = throttle();
        let (bob, addr) = ("bob@example.com", ip("192.0.2.1"));
        let mut delays = Vec::new();
        for _ in 0..12 {
            throttle.record_failure(bob, addr).await.unwrap();
            let decision = throttle.check(bob, addr).await.unwrap();
            if decision.captcha_required {
                assert!(!decision.allowed);
                delays.push(decision.delay.as_secs());
                // Waiting out the delay allows the next attempt, with a captcha.
                tokio::time::advance(decision.delay).await;
                let later = throttle.check(bob, addr).await.unwrap();
                assert!(later.allowed && later.captcha_required && later.delay.is_zero());
            }
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_account_is_never_locked_for_good() {
        let throttle = throttle();
        for _ in 0..200 {
            throttle
                .record_failure("bob@example.com", ip("192.0.2.1"))
                .await
                .unwrap();
        }
        let decision = throttle
            .check("bob@example.com", ip("198.51.100.1"))
            .await
            .unwrap();
        assert!(decision.delay <= Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(
            throttle
                .check("bob@example.com", ip("198.51.100.1"))
                .await
                .unwrap()
                .allowed
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_ip_address_trying_many_accounts_is_throttled_after_twenty_failures() {
        let throttle = throttle();
        let attacker = ip("203.0.113.9");
        for i in 0..19 {
            throttle
                .record_failure(&format!("user{i}@example.com"), attacker)
                .await
                .unwrap();
        }
        assert!(
            !throttle
                .check("fresh@example.com", attacker)
                .await
                .unwrap()
                .captcha_required
        );
        throttle
            .record_failure("user19@example.com", attacker)
            .await
            .unwrap();
        let decision = throttle.check("fresh@example.com", attacker).await.unwrap();
        assert!(decision.captcha_required && !decision.allowed);
        // Another address trying the same fresh account is not affected.
        assert!(
            !throttle
                .check("fresh@example.com", ip("198.51.100.1"))
                .await
                .unwrap()
                .captcha_required
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ipv6_attacker_rotating_addresses_in_a_64_is_counted_once() {
        let throttle = throttle();
        for i in 0..20u16 {
            let addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, i, i, i, i));
            throttle
                .record_failure(&format!("user{i}@example.com"), addr)
                .await
                .unwrap();
        }
        let decision = throttle
            .check("fresh@example.com", ip("2001:db8:0:1::77"))
            .await
            .unwrap();
        assert!(decision.captcha_required);
    }

    #[tokio::test(start_paused = true)]
    async fn one_account_attacked_from_rotating_addresses_is_throttled() {
        let throttle = throttle();
        for i in 0..5u8 {
            throttle
                .record_failure("bob@example.com", IpAddr::from([198, 51, 100, i]))
                .await
                .unwrap();
        }
        let decision = throttle
            .check("bob@example.com", ip("192.0.2.200"))
            .await
            .unwrap();
        assert!(decision.captcha_required && !decision.allowed);
        assert_eq!(decision.delay, Duration::from_secs(1));
        // Accounts are matched without regard to case.
        assert!(
            throttle
                .check("BOB@example.com", ip("192.0.2.201"))
                .await
                .unwrap()
                .captcha_required
        );
    }

    #[tokio::test(start_paused = true)]
    async fn success_clears_the_account_but_not_the_address() {
        let throttle = throttle();
        let addr = ip("203.0.113.9");
        for i in 0..20 {
            throttle
                .record_failure(&format!("user{}@example.com", i % 2), addr)
                .await
                .unwrap();
        }
        throttle
            .record_success("user0@example.com", addr)
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
        let decision = throttle.check("user0@example.com", addr).await.unwrap();
        assert!(decision.captcha_required, "the address keeps its failures");
        let decision = throttle
            .check("user0@example.com", ip("198.51.100.1"))
            .await
            .unwrap();
        assert!(!decision.captcha_required, "the account starts afresh");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_forgotten_after_the_window() {
        let throttle = throttle();
        for _ in 0..6 {
            throttle
                .record_failure("bob@example.com", ip("192.0.2.1"))
                .await
                .unwrap();
        }
        tokio::time::advance(ThrottleConfig::default().window * 2).await;
        let decision = throttle
            .check("bob@example.com", ip("192.0.2.1"))
            .await
            .unwrap();
        assert!(!decision.captcha_required && decision.allowed);
    }
}
