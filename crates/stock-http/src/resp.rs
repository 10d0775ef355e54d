//! A small Redis client: RESP2 over one TCP connection, one command or a
//! pipeline at a time. It knows what stockd needs (strings, integers,
//! arrays, errors) and nothing else; the caller bounds every call with a
//! timeout and drops a connection that failed.

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where a Redis server is: `redis://[:password@]host[:port][/db]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisAddress {
    pub host: String,
    pub port: u16,
    pub db: u32,
    pub password: Option<String>,
}

impl RedisAddress {
    pub fn parse(url: &str) -> anyhow::Result<RedisAddress> {
        let rest = url
            .strip_prefix("redis://")
            .with_context(|| format!("a Redis URL starts with redis://, not {url:?}"))?;
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (Some(auth), rest),
            None => (None, rest),
        };
        let password = auth
            .map(|auth| auth.split_once(':').map_or(auth, |(_, password)| password))
            .filter(|password| !password.is_empty())
            .map(str::to_owned);
        let (host_port, db) = match rest.split_once('/') {
            Some((host_port, "")) => (host_port, 0),
            Some((host_port, db)) => (
                host_port,
                db.parse()
                    .with_context(|| format!("the database in {url:?} is not a number"))?,
            ),
            None => (rest, 0),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .with_context(|| format!("the port in {url:?} is not a number"))?,
            ),
            None => (host_port, 6379),
        };
        if host.is_empty() {
            bail!("the Redis URL {url:?} names no host");
        }
        Ok(RedisAddress {
            host: host.to_owned(),
            port,
            db,
            password,
        })
    }

    /// The URL without its password, for logs.
    pub fn shown(&self) -> String {
        format!("redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Integer(i64),
    Array(Vec<Value>),
    Null,
    /// The server refused this one command.
    Error(String),
}

impl Value {
    /// Text, or "0" for nil (a missing counter).
    pub fn text(self) -> anyhow::Result<String> {
        match self {
            Value::Text(text) => Ok(text),
            Value::Null => Ok("0".to_owned()),
            other => bail!("expected text from Redis, got {other:?}"),
        }
    }

    pub fn integer(self) -> anyhow::Result<i64> {
        match self {
            Value::Integer(n) => Ok(n),
            other => bail!("expected an integer from Redis, got {other:?}"),
        }
    }

    pub fn array(self) -> anyhow::Result<Vec<Value>> {
        match self {
            Value::Array(values) => Ok(values),
            other => bail!("expected an array from Redis, got {other:?}"),
        }
    }
}

/// One connection.
pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `host:port` with no password and database 0.
    pub async fn connect(address: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to Redis at {address}"))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Connects, authenticates and selects the database.
    pub async fn open(address: &RedisAddress) -> anyhow::Result<Connection> {
        let mut connection =
            Connection::connect(&format!("{}:{}", address.host, address.port)).await?;
        if let Some(password) = &address.password {
            connection.command(&["AUTH", password]).await?;
        }
        if address.db != 0 {
            connection
                .command(&["SELECT", &address.db.to_string()])
                .await?;
        }
        Ok(connection)
    }

    /// One command; a refusal by the server is an error.
    pub async fn command(&mut self, args: &[&str]) -> anyhow::Result<Value> {
        let mut replies = self.pipeline(&[args.to_vec()]).await?;
        match replies.pop() {
            Some(Value::Error(message)) => bail!("Redis: {message}"),
            Some(value) => Ok(value),
            None => bail!("Redis sent no reply"),
        }
    }

    /// Several commands in one write; one reply each, in order. A command
    /// the server refuses is a `Value::Error` among the replies.
    pub async fn pipeline<S: AsRef<str>>(
        &mut self,
        commands: &[Vec<S>],
    ) -> anyhow::Result<Vec<Value>> {
        let mut request = Vec::new();
        for args in commands {
            request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for arg in args {
                let arg = arg.as_ref();
                request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
                request.extend_from_slice(arg.as_bytes());
                request.extend_from_slice(b"\r\n");
            }
        }
        self.reader.get_mut().write_all(&request).await?;
        let mut replies = Vec::with_capacity(commands.len());
        for _ in commands {
            replies.push(self.read_value().await?);
        }
        Ok(replies)
    }

    async fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        anyhow::ensure!(
            self.reader.read_line(&mut line).await? > 0,
            "Redis closed the connection"
        );
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    fn read_value(
        &mut self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Value>> + Send + '_>>
    {
        Box::pin(async move {
            let line = self.read_line().await?;
            anyhow::ensure!(!line.is_empty(), "an empty reply line from Redis");
            let (kind, rest) = line.split_at(1);
            match kind {
                "+" => Ok(Value::Text(rest.to_owned())),
                "-" => Ok(Value::Error(rest.to_owned())),
                ":" => Ok(Value::Integer(rest.parse()?)),
                "$" => {
                    let length: i64 = rest.parse()?;
                    if length < 0 {
                        return Ok(Value::Null);
                    }
                    let mut data = vec![0u8; length as usize + 2];
                    self.reader.read_exact(&mut data).await?;
                    data.truncate(length as usize);
                    Ok(Value::Text(String::from_utf8(data)?))
                }
                "*" => {
                    let count: i64 = rest.parse()?;
                    if count < 0 {
                        return Ok(Value::Null);
                    }
                    let mut values = Vec::with_capacity(count as usize);
                    for _ in 0..count {
                        values.push(self.read_value().await?);
                    }
                    Ok(Value::Array(values))
                }
                other => bail!("unexpected reply from Redis: {other}{rest}"),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_database_and_password() {
        assert_eq!(
            RedisAddress::parse("redis://127.0.0.1:6380/2").unwrap(),
            RedisAddress {
                host: "127.0.0.1".into(),
                port: 6380,
                db: 2,
                password: None
            }
        );
        let address = RedisAddress::parse("redis://:s3cret@cache").unwrap();
        assert_eq!((address.port, address.db), (6379, 0));
        assert_eq!(address.password.as_deref(), Some("s3cret"));
        assert_eq!(address.shown(), "redis://cache:6379/0");
        assert!(RedisAddress::parse("http://cache").is_err());
        assert!(RedisAddress::parse("redis://cache:port").is_err());
        assert!(RedisAddress::parse("redis://:6379").is_err());
    }
}
