//! The `raindrops` command (work in progress).

fn main() {
    eprintln!("raindrops: not implemented yet");
    std::process::exit(1);
}
