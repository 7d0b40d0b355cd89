//! The DNS server process: `berth __dns-server <run_dir>`.
//!
//! The process started by [`super::ensure`] is a launcher: it takes the lock on
//! `<run_dir>/dns/server.pid` (exiting [`EXIT_RUNNING`] if a server holds it), forks the server
//! into a session of its own and exits 0 once the server has loaded the records, bound its
//! sockets and written its pid, or 1 if it failed (the reason is in `server.log`). The server
//! runs one current-thread tokio runtime: a UDP and a TCP task per gateway address, a task per
//! forwarded query or TCP connection (both bounded), and a loop that reloads on SIGHUP and every
//! [`RELOAD_EVERY`] or when [`super::ensure`] connects to its control socket (and answers it
//! once done) — records and the host's resolvers; listeners follow the gateways — and ends
//! on SIGTERM/SIGINT or when no network directory is left. On the way out it closes its
//! sockets and removes its pid file; if records appeared meanwhile it starts a successor.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

use super::message::{self, Action, Transport};
use super::records::{self, dns_dir};
use super::store::{Resolver, Store};
use super::upstream;
use super::{CONTROL_SOCKET, LOG_FILE, PID_FILE, SERVER_ARG};

/// The launcher's exit code when a server of this run directory already holds the lock.
pub const EXIT_RUNNING: i32 = 3;
/// Records and the host's resolvers are re-read this often even without SIGHUP.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// How long one upstream gets to answer over UDP, and over TCP.
const UDP_WAIT: Duration = Duration::from_secs(2);
const TCP_WAIT: Duration = Duration::from_secs(4);
/// An idle TCP client is dropped after this.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Forwarded queries and TCP connections in flight; more are answered SERVFAIL or dropped, which
/// keeps memory bounded whatever the clients do.
const MAX_FORWARDS: usize = 128;
const MAX_TCP: usize = 32;
/// Largest UDP query read (queries are small; this is the EDNS payload limit most use).
const UDP_QUERY_MAX: usize = 4096;

/// One line to stderr (the log file). Never panics: a server whose log went away keeps serving.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "{} berth-dns[{}]: {}",
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            std::process::id(),
            format_args!($($arg)*)
        );
    }};
}

/// Runs the DNS server when argv is `__dns-server <run_dir>` and returns its exit code; `None`
/// for any other argv. Must be called before any thread starts (it forks).
pub fn run_if_invoked(args: &[OsString]) -> Option<i32> {
    if args.first().map(OsString::as_os_str) != Some(OsStr::new(SERVER_ARG)) {
        return None;
    }
    let Some(run_dir) = args.get(1) else {
        eprintln!("usage: berth {SERVER_ARG} <run_dir>");
        return Some(2);
    };
    Some(launch(&super::absolute(Path::new(run_dir))))
}

fn launch(run_dir: &Path) -> i32 {
    let dir = dns_dir(run_dir);
    if let Err(e) = fs::create_dir_all(&dir) {
        log!("create {}: {e}", dir.display());
        return 1;
    }
    let pid_path = dir.join(PID_FILE);
    let pid_file = match lock(&pid_path) {
        Ok(Some(f)) => f,
        Ok(None) => return EXIT_RUNNING,
        Err(e) => {
            log!("lock {}: {e}", pid_path.display());
            return 1;
        }
    };
    let (ready_rx, ready_tx) = match nix::unistd::pipe() {
        Ok(p) => p,
        Err(e) => {
            log!("pipe: {}", e.desc());
            return 1;
        }
    };
    // SAFETY: the process is single-threaded here (main calls us before starting any thread
    // or runtime), so the child may run arbitrary code after fork.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(ready_tx);
            let mut byte = [0u8; 1];
            match File::from(ready_rx).read(&mut byte) {
                Ok(1) => 0,
                // The server died before it was ready; it logged why.
                _ => 1,
            }
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(ready_rx);
            // A session of its own: no terminal, no signals meant for the caller's group.
            let _ = nix::unistd::setsid();
            let _ = std::env::set_current_dir("/");
            let code = serve(run_dir, &pid_path, pid_file, ready_tx);
            std::process::exit(code)
        }
        Err(e) => {
            log!("fork: {}", e.desc());
            1
        }
    }
}

/// Takes the lock on the pid file. None when another process holds it. Retries when the file
/// it locked was removed meanwhile by a server on its way out.
fn lock(path: &Path) -> io::Result<Option<File>> {
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        let ours = file.metadata()?;
        match fs::metadata(path) {
            Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => return Ok(Some(file)),
            _ => continue,
        }
    }
}

fn serve(run_dir: &Path, pid_path: &Path, pid_file: File, ready: OwnedFd) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            log!("start the runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(run(run_dir, &pid_file, ready));
    // Every task (and so every socket) ends with the runtime, before a successor binds.
    drop(rt);
    let _ = fs::remove_file(dns_dir(run_dir).join(CONTROL_SOCKET));
    let _ = fs::remove_file(pid_path);
    drop(pid_file);
    match result {
        Ok(Ended::Stopped) => 0,
        Ok(Ended::Empty) => {
            if records::has_networks(run_dir) {
                // Records were written while we were on our way out, and their writer may have
                // signalled us instead of starting a server.
                log!("records appeared while exiting; starting a new server");
                let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
                if let Err(e) = super::ensure(run_dir, &exe) {
                    log!("{e}");
                    return 1;
                }
            } else {
                tidy(run_dir);
            }
            0
        }
        Err(e) => {
            log!("{e}");
            1
        }
    }
}

/// Removes the DNS directory when nothing but an empty log is left in it.
fn tidy(run_dir: &Path) {
    let dir = dns_dir(run_dir);
    let log = dir.join(LOG_FILE);
    if fs::metadata(&log).is_ok_and(|m| m.len() == 0) {
        let _ = fs::remove_file(&log);
    }
    // Fails, harmlessly, when anything else is there.
    let _ = fs::remove_dir(&dir);
}

struct Shared {
    resolver: Mutex<Resolver>,
    forwards: Arc<Semaphore>,
    tcp: Arc<Semaphore>,
}

impl Shared {
    fn resolver(&self) -> MutexGuard<'_, Resolver> {
        // A panic while holding it cannot leave the resolver half-changed in a way that
        // matters (a counter at worst): go on with it.
        self.resolver.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The UDP and TCP tasks of one listening address.
struct Listener {
    tasks: [JoinHandle<()>; 2],
}

impl Drop for Listener {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What a reload keeps between calls, so that it logs a problem once, not every period.
#[derive(Default)]
struct Reloader {
    listeners: HashMap<IpAddr, Listener>,
    problems: BTreeSet<String>,
}

/// Why the server ended.
enum Ended {
    /// SIGTERM or SIGINT: stop, whatever records there are.
    Stopped,
    /// No network directory was left.
    Empty,
}

async fn run(run_dir: &Path, pid_file: &File, ready: OwnedFd) -> io::Result<Ended> {
    // Handlers first: a SIGHUP sent as soon as the pid file names us must not kill us.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let shared = Arc::new(Shared {
        resolver: Mutex::new(Resolver::default()),
        forwards: Arc::new(Semaphore::new(MAX_FORWARDS)),
        tcp: Arc::new(Semaphore::new(MAX_TCP)),
    });
    // We hold the lock, so a socket file there is a dead server's.
    let control_path = dns_dir(run_dir).join(CONTROL_SOCKET);
    let _ = fs::remove_file(&control_path);
    let control = UnixListener::bind(&control_path)?;
    let mut reloader = Reloader::default();
    let mut networks = reload(run_dir, &shared, &mut reloader);
    pid_file.set_len(0)?;
    pid_file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)?;
    File::from(ready).write_all(b"r")?;
    log!("serving {networks} network(s) from {}", run_dir.display());
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    while networks > 0 {
        let mut caller = None;
        tokio::select! {
            _ = hup.recv() => {}
            _ = tick.tick() => {}
            c = control.accept() => caller = c.ok().map(|(stream, _)| stream),
            _ = term.recv() => { log!("stopping (SIGTERM)"); return Ok(Ended::Stopped) }
            _ = int.recv() => { log!("stopping (SIGINT)"); return Ok(Ended::Stopped) }
        }
        networks = reload(run_dir, &shared, &mut reloader);
        if let Some(mut c) = caller {
            // `ensure` waits for this: the records it wrote before connecting are served now.
            let _ = timeout(TCP_IDLE, c.write_all(b"ok\n")).await;
        }
    }
    log!("no network left; exiting");
    Ok(Ended::Empty)
}

/// Re-reads the records and the host's resolvers, swaps them in and makes the listeners follow
/// the gateways. Returns how many network directories there are.
fn reload(run_dir: &Path, shared: &Arc<Shared>, r: &mut Reloader) -> usize {
    let loaded = records::load(run_dir);
    let store = Store::new(&loaded.networks);
    let host = upstream::host_upstreams(
        Path::new(upstream::RESOLV_CONF),
        Path::new(upstream::RESOLVED_UPSTREAMS),
    );
    let wanted = store.listen_addresses();
    shared.resolver().replace(store, host);
    let mut problems: BTreeSet<String> = loaded.problems.into_iter().collect();
    r.listeners.retain(|addr, _| wanted.contains(addr));
    for addr in wanted {
        if r.listeners.contains_key(&addr) {
            continue;
        }
        match listen(addr, shared) {
            Ok(l) => {
                r.listeners.insert(addr, l);
            }
            Err(e) => {
                problems.insert(format!("listen on {}: {e}", SocketAddr::new(addr, 53)));
            }
        }
    }
    for p in problems.difference(&r.problems) {
        log!("{p}");
    }
    r.problems = problems;
    loaded.directories
}

fn bind(addr: IpAddr, tcp: bool) -> io::Result<Socket> {
    let sa = SocketAddr::new(addr, 53);
    let (ty, proto) = if tcp {
        (Type::STREAM, Protocol::TCP)
    } else {
        (Type::DGRAM, Protocol::UDP)
    };
    let s = Socket::new(Domain::for_address(sa), ty, Some(proto))?;
    // FREEBIND: the bridge may not have its address yet (or IPv6 may still be checking it).
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
        s.set_freebind_v6(true)?;
    } else {
        s.set_freebind_v4(true)?;
    }
    if tcp {
        s.set_reuse_address(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&sa.into())?;
    if tcp {
        s.listen(64)?;
    }
    Ok(s)
}

fn listen(addr: IpAddr, shared: &Arc<Shared>) -> io::Result<Listener> {
    let udp = UdpSocket::from_std(bind(addr, false)?.into())?;
    let tcp = TcpListener::from_std(bind(addr, true)?.into())?;
    Ok(Listener {
        tasks: [
            tokio::spawn(serve_udp(Arc::new(udp), addr, shared.clone())),
            tokio::spawn(serve_tcp(tcp, addr, shared.clone())),
        ],
    })
}

async fn serve_udp(sock: Arc<UdpSocket>, local: IpAddr, shared: Arc<Shared>) {
    let mut buf = vec![0u8; UDP_QUERY_MAX];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(_) => {
                // Nothing to do about it but not spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let query = &buf[..n];
        let action = message::handle(
            &mut shared.resolver(),
            local,
            peer.ip(),
            query,
            Transport::Udp,
        );
        match action {
            Action::Reply(bytes) => {
                let _ = sock.send_to(&bytes, peer).await;
            }
            Action::Forward {
                upstreams,
                max_udp,
                failure,
            } => {
                let Ok(permit) = shared.forwards.clone().try_acquire_owned() else {
                    let _ = sock.send_to(&failure, peer).await;
                    continue;
                };
                let query = query.to_vec();
                let sock = sock.clone();
                tokio::spawn(async move {
                    let answer = forward_udp(&query, &upstreams, max_udp)
                        .await
                        .unwrap_or(failure);
                    let _ = sock.send_to(&answer, peer).await;
                    drop(permit);
                });
            }
            Action::Drop => {}
        }
    }
}

async fn serve_tcp(listener: TcpListener, local: IpAddr, shared: Arc<Shared>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = shared.tcp.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = tcp_client(stream, peer.ip(), local, &shared).await;
            drop(permit);
        });
    }
}

async fn tcp_client(
    mut s: TcpStream,
    peer: IpAddr,
    local: IpAddr,
    shared: &Shared,
) -> io::Result<()> {
    loop {
        let Ok(Ok(len)) = timeout(TCP_IDLE, s.read_u16()).await else {
            return Ok(());
        };
        let mut query = vec![0u8; usize::from(len)];
        timeout(TCP_IDLE, s.read_exact(&mut query)).await??;
        let action = message::handle(&mut shared.resolver(), local, peer, &query, Transport::Tcp);
        let answer = match action {
            Action::Reply(bytes) => bytes,
            Action::Forward {
                upstreams, failure, ..
            } => forward_tcp(&query, &upstreams).await.unwrap_or(failure),
            Action::Drop => return Ok(()),
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return Ok(());
        };
        let mut out = Vec::with_capacity(answer.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&answer);
        timeout(TCP_IDLE, s.write_all(&out)).await??;
    }
}

/// Sends `query` to each upstream in turn over UDP and returns the first answer; a truncated one
/// is asked again over TCP, and the full answer used when it fits the client's UDP size.
async fn forward_udp(query: &[u8], upstreams: &[SocketAddr], max_udp: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; max_udp.clamp(512, 65535)];
    for &up in upstreams {
        let any: SocketAddr = match up {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        // A fresh socket (and so a random source port) per query, connected so that only the
        // upstream's datagrams reach it.
        let Ok(sock) = UdpSocket::bind(any).await else {
            continue;
        };
        if sock.connect(up).await.is_err() || sock.send(query).await.is_err() {
            continue;
        }
        let deadline = Instant::now() + UDP_WAIT;
        while let Ok(Ok(n)) = timeout_at(deadline, sock.recv(&mut buf)).await {
            let answer = &buf[..n];
            if !message::answers(query, answer) {
                continue;
            }
            if message::truncated(answer) {
                if let Some(full) = forward_tcp_one(query, up).await {
                    if full.len() <= max_udp {
                        return Some(full);
                    }
                }
            }
            return Some(answer.to_vec());
        }
    }
    None
}

async fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for &up in upstreams {
        if let Some(a) = forward_tcp_one(query, up).await {
            return Some(a);
        }
    }
    None
}

async fn forward_tcp_one(query: &[u8], up: SocketAddr) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    let exchange = async {
        let mut s = TcpStream::connect(up).await.ok()?;
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(query);
        s.write_all(&out).await.ok()?;
        let n = s.read_u16().await.ok()?;
        let mut answer = vec![0u8; usize::from(n)];
        s.read_exact(&mut answer).await.ok()?;
        message::answers(query, &answer).then_some(answer)
    };
    timeout(TCP_WAIT, exchange).await.ok().flatten()
}

/// A process's resident memory, from /proc/<pid>/status, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: everything resident.
    pub rss: u64,
    /// RssAnon: the process's own memory (heap, stacks, dirty data).
    pub anon: u64,
    /// RssFile: pages of the mapped executable and libraries, shared with every process that
    /// maps them and dropped by the kernel when memory is short.
    pub file: u64,
}

/// The memory of process `pid` (the server's, in tests and benchmarks).
pub fn memory(pid: i32) -> Option<Memory> {
    let status = fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status"))).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        anon: field("RssAnon:")?,
        file: field("RssFile:")?,
    })
}
