//! Where a Redis server is: `redis://[user[:password]@]host[:port][/db]`
//! (a user name is a Redis 6 ACL user; without one, the password is the
//! `default` user's).

use std::fmt;

use anyhow::{bail, Context};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

#[derive(Clone)]
pub struct RedisAddress {
    info: ConnectionInfo,
}

impl RedisAddress {
    /// Reads a `redis://` URL (TLS, `rediss://`, and Unix sockets are not offered).
    pub fn parse(url: &str) -> anyhow::Result<RedisAddress> {
        if !url.starts_with("redis://") {
            bail!("a Redis URL starts with redis://, not {:?}", shown_url(url));
        }
        let info = url
            .into_connection_info()
            .with_context(|| format!("the Redis URL {:?}", shown_url(url)))?;
        match info.addr() {
            ConnectionAddr::Tcp(host, _) if !host.is_empty() => Ok(RedisAddress { info }),
            _ => bail!("the Redis URL {:?} names no host", shown_url(url)),
        }
    }

    /// The address seed 001's `redis:` section names: host, port, database and password.
    pub fn from_parts(
        host: &str,
        port: u16,
        db: i64,
        password: Option<&str>,
    ) -> anyhow::Result<RedisAddress> {
        if host.is_empty() {
            bail!("redis.host is empty");
        }
        let mut settings = RedisConnectionInfo::default().set_db(db);
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            settings = settings.set_password(password);
        }
        let info = ConnectionAddr::Tcp(host.to_owned(), port)
            .into_connection_info()
            .context("the Redis address")?
            .set_redis_settings(settings);
        Ok(RedisAddress { info })
    }

    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The ACL user, if one is named.
    pub fn username(&self) -> Option<&str> {
        self.info.redis_settings().username()
    }

    /// The address without its password, for logs.
    pub fn shown(&self) -> String {
        let user = self
            .username()
            .map(|user| format!("{user}@"))
            .unwrap_or_default();
        format!(
            "redis://{user}{}/{}",
            self.info.addr(),
            self.info.redis_settings().db()
        )
    }
}

impl fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl PartialEq for RedisAddress {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.info.redis_settings(), other.info.redis_settings());
        self.info.addr() == other.info.addr()
            && a.db() == b.db()
            && a.username() == b.username()
            && a.password() == b.password()
    }
}

/// A URL as an error may quote it: without what stands before `@`.
fn shown_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_database_user_and_password() {
        let address = RedisAddress::parse("redis://127.0.0.1:6380/2").unwrap();
        assert_eq!(address.shown(), "redis://127.0.0.1:6380/2");
        assert_eq!(address.username(), None);

        let address = RedisAddress::parse("redis://:s3cret@cache").unwrap();
        assert_eq!(address.shown(), "redis://cache:6379/0");
        assert_eq!(
            address.connection_info().redis_settings().password(),
            Some("s3cret")
        );
        assert_eq!(address.username(), None);
        assert_eq!(
            address,
            RedisAddress::from_parts("cache", 6379, 0, Some("s3cret")).unwrap()
        );

        // A Redis 6 ACL user is kept, not dropped.
        let address = RedisAddress::parse("redis://alice:s3cret@cache:6390/1").unwrap();
        assert_eq!(address.username(), Some("alice"));
        assert_eq!(
            address.connection_info().redis_settings().password(),
            Some("s3cret")
        );
        assert_eq!(address.shown(), "redis://alice@cache:6390/1");
        assert!(!format!("{address:?}").contains("s3cret"));

        for bad in [
            "http://cache",
            "redis://cache:port",
            "redis://:6379",
            "redis://cache/zero",
        ] {
            assert!(RedisAddress::parse(bad).is_err(), "{bad} was accepted");
        }
        let error = RedisAddress::parse("http://u:s3cret@cache").unwrap_err();
        assert!(!format!("{error:#}").contains("s3cret"));
    }
}
