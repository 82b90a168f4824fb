//! Blob store on a local filesystem: `root/<first 2 hex of id>/<id>`.
//!
//! Writes are atomic, durable and create-only: seal, write a temp file in the
//! target directory, fsync it, hard-link it to the final name (which fails when
//! that name exists), remove the temp name, fsync the directory. A crash leaves
//! no blob or the whole one, plus at worst a stray `*.tmp` file holding ciphertext.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;
use rand::rngs::OsRng;
use rand::RngCore;

use super::{blocking, sealed, BlobError, BlobId, BlobStore, ListedBlob};
use crate::secrets::Keyring;

/// Filesystem [`BlobStore`]. All blocking I/O runs on tokio's blocking pool.
#[derive(Clone, Debug)]
pub struct FsBlobStore {
    root: PathBuf,
    keyring: Keyring,
}

impl FsBlobStore {
    /// Wraps `root` without touching the filesystem; see [`Self::open`].
    pub fn new(root: PathBuf, keyring: Keyring) -> Self {
        Self { root, keyring }
    }

    /// Creates `root` (mode 0700) if missing and proves it is a writable
    /// directory, so a misconfiguration fails at startup rather than on the
    /// first upload. Blocking: meant for startup.
    pub fn open(root: PathBuf, keyring: Keyring) -> Result<Self, BlobError> {
        ensure_root(&root)?;
        probe(&root)?;
        Ok(Self::new(root, keyring))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, id: &BlobId) -> PathBuf {
        // Safe to join: BlobId admits only [0-9a-f]{32}.
        self.root.join(&id.as_str()[..2]).join(id.as_str())
    }
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, id: &BlobId, plaintext: &[u8]) -> Result<(), BlobError> {
        let (keyring, id, path) = (self.keyring.clone(), id.clone(), self.path_of(id));
        let plaintext = plaintext.to_vec();
        // Sealing runs on the blocking pool too: photos are megabytes.
        blocking(move || {
            let data = sealed::seal(keyring.current(), &id, &plaintext);
            write_atomic(&path, &data)
        })
        .await
    }

    async fn get(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let (keyring, id, path) = (self.keyring.clone(), id.clone(), self.path_of(id));
        blocking(move || {
            let data = fs::read(&path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => BlobError::NotFound,
                _ => BlobError::io(format!("reading {}", path.display()), e),
            })?;
            sealed::open(&keyring, &id, &data)
        })
        .await
    }

    async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        let path = self.path_of(id);
        blocking(move || remove_durably(&path)).await
    }

    async fn check(&self) -> Result<(), BlobError> {
        let root = self.root.clone();
        blocking(move || probe(&root)).await
    }

    async fn list(&self) -> Result<Vec<ListedBlob>, BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let mut found = Vec::new();
            for (path, name) in shard_files(&root)? {
                let Ok(id) = BlobId::parse(&name) else {
                    continue;
                };
                if let Some(written_at) = modified(&path)? {
                    found.push(ListedBlob { id, written_at });
                }
            }
            Ok(found)
        })
        .await
    }

    async fn remove_interrupted_writes(&self, before: SystemTime) -> Result<usize, BlobError> {
        let root = self.root.clone();
        blocking(move || {
            let mut removed = 0;
            for (path, name) in shard_files(&root)? {
                let staged = name.starts_with('.') && name.ends_with(".tmp");
                if staged && modified(&path)?.is_some_and(|at| at < before) {
                    remove_durably(&path)?;
                    removed += 1;
                }
            }
            Ok(removed)
        })
        .await
    }
}

/// Every file in the shard directories (`root/<2 hex>/…`) with its name.
fn shard_files(root: &Path) -> Result<Vec<(PathBuf, String)>, BlobError> {
    let read = |dir: &Path| {
        fs::read_dir(dir).map_err(|e| BlobError::io(format!("listing {}", dir.display()), e))
    };
    let mut files = Vec::new();
    for shard in read(root)? {
        let shard = shard.map_err(|e| BlobError::io("listing the blob root", e))?;
        let is_shard = shard.file_name().len() == 2 && shard.path().is_dir();
        if !is_shard {
            continue;
        }
        for entry in read(&shard.path())? {
            let entry = entry.map_err(|e| BlobError::io("listing a blob shard", e))?;
            if let Ok(name) = entry.file_name().into_string() {
                files.push((entry.path(), name));
            }
        }
    }
    Ok(files)
}

/// When a file was last written; `None` when it vanished meanwhile (a concurrent delete).
fn modified(path: &Path) -> Result<Option<SystemTime>, BlobError> {
    match fs::metadata(path).and_then(|m| m.modified()) {
        Ok(at) => Ok(Some(at)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BlobError::io(format!("inspecting {}", path.display()), e)),
    }
}

fn ensure_root(root: &Path) -> Result<(), BlobError> {
    let not_dir = || {
        BlobError::io(
            format!("blob root {} exists but is not a directory", root.display()),
            io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        )
    };
    match fs::metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(not_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_private_dir(root)
            .map_err(|e| BlobError::io(format!("creating blob root {}", root.display()), e)),
        Err(e) => Err(BlobError::io(
            format!("inspecting blob root {}", root.display()),
            e,
        )),
    }
}

/// Writes, reads back and removes a random probe file directly under root.
fn probe(root: &Path) -> Result<(), BlobError> {
    let path = root.join(format!(".probe-{}", random_hex()));
    let context = |what: &str| format!("{what} probe file {}", path.display());
    let expected = random_hex().into_bytes();
    let result = write_new_synced(&path, &expected)
        .map_err(|e| BlobError::io(context("writing"), e))
        .and_then(|()| fs::read(&path).map_err(|e| BlobError::io(context("reading"), e)))
        .and_then(|read| {
            if read == expected {
                Ok(())
            } else {
                Err(BlobError::io(
                    context("reading back"),
                    io::Error::new(io::ErrorKind::InvalidData, "probe content differs"),
                ))
            }
        });
    // Remove even after a failed read, so failed checks do not pile up files.
    let removed = fs::remove_file(&path);
    result?;
    removed.map_err(|e| BlobError::io(context("removing"), e))
}

/// Atomically replaces `path` with `data`: concurrent writers each use their
/// own temp file, and rename picks one whole winner.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), BlobError> {
    let dir = path.parent().ok_or_else(|| {
        BlobError::io(
            "blob path has no parent",
            io::ErrorKind::InvalidInput.into(),
        )
    })?;
    ensure_shard_dir(dir)?;
    let tmp = dir.join(format!(".{}.tmp", random_hex()));
    let result = write_new_synced(&tmp, data)
        .and_then(|()| fs::hard_link(&tmp, path))
        .map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => BlobError::AlreadyExists,
            _ => BlobError::io(format!("writing {}", path.display()), e),
        });
    // The temp name goes either way; on failure the first error is the one to report.
    let removed = fs::remove_file(&tmp);
    result?;
    removed.map_err(|e| BlobError::io(format!("removing {}", tmp.display()), e))?;
    sync_dir(dir)
}

/// Creates the shard directory; when it is new, fsyncs root so the
/// directory entry survives a crash along with the blob in it.
fn ensure_shard_dir(dir: &Path) -> Result<(), BlobError> {
    match create_private_dir_once(dir) {
        Ok(()) => dir.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(BlobError::io(format!("creating {}", dir.display()), e)),
    }
}

/// Deletes and fsyncs the directory, so a deleted ID photo stays deleted
/// after a crash. Absent is fine: delete is idempotent.
fn remove_durably(path: &Path) -> Result<(), BlobError> {
    match fs::remove_file(path) {
        Ok(()) => path.parent().map_or(Ok(()), sync_dir),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(BlobError::io(format!("deleting {}", path.display()), e)),
    }
}

fn write_new_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = private_create_new(path)?;
    file.write_all(data)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> Result<(), BlobError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| BlobError::io(format!("syncing directory {}", dir.display()), e))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(unix)]
fn private_create_new(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    dir_builder().recursive(true).create(dir)
}

fn create_private_dir_once(dir: &Path) -> io::Result<()> {
    dir_builder().create(dir)
}

fn dir_builder() -> fs::DirBuilder {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterSecret;
    use std::sync::Arc;

    fn keyring() -> Keyring {
        Keyring::new(&MasterSecret::generate(), &[])
    }

    fn store_in(dir: &tempfile::TempDir) -> FsBlobStore {
        FsBlobStore::open(dir.path().join("blobs"), keyring()).unwrap()
    }

    /// Every file under `dir`, recursively.
    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[tokio::test]
    async fn lists_blobs_and_removes_only_old_interrupted_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let (a, b) = (BlobId::new(), BlobId::new());
        store.put(&a, b"one").await.unwrap();
        store.put(&b, b"two").await.unwrap();
        // A write killed between its temporary file and the rename.
        let shard = store.root().join(&a.as_str()[..2]);
        let stale = shard.join(".0123456789abcdef.tmp");
        fs::write(&stale, b"ciphertext").unwrap();
        let hour_ago = SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let fresh = shard.join(".fedcba9876543210.tmp");
        fs::write(&fresh, b"being written").unwrap();

        let mut listed: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|l| l.id)
            .collect();
        listed.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(listed, expected, "temporary files are not blobs");

        let cutoff = SystemTime::now() - std::time::Duration::from_secs(60);
        assert_eq!(store.remove_interrupted_writes(cutoff).await.unwrap(), 1);
        assert!(!stale.exists());
        assert!(fresh.exists(), "a write in progress stays");
        assert_eq!(store.get(&a).await.unwrap(), b"one");
    }

    #[tokio::test]
    async fn roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let id = BlobId::new();
        store.put(&id, b"front of ID card").await.unwrap();
        assert_eq!(store.get(&id).await.unwrap(), b"front of ID card");
    }

    #[tokio::test]
    async fn blobs_land_at_root_shard_id_sealed_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let id = BlobId::new();
        let plain = b"310101199001011234".repeat(10);
        store.put(&id, &plain).await.unwrap();
        let path = store.root().join(&id.as_str()[..2]).join(id.as_str());
        let on_disk = fs::read(&path).unwrap();
        assert!(on_disk.starts_with(sealed::MAGIC));
        assert!(!on_disk.windows(18).any(|w| w == &plain[..18]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(store.root()), 0o700);
        }
    }

    #[tokio::test]
    async fn put_never_replaces_an_existing_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let id = BlobId::new();
        store.put(&id, b"first").await.unwrap();
        let again = store.put(&id, b"second").await;
        assert!(matches!(again, Err(BlobError::AlreadyExists)), "{again:?}");
        assert_eq!(store.get(&id).await.unwrap(), b"first");
        let leftovers = store
            .remove_interrupted_writes(SystemTime::now() + std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(leftovers, 0, "no temp file left by the refused write");
    }

    #[tokio::test]
    async fn get_of_a_missing_blob_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        assert!(matches!(
            store.get(&BlobId::new()).await,
            Err(BlobError::NotFound)
        ));
    }

    #[tokio::test]
    async fn delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let id = BlobId::new();
        store.delete(&id).await.unwrap();
        store.put(&id, b"photo").await.unwrap();
        store.delete(&id).await.unwrap();
        store.delete(&id).await.unwrap();
        assert!(matches!(store.get(&id).await, Err(BlobError::NotFound)));
    }

    #[tokio::test]
    async fn a_file_copied_to_another_ids_path_fails_with_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let (a, b) = (BlobId::new(), BlobId::new());
        store.put(&a, b"applicant A").await.unwrap();
        store.put(&b, b"applicant B").await.unwrap();
        fs::copy(store.path_of(&a), store.path_of(&b)).unwrap();
        assert!(matches!(store.get(&b).await, Err(BlobError::Corrupt(_))));
    }

    #[tokio::test]
    async fn open_on_a_path_that_is_a_regular_file_errors_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-dir");
        fs::write(&path, b"x").unwrap();
        let err = FsBlobStore::open(path.clone(), keyring()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("not a directory"), "{message}");
    }

    #[tokio::test]
    async fn open_creates_a_missing_root_and_nested_parents() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/b/blobs");
        let store = FsBlobStore::open(root.clone(), keyring()).unwrap();
        assert!(root.is_dir());
        store.check().await.unwrap();
        assert!(files_under(&root).is_empty(), "probe left behind");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn open_on_a_read_only_directory_errors_unless_root() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ro");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o500)).unwrap();
        // root bypasses permission bits, so only an unprivileged run can see this fail.
        let probe_works = File::create(root.join("x")).is_ok();
        let result = FsBlobStore::open(root.clone(), keyring());
        assert_eq!(result.is_ok(), probe_works);
        if let Err(err) = result {
            assert!(err.to_string().contains(&root.display().to_string()));
        }
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_puts_of_the_same_id_leave_one_whole_input() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store_in(&dir));
        let id = BlobId::new();
        let inputs: Vec<Vec<u8>> = (0..16u8).map(|i| vec![i; 64 * 1024]).collect();
        let tasks: Vec<_> = inputs
            .iter()
            .cloned()
            .map(|input| {
                let (store, id) = (store.clone(), id.clone());
                tokio::spawn(async move { (store.put(&id, &input).await, input) })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (Ok(()), input) => winners.push(input),
                (Err(BlobError::AlreadyExists), _) => {}
                (Err(e), _) => panic!("{e}"),
            }
        }
        assert_eq!(winners.len(), 1, "create-only: one write lands");
        assert_eq!(store.get(&id).await.unwrap(), winners[0]);
    }

    #[tokio::test]
    async fn no_temp_files_remain_after_puts() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        let ids: Vec<BlobId> = (0..20).map(|_| BlobId::new()).collect();
        for id in &ids {
            store.put(id, b"photo").await.unwrap();
            let again = store.put(id, b"photo again").await;
            assert!(matches!(again, Err(BlobError::AlreadyExists)));
        }
        let files = files_under(store.root());
        assert_eq!(files.len(), ids.len());
        for file in files {
            let name = file.file_name().unwrap().to_str().unwrap();
            assert!(BlobId::parse(name).is_ok(), "unexpected file {name}");
        }
    }

    #[tokio::test]
    async fn check_passes_and_leaves_no_probe() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        store.check().await.unwrap();
        assert!(files_under(store.root()).is_empty());
    }

    #[tokio::test]
    async fn check_fails_when_root_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir);
        fs::remove_dir_all(store.root()).unwrap();
        assert!(matches!(store.check().await, Err(BlobError::Io { .. })));
    }
}
