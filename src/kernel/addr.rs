//! Addresses and sockets: parsing HOST:PORT / [ADDR:]PORT, resolving names,
//! and creating sockets with their buffers sized *before* connect/listen (the
//! TCP window scale is fixed at the handshake, so later is too late).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};

use rustix::io::Errno;
use rustix::net::{self as rnet, AddressFamily, SocketType};

use super::error::{KernelError, Result};

/// Where a transport goes: out to a peer, or waiting for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Connect to the first address that answers; `spec` is what the user wrote.
    Connect { spec: String, addrs: Vec<SocketAddr> },
    /// Listen on this address.
    Listen(SocketAddr),
}

/// Picks the endpoint from `--tcp/--udp VALUE` and `--listen`.
pub fn endpoint(flag: &str, value: &str, listen: Option<&str>) -> Result<Endpoint> {
    match (value.is_empty(), listen) {
        (false, None) => Ok(Endpoint::Connect { spec: value.to_string(), addrs: resolve(value)? }),
        (true, Some(l)) => Ok(Endpoint::Listen(parse_listen(l)?)),
        (true, None) => Err(KernelError::Usage(format!("{flag} needs HOST:PORT, or --listen [ADDR:]PORT"))),
        (false, Some(_)) => Err(KernelError::Usage(format!(
            "{flag} {value} and --listen both given: connect or listen, not both (write `{flag} --listen PORT FILE`)"
        ))),
    }
}

/// Splits HOST:PORT, accepting [v6]:PORT.
fn split_host_port(spec: &str) -> Option<(&str, u16)> {
    let (host, port) = spec.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host, port.parse().ok()?))
}

/// Resolves HOST:PORT to every address it names (IPv4 first, as nc tries).
pub fn resolve(spec: &str) -> Result<Vec<SocketAddr>> {
    let (host, port) =
        split_host_port(spec).ok_or_else(|| KernelError::BadAddress { spec: spec.to_string(), want: "HOST:PORT" })?;
    let mut addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| KernelError::Resolve { host: host.to_string(), reason: e.to_string() })?
        .collect();
    addrs.sort_by_key(|a| a.is_ipv6());
    if addrs.is_empty() {
        return Err(KernelError::Resolve { host: host.to_string(), reason: "no addresses".into() });
    }
    Ok(addrs)
}

/// Parses `PORT` (all IPv4 interfaces, as nc does) or `ADDR:PORT`.
pub fn parse_listen(spec: &str) -> Result<SocketAddr> {
    let bad = || KernelError::BadAddress { spec: spec.to_string(), want: "[ADDR:]PORT" };
    if let Ok(port) = spec.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    let (host, port) = split_host_port(spec).ok_or_else(bad)?;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    resolve(spec)?.into_iter().next().ok_or_else(bad)
}

/// Socket buffer sizes and TCP options applied to every socket we make.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketOptions {
    /// SO_SNDBUF and SO_RCVBUF, when `--window` was given.
    pub window: Option<usize>,
    /// TCP_NODELAY.
    pub nodelay: bool,
}

fn family(addr: &SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    }
}

fn new_socket(addr: &SocketAddr, kind: SocketType, opts: &SocketOptions) -> std::io::Result<rustix::fd::OwnedFd> {
    let fd = rnet::socket(family(addr), kind, None)?;
    if let Some(w) = opts.window {
        rnet::sockopt::set_socket_send_buffer_size(&fd, w)?;
        rnet::sockopt::set_socket_recv_buffer_size(&fd, w)?;
    }
    Ok(fd)
}

fn bind_error(addr: SocketAddr, e: Errno) -> KernelError {
    if e == Errno::ADDRINUSE {
        KernelError::AddrInUse(addr)
    } else {
        KernelError::Bind { addr, source: e.into() }
    }
}

/// A TCP listener on `addr` with SO_REUSEADDR (a restarted receiver can take
/// its port back from TIME_WAIT at once) and the buffers set before listen,
/// so accepted connections inherit them.
pub fn tcp_listen(addr: SocketAddr, opts: &SocketOptions) -> Result<TcpListener> {
    let fd = new_socket(&addr, SocketType::STREAM, opts).map_err(|e| KernelError::Bind { addr, source: e })?;
    rnet::sockopt::set_socket_reuseaddr(&fd, true).map_err(|e| bind_error(addr, e))?;
    rnet::bind(&fd, &addr).map_err(|e| bind_error(addr, e))?;
    rnet::listen(&fd, 128).map_err(|e| bind_error(addr, e))?;
    Ok(TcpListener::from(fd))
}

/// Connects to the first of `addrs` that accepts.
pub fn tcp_connect(addrs: &[SocketAddr], opts: &SocketOptions) -> Result<TcpStream> {
    let mut last = None;
    for &addr in addrs {
        let fd = new_socket(&addr, SocketType::STREAM, opts).map_err(|e| KernelError::Connect { addr, source: e })?;
        match rnet::connect(&fd, &addr) {
            Ok(()) => {
                let s = TcpStream::from(fd);
                tune(&s, opts)?;
                return Ok(s);
            }
            Err(e) if e == Errno::CONNREFUSED => last = Some(KernelError::Refused(addr)),
            Err(e) => last = Some(KernelError::Connect { addr, source: e.into() }),
        }
    }
    Err(last.unwrap_or_else(|| KernelError::Usage("no address to connect to".into())))
}

/// Per-connection options that are not inherited from the listener.
pub fn tune(s: &TcpStream, opts: &SocketOptions) -> Result<()> {
    if opts.nodelay {
        s.set_nodelay(true).map_err(KernelError::Socket)?;
    }
    Ok(())
}

/// A UDP socket bound to `local`, buffers sized.
pub fn udp_bind(local: SocketAddr, opts: &SocketOptions) -> Result<UdpSocket> {
    let fd = new_socket(&local, SocketType::DGRAM, opts).map_err(|e| KernelError::Bind { addr: local, source: e })?;
    rnet::bind(&fd, &local).map_err(|e| bind_error(local, e))?;
    Ok(UdpSocket::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(parse_listen("9000").unwrap(), "0.0.0.0:9000".parse().unwrap());
        assert_eq!(parse_listen("127.0.0.1:9000").unwrap(), "127.0.0.1:9000".parse().unwrap());
        assert_eq!(parse_listen("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert!(matches!(parse_listen("x"), Err(KernelError::BadAddress { .. })));
        assert!(matches!(parse_listen("99999"), Err(KernelError::BadAddress { .. })));
    }

    #[test]
    fn connect_forms() {
        assert_eq!(resolve("127.0.0.1:80").unwrap(), vec!["127.0.0.1:80".parse().unwrap()]);
        assert!(matches!(resolve("nohostport"), Err(KernelError::BadAddress { .. })));
        assert!(matches!(resolve(":80"), Err(KernelError::BadAddress { .. })));
        assert!(matches!(endpoint("--tcp", "", None), Err(KernelError::Usage(_))));
        assert!(matches!(endpoint("--tcp", "h:1", Some("2")), Err(KernelError::Usage(_))));
        assert_eq!(endpoint("--tcp", "", Some("2")).unwrap(), Endpoint::Listen("0.0.0.0:2".parse().unwrap()));
    }
}
