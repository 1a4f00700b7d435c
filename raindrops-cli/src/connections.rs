//! `raindrops connections`: each connection of a TCP listener with its
//! state, queues and the main `tcp_info` fields.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};
use raindrops_core::parse_tcp_addr;
use raindrops_diag::wire::tcp_state::TcpStates;
use raindrops_diag::{ConnQuery, Connection, TcpQuery};
use raindrops_tcpinfo::TcpInfo;

use crate::fail::{Failure, Outcome};
use crate::json;
use crate::out;
use crate::sample::{Sampler, shown};
use crate::table::{Align, Table, or_dash};

/// Output formats of `connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// An aligned table.
    Table,
    /// JSON: `{"listener":ADDR,"connections":[{...}]}` with every field.
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
    /// Every column in the table (rttvar, cwnd, bytes, inode), wider than
    /// 100 columns.
    #[arg(short, long)]
    pub(crate) wide: bool,
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

/// Runs `connections`.
pub(crate) fn run(args: &ConnectionsArgs) -> Outcome {
    let addr = parse_tcp_addr(&args.addr)
        .map_err(|e| Failure::Usage(format!("bad listener address {}: {e}", shown(&args.addr))))?;
    let mut sampler = Sampler::new(std::slice::from_ref(&args.addr), TcpQuery::queued_only())?;
    sampler.warn_not_listening();
    let diag = sampler.diag();
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
        Format::Table => table(&rows, args.wide),
        Format::Json => json(&addr, &rows),
    };
    out::stdout(&text)
}

/// The table: by default the columns that fit a 100-column terminal for
/// IPv4 and short IPv6 addresses, with `wide` every field.
fn table(rows: &[Row], wide: bool) -> String {
    use Align::{Left, Right};
    let mut cols = vec![
        ("LOCAL", Left),
        ("REMOTE", Left),
        ("STATE", Left),
        ("ACC", Left),
        ("RECV-Q", Right),
        ("SEND-Q", Right),
        ("RTT_MS", Right),
    ];
    if wide {
        cols.extend([("RTTVAR_MS", Right), ("CWND", Right)]);
    }
    cols.push(("RETRANS", Right));
    if wide {
        cols.extend([
            ("BYTES_ACKED", Right),
            ("BYTES_RECV", Right),
            ("INODE", Right),
        ]);
    }
    cols.push(("LAST_RECV_MS", Right));
    let mut t = Table::new(&cols);
    let ms = |us: Option<u32>| or_dash(us.map(|v| format!("{:.3}", f64::from(v) / 1000.0)));
    for r in rows {
        let i = r.info.as_ref();
        let mut cells = vec![
            r.conn.local.to_string(),
            r.conn.remote.to_string(),
            r.conn.state.to_string(),
            if r.conn.inode != 0 { "yes" } else { "no" }.to_string(),
            r.conn.rqueue.to_string(),
            r.conn.wqueue.to_string(),
            ms(i.and_then(TcpInfo::rtt)),
        ];
        if wide {
            cells.push(ms(i.and_then(TcpInfo::rttvar)));
            cells.push(or_dash(i.and_then(TcpInfo::snd_cwnd)));
        }
        cells.push(or_dash(i.and_then(TcpInfo::total_retrans)));
        if wide {
            cells.push(or_dash(i.and_then(TcpInfo::bytes_acked)));
            cells.push(or_dash(i.and_then(TcpInfo::bytes_received)));
            cells.push(r.conn.inode.to_string());
        }
        cells.push(or_dash(i.and_then(TcpInfo::last_data_recv)));
        t.row(cells);
    }
    t.render()
}

/// `{"listener":ADDR,"connections":[...]}`: every field of every
/// connection.
fn json(listener: &SocketAddr, rows: &[Row]) -> String {
    let conns = json::array(rows, |o, r| {
        let i = r.info.as_ref();
        o.str("local", &r.conn.local.to_string())
            .str("remote", &r.conn.remote.to_string())
            .str("state", &r.conn.state.to_string())
            .num("accepted", r.conn.inode != 0)
            .num("inode", r.conn.inode)
            .num("recv_q", r.conn.rqueue)
            .num("send_q", r.conn.wqueue)
            .opt("rtt_us", i.and_then(TcpInfo::rtt))
            .opt("rttvar_us", i.and_then(TcpInfo::rttvar))
            .opt("snd_cwnd", i.and_then(TcpInfo::snd_cwnd))
            .opt("retransmits", i.and_then(TcpInfo::retransmits))
            .opt("total_retrans", i.and_then(TcpInfo::total_retrans))
            .opt("bytes_acked", i.and_then(TcpInfo::bytes_acked))
            .opt("bytes_received", i.and_then(TcpInfo::bytes_received))
            .opt("last_data_recv_ms", i.and_then(TcpInfo::last_data_recv));
    });
    let mut s = String::new();
    json::Object::new(&mut s)
        .str("listener", &listener.to_string())
        .raw("connections", &conns)
        .end();
    s.push('\n');
    s
}
