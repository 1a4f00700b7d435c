//! Basic authentication against the bcrypt hashes of `basic_auth_users`,
//! as the exporter-toolkit does it: an unknown user costs a bcrypt
//! comparison too (no timing tells which users exist), one comparison runs
//! at a time on a blocking thread (the server keeps answering meanwhile),
//! and results are cached so that a scraper with the right password pays
//! bcrypt once, not every scrape.

use std::collections::VecDeque;
use std::sync::Mutex;

use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::basic;

/// A bcrypt hash of a password nobody knows, compared against for unknown
/// users so that they take as long as known ones (cost 10, htpasswd's and
/// the toolkit's usual cost).
const DECOY: &str = "$2y$10$KFIX07.wJlx2hSgA./1qEOrLZUg905K0uQ7JCGoAG1ngPwtabEilW";

/// The most remembered verdicts.
const CACHE: usize = 256;

struct Verdict {
    user: Vec<u8>,
    password: Vec<u8>,
    hash: String,
    ok: bool,
}

/// The users and the verdict cache.
pub(super) struct Users {
    users: Vec<(String, String)>,
    cache: Mutex<VecDeque<Verdict>>,
    bcrypt: Semaphore,
}

impl Users {
    /// `users`: names and bcrypt hashes (checked by the configuration).
    pub(super) fn new(users: Vec<(String, String)>) -> Self {
        Users {
            users,
            cache: Mutex::new(VecDeque::new()),
            bcrypt: Semaphore::new(1),
        }
    }

    /// Whether anyone must authenticate.
    pub(super) fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether the `Authorization` header value names a user and the
    /// right password.
    pub(super) async fn check(&self, header: Option<&[u8]>) -> bool {
        let Some(c) = header.and_then(basic::parse) else {
            return false;
        };
        // Every user is compared, in constant time, so that the position
        // of a match tells nothing.
        let mut found: Option<&str> = None;
        for (name, hash) in &self.users {
            if bool::from(name.as_bytes().ct_eq(&c.user)) {
                found = Some(hash);
            }
        }
        let hash = found.unwrap_or(DECOY);
        if let Some(ok) = self.cached(&c, hash) {
            return ok && found.is_some();
        }
        let Ok(_turn) = self.bcrypt.acquire().await else {
            return false;
        };
        // Another request may have settled it while this one waited.
        if let Some(ok) = self.cached(&c, hash) {
            return ok && found.is_some();
        }
        let (password, owned_hash) = (c.password.clone(), hash.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            bcrypt::verify(&password, &owned_hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE {
            cache.pop_front();
        }
        cache.push_back(Verdict {
            user: c.user,
            password: c.password,
            hash: hash.to_string(),
            ok,
        });
        ok && found.is_some()
    }

    fn cached(&self, c: &basic::Credentials, hash: &str) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let mut verdict = None;
        for v in cache.iter() {
            let same = v.user.ct_eq(&c.user) & v.password.ct_eq(&c.password);
            if bool::from(same) && v.hash == hash {
                verdict = Some(v.ok);
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b}").into_bytes()
    }

    #[test]
    fn right_wrong_unknown_and_cached() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let users = Users::new(vec![("alice".into(), hash)]);
        assert!(users.required());
        rt.block_on(async {
            assert!(users.check(Some(&header("alice", "s3cret"))).await);
            assert!(
                users.check(Some(&header("alice", "s3cret"))).await,
                "cached"
            );
            assert!(!users.check(Some(&header("alice", "wrong"))).await);
            assert!(
                !users.check(Some(&header("alice", "wrong"))).await,
                "cached no"
            );
            assert!(!users.check(Some(&header("bob", "s3cret"))).await);
            assert!(!users.check(Some(&header("alicex", "s3cret"))).await);
            assert!(!users.check(None).await);
            assert!(!users.check(Some(b"Bearer x")).await);
        });
        // The decoy is a real hash of something else.
        assert_eq!(bcrypt::verify("", DECOY).ok(), Some(false));
    }
}
