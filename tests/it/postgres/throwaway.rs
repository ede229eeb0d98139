//! A throw-away PostgreSQL server for tests and benches: `initdb` in a temporary
//! directory, started on a free loopback port, stopped and removed when the process
//! that started it ends, however it ends.
//!
//! The server binaries are Debian's (`/usr/lib/postgresql/<version>/bin`, the
//! newest version there) or those in `LOOPGUARD_PG_BIN`. `initdb` refuses to run
//! as root, so as root every server command runs as the `postgres` user (with
//! `runuser`) on a directory that user owns. A watchdog shell holds the read end of
//! a pipe whose write end only this process has: when the process exits, even by
//! SIGKILL, the pipe closes and the watchdog stops the server and removes its
//! directory. Used by `tests/it` and, through `#[path]`, by `benches/webhook_load.rs`.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running server; dropping it stops the server and removes its files.
pub struct ThrowawayPostgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    /// `Some("postgres")` when running as root.
    run_as: Option<&'static str>,
    watchdog: Child,
}

impl ThrowawayPostgres {
    /// Makes a new cluster and starts it. The error says why it could not, and
    /// starts with "no PostgreSQL" when the binaries are missing.
    pub fn start() -> Result<Self, String> {
        let bin = server_binaries()?;
        let run_as = running_as_root().then_some("postgres");
        let root = tempfile::Builder::new()
            .prefix("loopguard-pg-")
            .tempdir()
            .map_err(|error| format!("cannot make a temporary directory: {error}"))?
            // Removed by the watchdog, which runs as the directory's owner.
            .keep();
        if let Some(user) = run_as {
            run(Command::new("chown").args([user, &root.display().to_string()]))?;
        }
        let data = root.join("data");
        let mut initdb = command(run_as, &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        // The watchdog's stdin is the pipe this process holds. It runs in a process
        // group of its own, so a Ctrl-C in the terminal does not end it before it
        // has cleaned up.
        let mut watchdog = command(run_as, Path::new("sh"));
        watchdog
            .arg("-c")
            .arg(r#"cat >/dev/null; "$1/pg_ctl" -D "$2" -m immediate -w stop >/dev/null 2>&1; rm -rf "$3""#)
            .arg("sh")
            .arg(&bin)
            .arg(&data)
            .arg(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let watchdog = watchdog
            .spawn()
            .map_err(|error| format!("cannot start the PostgreSQL watchdog: {error}"))?;
        let mut server = Self {
            port: 0,
            bin,
            data,
            run_as,
            watchdog,
        };
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            match server.start_server() {
                Ok(()) => return Ok(server),
                // Another process took the port between our look and the start.
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// A URL for `database` (create it first with [`Self::create_database`]).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database with a unique name starting with `prefix`; returns its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        static CREATED: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{prefix}_{}", CREATED.fetch_add(1, Ordering::Relaxed));
        self.psql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|error| panic!("cannot create database {name}: {error}"));
        self.url(&name)
    }

    /// Runs SQL with `psql` as the superuser; returns what it printed (unaligned,
    /// tuples only).
    pub fn psql_in(&self, database: &str, sql: &str) -> Result<String, String> {
        let mut psql = Command::new(self.bin.join("psql"));
        psql.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database])
            .args(["-p", &self.port.to_string(), "-c", sql]);
        run(&mut psql)
    }

    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in("postgres", sql)
    }

    /// Stops the server (fast shutdown: sessions are ended at once).
    pub fn stop_server(&self) -> Result<(), String> {
        let mut stop = command(self.run_as, &self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]);
        run(&mut stop).map(drop)
    }

    /// Starts the server again on the same port.
    pub fn start_server(&self) -> Result<(), String> {
        let mut start = command(self.run_as, &self.bin.join("pg_ctl"));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on",
            self.port,
            self.data.display()
        );
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.data.join("server.log"))
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        run(&mut start).map(drop)
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        // Closing the pipe tells the watchdog to stop the server and clean up.
        drop(self.watchdog.stdin.take());
        let _ = self.watchdog.wait();
    }
}

/// Where the server binaries are, or why there are none.
fn server_binaries() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("LOOPGUARD_PG_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.join("initdb").exists() {
            Ok(bin)
        } else {
            Err(format!(
                "no PostgreSQL: LOOPGUARD_PG_BIN={} has no initdb",
                bin.display()
            ))
        };
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").map_err(|_| {
        "no PostgreSQL: /usr/lib/postgresql does not exist; install Debian's `postgresql` \
         package (apt-get install -y postgresql) or set LOOPGUARD_PG_BIN"
            .to_owned()
    })?;
    versions
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
        .ok_or_else(|| {
            "no PostgreSQL: no /usr/lib/postgresql/<version>/bin/initdb; install Debian's \
             `postgresql` package or set LOOPGUARD_PG_BIN"
                .to_owned()
        })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program`, run as `user` when given.
fn command(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", user, "--"]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// Runs a command to completion; its stdout, or an error with its stderr.
fn run(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {shown}: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "{shown} failed ({}): {stderr}{stdout}",
            output.status
        ))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free port: {error}"))
}
