//! Writing what a run leaves behind (screenshots, page dumps, trace bundles) without touching
//! anything that was there: a file is made new (`create_new`: an existing file or a link at its
//! name is an error, never overwritten or followed), and a folder is made inside a parent that
//! must exist (the run's own folder, made new by [`crate::runner::RunFolder`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// A run's own folder, made new when it is first needed (a run that writes nothing makes
/// none): `parent/run-…`, or `parent/run-…-2` and so on when that exists. It is never one that
/// was there before, so two runs never write into one folder, and a link planted at its name is
/// not followed.
#[derive(Debug)]
pub struct RunFolder {
    parent: PathBuf,
    name: String,
    made: std::sync::OnceLock<Result<PathBuf, String>>,
}

impl RunFolder {
    /// The folder `name` below `parent`, made when first needed.
    pub fn new(parent: &Path, name: &str) -> Self {
        Self { parent: parent.to_path_buf(), name: name.to_string(), made: std::sync::OnceLock::new() }
    }

    /// A folder already made (by [`fresh_folder`]).
    pub fn made(path: PathBuf) -> Self {
        let made = std::sync::OnceLock::new();
        let _ = made.set(Ok(path.clone()));
        Self { parent: path.parent().map(Path::to_path_buf).unwrap_or_default(), name: String::new(), made }
    }

    /// The folder, made now if it is not yet; when it cannot be made, the error names it.
    pub fn path(&self) -> Result<&Path, String> {
        let made = self.made.get_or_init(|| {
            fresh_folder(&self.parent, &self.name)
                .map_err(|e| format!("cannot make a folder for this run below {}: {e}", self.parent.display()))
        });
        made.as_deref().map_err(Clone::clone)
    }

    /// Where the folder is meant to be (for a message when it could not be made).
    pub fn intended(&self) -> PathBuf {
        self.parent.join(&self.name)
    }

    /// The folder, if this run made it.
    pub fn if_made(&self) -> Option<&Path> {
        self.made.get().and_then(|m| m.as_deref().ok())
    }
}

/// Makes a new folder `parent/name` (its parents as needed), or `name-2`, `name-3`, … when one
/// exists (a file, a folder or a link); answers its path.
pub fn fresh_folder(parent: &Path, name: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(parent)?;
    for n in 1..=1000u32 {
        let candidate = if n == 1 { parent.join(name) } else { parent.join(format!("{name}-{n}")) };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!("1000 folders named {name} exist already")))
}

/// One scenario run's folder inside the run's own folder, made (with the run's) only when
/// something is written there.
#[derive(Debug, Clone)]
pub struct ScenarioDir {
    folder: Arc<RunFolder>,
    name: String,
}

impl ScenarioDir {
    /// The folder `name` inside `folder`.
    pub fn new(folder: Arc<RunFolder>, name: String) -> Self {
        Self { folder, name }
    }

    /// Its path, making the run's folder if it is not yet (and the path it would have if that
    /// cannot be made: writing there then fails, and says where).
    pub fn path(&self) -> PathBuf {
        self.folder.path().map(Path::to_path_buf).unwrap_or_else(|_| self.folder.intended()).join(&self.name)
    }

    /// Makes it (and the run's folder) now; answers its path.
    pub fn make(&self) -> std::io::Result<PathBuf> {
        let root = self.folder.path().map_err(std::io::Error::other)?;
        let dir = root.join(&self.name);
        make_dir(&dir)?;
        Ok(dir)
    }
}

/// Writes `bytes` to `path`, a file only its owner can read or write (mode 0600, also when it
/// was there before), making its folder when missing: for secrets `provision` keeps (a TOTP
/// seed, a passkey).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// [`write_private`], replacing what `path` held in one step (written beside it, then renamed
/// over it): a crash leaves the old content or the new, never half of it.
pub fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut fresh = path.as_os_str().to_owned();
    fresh.push(format!(".new-{}", std::process::id()));
    let fresh = PathBuf::from(fresh);
    let replaced = write_private(&fresh, bytes).and_then(|()| std::fs::rename(&fresh, path));
    if replaced.is_err() {
        let _ = std::fs::remove_file(&fresh);
    }
    replaced
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

    #[test]
    fn a_run_folder_is_always_new_and_never_a_planted_link() {
        let parent = std::env::temp_dir().join(format!("ak-e2e-folders-{}", ak_protocol::jose::random_token(6)));
        let first = super::fresh_folder(&parent, "run-x").expect("first");
        let second = super::fresh_folder(&parent, "run-x").expect("second");
        assert_eq!((first.file_name(), second.file_name()), (Some("run-x".as_ref()), Some("run-x-2".as_ref())));
        let elsewhere = parent.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).expect("dir");
        std::os::unix::fs::symlink(&elsewhere, parent.join("run-y")).expect("link");
        let folder = super::RunFolder::new(&parent, "run-y");
        assert_eq!(folder.if_made(), None, "made only when needed");
        assert_eq!(folder.path().expect("made").file_name(), Some("run-y-2".as_ref()), "the link is passed by");
        let _ = std::fs::remove_dir_all(&parent);
    }
}
