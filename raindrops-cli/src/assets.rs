//! `raindrops generate-assets DIR` (hidden): the man pages and shell
//! completions of the Debian package, generated from the clap definitions
//! of this very binary, so that they can never disagree with `--help`.
//! See packaging/README.md for why this is a subcommand rather than a
//! build script or an xtask.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::fail::{Failure, Outcome};

/// Arguments of `generate-assets`.
#[derive(Args, Debug)]
pub(crate) struct AssetsArgs {
    /// Where to write man/ and completions/.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes)
        .map_err(|e| Failure::System(format!("cannot write {}: {e}", path.display())))
}

fn mkdir(path: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(path)
        .map_err(|e| Failure::System(format!("cannot create {}: {e}", path.display())))
}

/// Writes `DIR/man/raindrops.1`, `DIR/man/raindrops-SUBCOMMAND.1` and
/// `DIR/completions/{raindrops.bash,_raindrops,raindrops.fish}`.
pub(crate) fn run(args: &AssetsArgs) -> Outcome {
    let man = args.dir.join("man");
    let completions = args.dir.join("completions");
    mkdir(&man)?;
    mkdir(&completions)?;
    let cmd = crate::Cli::command();
    let render = |c: clap::Command| -> Result<Vec<u8>, Failure> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .map_err(|e| Failure::System(format!("cannot render a man page: {e}")))?;
        Ok(buf)
    };
    write(&man.join("raindrops.1"), &render(cmd.clone())?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("raindrops-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("raindrops {}", sub.get_name()));
        write(&man.join(format!("{name}.1")), &render(page)?)?;
    }
    for (shell, file) in [
        (Shell::Bash, "raindrops.bash"),
        (Shell::Zsh, "_raindrops"),
        (Shell::Fish, "raindrops.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut crate::Cli::command(), "raindrops", &mut buf);
        write(&completions.join(file), &buf)?;
    }
    Ok(())
}
