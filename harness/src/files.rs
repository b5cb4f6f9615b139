//! Writing what a run leaves behind (screenshots, page dumps, trace bundles) without touching
//! anything that was there: a file is made new (`create_new`: an existing file or a link at its
//! name is an error, never overwritten or followed), and a folder is made inside a parent that
//! must exist (the run's own folder, made new by [`crate::runner::RunFolder`]).

use std::io::Write as _;
use std::path::Path;

/// Writes `bytes` to a new file at `path`.
pub fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)
}

/// Makes the folder `path` if it is not there yet; its parent must exist.
pub fn make_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() && !path.is_symlink() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nothing_there_is_overwritten_or_followed() {
        let dir = std::env::temp_dir().join(format!("ak-e2e-files-{}", ak_protocol::jose::random_token(6)));
        std::fs::create_dir_all(&dir).expect("dir");
        let theirs = dir.join("theirs.txt");
        std::fs::write(&theirs, "a user's file").expect("write");
        assert!(super::write_new(&theirs, b"claims").is_err());
        std::os::unix::fs::symlink(&theirs, dir.join("claims.json")).expect("link");
        assert!(super::write_new(&dir.join("claims.json"), b"claims").is_err());
        assert_eq!(std::fs::read_to_string(&theirs).expect("read"), "a user's file");
        std::os::unix::fs::symlink(&dir, dir.join("linked")).expect("link");
        assert!(super::make_dir(&dir.join("linked")).is_err(), "a link is not taken for a folder");
        assert!(super::make_dir(&dir.join("missing/child")).is_err(), "the parent must exist");
        super::make_dir(&dir.join("sub")).expect("made");
        super::make_dir(&dir.join("sub")).expect("there already");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
