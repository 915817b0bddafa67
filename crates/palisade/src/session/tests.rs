//! The session layer, driven through a router without a network.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use tower::ServiceExt as _;

use super::*;
use crate::secret::{KeyRing, Purpose};
use crate::test_support::CapturedLogs;

/// A store that counts calls and can be switched to failing.
#[derive(Default)]
struct TestStore {
    inner: MemorySessionStore,
    calls: AtomicUsize,
    touches: AtomicUsize,
    down: AtomicBool,
}

impl TestStore {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn gate(&self) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::backend(std::io::Error::other("store is down")));
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for TestStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionRecord>, StoreError> {
        self.gate()?;
        self.inner.load(key).await
    }
    async fn save(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.gate()?;
        self.inner.save(record).await
    }
    async fn update(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        self.gate()?;
        self.inner.update(record).await
    }
    async fn touch(&self, key: &SessionKey, last_seen: OffsetDateTime) -> Result<bool, StoreError> {
        self.gate()?;
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.inner.touch(key, last_seen).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.gate()?;
        self.inner.delete(key).await
    }
    async fn list_for_user(&self, user_id: i64) -> Result<Vec<SessionRecord>, StoreError> {
        self.gate()?;
        self.inner.list_for_user(user_id).await
    }
    async fn delete_for_user(
        &self,
        user_id: i64,
        except: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        self.gate()?;
        self.inner.delete_for_user(user_id, except).await
    }
    async fn delete_expired(&self, cutoff: ExpiryCutoff) -> Result<u64, StoreError> {
        self.gate()?;
        self.inner.delete_expired(cutoff).await
    }
}

struct Harness {
    app: Router,
    store: Arc<TestStore>,
    keys: KeyRing,
}

fn harness(config: SessionConfig) -> Harness {
    let store = Arc::new(TestStore::default());
    let keys = KeyRing::generate();
    let layer = SessionLayer::new(store.clone(), keys.signer(Purpose::Session), config);
    Harness {
        app: routes().layer(layer),
        store,
        keys,
    }
}

fn routes() -> Router {
    async fn who(session: Session) -> String {
        format!(
            "user={:?} expired={} note={:?}",
            session.user_id(),
            session.is_expired_arrival(),
            session.get::<String>("note")
        )
    }
    async fn fail(e: StoreError) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
    }
    Router::new()
        .route("/anon", get(|| async { "hello" }))
        .route("/who", get(who))
        .route("/ensure", get(|s: Session| async move { s.ensure() }))
        .route(
            "/note/{text}",
            get(|s: Session, Path(text): Path<String>| async move { s.insert("note", text).unwrap() }),
        )
        .route(
            "/login/{uid}",
            get(|s: Session, Path(uid): Path<i64>| async move {
                match s.sign_in(uid).await {
                    Ok(()) => "in".into_response(),
                    Err(e) => fail(e).await,
                }
            }),
        )
        .route(
            "/logout",
            get(|s: Session| async move {
                match s.sign_out().await {
                    Ok(()) => "out".into_response(),
                    Err(e) => fail(e).await,
                }
            }),
        )
        .route(
            "/logout-with-flash",
            get(|s: Session| async move {
                s.sign_out().await.unwrap();
                s.insert("flash", "signed out").unwrap();
            }),
        )
        .route(
            "/vary",
            get(|s: Session| async move {
                s.ensure();
                ([(header::VARY, "Accept-Encoding")], "varies")
            }),
        )
}

impl Harness {
    async fn get(&self, path: &str, cookies: &[&str]) -> Response {
        let mut req = Request::get(path);
        for c in cookies {
            req = req.header(header::COOKIE, *c);
        }
        self.app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    /// A session signed in as `uid`; returns its `name=value` cookie.
    async fn signed_in(&self, uid: i64) -> String {
        cookie_of(&self.get(&format!("/login/{uid}"), &[]).await).unwrap()
    }
}

/// The `name=value` of the response's session cookie, when it sets (not deletes) one.
fn cookie_of(r: &Response) -> Option<String> {
    let set = set_cookie_header(r)?;
    let pair = set.split(';').next()?.to_owned();
    (!pair.ends_with('=')).then_some(pair)
}

fn set_cookie_header(r: &Response) -> Option<String> {
    let all: Vec<_> = r.headers().get_all(header::SET_COOKIE).iter().collect();
    assert!(all.len() <= 1, "one Set-Cookie at most: {all:?}");
    all.first().map(|v| v.to_str().unwrap().to_owned())
}

async fn text(r: Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn short(idle_ms: u64, absolute_ms: u64) -> SessionConfig {
    SessionConfig {
        idle_timeout: Duration::from_millis(idle_ms),
        absolute_timeout: Duration::from_millis(absolute_ms),
        ..SessionConfig::default()
    }
}

#[tokio::test]
async fn an_anonymous_page_without_cookie_never_touches_the_store() {
    let h = harness(SessionConfig::default());
    let r = h.get("/anon", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert!(r.headers().get(header::CACHE_CONTROL).is_none());
    let r = h.get("/who", &[]).await;
    assert_eq!(text(r).await, "user=None expired=false note=None");
    assert_eq!(h.store.calls(), 0);
}

#[tokio::test]
async fn ensure_starts_a_session_with_a_signed_host_only_browser_session_cookie() {
    let h = harness(SessionConfig::default());
    let r = h.get("/ensure", &[]).await;
    let set = set_cookie_header(&r).unwrap();
    let (pair, attributes) = set.split_once("; ").unwrap();
    assert_eq!(attributes, "Secure; HttpOnly; SameSite=Lax; Path=/");
    let value = pair.strip_prefix("__Host-palisade=").unwrap();
    let (id, _tag) = value.split_once('.').unwrap();
    assert_eq!(id.len(), 43);
    assert_eq!(
        h.keys.signer(Purpose::Session).verify_string(value),
        Some(id)
    );
    // The store holds the hash of the id, never the id.
    let stored = h
        .store
        .inner
        .load(&SessionKey::of_id(id))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.key.as_str(), id);
    assert_eq!(h.store.inner.len(), 1);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn the_deletion_cookie_has_exactly_the_setting_attributes_plus_max_age_zero() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in(1).await;
    let set = set_cookie_header(&h.get("/login/1", &[&cookie]).await).unwrap();
    let r = h.get("/logout", &[&cookie]).await;
    let deleted = set_cookie_header(&r).unwrap();
    let attrs = |s: &str| s.split("; ").skip(1).map(str::to_owned).collect::<Vec<_>>();
    let mut expected = attrs(&set);
    expected.push("Max-Age=0".to_owned());
    assert_eq!(attrs(&deleted), expected);
    assert!(deleted.starts_with("__Host-palisade=;"));
    assert_eq!(r.headers()["clear-site-data"], r#""cookies", "storage""#);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn sign_in_rotates_the_id_and_the_pre_login_cookie_stops_working() {
    let h = harness(SessionConfig::default());
    let anonymous = cookie_of(&h.get("/note/kept", &[]).await).unwrap();
    let r = h.get("/login/7", &[&anonymous]).await;
    let signed_in = cookie_of(&r).unwrap();
    assert_ne!(signed_in, anonymous);
    assert_eq!(
        text(h.get("/who", &[&signed_in]).await).await,
        r#"user=Some(7) expired=false note=Some("kept")"#
    );
    // The fixated or stolen pre-login id is worthless. It is ignored rather than deleted: a
    // request racing the sign-in must not delete the browser's new cookie.
    let r = h.get("/who", &[&anonymous]).await;
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(text(r).await, "user=None expired=false note=None");
    assert_eq!(h.store.inner.len(), 1);
}

#[tokio::test]
async fn signing_in_as_another_user_drops_the_previous_users_data() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in(1).await;
    let cookie = cookie_of(&h.get("/note/private-to-1", &[&cookie]).await).unwrap_or(cookie);
    let same = cookie_of(&h.get("/login/1", &[&cookie]).await).unwrap();
    assert!(
        text(h.get("/who", &[&same]).await)
            .await
            .contains("private-to-1")
    );
    let other = cookie_of(&h.get("/login/2", &[&same]).await).unwrap();
    assert_eq!(
        text(h.get("/who", &[&other]).await).await,
        "user=Some(2) expired=false note=None"
    );
}

#[tokio::test]
async fn a_session_started_after_sign_out_keeps_its_new_cookie() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in(1).await;
    let r = h.get("/logout-with-flash", &[&cookie]).await;
    let fresh = cookie_of(&r).expect("the new session's cookie");
    assert_ne!(fresh, cookie);
    assert_eq!(r.headers()["clear-site-data"], r#""storage""#);
    assert_eq!(h.store.inner.len(), 1);
    assert_eq!(
        text(h.get("/who", &[&cookie]).await).await,
        "user=None expired=false note=None"
    );
}

#[tokio::test]
async fn a_signed_out_cookie_replayed_later_is_rejected() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in(3).await;
    assert_eq!(text(h.get("/logout", &[&cookie]).await).await, "out");
    assert!(h.store.inner.is_empty());
    let r = h.get("/who", &[&cookie]).await;
    assert_eq!(text(r).await, "user=None expired=false note=None");
}

#[tokio::test]
async fn a_client_chosen_or_unknown_id_is_never_adopted() {
    let h = harness(SessionConfig::default());
    // Correctly signed (an insider, or a key leak) but unknown to the store.
    let chosen = SessionId::generate();
    let forged = format!(
        "__Host-palisade={}",
        chosen.cookie_value(&h.keys.signer(Purpose::Session))
    );
    let r = h.get("/ensure", &[&forged]).await;
    let fresh = cookie_of(&r).unwrap();
    assert_ne!(fresh, forged);
    assert!(h.store.inner.load(&chosen.key()).await.unwrap().is_none());
    // Unsigned and mis-signed ids do not even reach the store.
    let before = h.store.calls();
    let other_key = KeyRing::generate()
        .signer(Purpose::Session)
        .sign_to_string(chosen.as_str());
    for bad in [
        chosen.as_str().to_owned(),
        other_key,
        "x.y".to_owned(),
        String::new(),
    ] {
        let r = h.get("/who", &[&format!("__Host-palisade={bad}")]).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(h.store.calls(), before);
}

#[tokio::test]
async fn malformed_and_duplicated_cookie_headers_resolve_safely() {
    let h = harness(SessionConfig::default());
    let a = h.signed_in(1).await;
    let b = h.signed_in(2).await;
    let who = |cookies: Vec<String>| {
        let h = &h;
        async move {
            let refs: Vec<&str> = cookies.iter().map(String::as_str).collect();
            text(h.get("/who", &refs).await).await
        }
    };
    // Garbage around a valid cookie, in one header or spread over several.
    assert!(
        who(vec![format!("junk; =; __Host-palisade=nope; {a}; other=1")])
            .await
            .contains("Some(1)")
    );
    assert!(
        who(vec!["__Host-palisade=%%%".into(), a.clone(), "x".into()])
            .await
            .contains("Some(1)")
    );
    // The same session twice is still that session.
    assert!(who(vec![a.clone(), a.clone()]).await.contains("Some(1)"));
    // Two different valid sessions: ambiguous, so neither.
    assert!(who(vec![format!("{a}; {b}")]).await.contains("user=None"));
    assert!(who(vec![b.clone(), a.clone()]).await.contains("user=None"));
}

#[tokio::test]
async fn a_session_idle_past_the_timeout_expires_and_is_deleted() {
    let h = harness(short(1000, 5000));
    let cookie = h.signed_in(5).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        text(h.get("/who", &[&cookie]).await)
            .await
            .contains("Some(5)")
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = h.get("/who", &[&cookie]).await;
    assert!(set_cookie_header(&r).unwrap().contains("Max-Age=0"));
    assert_eq!(text(r).await, "user=None expired=true note=None");
    assert!(
        h.store.inner.is_empty(),
        "the expired record is deleted server-side"
    );
    // Once deleted it is merely unknown.
    assert_eq!(
        text(h.get("/who", &[&cookie]).await).await,
        "user=None expired=false note=None"
    );
}

#[tokio::test]
async fn steady_activity_never_extends_a_session_past_the_absolute_timeout() {
    let h = harness(short(1000, 2000));
    let cookie = h.signed_in(9).await;
    let start = std::time::Instant::now();
    let mut alive_for = Duration::ZERO;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let body = text(h.get("/who", &[&cookie]).await).await;
        if body.contains("expired=true") {
            break;
        }
        assert!(body.contains("Some(9)"), "{body}");
        alive_for = start.elapsed();
        assert!(
            alive_for < Duration::from_secs(4),
            "activity kept the session alive"
        );
    }
    // It lived until close to the absolute timeout and no further.
    assert!(alive_for >= Duration::from_millis(1500), "{alive_for:?}");
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let config = SessionConfig {
        touch_interval: Some(Duration::from_millis(300)),
        ..short(3000, 9000)
    };
    let h = harness(config);
    let cookie = h.signed_in(1).await;
    for _ in 0..5 {
        h.get("/who", &[&cookie]).await;
    }
    assert_eq!(h.store.touches.load(Ordering::SeqCst), 0);
    tokio::time::sleep(Duration::from_millis(350)).await;
    h.get("/who", &[&cookie]).await;
    h.get("/who", &[&cookie]).await;
    assert_eq!(h.store.touches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failing_store_answers_503_and_never_anonymous() {
    let h = harness(SessionConfig::default());
    let cookie = h.signed_in(4).await;
    h.store.down.store(true, Ordering::SeqCst);

    // Loading.
    let r = h.get("/who", &[&cookie]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        r.headers().get(header::SET_COOKIE).is_none(),
        "the cookie is kept for later"
    );
    assert!(text(r).await.contains("session store is unavailable"));
    // Saving a new session.
    let r = h.get("/ensure", &[]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    // A failure inside the handler wins over what the handler returned.
    let r = h.get("/login/4", &[]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    // JSON clients get JSON.
    let req = Request::get("/who")
        .header(header::COOKIE, &cookie)
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let r = h.app.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text(r).await, r#"{"error":"session store unavailable"}"#);

    h.store.down.store(false, Ordering::SeqCst);
    assert!(
        text(h.get("/who", &[&cookie]).await)
            .await
            .contains("Some(4)")
    );
}

#[tokio::test]
async fn a_closed_sqlite_pool_answers_503() {
    let pool = crate::db::connect_sqlite_memory().await.unwrap();
    crate::db::migrate(&pool).await.unwrap();
    let keys = KeyRing::generate();
    let store = Arc::new(SqliteSessionStore::new(pool.clone()));
    let layer = SessionLayer::new(
        store,
        keys.signer(Purpose::Session),
        SessionConfig::default(),
    );
    let app = routes().layer(layer);
    let send = |path: &str, cookie: Option<&str>| {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        app.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    let cookie = cookie_of(&send("/login/1", None).await.unwrap()).unwrap();
    assert!(
        text(send("/who", Some(&cookie)).await.unwrap())
            .await
            .contains("Some(1)")
    );
    pool.close().await;
    assert_eq!(
        send("/who", Some(&cookie)).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send("/ensure", None).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn personal_responses_are_no_store_and_vary_on_cookie() {
    let h = harness(SessionConfig::default());
    let r = h.get("/vary", &[]).await;
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let vary: Vec<_> = r
        .headers()
        .get_all(header::VARY)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
    // A presented cookie marks even a page that ignores the session, valid or not.
    let cookie = h.signed_in(1).await;
    for c in [cookie.as_str(), "__Host-palisade=garbage"] {
        let r = h.get("/anon", &[c]).await;
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::VARY], "Cookie");
    }
}

#[tokio::test]
async fn the_manager_lists_and_revokes_only_the_users_own_sessions() {
    let h = harness(SessionConfig::default());
    let (a1, a2, a3) = (
        h.signed_in(1).await,
        h.signed_in(1).await,
        h.signed_in(1).await,
    );
    let b = h.signed_in(2).await;
    let manager = SessionManager::new(h.store.clone(), SessionConfig::default());
    let key_of = |cookie: &str| {
        let value = cookie.split_once('=').unwrap().1;
        SessionKey::of_id(value.split_once('.').unwrap().0)
    };

    let list = manager.list(1, Some(&key_of(&a1))).await.unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s.current).count(), 1);
    assert!(
        list.iter()
            .all(|s| s.public_id.len() == 16 && s.ip.is_unspecified())
    );

    // Another user's public id is not this user's to revoke.
    let b_public = key_of(&b).public_id().to_owned();
    assert!(!manager.revoke(1, &b_public).await.unwrap());
    assert!(text(h.get("/who", &[&b]).await).await.contains("Some(2)"));

    assert!(manager.revoke(1, key_of(&a3).public_id()).await.unwrap());
    assert!(
        text(h.get("/who", &[&a3]).await)
            .await
            .contains("user=None")
    );

    assert_eq!(manager.revoke_others(1, &key_of(&a1)).await.unwrap(), 1);
    assert!(
        text(h.get("/who", &[&a2]).await)
            .await
            .contains("user=None")
    );
    assert!(text(h.get("/who", &[&a1]).await).await.contains("Some(1)"));

    assert_eq!(manager.revoke_all(1).await.unwrap(), 1);
    assert!(
        text(h.get("/who", &[&a1]).await)
            .await
            .contains("user=None")
    );
    assert!(text(h.get("/who", &[&b]).await).await.contains("Some(2)"));
}

#[tokio::test]
async fn a_session_revoked_during_a_request_is_not_brought_back_by_its_save() {
    let store = Arc::new(MemorySessionStore::new());
    let keys = KeyRing::generate();
    let layer = SessionLayer::new(
        store.clone(),
        keys.signer(Purpose::Session),
        SessionConfig::default(),
    );
    let app = routes()
        .route(
            "/revoke-then-write",
            get(|s: Session, m: SessionManager| async move {
                m.revoke_all(s.user_id().unwrap()).await.unwrap();
                s.insert("late", 1).unwrap();
            }),
        )
        .layer(layer);
    let login = app
        .clone()
        .oneshot(Request::get("/login/8").body(Body::empty()).unwrap());
    let cookie = cookie_of(&login.await.unwrap()).unwrap();
    let req = Request::get("/revoke-then-write").header(header::COOKIE, &cookie);
    let r = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert!(r.headers().get(header::SET_COOKIE).is_none());
    assert!(store.is_empty());
}

#[tokio::test]
async fn the_cleanup_task_deletes_expired_records() {
    let h = harness(short(300, 600));
    h.signed_in(1).await;
    h.signed_in(2).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    h.signed_in(3).await;
    let manager = SessionManager::new(h.store.clone(), short(300, 600));
    let task = manager.spawn_cleanup(Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(120)).await;
    task.abort();
    assert_eq!(h.store.inner.len(), 1);
    assert_eq!(h.store.inner.list_for_user(3).await.unwrap().len(), 1);
}

#[tokio::test]
async fn rotating_the_key_ring_keeps_sessions_signed_by_the_old_key() {
    let store = Arc::new(MemorySessionStore::new());
    let old = KeyRing::generate();
    let app_with = |keys: &KeyRing| {
        routes().layer(SessionLayer::new(
            store.clone(),
            keys.signer(Purpose::Session),
            SessionConfig::default(),
        ))
    };
    let login = app_with(&old).oneshot(Request::get("/login/6").body(Body::empty()).unwrap());
    let cookie = cookie_of(&login.await.unwrap()).unwrap();
    let rotated =
        KeyRing::from_keys(vec![KeyRing::generate_key_string(), old.to_config_string()]).unwrap();
    let req = Request::get("/who")
        .header(header::COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert!(
        text(app_with(&rotated).oneshot(req).await.unwrap())
            .await
            .contains("Some(6)")
    );
}

#[tokio::test]
async fn logs_never_contain_cookie_values_or_ids() {
    let (captured, _guard) = CapturedLogs::start();

    let h = harness(short(200, 5000));
    let cookie = h.signed_in(1).await;
    let other = h.signed_in(2).await;
    h.get("/who", &[&cookie, &other]).await;
    h.get("/logout", &[&other]).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    h.get("/who", &[&cookie]).await;

    let logs = captured.text();
    assert!(
        logs.contains("signed in") && logs.contains("expired"),
        "{logs}"
    );
    assert!(
        logs.contains("several different valid session cookies"),
        "{logs}"
    );
    for c in [&cookie, &other] {
        let value = c.split_once('=').unwrap().1;
        let (id, tag) = value.split_once('.').unwrap();
        assert!(
            !logs.contains(id) && !logs.contains(tag),
            "a cookie part leaked into the logs"
        );
    }
}

#[test]
fn the_default_config_is_strict_and_bad_ones_are_refused() {
    let config = SessionConfig::default();
    assert_eq!(config.cookie_name, "__Host-palisade");
    assert_eq!(config.touch_every(), Duration::from_secs(60));
    assert_eq!(short(1000, 2000).touch_every(), Duration::from_millis(100));
    config.validate().unwrap();
    let bad_name = SessionConfig {
        cookie_name: "a b;".into(),
        ..SessionConfig::default()
    };
    assert!(matches!(
        bad_name.validate(),
        Err(ConfigError::CookieName(_))
    ));
    assert_eq!(short(2000, 1000).validate(), Err(ConfigError::Timeouts));
    let lazy = SessionConfig {
        touch_interval: Some(Duration::from_secs(3600)),
        ..config
    };
    assert_eq!(lazy.validate(), Err(ConfigError::TouchInterval));
    let _ = HeaderValue::from_static("unused");
}
