//! A small NATS client for JetStream publishing: the core text protocol
//! (CONNECT, PING/PONG, SUB, PUB, HPUB, MSG, HMSG) over one TCP connection,
//! one request at a time. The caller bounds every call with a timeout and
//! drops a connection that failed.

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// `nats://host[:port]` → `host:port`.
pub fn address(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("nats://")
        .with_context(|| format!("a NATS URL starts with nats://, not {url:?}"))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        bail!("a NATS URL is nats://host[:port] (no path, no credentials), not {url:?}");
    }
    Ok(if rest.contains(':') {
        rest.to_owned()
    } else {
        format!("{rest}:4222")
    })
}

/// A reply to a request: its headers' status line (`NATS/1.0 503`, for one
/// nobody answered) and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Option<String>,
    pub payload: Vec<u8>,
}

pub struct Connection {
    reader: BufReader<TcpStream>,
    inbox: String,
    next: u64,
}

impl Connection {
    pub async fn connect(address: &str) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to NATS at {address}"))?;
        stream.set_nodelay(true)?;
        let mut connection = Connection {
            reader: BufReader::new(stream),
            inbox: format!("_INBOX.stockd.{}", crate::auth::random_id(12)),
            next: 0,
        };
        let info = connection.read_line().await?;
        anyhow::ensure!(info.starts_with("INFO "), "NATS greeted with {info:?}");
        let connect = r#"CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,"lang":"rust","name":"stockd"}"#;
        let subscribe = format!("SUB {}.* 1\r\n", connection.inbox);
        connection
            .write(format!("{connect}\r\n{subscribe}PING\r\n").as_bytes())
            .await?;
        loop {
            match connection.read_line().await?.as_str() {
                "PONG" => return Ok(connection),
                "+OK" => {}
                line if line.starts_with("-ERR") => bail!("NATS refused the connection: {line}"),
                _ => {}
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.reader.get_mut().write_all(bytes).await?;
        Ok(())
    }

    async fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        anyhow::ensure!(
            self.reader.read_line(&mut line).await? > 0,
            "NATS closed the connection"
        );
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    /// Sends `payload` to `subject` with these headers and waits for the one reply.
    pub async fn request(
        &mut self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: &[u8],
    ) -> anyhow::Result<Reply> {
        self.next += 1;
        let reply_to = format!("{}.{}", self.inbox, self.next);
        let mut message = Vec::with_capacity(payload.len() + 128);
        if headers.is_empty() {
            message.extend_from_slice(
                format!("PUB {subject} {reply_to} {}\r\n", payload.len()).as_bytes(),
            );
        } else {
            let mut block = String::from("NATS/1.0\r\n");
            for (name, value) in headers {
                block.push_str(&format!("{name}: {value}\r\n"));
            }
            block.push_str("\r\n");
            message.extend_from_slice(
                format!(
                    "HPUB {subject} {reply_to} {} {}\r\n",
                    block.len(),
                    block.len() + payload.len()
                )
                .as_bytes(),
            );
            message.extend_from_slice(block.as_bytes());
        }
        message.extend_from_slice(payload);
        message.extend_from_slice(b"\r\n");
        self.write(&message).await?;
        loop {
            let line = self.read_line().await?;
            let mut parts = line.split(' ');
            match parts.next() {
                Some("PING") => self.write(b"PONG\r\n").await?,
                Some("-ERR") => bail!("NATS: {line}"),
                Some(kind @ ("MSG" | "HMSG")) => {
                    let fields: Vec<&str> = parts.collect();
                    let sizes: Vec<usize> = fields
                        .iter()
                        .rev()
                        .take(if kind == "MSG" { 1 } else { 2 })
                        .map(|n| n.parse())
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("a malformed NATS message line {line:?}"))?;
                    let (header_size, total) = match sizes.as_slice() {
                        [total] => (0, *total),
                        [total, header_size] => (*header_size, *total),
                        _ => bail!("a malformed NATS message line {line:?}"),
                    };
                    let mut data = vec![0u8; total + 2];
                    self.reader.read_exact(&mut data).await?;
                    data.truncate(total);
                    if fields.first() != Some(&reply_to.as_str()) {
                        continue; // a late reply to an earlier request
                    }
                    let status = (header_size > 0).then(|| {
                        String::from_utf8_lossy(&data[..header_size])
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .trim()
                            .to_owned()
                    });
                    return Ok(Reply {
                        status: status.filter(|s| s != "NATS/1.0"),
                        payload: data[header_size..].to_vec(),
                    });
                }
                _ => {}
            }
        }
    }

    /// A JetStream API call: `$JS.API.<api>` with a JSON body; its JSON answer.
    pub async fn jetstream(
        &mut self,
        api: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let reply = self
            .request(&format!("$JS.API.{api}"), &[], body.to_string().as_bytes())
            .await?;
        if let Some(status) = reply.status {
            bail!("JetStream did not answer {api}: {status} (is JetStream enabled?)");
        }
        serde_json::from_slice(&reply.payload)
            .with_context(|| format!("JetStream's answer to {api} is not JSON"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_name_host_and_port() {
        assert_eq!(
            super::address("nats://127.0.0.1:4223").unwrap(),
            "127.0.0.1:4223"
        );
        assert_eq!(super::address("nats://bus").unwrap(), "bus:4222");
        assert!(super::address("http://bus").is_err());
        assert!(super::address("nats://user:pw@bus").is_err());
    }
}
