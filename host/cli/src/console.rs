//! `console`: the guest's serial port on this terminal, until Ctrl-].

use std::io::{IsTerminal, Read, Write};
use std::process::{Command, Stdio};

use wirt::driver::ConsoleStream;

/// virsh's escape: Ctrl-] (0x1d).
const ESCAPE: u8 = 0x1d;

/// Puts the terminal in raw mode with `stty` (so wirt needs no unsafe
/// termios code) and restores it when dropped.
struct RawMode {
    saved: Option<String>,
}

impl RawMode {
    fn enter() -> RawMode {
        if !std::io::stdin().is_terminal() {
            return RawMode { saved: None };
        }
        let saved = Command::new("stty")
            .arg("-g")
            .stdin(Stdio::inherit())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        if saved.is_some() {
            let _ = Command::new("stty")
                .args(["raw", "-echo"])
                .stdin(Stdio::inherit())
                .status();
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = Command::new("stty")
                .arg(saved)
                .stdin(Stdio::inherit())
                .status();
        }
    }
}

/// Copies the console to stdout and stdin to the console until Ctrl-] or
/// until either side closes.
pub fn attach(name: &str, stream: ConsoleStream) -> std::io::Result<()> {
    let ConsoleStream {
        mut reader,
        mut writer,
    } = stream;
    let mut err = std::io::stderr();
    writeln!(
        err,
        "Connected to domain '{name}'\r\nEscape character is ^] (Ctrl + ])\r"
    )?;
    let raw = RawMode::enter();
    let output = std::thread::spawn(move || {
        let mut out = std::io::stdout();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (data, escape) = match buf[..n].iter().position(|&b| b == ESCAPE) {
            Some(i) => (&buf[..i], true),
            None => (&buf[..n], false),
        };
        if writer
            .write_all(data)
            .and_then(|()| writer.flush())
            .is_err()
            || escape
        {
            break;
        }
        if output.is_finished() {
            break;
        }
    }
    drop(raw);
    drop(writer);
    // When input simply ended (a script), let pending output through first.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(300);
    while !output.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    writeln!(err)?;
    Ok(())
}
