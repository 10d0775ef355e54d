//! The connector against real Redis servers: the machine's (127.0.0.1:6379,
//! with keys of each test's own) and servers a test starts itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stock_core::{Item, ItemId, ItemStatus, Level, LocationId};
use stock_jobs::cache::{CacheBackend, CachedEntry};
use stock_store::{ItemView, LocationLevel};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::{RedisAddress, RedisCache, RedisCacheConfig};

const MACHINE_REDIS: &str = "127.0.0.1:6379";

fn view(id: &str, on_hand: i64) -> ItemView {
    ItemView {
        item: Item {
            id: ItemId::parse(id).unwrap(),
            name: format!("item {id}"),
            status: ItemStatus::Active,
            min_stock: None,
            max_stock: None,
            allow_backorder: false,
        },
        levels: vec![LocationLevel {
            location: LocationId::default_location(),
            level: Level {
                on_hand,
                reserved: 0,
                version: 1,
            },
            updated_at_ms: 1,
        }],
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

/// Keys of one test: `stockd-unit-<pid>-<n>:…`.
fn config(address: RedisAddress) -> RedisCacheConfig {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("stockd-unit-{}-{n}", std::process::id());
    RedisCacheConfig {
        key_format: format!("{prefix}:stock:{{product_id}}"),
        view_key_format: format!("{prefix}:item:{{product_id}}"),
        timeout: Duration::from_secs(5),
        pool_size: 1,
        ..RedisCacheConfig::new(address)
    }
}

/// A TCP proxy in front of a Redis that can hold back Redis's replies, and
/// says when a request has gone through.
struct HoldingProxy {
    address: String,
    /// While false, replies wait in the proxy.
    pass_replies: watch::Sender<bool>,
    /// Counts the reads that went from the client to Redis.
    requested: watch::Receiver<u64>,
}

impl HoldingProxy {
    async fn start(upstream: &'static str) -> HoldingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (pass_replies, gate) = watch::channel(true);
        let (told, requested) = watch::channel(0u64);
        let told = Arc::new(told);
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let server = TcpStream::connect(upstream)
                    .await
                    .expect("Redis is needed at 127.0.0.1:6379");
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let told = Arc::clone(&told);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = client_read.read(&mut buffer).await {
                        server_write.write_all(&buffer[..n]).await.unwrap();
                        told.send_modify(|count| *count += 1);
                    }
                });
                let mut gate = gate.clone();
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                        gate.wait_for(|pass| *pass).await.unwrap();
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        HoldingProxy {
            address,
            pass_replies,
            requested,
        }
    }
}

#[tokio::test]
async fn a_caller_that_gives_up_mid_call_leaves_no_reply_for_the_next() {
    let proxy = HoldingProxy::start(MACHINE_REDIS).await;
    let address = RedisAddress::parse(&format!("redis://{}", proxy.address)).unwrap();
    let cache = Arc::new(RedisCache::new(config(address)).unwrap());
    let (first, second) = (view("first", 1), view("second", 2));
    cache
        .write(&[first.clone(), second.clone()], true)
        .await
        .unwrap();

    // The first caller's request reaches Redis, its reply is held back, and
    // the caller gives up (a client gone, a request timeout).
    proxy.pass_replies.send_replace(false);
    let mut requested = proxy.requested.clone();
    let before = *requested.borrow_and_update();
    let caller = {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move { cache.read(std::slice::from_ref(&first.item.id)).await })
    };
    requested.wait_for(|count| *count > before).await.unwrap();
    caller.abort();
    assert!(caller.await.unwrap_err().is_cancelled());
    proxy.pass_replies.send_replace(true);

    // The next caller on the same connection gets its own reply, not the
    // one left behind.
    let read = cache
        .read(std::slice::from_ref(&second.item.id))
        .await
        .unwrap();
    assert_eq!(read.len(), 1);
    let read = read[0].as_ref().expect("the second item is cached");
    assert_eq!(read.item.id, second.item.id);
    assert_eq!(read.available(), 2);
    let entries = cache
        .entries(std::slice::from_ref(&second.item.id))
        .await
        .unwrap();
    assert_eq!(entries[0].value, Some(2));
}

#[tokio::test]
async fn a_missing_key_is_nothing_not_zero() {
    let address = RedisAddress::parse(&format!("redis://{MACHINE_REDIS}")).unwrap();
    let cache = RedisCache::new(config(address)).unwrap();
    let never = ItemId::parse("never-written").unwrap();
    assert_eq!(
        cache.entries(std::slice::from_ref(&never)).await.unwrap(),
        vec![CachedEntry {
            value: None,
            stamp: None
        }]
    );
    assert!(cache.read(&[never]).await.unwrap()[0].is_none());

    // Written, then read back as written; an older stamp does not overwrite it.
    let tea = view("tea", 7);
    cache
        .write(std::slice::from_ref(&tea), false)
        .await
        .unwrap();
    let mut older = view("tea", 99);
    older.levels[0].level.version = 0;
    cache.write(&[older], false).await.unwrap();
    let entries = cache
        .entries(std::slice::from_ref(&tea.item.id))
        .await
        .unwrap();
    assert_eq!(entries[0].value, Some(7));
    assert_eq!(entries[0].stamp, Some((1, 1)));
}

/// A Redis server of the test's own, with a config file; it may be stopped
/// and started again on the same port.
struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl OwnRedis {
    async fn start(extra_config: &str) -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("redis.conf"),
            format!("port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\n{extra_config}\n"),
        )
        .unwrap();
        let child = OwnRedis::spawn(port, &dir).await;
        OwnRedis { port, dir, child }
    }

    async fn spawn(port: u16, dir: &tempfile::TempDir) -> std::process::Child {
        let child = std::process::Command::new("redis-server")
            .arg(dir.path().join("redis.conf"))
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        // Wait until it listens (a refused connection answers at once).
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn restart(&mut self) {
        self.stop();
        self.child = OwnRedis::spawn(self.port, &self.dir).await;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn after_a_restart_a_ping_mends_every_connection() {
    let mut redis = OwnRedis::start("").await;
    let address = RedisAddress::parse(&format!("redis://127.0.0.1:{}", redis.port)).unwrap();
    let cache = RedisCache::new(RedisCacheConfig {
        pool_size: 4,
        ..config(address)
    })
    .unwrap();
    let tea = view("tea", 5);
    let ids = std::slice::from_ref(&tea.item.id);
    // Each call takes the next connection: all four are open.
    for _ in 0..4 {
        cache.write(std::slice::from_ref(&tea), true).await.unwrap();
    }

    redis.restart().await; // empty, and every socket to it broken
                           // The cache's healer pings until Redis answers; a ping that fails
                           // on some connection has them mend themselves for the next try.
    let deadline = Instant::now() + Duration::from_secs(30);
    while cache.ping().await.is_err() {
        assert!(Instant::now() < deadline, "Redis was not reached again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Once a ping went through, every connection answers.
    for _ in 0..4 {
        assert_eq!(cache.entries(ids).await.unwrap()[0].value, None);
    }
}

#[tokio::test]
async fn an_acl_user_in_the_url_is_the_user_signed_in_as() {
    let redis = OwnRedis::start("user default off\nuser alice on >s3cret ~* &* +@all").await;
    let port = redis.port;
    let as_alice = RedisAddress::parse(&format!("redis://alice:s3cret@127.0.0.1:{port}")).unwrap();
    let cache = RedisCache::new(config(as_alice)).unwrap();
    cache.ping().await.expect("alice may sign in");
    let tea = view("tea", 3);
    cache
        .write(std::slice::from_ref(&tea), false)
        .await
        .unwrap();
    assert_eq!(
        cache.entries(&[tea.item.id]).await.unwrap()[0].value,
        Some(3)
    );

    // The same password for the default user (which is off) is refused: the
    // user name is what made the difference.
    let as_default = RedisAddress::parse(&format!("redis://:s3cret@127.0.0.1:{port}")).unwrap();
    let cache = RedisCache::new(config(as_default)).unwrap();
    assert!(cache.ping().await.is_err());
}
