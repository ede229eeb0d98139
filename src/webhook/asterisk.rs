//! Asterisk: loopguard connects to the Asterisk Manager Interface as a client
//! (`loopguard serve --asterisk-ami HOST:PORT`), logs in with the credentials from
//! the environment, and records the transfers and hangups the AMI reports, through
//! the same observation path as the webhook routes. The protocol text and the
//! translation are `integrations::asterisk`.
//!
//! Why hand code: the AMI client crates on crates.io are unmaintained or pull in
//! their own runtimes and event models; what loopguard needs is a login, a line
//! reader with caps, a ping and a reconnect loop — about as much code as adapting
//! one would take.
//!
//! Nothing Asterisk sends can grow memory or stall the client: a line is at most
//! [`MAX_LINE_BYTES`], a message at most [`MAX_MESSAGE_LINES`] lines (past either the
//! connection is dropped and made again), every step has a timeout, a quiet
//! connection is pinged and dropped when the ping goes unanswered, and reconnections
//! back off exponentially up to `max_backoff`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::time::timeout;

use super::observe::apply;
use crate::http::AppState;
use crate::integrations::asterisk::{
    AmiMessage, PING_ACTION, login_accepted, login_action, observation,
};
use crate::integrations::observation::Observation;

/// Longest AMI line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// Most lines in one AMI message (a transfer event has about 80).
pub const MAX_MESSAGE_LINES: usize = 512;

/// Where and how to reach the AMI.
#[derive(Debug, Clone)]
pub struct AmiConfig {
    /// `HOST:PORT` of the manager interface (Asterisk's default port is 5038).
    pub address: String,
    pub username: String,
    pub secret: String,
    /// First wait before reconnecting; doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Limit of connecting, logging in and writing.
    pub io_timeout: Duration,
    /// A connection quiet this long is pinged; without an answer within
    /// another interval it is dropped.
    pub ping_interval: Duration,
}

impl AmiConfig {
    pub fn new(address: String, username: String, secret: String) -> Self {
        AmiConfig {
            address,
            username,
            secret,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            io_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
        }
    }
}

/// Runs the AMI client until the runtime shuts down.
pub fn spawn(state: Arc<AppState>, config: AmiConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = config.initial_backoff;
        loop {
            let (logged_in, error) = session(&state, &config).await;
            if logged_in {
                backoff = config.initial_backoff;
            }
            tracing::warn!(
                address = %config.address,
                error = %error,
                retry_in_ms = backoff.as_millis() as u64,
                "asterisk AMI connection lost; reconnecting"
            );
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(config.max_backoff);
        }
    })
}

/// One connection: whether the login succeeded, and why it ended.
async fn session(state: &AppState, config: &AmiConfig) -> (bool, String) {
    let stream = match timeout(config.io_timeout, TcpStream::connect(&config.address)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return (false, format!("cannot connect: {error}")),
        Err(_) => return (false, "connecting timed out".to_owned()),
    };
    let (read, mut write) = stream.into_split();
    let mut reader = AmiReader::new(read);
    let banner = match timeout(config.io_timeout, reader.next_line()).await {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => return (false, "closed before the banner".to_owned()),
        Ok(Err(error)) => return (false, error.to_string()),
        Err(_) => return (false, "no banner in time".to_owned()),
    };
    if !banner.starts_with("Asterisk Call Manager") {
        return (
            false,
            format!("`{banner}` is not an Asterisk Manager Interface"),
        );
    }
    let login = login_action(&config.username, &config.secret);
    if let Err(error) = write_all(&mut write, &login, config.io_timeout).await {
        return (false, error);
    }
    match timeout(config.io_timeout, reader.next_message()).await {
        Ok(Ok(Some(response))) if login_accepted(&response) => {
            tracing::info!(address = %config.address, "asterisk AMI logged in");
        }
        Ok(Ok(Some(response))) => {
            return (
                false,
                format!(
                    "login refused: {} (check LOOPGUARD_ASTERISK_AMI_USERNAME and LOOPGUARD_ASTERISK_AMI_SECRET)",
                    response.get("Message").unwrap_or("no message")
                ),
            );
        }
        Ok(Ok(None)) => return (false, "closed during login".to_owned()),
        Ok(Err(error)) => return (false, error.to_string()),
        Err(_) => return (false, "no answer to the login in time".to_owned()),
    }
    let mut pinged = false;
    loop {
        match timeout(config.ping_interval, reader.next_message()).await {
            Ok(Ok(Some(message))) => {
                pinged = false;
                handle(state, &message).await;
            }
            Ok(Ok(None)) => return (true, "closed by Asterisk".to_owned()),
            Ok(Err(error)) => return (true, error.to_string()),
            Err(_) if pinged => return (true, "no answer to Ping".to_owned()),
            Err(_) => {
                if let Err(error) = write_all(&mut write, PING_ACTION, config.io_timeout).await {
                    return (true, error);
                }
                pinged = true;
            }
        }
    }
}

async fn write_all(
    write: &mut tokio::net::tcp::OwnedWriteHalf,
    text: &str,
    limit: Duration,
) -> Result<(), String> {
    match timeout(limit, write.write_all(text.as_bytes())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("cannot write: {error}")),
        Err(_) => Err("writing timed out".to_owned()),
    }
}

/// Records a transfer or an end; everything else (the AMI sends many call events)
/// is dropped without a trace.
async fn handle(state: &AppState, message: &AmiMessage) {
    let translated = match observation(message) {
        Ok(Observation::Ignored(_)) => return,
        Ok(translated) => translated,
        Err(error) => {
            tracing::warn!(%error, event = message.event().unwrap_or(""), "asterisk AMI event not recorded");
            return;
        }
    };
    if let Err(error) = apply(state, translated).await {
        tracing::warn!(
            code = error.code.as_str(),
            message = %error.message,
            "asterisk AMI event not recorded"
        );
    }
}

/// Reads AMI lines and messages with caps. Partial lines and messages live in the
/// reader, so a read cancelled by a timeout loses nothing.
struct AmiReader {
    reader: BufReader<OwnedReadHalf>,
    line: Vec<u8>,
    lines: Vec<String>,
}

impl AmiReader {
    fn new(read: OwnedReadHalf) -> Self {
        AmiReader {
            reader: BufReader::new(read),
            line: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The next line without its CRLF; `None` at the end of the stream.
    async fn next_line(&mut self) -> std::io::Result<Option<String>> {
        loop {
            let available = self.reader.fill_buf().await?;
            if available.is_empty() {
                return Ok(None);
            }
            let (taken, complete) = match available.iter().position(|&byte| byte == b'\n') {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            self.line.extend_from_slice(&available[..taken]);
            self.reader.consume(taken);
            if self.line.len() > MAX_LINE_BYTES + 2 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("an AMI line is longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
            if complete {
                let mut line = std::mem::take(&mut self.line);
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
        }
    }

    /// The next message (lines up to a blank line); `None` at the end of the stream.
    async fn next_message(&mut self) -> std::io::Result<Option<AmiMessage>> {
        loop {
            let Some(line) = self.next_line().await? else {
                return Ok(None);
            };
            if line.is_empty() {
                if self.lines.is_empty() {
                    continue;
                }
                let lines = std::mem::take(&mut self.lines);
                return Ok(Some(AmiMessage::parse(lines.iter().map(String::as_str))));
            }
            if self.lines.len() >= MAX_MESSAGE_LINES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("an AMI message has more than {MAX_MESSAGE_LINES} lines"),
                ));
            }
            self.lines.push(line);
        }
    }
}
