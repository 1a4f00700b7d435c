//! Prints TCP_INFO of both ends of a loopback connection and of its
//! listener. Run: `cargo run -p raindrops-tcpinfo --example tcpinfo`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use raindrops_tcpinfo::{TcpInfo, tcp_info};

fn show(who: &str, info: &TcpInfo) {
    println!(
        "{who}: {} ({} bytes kept), options {:?}, wscale {:?}/{:?}",
        info.state().map(|s| s.to_string()).unwrap_or_default(),
        info.len(),
        info.options().unwrap_or_default(),
        info.snd_wscale(),
        info.rcv_wscale(),
    );
    for m in info.fields() {
        println!("  {:<22} {:>20} {}", m.name, m.value, m.unit);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    client.write_all(&[b'x'; 10_000])?;
    let mut buf = vec![0; 10_000];
    server.read_exact(&mut buf)?;
    server.write_all(b"ok")?;
    client.read_exact(&mut buf[..2])?;

    show("client", &tcp_info(&client)?);
    show("server", &tcp_info(&server)?);
    show("listener", &tcp_info(&listener)?);
    Ok(())
}
