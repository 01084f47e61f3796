//! Passwords after NIST SP 800-63B: at least 8 characters, no composition rules, common
//! passwords refused; stored as argon2id hashes computed off the async executor.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Shortest password accepted (SP 800-63B §5.1.1.2).
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted: long enough for passphrases, short enough to bound hashing work.
pub const MAX_LENGTH: usize = 128;

/// Passwords so common that an attacker tries them first. Compared case-insensitively.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "87654321",
    "11111111",
    "00000000",
    "88888888",
    "99999999",
    "12341234",
    "11223344",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "asdfghjk",
    "asdfghjkl",
    "zxcvbnm1",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "letmein1",
    "trustno1",
    "superman",
    "batman123",
    "starwars",
    "whatever",
    "dragon12",
    "monkey12",
    "michael1",
    "jennifer",
    "computer",
    "internet",
    "corvette",
    "mercedes",
    "ferrari1",
    "charlie1",
    "123qweasd",
    "qazwsxedc",
    "1qaz2wsx",
    "zaq12wsx",
    "changeme",
    "changeme1",
    "administrator",
    "admin123",
    "admin1234",
    "root1234",
    "test1234",
    "testtest",
    "guest123",
    "master12",
    "passpass",
    "secret12",
    "default1",
    "access14",
    "samsung1",
    "google12",
    "facebook",
    "linkedin",
    "liverpool",
    "chelsea1",
    "arsenal1",
    "barcelona",
    "realmadrid",
    "juventus",
    "juventus1",
    "napoli1926",
    "forzanapoli",
    "forzajuve",
    "forzainter",
    "forzamilan",
    "interista",
    "milanista",
    "romanista",
    "lazio1900",
    "fiorentina",
    "ciaociao",
    "ciao1234",
    "amoremio",
    "tiamo123",
    "tiamotanto",
    "ti amo",
    "amore123",
    "vaffanculo",
    "cazzo123",
    "stronzo1",
    "mamma123",
    "papa1234",
    "famiglia",
    "bellissima",
    "principessa",
    "tesoro12",
    "piacenza",
    "piacenza1",
    "comune123",
    "pagopa123",
    "pagamenti",
    "password01",
    "passwordd",
    "qwertyqwerty",
    "1234qwer",
    "qwer1234",
    "aaaaaaaa",
    "abcabcabc",
    "123123123",
    "12121212",
    "123321123",
    "147258369",
    "159357258",
    "741852963",
    "987654321",
    "0987654321",
    "pokemon1",
    "minecraft",
    "fortnite",
    "shadow12",
    "killer12",
    "hello123",
    "helloworld",
    "freedom1",
    "mustang1",
    "maggie12",
    "jordan23",
    "michelle",
    "nicole12",
    "daniel12",
    "andrea12",
    "francesco",
    "alessandro",
    "giuseppe",
    "giovanni",
    "antonio1",
    "matteo12",
    "lorenzo1",
    "federica",
    "valentina",
    "giulia12",
    "martina1",
    "chiara12",
    "francesca",
    "inverno1",
    "estate12",
    "primavera",
    "autunno1",
    "gennaio1",
    "settembre",
    "natale12",
    "italia12",
    "forzaitalia",
];

/// Why a password is refused, in Italian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short.
    #[error("La password deve contenere almeno 8 caratteri")]
    TooShort,
    /// Too long.
    #[error("La password può contenere al massimo 128 caratteri")]
    TooLong,
    /// In the list of common passwords.
    #[error("Questa password è tra le più usate e facili da indovinare: scegline un'altra")]
    Common,
    /// Contains the username, the fiscal code or the e-mail.
    #[error(
        "La password non deve contenere il nome utente, il codice fiscale o l'indirizzo e-mail"
    )]
    Personal,
}

/// Checks a new password. `personal` lists values it must not contain (username, fiscal code,
/// e-mail local part); empty and short values are ignored.
pub fn check_policy(password: &str, personal: &[&str]) -> Result<(), PasswordError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.contains(&lower.as_str()) || is_repetitive(&lower) {
        return Err(PasswordError::Common);
    }
    if personal
        .iter()
        .map(|p| p.trim().to_lowercase())
        .any(|p| p.chars().count() >= 4 && lower.contains(&p))
    {
        return Err(PasswordError::Personal);
    }
    Ok(())
}

/// One character repeated, or a run of consecutive digits/letters ("abcdefgh", "23456789").
fn is_repetitive(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    let same = chars.windows(2).all(|w| w[0] == w[1]);
    let ascending = chars.windows(2).all(|w| (w[1] as u32) == (w[0] as u32) + 1);
    let descending = chars.windows(2).all(|w| (w[0] as u32) == (w[1] as u32) + 1);
    same || ascending || descending
}

fn hasher() -> Argon2<'static> {
    // OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id on a blocking thread (it takes tens of milliseconds of CPU:
/// running it on the async executor would stall every other request).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    })
    .await?
}

/// Verifies a password against a stored hash, on a blocking thread. With no hash (an unknown
/// user) it still spends the same work on a dummy hash, so timing does not reveal whether the
/// account exists.
pub async fn verify(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored)
            .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
        let ok = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && stored != DUMMY_HASH)
    })
    .await?
}

/// argon2id hash of a random string nobody knows, with the same parameters as real hashes.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3BvcnRlbGxvZHVtbXlzYWx0$ZX2+v6Ssm6Yr4i8O9Ee6eG2aAfHf2y8lKUJkH7m0yVg";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_follows_nist() {
        assert_eq!(check_policy("corto", &[]), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy(&"a".repeat(129), &[]),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check_policy("Password1", &[]), Err(PasswordError::Common));
        assert_eq!(check_policy("juventus", &[]), Err(PasswordError::Common));
        assert_eq!(check_policy("zzzzzzzzzz", &[]), Err(PasswordError::Common));
        assert_eq!(check_policy("23456789", &[]), Err(PasswordError::Common));
        assert_eq!(
            check_policy("mrossi-la-mia-casa", &["mrossi"]),
            Err(PasswordError::Personal)
        );
        // No composition rules: a long lowercase passphrase is fine, and so is any Unicode.
        assert_eq!(
            check_policy("cavallo batteria graffetta", &["mrossi"]),
            Ok(())
        );
        assert_eq!(check_policy("perché-no-città", &[]), Ok(()));
        // Length counts characters, not bytes.
        assert_eq!(check_policy("àèìòùàè", &[]), Err(PasswordError::TooShort));
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("cavallo batteria graffetta".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("cavallo batteria graffetta".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify("cavallo batteria graffettA".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        let again = hash("cavallo batteria graffetta".into()).await.unwrap();
        assert_ne!(h, again, "salted");
        assert!(
            !verify("anything".into(), None).await.unwrap(),
            "no account, no match"
        );
    }
}
