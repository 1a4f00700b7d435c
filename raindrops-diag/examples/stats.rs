//! Prints listener statistics for the addresses and paths on the command
//! line (every TCP and Unix listener without arguments), like Ruby's
//! `linux-listener-stats.rb`, once:
//!
//! ```sh
//! cargo run -p raindrops-diag --example stats -- 0.0.0.0:80 [::]:443 /run/app.sock
//! ```
use raindrops_diag::{Diag, Listeners, TcpQuery};

fn print(listeners: &Listeners) {
    for l in listeners {
        let s = &l.stats;
        let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        println!(
            "{:<40} {:<4} active {:>6} queued {:>6} backlog {:>6} drops {:>6} syn_recv {:>4}",
            l.name,
            l.family,
            s.active,
            s.queued,
            opt(s.backlog.map(u64::from)),
            opt(s.drops),
            opt(s.syn_recv.map(u64::from)),
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (unix, tcp): (Vec<&str>, Vec<&str>) = args
        .iter()
        .map(String::as_str)
        .partition(|a| raindrops_core::is_unix_name(a));
    let mut diag = Diag::new()?;
    let query = TcpQuery::new().with_syn_recv(true);
    if !tcp.is_empty() || args.is_empty() {
        print(&diag.tcp_listener_stats_with(&tcp, &query)?);
    }
    if !unix.is_empty() || args.is_empty() {
        print(&diag.unix_listener_stats(&unix)?);
    }
    Ok(())
}
