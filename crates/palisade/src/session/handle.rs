//! The [`Session`] handle that handlers see.

use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::manager::SessionManager;
use super::service::Shared;
use super::store::{SessionKey, SessionRecord, StoreError, USER_AGENT_MAX_CHARS, now};
use super::{SessionId, delete_cookie, set_cookie};

/// The current request's session; see the [module docs](super).
///
/// An extractor (and a request extension) put in place by [`SessionLayer`](super::SessionLayer).
/// Clones share one state, so a value inserted through one clone is seen by all and saved once
/// on the way out.
///
/// A request starts with a session only when it presented a valid cookie for a live session.
/// Reading never creates one; [`Session::ensure`], [`Session::insert`] and
/// [`Session::sign_in`] do.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    ip: IpAddr,
    user_agent: String,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    current: Option<Current>,
    /// The request carried our cookie, valid or not.
    presented: bool,
    /// The request carried the cookie of a session that had expired.
    expired_arrival: bool,
    /// A session was loaded at arrival.
    loaded: bool,
    /// The handler signed out.
    cleared: bool,
    /// A store operation failed during the request: the response becomes a 503.
    failed: bool,
}

#[derive(Debug)]
struct Current {
    id: SessionId,
    record: SessionRecord,
    /// The store holds a record under `record.key`.
    persisted: bool,
    /// `record.data` or `record.user_id` changed since it was loaded or saved.
    dirty: bool,
    /// The response must carry the cookie (new or rotated id).
    set_cookie: bool,
}

/// How a request arrived, as the layer found it.
#[derive(Debug)]
pub(crate) enum Arrival {
    /// No cookie of ours.
    Absent,
    /// A cookie of ours that leads to no live session (malformed, forged, ambiguous, unknown).
    Stale,
    /// The cookie of a session that had expired; its record is deleted.
    Expired,
    /// A live session.
    Loaded(SessionId, SessionRecord),
}

/// What the response needs, decided on the way out by [`Session::finish`].
#[derive(Debug, Default)]
pub(crate) struct Finish {
    /// `Set-Cookie` values to send.
    pub(crate) cookie: Option<String>,
    /// Send `Clear-Site-Data`, with or without `"cookies"`.
    pub(crate) clear_site_data: Option<&'static str>,
    /// The response is personal: `Cache-Control: no-store`, `Vary: Cookie`.
    pub(crate) private: bool,
}

impl Session {
    pub(crate) fn new(
        shared: Arc<Shared>,
        ip: IpAddr,
        user_agent: String,
        arrival: Arrival,
    ) -> Self {
        let mut state = State {
            presented: !matches!(arrival, Arrival::Absent),
            ..State::default()
        };
        match arrival {
            Arrival::Absent | Arrival::Stale => {}
            Arrival::Expired => state.expired_arrival = true,
            Arrival::Loaded(id, record) => {
                state.loaded = true;
                state.current = Some(Current {
                    id,
                    record,
                    persisted: true,
                    dirty: false,
                    set_cookie: false,
                });
            }
        }
        Self {
            inner: Arc::new(Inner {
                shared,
                ip,
                user_agent,
                state: Mutex::new(state),
            }),
        }
    }

    /// True when the request has a session (arrived with one, or the handler started one).
    pub fn exists(&self) -> bool {
        self.state().current.is_some()
    }

    /// The signed-in user, if any.
    pub fn user_id(&self) -> Option<i64> {
        self.state().current.as_ref().and_then(|c| c.record.user_id)
    }

    /// True when the request came with the cookie of a session that had expired (the record is
    /// already deleted). Use it to send the user to `/login` with "your session expired".
    pub fn is_expired_arrival(&self) -> bool {
        self.state().expired_arrival
    }

    /// The value under `key`, or `None` when it is missing or not a `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let state = self.state();
        let value = state.current.as_ref()?.record.data.get(key)?.clone();
        serde_json::from_value(value).ok()
    }

    /// Stores `value` under `key`, starting a session if there is none. Saved on the way out.
    ///
    /// # Errors
    ///
    /// When `value` cannot be represented as JSON (a map with non-string keys, for example).
    pub fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), serde_json::Error> {
        let value = serde_json::to_value(value)?;
        let mut state = self.state();
        let current = self.current_or_new(&mut state);
        current.record.data.insert(key.to_owned(), value);
        current.dirty = true;
        Ok(())
    }

    /// Removes the value under `key`, returning it.
    pub fn remove(&self, key: &str) -> Option<Value> {
        let mut state = self.state();
        let current = state.current.as_mut()?;
        let value = current.record.data.remove(key)?;
        current.dirty = true;
        Some(value)
    }

    /// Starts an anonymous session if the request has none. It is saved, and its cookie set,
    /// on the way out. [`CsrfToken`](crate::csrf::CsrfToken) calls this.
    pub fn ensure(&self) {
        let mut state = self.state();
        self.current_or_new(&mut state);
    }

    /// Signs `user_id` in: a new id (the old record is deleted, so a fixated or stolen
    /// pre-login id is worthless), a fresh absolute lifetime starting now, and the address and
    /// browser of this request recorded for the sessions page. The CSRF token changes with the
    /// id. The data is kept (a cart, a `next` URL), unless the session belonged to another user:
    /// then it is dropped, so nothing of one account carries over to the next.
    ///
    /// # Errors
    ///
    /// When the store fails; the response then becomes a 503 whatever the handler returns.
    pub async fn sign_in(&self, user_id: i64) -> Result<(), StoreError> {
        let (ip, user_agent) = (self.inner.ip, &self.inner.user_agent);
        self.replace_id(|record| {
            if record.user_id.is_some_and(|previous| previous != user_id) {
                record.data.clear();
            }
            record.user_id = Some(user_id);
            record.created_at = record.last_seen;
            record.ip = ip;
            record.user_agent = user_agent.chars().take(USER_AGENT_MAX_CHARS).collect();
        })
        .await?;
        tracing::info!(user_id, "session signed in with a new id");
        Ok(())
    }

    /// Gives the session a new id, keeping its user, data and absolute lifetime. Call it on
    /// every change of privilege (a role granted, two-factor passed). No-op without a session.
    ///
    /// # Errors
    ///
    /// As [`Session::sign_in`].
    pub async fn rotate(&self) -> Result<(), StoreError> {
        if !self.exists() {
            return Ok(());
        }
        self.replace_id(|_| {}).await?;
        tracing::debug!("session id rotated");
        Ok(())
    }

    /// Ends the session: deletes the record, and the response clears the cookie and sends
    /// `Clear-Site-Data: "cookies", "storage"`. A copy of the old cookie is worthless from now
    /// on. Works without a session too (the cookie and site data are still cleared).
    ///
    /// A session started after this in the same request (a flash message, a fresh CSRF token
    /// for the login form) gets a new id, and the response then clears only `"storage"`.
    ///
    /// # Errors
    ///
    /// As [`Session::sign_in`].
    pub async fn sign_out(&self) -> Result<(), StoreError> {
        let (key, user_id) = {
            let state = self.state();
            let current = state.current.as_ref();
            (
                current
                    .filter(|c| c.persisted)
                    .map(|c| c.record.key.clone()),
                current.and_then(|c| c.record.user_id),
            )
        };

        if let Some(key) = &key
            && let Err(err) = self.inner.shared.store.delete(key).await
        {
            return Err(self.failed("deleting the session at sign-out", err));
        }

        let mut state = self.state();
        state.current = None;
        state.cleared = true;
        tracing::info!(user_id, "session signed out");
        Ok(())
    }

    /// The store key of the session, for [`SessionManager::list`] and
    /// [`SessionManager::revoke_others`].
    pub fn key(&self) -> Option<SessionKey> {
        self.state().current.as_ref().map(|c| c.record.key.clone())
    }

    /// A short id that is safe to show and to put in URLs; see [`SessionKey::public_id`].
    pub fn public_id(&self) -> Option<String> {
        self.key().map(|k| k.public_id().to_owned())
    }

    /// The manager of the store behind this session.
    pub fn manager(&self) -> SessionManager {
        self.inner.shared.manager.clone()
    }

    /// Runs `f` with the raw session id. Only the CSRF module needs it (tokens are bound to it);
    /// it must never be logged or sent anywhere but in the cookie.
    pub(crate) fn with_raw_id<R>(&self, f: impl FnOnce(&str) -> R) -> Option<R> {
        self.state().current.as_ref().map(|c| f(c.id.as_str()))
    }

    /// Saves what changed and decides the response headers. `None` means the store failed (now
    /// or during the request) and the response must be a 503.
    pub(crate) async fn finish(&self) -> Option<Finish> {
        let shared = &self.inner.shared;
        let config = &shared.config;
        let (current, presented, loaded, cleared, expired) = {
            let state = self.state();
            if state.failed {
                return None;
            }
            let current = state.current.as_ref().map(|c| {
                (
                    c.id.clone(),
                    c.record.clone(),
                    c.persisted,
                    c.dirty,
                    c.set_cookie,
                )
            });
            (
                current,
                state.presented,
                state.loaded,
                state.cleared,
                state.expired_arrival,
            )
        };
        let mut finish = Finish {
            private: presented || loaded || cleared,
            ..Finish::default()
        };
        if cleared {
            finish.clear_site_data = Some(r#""cookies", "storage""#);
        }

        let Some((id, mut record, persisted, dirty, new_cookie)) = current else {
            // Only a session that ended (signed out, expired) clears the cookie. An unknown or
            // ambiguous cookie is merely ignored: it may be the pre-rotation cookie of a request
            // that raced a sign-in, and deleting it would delete the new cookie too.
            if cleared || expired {
                finish.cookie = Some(delete_cookie(&config.cookie_name));
            }
            return Some(finish);
        };
        finish.private = true;
        if cleared {
            // A new session after sign-out: its cookie replaces the old one, so keep cookies.
            finish.clear_site_data = Some(r#""storage""#);
        }

        let now = now();
        let still_there = if !persisted {
            record.last_seen = now;
            shared.store.save(&record).await.map(|()| true)
        } else if dirty {
            record.last_seen = now;
            shared.store.update(&record).await
        } else if now - record.last_seen >= config.touch_every() {
            shared.store.touch(&record.key, now).await
        } else {
            Ok(true)
        };
        match still_there {
            Err(err) => {
                tracing::error!(error = %err, "session store failed while saving the session");
                return None;
            }
            Ok(false) => {
                // Revoked or rotated by another request while this one ran: do not bring it
                // back, and leave the browser's cookie alone (it may already be the new one).
                tracing::info!(
                    public_id = record.key.public_id(),
                    "session ended by another request during this one; not saved"
                );
                return Some(finish);
            }
            Ok(true) => {}
        }

        if new_cookie || !persisted {
            finish.cookie = Some(set_cookie(
                &config.cookie_name,
                &id.cookie_value(&shared.signer),
            ));
        }
        Some(finish)
    }

    /// Replaces the id: saves the record under a new key first, then deletes the old one, so a
    /// failure never leaves the user without a record that their cookie points to.
    async fn replace_id(&self, change: impl FnOnce(&mut SessionRecord)) -> Result<(), StoreError> {
        let store = &self.inner.shared.store;
        let (old_key, mut record) = {
            let mut state = self.state();
            let current = self.current_or_new(&mut state);
            (
                current.persisted.then(|| current.record.key.clone()),
                current.record.clone(),
            )
        };
        let id = SessionId::generate();
        record.key = id.key();
        record.last_seen = now();
        change(&mut record);

        if let Err(err) = store.save(&record).await {
            return Err(self.failed("saving the session under its new id", err));
        }
        if let Some(old_key) = &old_key
            && let Err(err) = store.delete(old_key).await
        {
            // Best effort: the new record must not outlive a rotation that failed.
            let _ = store.delete(&record.key).await;
            return Err(self.failed("deleting the session's old id", err));
        }

        let mut state = self.state();
        state.current = Some(Current {
            id,
            record,
            persisted: true,
            dirty: false,
            set_cookie: true,
        });
        Ok(())
    }

    fn current_or_new<'a>(&self, state: &'a mut State) -> &'a mut Current {
        state.current.get_or_insert_with(|| {
            let id = SessionId::generate();
            let record = SessionRecord::new(id.key(), self.inner.ip, &self.inner.user_agent);
            tracing::debug!(public_id = record.key.public_id(), "new anonymous session");
            Current {
                id,
                record,
                persisted: false,
                dirty: true,
                set_cookie: true,
            }
        })
    }

    fn failed(&self, doing: &'static str, err: StoreError) -> StoreError {
        tracing::error!(error = %err, doing, "session store failed");
        self.state().failed = true;
        err
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code holding this lock can panic halfway through an update that matters: every
        // critical section is a few field assignments.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Session")
            .field("key", &state.current.as_ref().map(|c| &c.record.key))
            .field(
                "user_id",
                &state.current.as_ref().and_then(|c| c.record.user_id),
            )
            .field("expired_arrival", &state.expired_arrival)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Session>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "SessionLayer is not installed",
        ))
    }
}
