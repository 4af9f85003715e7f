//! Network faults without root: one userspace TCP proxy per directed link.
//!
//! Node i reaches peer j only through the proxy for link i->j (the target is
//! given the proxy's address in `--peers`). Peer messages are one-way, so the
//! proxy i->j carries exactly i's messages to j.
//!
//! Fault semantics, per link:
//! - **cut** (partition): the proxy keeps both sockets open and keeps reading,
//!   but drops every byte, as a cut cable loses packets. Dropped bytes would
//!   leave a byte stream mid-frame, so a connection that lost bytes is marked
//!   tainted and, when the link heals, is closed with a reset: the target
//!   reconnects and starts on a clean frame boundary, as it would after a real
//!   cable cut long enough for TCP to give up. No node restarts.
//! - **stall**: the proxy stops reading; the traffic is held (kernel buffers
//!   fill, the sender blocks) and flows again, intact, when the stall ends.
//! - **reset**: every open connection on the link is closed with RST, once.

use super::{Link, Net, NetFault};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Open,
    Cut,
    Stall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LinkState {
    mode: Mode,
    /// Bumped by a reset fault: connections opened before it end with RST.
    reset_gen: u64,
}

struct LinkProxy {
    addr: String,
    state: watch::Sender<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

/// The proxies of every directed link of a local cluster.
pub struct ProxyNet {
    links: BTreeMap<Link, LinkProxy>,
}

impl ProxyNet {
    /// Starts a proxy for every ordered pair of `nodes` (name, real address)
    /// on a free 127.0.0.1 port, on the given runtime.
    pub fn start(rt: &tokio::runtime::Handle, nodes: &[(String, String)]) -> anyhow::Result<Self> {
        let _guard = rt.enter();
        let mut links = BTreeMap::new();
        for (from, _) in nodes {
            for (to, to_addr) in nodes {
                if from == to {
                    continue;
                }
                let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                std_listener.set_nonblocking(true)?;
                let addr = std_listener.local_addr()?.to_string();
                let listener = TcpListener::from_std(std_listener)?;
                let (tx, rx) = watch::channel(LinkState {
                    mode: Mode::Open,
                    reset_gen: 0,
                });
                let task = rt.spawn(accept_loop(listener, to_addr.clone(), rx));
                let link = Link {
                    from: from.clone(),
                    to: to.clone(),
                };
                links.insert(
                    link,
                    LinkProxy {
                        addr,
                        state: tx,
                        task,
                    },
                );
            }
        }
        Ok(ProxyNet { links })
    }

    /// The address node `from` must use to reach `to`.
    pub fn addr(&self, from: &str, to: &str) -> Option<&str> {
        self.links
            .get(&Link {
                from: from.into(),
                to: to.into(),
            })
            .map(|l| l.addr.as_str())
    }

    fn link(&self, link: &Link) -> anyhow::Result<&LinkProxy> {
        self.links
            .get(link)
            .ok_or_else(|| anyhow::anyhow!("no link {} -> {}", link.from, link.to))
    }

    fn set_mode(&self, link: &Link, mode: Mode) -> anyhow::Result<()> {
        self.link(link)?.state.send_modify(|s| s.mode = mode);
        Ok(())
    }
}

impl Drop for ProxyNet {
    fn drop(&mut self) {
        for l in self.links.values() {
            l.task.abort();
        }
    }
}

impl Net for ProxyNet {
    fn apply(&self, fault: &NetFault) -> anyhow::Result<()> {
        match fault {
            NetFault::Partition(grudge) => {
                for (to, froms) in grudge {
                    for from in froms {
                        let link = Link {
                            from: from.clone(),
                            to: to.clone(),
                        };
                        self.set_mode(&link, Mode::Cut)?;
                    }
                }
            }
            NetFault::Stall(links) => {
                for link in links {
                    self.set_mode(link, Mode::Stall)?;
                }
            }
            NetFault::Reset(links) => {
                for link in links {
                    self.link(link)?.state.send_modify(|s| s.reset_gen += 1);
                }
            }
            NetFault::Loss { .. } => {
                anyhow::bail!(
                    "the local proxy cannot drop a fraction of packets (use --cluster netns)"
                )
            }
        }
        Ok(())
    }

    fn supports(&self, fault: &NetFault) -> bool {
        !matches!(fault, NetFault::Loss { .. })
    }

    fn heal(&self) -> anyhow::Result<()> {
        for l in self.links.values() {
            l.state.send_modify(|s| s.mode = Mode::Open);
        }
        Ok(())
    }
}

async fn accept_loop(listener: TcpListener, to_addr: String, state: watch::Receiver<LinkState>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let to_addr = to_addr.clone();
        let state = state.clone();
        tokio::spawn(async move {
            // The peer is down: close the inbound side; the node retries.
            if let Ok(outbound) = TcpStream::connect(&to_addr).await {
                relay(inbound, outbound, state).await;
            }
        });
    }
}

enum End {
    Closed,
    Reset,
}

async fn relay(a: TcpStream, b: TcpStream, state: watch::Receiver<LinkState>) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let fds = [raw_fd(&a), raw_fd(&b)];
    let gen0 = state.borrow().reset_gen;
    let tainted = Arc::new(AtomicBool::new(false));
    let (ar, aw) = a.into_split();
    let (br, bw) = b.into_split();
    let forward = pump(ar, bw, state.clone(), tainted.clone(), gen0);
    let backward = pump(br, aw, state, tainted, gen0);
    tokio::pin!(forward, backward);
    let end = tokio::select! {
        e = &mut forward => e,
        e = &mut backward => e,
    };
    if let End::Reset = end {
        for fd in fds {
            set_linger_zero(fd);
        }
    }
    // Dropping the pumps closes both sockets (with RST when lingering 0).
}

/// Copies `r` to `w` under the link's state; returns when the connection ends.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
    tainted: Arc<AtomicBool>,
    gen0: u64,
) -> End {
    let mut buf = vec![0u8; 32 * 1024];
    let must_end = |s: LinkState, tainted: &AtomicBool| {
        s.reset_gen != gen0 || (s.mode == Mode::Open && tainted.load(Ordering::SeqCst))
    };
    loop {
        let n = tokio::select! {
            read = r.read(&mut buf) => match read {
                Ok(0) | Err(_) => return End::Closed,
                Ok(n) => n,
            },
            changed = state.changed() => {
                if changed.is_err() {
                    return End::Closed;
                }
                if must_end(*state.borrow(), &tainted) {
                    return End::Reset;
                }
                continue;
            }
        };
        loop {
            let s = *state.borrow_and_update();
            if must_end(s, &tainted) {
                return End::Reset;
            }
            match s.mode {
                Mode::Open => {
                    if w.write_all(&buf[..n]).await.is_err() {
                        return End::Closed;
                    }
                    break;
                }
                Mode::Cut => {
                    tainted.store(true, Ordering::SeqCst);
                    break;
                }
                Mode::Stall => {
                    if state.changed().await.is_err() {
                        return End::Closed;
                    }
                }
            }
        }
    }
}

fn raw_fd(s: &TcpStream) -> i32 {
    use std::os::fd::AsRawFd;
    s.as_raw_fd()
}

/// Makes the next close send RST instead of FIN.
fn set_linger_zero(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: fd is an open socket owned by a live TcpStream half; the option
    // struct is valid for the given length.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use tokio::io::AsyncBufReadExt;

    /// An echo server standing in for node `to`.
    async fn echo() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut tokio::io::BufReader<TcpStream>, msg: &str) -> Option<String> {
        s.get_mut().write_all(msg.as_bytes()).await.ok()?;
        let mut line = String::new();
        match tokio::time::timeout(Duration::from_millis(300), s.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => Some(line),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cut_blackholes_open_connections_and_heal_resets_them() {
        let addr = echo().await;
        let nodes = vec![
            ("n1".to_string(), "unused".to_string()),
            ("n2".to_string(), addr),
        ];
        let net = ProxyNet::start(&tokio::runtime::Handle::current(), &nodes).unwrap();
        let proxy = net.addr("n1", "n2").unwrap().to_string();
        let mut s = tokio::io::BufReader::new(TcpStream::connect(&proxy).await.unwrap());
        assert_eq!(roundtrip(&mut s, "a\n").await.as_deref(), Some("a\n"));

        let grudge = [("n2".to_string(), BTreeSet::from(["n1".to_string()]))].into();
        net.apply(&NetFault::Partition(grudge)).unwrap();
        assert_eq!(
            roundtrip(&mut s, "b\n").await,
            None,
            "cut: nothing gets through"
        );

        net.heal().unwrap();
        // The tainted connection is reset; a new one works.
        let mut rest = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "old connection ends: {r:?}"
        );
        let mut s = tokio::io::BufReader::new(TcpStream::connect(&proxy).await.unwrap());
        assert_eq!(roundtrip(&mut s, "c\n").await.as_deref(), Some("c\n"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stall_holds_traffic_and_releases_it_intact() {
        let addr = echo().await;
        let nodes = vec![
            ("n1".to_string(), "unused".to_string()),
            ("n2".to_string(), addr),
        ];
        let net = ProxyNet::start(&tokio::runtime::Handle::current(), &nodes).unwrap();
        let proxy = net.addr("n1", "n2").unwrap().to_string();
        let mut s = tokio::io::BufReader::new(TcpStream::connect(&proxy).await.unwrap());
        assert_eq!(roundtrip(&mut s, "a\n").await.as_deref(), Some("a\n"));
        let link = Link {
            from: "n1".into(),
            to: "n2".into(),
        };
        net.apply(&NetFault::Stall(vec![link.clone()])).unwrap();
        assert_eq!(roundtrip(&mut s, "b\n").await, None, "stalled");
        net.heal().unwrap();
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line, "b\n", "held bytes arrive after the stall");

        net.apply(&NetFault::Reset(vec![link])).unwrap();
        let mut rest = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
        assert!(r.is_ok(), "reset ends the connection");
    }
}
