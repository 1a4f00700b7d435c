//! `raindrops connections`: each connection of a TCP listener with its
//! state, queues and the main `tcp_info` fields.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use raindrops_core::parse_tcp_addr;
use raindrops_diag::wire::tcp_state::TcpStates;
use raindrops_diag::{ConnQuery, Connection, Diag};
use raindrops_http::JsonString;
use raindrops_tcpinfo::TcpInfo;

use crate::cell::{or_dash, or_null};
use crate::fail::{Failure, Outcome};
use crate::out;

/// Output formats of `connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table.
    Table,
    /// One JSON array of objects.
    Json,
}

/// Arguments of `connections`.
#[derive(Args, Debug)]
pub(crate) struct ConnectionsArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Table)]
    pub(crate) format: Format,
    /// Every state except LISTEN (handshakes, closing connections), not
    /// only ESTABLISHED.
    #[arg(short, long)]
    pub(crate) all_states: bool,
    /// The listener's address (0.0.0.0:80 matches every local address on
    /// port 80).
    #[arg(value_name = "ADDR")]
    pub(crate) addr: String,
}

/// A connection and its decoded `tcp_info`. A connection with inode 0
/// waits in the accept queue (not accepted yet).
struct Row {
    conn: Connection,
    info: Option<TcpInfo>,
}

fn ms(us: Option<u32>) -> Option<f64> {
    us.map(|v| f64::from(v) / 1000.0)
}

/// Runs `connections`.
pub(crate) fn run(args: &ConnectionsArgs) -> Outcome {
    let addr = parse_tcp_addr(&args.addr)
        .map_err(|e| Failure::Usage(format!("bad listener address {:?}: {e}", args.addr)))?;
    let mut diag = Diag::new()
        .map_err(|e| Failure::System(format!("cannot open a netlink sock_diag socket: {e}")))?;
    let states = if args.all_states {
        TcpStates::all() - TcpStates::LISTEN
    } else {
        TcpStates::ESTABLISHED
    };
    let query = ConnQuery::new()
        .with_states(states)
        .with_local(addr)
        .with_info(true);
    let mut rows = Vec::new();
    for c in diag.tcp_connections(&query)? {
        let conn = c?;
        let info = conn.tcp_info.as_deref().map(TcpInfo::parse);
        rows.push(Row { conn, info });
    }
    let text = match args.format {
        Format::Table => table(&rows),
        Format::Json => json(&rows),
    };
    out::stdout(&text)
}

fn table(rows: &[Row]) -> String {
    let lw = rows
        .iter()
        .map(|r| r.conn.local.to_string().len())
        .fold("LOCAL".len(), usize::max);
    let rw = rows
        .iter()
        .map(|r| r.conn.remote.to_string().len())
        .fold("REMOTE".len(), usize::max);
    let mut s = format!(
        "{:<lw$} {:<rw$} {:<11} {:<8} {:>6} {:>6} {:>9} {:>9} {:>6} {:>7} {:>12} {:>12} {:>12}\n",
        "LOCAL",
        "REMOTE",
        "STATE",
        "ACCEPTED",
        "RECV-Q",
        "SEND-Q",
        "RTT_MS",
        "RTTVAR_MS",
        "CWND",
        "RETRANS",
        "BYTES_ACKED",
        "BYTES_RECV",
        "LAST_RECV_MS"
    );
    for r in rows {
        let i = r.info.as_ref();
        let _ = writeln!(
            s,
            "{:<lw$} {:<rw$} {:<11} {:<8} {:>6} {:>6} {:>9} {:>9} {:>6} {:>7} {:>12} {:>12} {:>12}",
            r.conn.local.to_string(),
            r.conn.remote.to_string(),
            r.conn.state.name().unwrap_or("UNKNOWN"),
            if r.conn.inode != 0 { "yes" } else { "no" },
            r.conn.rqueue,
            r.conn.wqueue,
            or_dash(ms(i.and_then(TcpInfo::rtt)).map(|v| format!("{v:.3}"))),
            or_dash(ms(i.and_then(TcpInfo::rttvar)).map(|v| format!("{v:.3}"))),
            or_dash(i.and_then(TcpInfo::snd_cwnd)),
            or_dash(i.and_then(TcpInfo::total_retrans)),
            or_dash(i.and_then(TcpInfo::bytes_acked)),
            or_dash(i.and_then(TcpInfo::bytes_received)),
            or_dash(i.and_then(TcpInfo::last_data_recv)),
        );
    }
    s
}

fn json(rows: &[Row]) -> String {
    let mut s = String::from("[");
    for (n, r) in rows.iter().enumerate() {
        let i = r.info.as_ref();
        let _ = write!(
            s,
            "{}\n  {{\"local\": {}, \"remote\": {}, \"state\": \"{}\", \"accepted\": {}, \"inode\": {}, \
             \"recv_q\": {}, \"send_q\": {}, \"rtt_us\": {}, \"rttvar_us\": {}, \
             \"snd_cwnd\": {}, \"retransmits\": {}, \"total_retrans\": {}, \
             \"bytes_acked\": {}, \"bytes_received\": {}, \"last_data_recv_ms\": {}}}",
            if n > 0 { "," } else { "" },
            JsonString(&r.conn.local.to_string()),
            JsonString(&r.conn.remote.to_string()),
            r.conn.state.name().unwrap_or("UNKNOWN"),
            r.conn.inode != 0,
            r.conn.inode,
            r.conn.rqueue,
            r.conn.wqueue,
            or_null(i.and_then(TcpInfo::rtt)),
            or_null(i.and_then(TcpInfo::rttvar)),
            or_null(i.and_then(TcpInfo::snd_cwnd)),
            or_null(i.and_then(TcpInfo::retransmits)),
            or_null(i.and_then(TcpInfo::total_retrans)),
            or_null(i.and_then(TcpInfo::bytes_acked)),
            or_null(i.and_then(TcpInfo::bytes_received)),
            or_null(i.and_then(TcpInfo::last_data_recv)),
        );
    }
    if !rows.is_empty() {
        s.push('\n');
    }
    s.push_str("]\n");
    s
}
