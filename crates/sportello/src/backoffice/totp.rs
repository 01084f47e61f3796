//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 6 digits, 30-second steps): the second
//! factor of the back office, readable by any authenticator app.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps of clock skew accepted either side of now.
pub const SKEW_STEPS: i64 = 1;

/// A shared secret (20 random bytes, the RFC's recommended length for SHA-1).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Secret {
        Secret(rand::random::<[u8; 20]>().to_vec())
    }

    /// The secret from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, as authenticator apps take it (and as it is stored).
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// Parses the stored base32 form.
    pub fn from_base32(text: &str) -> Option<Secret> {
        data_encoding::BASE32_NOPAD
            .decode(text.trim_end_matches('=').as_bytes())
            .ok()
            .map(Secret)
    }

    /// The code of time step `step` (HOTP of the step counter, RFC 4226 dynamic truncation).
    pub fn code_at_step(&self, step: i64, digits: u32) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let hash = mac.finalize().into_bytes();
        let offset = usize::from(hash[hash.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            hash[offset] & 0x7f,
            hash[offset + 1],
            hash[offset + 2],
            hash[offset + 3],
        ]);
        let code = binary % 10u32.pow(digits);
        format!("{code:0width$}", width = digits as usize)
    }

    /// The 6-digit code at `unix` seconds.
    pub fn code_at(&self, unix: i64) -> String {
        self.code_at_step(step_of(unix), DIGITS)
    }

    /// The step whose code `code` is, within [`SKEW_STEPS`] of `unix`, and later than
    /// `last_used` (a code is accepted once). Compares in constant time.
    pub fn verify(&self, code: &str, unix: i64, last_used: i64) -> Option<i64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = step_of(unix);
        let mut found = None;
        for step in now - SKEW_STEPS..=now + SKEW_STEPS {
            let matches =
                crate::auth::tokens::constant_time_eq(&self.code_at_step(step, DIGITS), code);
            if matches && step > last_used && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// The time step of `unix` seconds.
pub fn step_of(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECONDS)
}

/// The `otpauth://` URI an authenticator app reads (from a QR code or typed).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &Secret) -> String {
    let label = crate::web::pages::url_encode(&format!("{issuer}:{account}"));
    format!(
        "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret.to_base32(),
        crate::web::pages::url_encode(issuer)
    )
}

/// The URI as a QR code drawn with Unicode half blocks, for a terminal.
pub fn terminal_qr(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// The URI as a QR code in an SVG image, as a `data:` URI for an `<img>` (the pages' policy
/// allows `data:` images and no inline style).
pub fn svg_qr_data_uri(uri: &str) -> Option<String> {
    use std::fmt::Write;
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let width = code.width();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::new();
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            let _ = write!(path, "M{x} {y}h1v1h-1z");
        }
    }
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path d="{path}" fill="#000"/></svg>"##
    );
    Some(format!(
        "data:image/svg+xml;base64,{}",
        data_encoding::BASE64.encode(svg.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows: the seed is the ASCII "12345678901234567890".
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let secret = Secret::from_bytes(b"12345678901234567890");
        for (time, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at_step(step_of(time), 8), expected, "T={time}");
        }
    }

    #[test]
    fn wrong_replayed_and_skewed_codes() {
        let secret = Secret::generate();
        let now = 1_700_000_000;
        let code = secret.code_at(now);
        let step = step_of(now);
        assert_eq!(secret.verify(&code, now, 0), Some(step));
        // Replayed: the step was already used.
        assert_eq!(secret.verify(&code, now, step), None);
        // One step of skew either way is accepted, two are not.
        assert_eq!(
            secret.verify(&secret.code_at(now - 30), now, 0),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code_at(now + 30), now, 0),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&secret.code_at(now - 60), now, 0), None);
        assert_eq!(secret.verify(&secret.code_at(now + 60), now, 0), None);
        // Wrong or malformed.
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(secret.verify(&wrong, now, 0), None);
        assert_eq!(secret.verify("12a456", now, 0), None);
        assert_eq!(secret.verify("", now, 0), None);
    }

    #[test]
    fn base32_round_trip_and_uri() {
        let secret = Secret::from_bytes(b"12345678901234567890");
        assert_eq!(secret.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            Secret::from_base32(&secret.to_base32()),
            Some(secret.clone())
        );
        let uri = otpauth_uri("Sportello Comune", "mario", &secret);
        assert!(uri.starts_with("otpauth://totp/Sportello%20Comune%3Amario?secret=GEZDG"));
        assert!(terminal_qr(&uri).is_some());
    }
}
