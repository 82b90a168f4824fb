//! Key material: one master secret, many derived keys.
//!
//! The operator manages exactly one secret per key generation (a file or an
//! environment value). Every key the service uses is derived from it with
//! HKDF-SHA256 under a distinct `info` string, so keys for different purposes
//! are independent and adding a purpose never needs a new secret.
//!
//! Each derived [`KeySet`] carries a [`KeyId`], itself derived from the
//! master secret, that is written next to anything sealed with it. Rotation
//! is therefore: make a new master secret current, keep the old one in the
//! [`Keyring`]'s `previous` list until everything sealed under it is gone.
//!
//! Nothing here does I/O except [`load_or_generate`] and [`load_file`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::zeroize::{Zeroize, Zeroizing};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// Minimum master secret length: 256 bits, the AES-256 key size.
pub const MIN_SECRET_LEN: usize = 32;

/// Length of a freshly generated master secret.
const GENERATED_LEN: usize = 32;

const INFO_KEY_ID: &[u8] = b"heyan key id v1";
const INFO_BLOB_KEY: &[u8] = b"heyan blob aes-256-gcm v1";
const INFO_HMAC_KEY: &[u8] = b"heyan hmac-sha256 v1";

/// Why a master secret could not be parsed, loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "master secret is too short: it decodes to {len} bytes, at least {MIN_SECRET_LEN} \
         are required (generate one with `openssl rand -base64 32`)"
    )]
    TooShort { len: usize },
    #[error(
        "master secret is neither hex nor base64 \
         (generate one with `openssl rand -base64 32`)"
    )]
    BadEncoding,
    #[error("master secret file {}: I/O error", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "master secret file {} has mode {mode:04o} and is readable by group or others; \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
}

/// The root secret all keys are derived from. Never printed, never cloned.
pub struct MasterSecret(SecretSlice<u8>);

impl MasterSecret {
    /// Parses hex or base64 (standard or url-safe, padded or not), ignoring
    /// surrounding whitespace such as a trailing newline in a file.
    ///
    /// Hex is tried first: a hex string is also valid base64 text and would
    /// otherwise decode to different bytes. Base64 of 32 bytes is never pure
    /// hex (43 chars unpadded, or ends with `=`), so the two cannot clash.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| decode_base64(text))
            .ok_or(SecretError::BadEncoding)?;
        Self::from_bytes(bytes)
    }

    /// A new random 32-byte secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; GENERATED_LEN];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes.into())
    }

    /// Standard padded base64, the form written by [`load_or_generate`].
    pub fn to_encoded(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.expose_secret())
    }

    /// The id that key sets derived from this secret carry.
    pub fn key_id(&self) -> KeyId {
        KeyId(self.derive(INFO_KEY_ID))
    }

    fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<Self, SecretError> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort { len: bytes.len() });
        }
        Ok(Self(bytes.to_vec().into()))
    }

    /// HKDF-SHA256 with no salt: the input is already uniformly random,
    /// the case in which HKDF allows omitting it.
    fn derive<const N: usize>(&self, info: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        Hkdf::<Sha256>::new(None, self.0.expose_secret())
            .expand(info, &mut out)
            .expect("outputs here are 4 or 32 bytes, far below HKDF-SHA256's 8160-byte limit");
        out
    }
}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterSecret({}, [REDACTED])", self.key_id())
    }
}

fn decode_hex(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    hex::decode(text).ok().map(Zeroizing::new)
}

fn decode_base64(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    // Padding optional in both alphabets, so whatever tool made the value works.
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    [alphabet::STANDARD, alphabet::URL_SAFE]
        .iter()
        .find_map(|abc| GeneralPurpose::new(abc, config).decode(text).ok())
        .map(Zeroizing::new)
}

/// Reads the secret at `path`, or creates it (mode 0600, parent directory
/// included) if it does not exist. Returns whether it was generated, so the
/// caller can tell the operator to back it up.
pub fn load_or_generate(path: &Path) -> Result<(MasterSecret, bool), SecretError> {
    match load_file(path) {
        Err(SecretError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other.map(|secret| (secret, false)),
    }
    let secret = MasterSecret::generate();
    match write_new(path, &secret) {
        Ok(()) => Ok((secret, true)),
        // Another process created it between our read and create: use theirs.
        // (If it is still mid-write this fails closed with a parse error.)
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok((load_file(path)?, false)),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Reads and parses the secret at `path`, refusing files that group or
/// others can read.
pub fn load_file(path: &Path) -> Result<MasterSecret, SecretError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    check_permissions(path, &file)?;
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(|e| io_error(path, e))?;
    MasterSecret::parse(&text)
}

fn io_error(path: &Path, source: io::Error) -> SecretError {
    SecretError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks the already opened file (not the path again) so a swap between
/// the check and the read cannot slip through.
#[cfg(unix)]
fn check_permissions(path: &Path, file: &File) -> Result<(), SecretError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| io_error(path, e))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path, _file: &File) -> Result<(), SecretError> {
    Ok(())
}

/// create_new so an existing secret is never overwritten; fsync file and
/// directory so a secret we go on to use is not lost in a crash.
fn write_new(path: &Path, secret: &MasterSecret) -> io::Result<()> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = parent {
        create_private_dir(dir)?;
    }
    let mut file = private_create_new(path)?;
    // Two writes rather than push('\n'): growing the String could leave an
    // unzeroized copy of the secret behind in the old allocation.
    file.write_all(Zeroizing::new(secret.to_encoded()).as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    if let Some(dir) = parent {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
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

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Public, short identifier of a master secret (and so of its key set).
/// Stored in clear next to sealed data to pick the key for opening.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 4]);

impl KeyId {
    pub fn from_bytes(bytes: [u8; 4]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 4] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The keys derived from one master secret.
pub struct KeySet {
    id: KeyId,
    blob_key: [u8; 32],
    hmac_key: [u8; 32],
}

impl KeySet {
    pub fn derive(secret: &MasterSecret) -> Self {
        Self {
            id: secret.key_id(),
            blob_key: secret.derive(INFO_BLOB_KEY),
            hmac_key: secret.derive(INFO_HMAC_KEY),
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// AES-256-GCM key for blobs at rest.
    pub fn blob_key(&self) -> &[u8; 32] {
        &self.blob_key
    }

    /// HMAC-SHA256 key for codes and tokens; prefer [`Keyring::hmac`].
    pub fn hmac_key(&self) -> &[u8; 32] {
        &self.hmac_key
    }

    fn hmac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        // The 0x00 separator keeps ("ab", "c") and ("a", "bc") apart.
        debug_assert!(!purpose.contains('\0'), "purpose must not contain NUL");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hmac_key)
            .expect("HMAC accepts keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

impl Drop for KeySet {
    fn drop(&mut self) {
        self.blob_key.zeroize();
        self.hmac_key.zeroize();
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The current key set, used for everything new, plus previous ones kept
/// only to open or recognise what was made before a rotation.
#[derive(Clone)]
pub struct Keyring {
    inner: Arc<KeyringInner>,
}

struct KeyringInner {
    current: KeySet,
    previous: Vec<KeySet>,
}

impl Keyring {
    pub fn new(current: &MasterSecret, previous: &[MasterSecret]) -> Self {
        let inner = KeyringInner {
            current: KeySet::derive(current),
            previous: previous.iter().map(KeySet::derive).collect(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    pub fn current(&self) -> &KeySet {
        &self.inner.current
    }

    /// The key set with this id; current first, so a secret listed twice
    /// resolves to the current one.
    pub fn find(&self, id: &KeyId) -> Option<&KeySet> {
        self.key_sets().find(|keys| keys.id == *id)
    }

    /// Ids of all key sets, current first (for startup logs).
    pub fn ids(&self) -> Vec<KeyId> {
        self.key_sets().map(KeySet::id).collect()
    }

    /// HMAC-SHA256 under the current key over `purpose || 0x00 || data`.
    /// `purpose` is a fixed label such as "sms code" so a MAC made for one
    /// use is never valid for another.
    pub fn hmac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        self.inner.current.hmac(purpose, data)
    }

    /// The same MAC under every key, current first: to look up a value
    /// stored before a rotation.
    pub fn hmac_all(&self, purpose: &str, data: &[u8]) -> Vec<[u8; 32]> {
        self.key_sets()
            .map(|keys| keys.hmac(purpose, data))
            .collect()
    }

    fn key_sets(&self) -> impl Iterator<Item = &KeySet> {
        std::iter::once(&self.inner.current).chain(self.inner.previous.iter())
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.inner.current.id)
            .field(
                "previous",
                &self.key_sets().skip(1).map(KeySet::id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &MasterSecret, b: &MasterSecret) -> bool {
        a.0.expose_secret() == b.0.expose_secret()
    }

    #[test]
    fn parse_rejects_31_bytes() {
        let short = [7u8; 31];
        let b64 = base64::engine::general_purpose::STANDARD.encode(short);
        assert!(matches!(
            MasterSecret::parse(&b64),
            Err(SecretError::TooShort { len: 31 })
        ));
        assert!(matches!(
            MasterSecret::parse(&hex::encode(short)),
            Err(SecretError::TooShort { len: 31 })
        ));
    }

    #[test]
    fn parse_accepts_hex_and_every_base64_flavour_of_32_bytes() {
        let bytes: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0xfb).collect();
        use base64::engine::general_purpose as gp;
        let encodings = [
            hex::encode(&bytes),
            hex::encode_upper(&bytes),
            gp::STANDARD.encode(&bytes),
            gp::STANDARD_NO_PAD.encode(&bytes),
            gp::URL_SAFE.encode(&bytes),
            gp::URL_SAFE_NO_PAD.encode(&bytes),
            format!("  {}\n", gp::STANDARD.encode(&bytes)),
        ];
        for text in encodings {
            let secret = MasterSecret::parse(&text).unwrap();
            assert_eq!(secret.0.expose_secret(), &bytes[..], "{text:?}");
        }
    }

    #[test]
    fn parse_rejects_text_that_is_neither_hex_nor_base64() {
        let almost_hex = format!("{}#", "0f".repeat(32));
        for text in ["not a secret!", "key=value", almost_hex.as_str(), "a"] {
            assert!(
                matches!(MasterSecret::parse(text), Err(SecretError::BadEncoding)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn parse_calls_empty_text_too_short() {
        for text in ["", "  \n"] {
            assert!(matches!(
                MasterSecret::parse(text),
                Err(SecretError::TooShort { len: 0 })
            ));
        }
    }

    #[test]
    fn generated_secrets_roundtrip_through_their_encoding_and_differ() {
        let a = MasterSecret::generate();
        let b = MasterSecret::generate();
        assert!(same(&a, &MasterSecret::parse(&a.to_encoded()).unwrap()));
        assert!(!same(&a, &b));
    }

    #[test]
    fn debug_output_does_not_reveal_secret_or_keys() {
        let secret = MasterSecret::generate();
        let keys = KeySet::derive(&secret);
        let shown = format!("{secret:?} {keys:?} {:?}", Keyring::new(&secret, &[]));
        assert!(!shown.contains(&secret.to_encoded()));
        assert!(!shown.contains(&hex::encode(keys.blob_key())));
        assert!(!shown.contains(&hex::encode(keys.hmac_key())));
        assert!(shown.contains(&keys.id().to_string()));
    }

    #[test]
    fn key_id_is_stable_for_the_same_secret_and_differs_between_secrets() {
        let text = MasterSecret::generate().to_encoded();
        let a = MasterSecret::parse(&text).unwrap();
        let b = MasterSecret::parse(&text).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        assert_eq!(KeySet::derive(&a).id(), a.key_id());
        assert_ne!(a.key_id(), MasterSecret::generate().key_id());
    }

    #[test]
    fn key_id_displays_as_eight_lowercase_hex_chars() {
        let id = KeyId::from_bytes([0xde, 0xad, 0x0b, 0xef]);
        assert_eq!(id.to_string(), "dead0bef");
        assert_eq!(id.as_bytes(), &[0xde, 0xad, 0x0b, 0xef]);
        let derived = MasterSecret::generate().key_id().to_string();
        assert_eq!(derived.len(), 8);
        assert!(derived
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn derived_keys_are_distinct_from_each_other_and_from_the_secret() {
        let secret = MasterSecret::generate();
        let keys = KeySet::derive(&secret);
        assert_ne!(keys.blob_key(), keys.hmac_key());
        assert_ne!(&keys.blob_key()[..], secret.0.expose_secret());
        assert_ne!(&keys.hmac_key()[..4], keys.id().as_bytes());
    }

    #[test]
    fn hmac_separates_purpose_from_data() {
        let ring = Keyring::new(&MasterSecret::generate(), &[]);
        assert_ne!(ring.hmac("ab", b"c"), ring.hmac("a", b"bc"));
        assert_ne!(ring.hmac("sms", b"1234"), ring.hmac("token", b"1234"));
        assert_eq!(ring.hmac("sms", b"1234"), ring.hmac("sms", b"1234"));
    }

    #[test]
    fn hmac_all_lists_current_then_previous_keys() {
        let old = MasterSecret::generate();
        let new = MasterSecret::generate();
        let before = Keyring::new(&old, &[]);
        let after = Keyring::new(&new, &[old]);
        let all = after.hmac_all("sms", b"1234");
        assert_eq!(
            all,
            vec![after.hmac("sms", b"1234"), before.hmac("sms", b"1234")]
        );
        assert_ne!(all[0], all[1]);
    }

    #[test]
    fn keyring_finds_current_and_previous_key_sets_only() {
        let old = MasterSecret::generate();
        let new = MasterSecret::generate();
        let (old_id, new_id) = (old.key_id(), new.key_id());
        let ring = Keyring::new(&new, &[old]);
        assert_eq!(ring.current().id(), new_id);
        assert_eq!(ring.find(&old_id).map(KeySet::id), Some(old_id));
        assert_eq!(ring.find(&new_id).map(KeySet::id), Some(new_id));
        assert!(ring.find(&MasterSecret::generate().key_id()).is_none());
        assert_eq!(ring.ids(), vec![new_id, old_id]);
    }

    #[test]
    fn keyring_is_cheap_to_clone_and_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
        assert_send_sync::<Keyring>();
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[cfg(unix)]
    #[test]
    fn load_or_generate_creates_a_0600_file_and_then_returns_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/master.key");
        let (first, generated) = load_or_generate(&path).unwrap();
        assert!(generated);
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(mode_of(path.parent().unwrap()), 0o700);
        let (second, generated) = load_or_generate(&path).unwrap();
        assert!(!generated);
        assert!(same(&first, &second));
        assert!(same(&first, &load_file(&path).unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn load_or_generate_refuses_a_group_or_world_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        std::fs::write(&path, MasterSecret::generate().to_encoded()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_generate(&path).unwrap_err();
        assert!(matches!(
            err,
            SecretError::InsecurePermissions { mode: 0o644, .. }
        ));
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("0644"), "{message}");
    }

    #[test]
    fn load_file_of_a_missing_file_is_an_io_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.key");
        let err = load_file(&path).unwrap_err();
        assert!(
            matches!(&err, SecretError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
        );
        assert!(err.to_string().contains("absent.key"));
        assert!(!path.exists(), "load_file must not create the file");
    }

    #[cfg(unix)]
    #[test]
    fn load_file_reports_bad_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        private_create_new(&path)
            .unwrap()
            .write_all(b"hello\n")
            .unwrap();
        assert!(matches!(load_file(&path), Err(SecretError::BadEncoding)));
    }
}
