//! Where a listener lives and who holds it: its network namespace and its
//! owning process, optional parts of a [`Listener`](crate::Listener)
//! record that a sampler fills when it was asked to find them.

/// The network namespace a listener was found in.
///
/// A network namespace has no name of its own: it is identified by the
/// inode of its nsfs file (what `/proc/PID/ns/net` links to,
/// `net:[4026531840]`, and what `lsns -t net` lists); `ip netns add NAME`
/// gives it a name by bind-mounting that file at `/run/netns/NAME`.
///
/// ```
/// use raindrops_core::Netns;
/// let n = Netns::new(4026532000).with_name("blue");
/// assert_eq!((n.inode, n.name), (4026532000, Some("blue")));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Netns<S> {
    /// The inode number of the namespace's nsfs file.
    pub inode: u64,
    /// Its `ip netns` name, in display form, when it has one (the first
    /// in byte order if it has several).
    pub name: Option<S>,
}

impl<S> Netns<S> {
    /// The namespace with inode `inode`, without a name.
    pub const fn new(inode: u64) -> Self {
        Netns { inode, name: None }
    }

    /// The same namespace named `name`.
    #[must_use]
    pub fn with_name(mut self, name: S) -> Self {
        self.name = Some(name);
        self
    }

    /// The same namespace with the name borrowed.
    pub fn as_ref(&self) -> Netns<&str>
    where
        S: AsRef<str>,
    {
        Netns {
            inode: self.inode,
            name: self.name.as_ref().map(AsRef::as_ref),
        }
    }

    /// The same namespace with the name converted by `f`.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Netns<T> {
        Netns {
            inode: self.inode,
            name: self.name.map(f),
        }
    }
}

/// The process that owns a listener: what `ss -p` shows, reduced to one
/// process for a single label.
///
/// A listening socket inherited across `fork` is held by every process
/// that has it open (a pre-forking server's master and workers); the
/// *main* owner is the lowest pid among them (in a pre-forking server,
/// usually the master that opened it), and `processes` says how many
/// there are. The full list is for a library that keeps it (for example
/// raindrops-diag's owner cache).
///
/// ```
/// use raindrops_core::Owner;
/// let o = Owner::new(812, "nginx").with_processes(5);
/// assert_eq!((o.pid, o.command, o.processes), (812, "nginx", 5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Owner<S> {
    /// The main owner's process id, as this process's pid namespace
    /// numbers it.
    pub pid: u32,
    /// The main owner's command name (`/proc/PID/comm`), in display form.
    pub command: S,
    /// How many processes hold the socket (1 unless it is shared).
    pub processes: u32,
}

impl<S> Owner<S> {
    /// Process `pid` running `command`, the only holder.
    pub const fn new(pid: u32, command: S) -> Self {
        Owner {
            pid,
            command,
            processes: 1,
        }
    }

    /// The same owner, with `processes` holders in all.
    #[must_use]
    pub fn with_processes(mut self, processes: u32) -> Self {
        self.processes = processes;
        self
    }

    /// The same owner with the command borrowed.
    pub fn as_ref(&self) -> Owner<&str>
    where
        S: AsRef<str>,
    {
        Owner {
            pid: self.pid,
            command: self.command.as_ref(),
            processes: self.processes,
        }
    }

    /// The same owner with the command converted by `f`.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Owner<T> {
        Owner {
            pid: self.pid,
            command: f(self.command),
            processes: self.processes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_and_converted() {
        let n = Netns::new(7).with_name(std::string::String::from("a"));
        assert_eq!(n.as_ref(), Netns::new(7).with_name("a"));
        assert_eq!(n.map(|s| s.len()).name, Some(1));
        assert_eq!(Netns::<&str>::new(7).name, None);
        let o = Owner::new(1, std::string::String::from("init"));
        assert_eq!(o.as_ref(), Owner::new(1, "init"));
        assert_eq!(o.map(|s| s.len()).with_processes(3).processes, 3);
    }
}
