//! A TCP proxy on the loopback that makes a local database look like one
//! across a network: every chunk of bytes is delivered `delay` after it
//! was read, in each direction, without limiting how many are in flight
//! (a link with latency, not a slow one). Nothing leaves the machine.
//!
//! It also counts the conversation's turns: the times the client sends
//! after the server has answered, which is the number of round trips the
//! client waited for. Shared by the benchmarks and the tests (through
//! `#[path]`), so the figure a test bounds is the one a benchmark prints.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A running proxy; it stops with the runtime that started it.
pub struct Proxy {
    pub port: u16,
    turns: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection
    /// to `upstream` (`host:port`), adding `delay` each way.
    pub async fn start(upstream: &str, delay: Duration) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let turns = Arc::new(AtomicU64::new(0));
        let upstream = upstream.to_string();
        let counted = turns.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                // The server spoke last: the client's first bytes are a turn.
                let server_spoke = Arc::new(AtomicBool::new(true));
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                let from_client = Side::Client {
                    server_spoke: server_spoke.clone(),
                    turns: counted.clone(),
                };
                tokio::spawn(pump(client_read, server_write, delay, from_client));
                tokio::spawn(pump(
                    server_read,
                    client_write,
                    delay,
                    Side::Server { server_spoke },
                ));
            }
        });
        Ok(Proxy { port, turns })
    }

    /// The client's turns so far, over every connection.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::Relaxed)
    }

    /// `url` with its port replaced by the proxy's (`host:port` after `@`).
    pub fn url_for(&self, url: &str) -> String {
        let at = url
            .rfind('@')
            .map_or(url.find("://").unwrap() + 3, |i| i + 1);
        let rest = &url[at..];
        let end = rest.find('/').unwrap_or(rest.len());
        format!("{}127.0.0.1:{}{}", &url[..at], self.port, &rest[end..])
    }
}

/// Which way a pump copies, and what it tells the turn count: the
/// server's bytes say it spoke last; the client's bytes after that are a
/// turn.
enum Side {
    Client {
        server_spoke: Arc<AtomicBool>,
        turns: Arc<AtomicU64>,
    },
    Server {
        server_spoke: Arc<AtomicBool>,
    },
}

/// Copies `from` to `to`, each chunk `delay` after it was read.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    side: Side,
) {
    let (send, mut receive) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = receive.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match &side {
            Side::Server { server_spoke } => server_spoke.store(true, Ordering::Relaxed),
            Side::Client {
                server_spoke,
                turns,
            } => {
                if server_spoke.swap(false, Ordering::Relaxed) {
                    turns.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if send
            .send((Instant::now() + delay, buffer[..n].to_vec()))
            .is_err()
        {
            break;
        }
    }
    drop(send);
    let _ = writer.await;
}
