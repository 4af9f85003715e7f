//! Network faults without root: one userspace TCP proxy per directed link.
//!
//! Node i reaches peer j only through the proxy for link i->j (the target is
//! given the proxy's address in `--peers`). The proxy i->j carries i's bytes
//! to j forward, and whatever j answers on that connection back to i; so i's
//! bytes to j also flow back through proxy j->i when j dialed i and i writes
//! into the response (as etcd's peer streams do). A fault on the directed link
//! i->j therefore acts on i's bytes to j in both places: the forward direction
//! of proxy i->j and the backward direction of proxy j->i, and on nothing else.
//! j's bytes to i keep flowing, acknowledged by the proxies' own sockets.
//!
//! Fault semantics, per directed link:
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

/// The listener of the proxy that node `from` dials to reach `to`.
struct LinkProxy {
    addr: String,
    task: tokio::task::JoinHandle<()>,
}

/// The proxies of every directed link of a local cluster.
pub struct ProxyNet {
    links: BTreeMap<Link, LinkProxy>,
    /// The fault state of each directed link: what happens to `from`'s bytes
    /// to `to`, whichever proxy carries them.
    states: BTreeMap<Link, watch::Sender<LinkState>>,
}

impl ProxyNet {
    /// Starts a proxy for every ordered pair of `nodes` (name, real address)
    /// on a free 127.0.0.1 port, on the given runtime.
    pub fn start(rt: &tokio::runtime::Handle, nodes: &[(String, String)]) -> anyhow::Result<Self> {
        let _guard = rt.enter();
        let link = |from: &str, to: &str| Link {
            from: from.into(),
            to: to.into(),
        };
        let mut states = BTreeMap::new();
        for (from, _) in nodes {
            for (to, _) in nodes {
                if from != to {
                    let (tx, _) = watch::channel(LinkState {
                        mode: Mode::Open,
                        reset_gen: 0,
                    });
                    states.insert(link(from, to), tx);
                }
            }
        }
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
                let directions = Directions {
                    forward: states[&link(from, to)].subscribe(),
                    backward: states[&link(to, from)].subscribe(),
                };
                let task = rt.spawn(accept_loop(listener, to_addr.clone(), directions));
                links.insert(link(from, to), LinkProxy { addr, task });
            }
        }
        Ok(ProxyNet { links, states })
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

    fn state(&self, link: &Link) -> anyhow::Result<&watch::Sender<LinkState>> {
        self.states
            .get(link)
            .ok_or_else(|| anyhow::anyhow!("no link {} -> {}", link.from, link.to))
    }

    fn set_mode(&self, link: &Link, mode: Mode) -> anyhow::Result<()> {
        self.state(link)?.send_modify(|s| s.mode = mode);
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
                    self.state(link)?.send_modify(|s| s.reset_gen += 1);
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
        for state in self.states.values() {
            state.send_modify(|s| s.mode = Mode::Open);
        }
        Ok(())
    }
}

/// The fault states a proxy from -> to obeys: `forward` (link from -> to) for
/// the bytes the dialer sends, `backward` (link to -> from) for the answers.
#[derive(Clone)]
struct Directions {
    forward: watch::Receiver<LinkState>,
    backward: watch::Receiver<LinkState>,
}

async fn accept_loop(listener: TcpListener, to_addr: String, directions: Directions) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let to_addr = to_addr.clone();
        let directions = directions.clone();
        tokio::spawn(async move {
            // The peer is down: close the inbound side; the node retries.
            if let Ok(outbound) = TcpStream::connect(&to_addr).await {
                relay(inbound, outbound, directions).await;
            }
        });
    }
}

enum End {
    Closed,
    Reset,
}

/// Relays one connection: `a` the dialing node's side, `b` the peer's. Each
/// direction obeys its own link's state; a reset or a healed cut in either
/// ends the whole connection.
async fn relay(a: TcpStream, b: TcpStream, directions: Directions) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let fds = [raw_fd(&a), raw_fd(&b)];
    let (ar, aw) = a.into_split();
    let (br, bw) = b.into_split();
    let forward = pump(ar, bw, directions.forward);
    let backward = pump(br, aw, directions.backward);
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

/// Copies `r` to `w` under the state of the link these bytes travel on;
/// returns when the connection ends. Bytes dropped by a cut taint the
/// direction: when that link heals, the connection ends with a reset.
async fn pump(
    mut r: OwnedReadHalf,
    mut w: OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
) -> End {
    let gen0 = state.borrow_and_update().reset_gen;
    let mut tainted = false;
    let mut buf = vec![0u8; 32 * 1024];
    let must_end =
        |s: LinkState, tainted: bool| s.reset_gen != gen0 || (s.mode == Mode::Open && tainted);
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
                if must_end(*state.borrow(), tainted) {
                    return End::Reset;
                }
                continue;
            }
        };
        loop {
            let s = *state.borrow_and_update();
            if must_end(s, tainted) {
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
                    tainted = true;
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

    /// A node that records every line it receives and echoes it.
    async fn recording_echo() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut lines = tokio::io::BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let _ = tx.send(line.clone());
                        if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (addr, rx)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_drops_the_senders_bytes_also_on_connections_the_receiver_dialed() {
        // n2 dials n1 (proxy n2->n1); n1 answers on that connection.
        let (n1_addr, mut n1_received) = recording_echo().await;
        let nodes = vec![
            ("n1".to_string(), n1_addr),
            ("n2".to_string(), "unused".to_string()),
        ];
        let net = ProxyNet::start(&tokio::runtime::Handle::current(), &nodes).unwrap();
        let proxy = net.addr("n2", "n1").unwrap().to_string();
        let mut s = tokio::io::BufReader::new(TcpStream::connect(&proxy).await.unwrap());
        assert_eq!(roundtrip(&mut s, "a\n").await.as_deref(), Some("a\n"));
        assert_eq!(n1_received.recv().await.as_deref(), Some("a"));

        // Cut n1 -> n2: n2 receives nothing from n1, n1 still hears n2.
        let grudge = [("n2".to_string(), BTreeSet::from(["n1".to_string()]))].into();
        net.apply(&NetFault::Partition(grudge)).unwrap();
        assert_eq!(
            roundtrip(&mut s, "b\n").await,
            None,
            "n1's answer got through"
        );
        let heard = tokio::time::timeout(Duration::from_secs(2), n1_received.recv()).await;
        assert_eq!(
            heard.ok().flatten().as_deref(),
            Some("b"),
            "n2's line was dropped"
        );

        // The opposite cut leaves this connection's answers alone but drops
        // n2's bytes.
        net.heal().unwrap();
        let mut rest = Vec::new();
        let r = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
        assert!(
            matches!(r, Ok(Ok(0)) | Ok(Err(_))),
            "tainted connection ends: {r:?}"
        );
        let mut s = tokio::io::BufReader::new(TcpStream::connect(&proxy).await.unwrap());
        assert_eq!(roundtrip(&mut s, "c\n").await.as_deref(), Some("c\n"));
        assert_eq!(n1_received.recv().await.as_deref(), Some("c"));
        let grudge = [("n1".to_string(), BTreeSet::from(["n2".to_string()]))].into();
        net.apply(&NetFault::Partition(grudge)).unwrap();
        assert_eq!(roundtrip(&mut s, "d\n").await, None);
        let heard = tokio::time::timeout(Duration::from_millis(300), n1_received.recv()).await;
        assert!(heard.is_err(), "n1 heard n2 through a cut: {heard:?}");
    }
}
