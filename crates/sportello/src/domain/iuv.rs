//! Minting the notice numbers of positions Sportello creates (aux digit 3).
//!
//! An aux-3 notice number is `3` + the station's segregation code + a 13-digit base + a mod-93
//! check digit (`pagopa::NoticeNumber::from_aux3`). The base must
//! be unique per ente for ever. It was once the next value of a sequence, so that one notice code
//! told anyone the codes of the notices minted before and after it (and with them the debtors'
//! names, through "Pagamento per altri"). Now the base is drawn at random from the part of the
//! space the old sequence never reached; uniqueness is the database's job (`iuv_minted`: every
//! base drawn is recorded, a clash draws again — see `Store::mint_iuv_base`). With 10^13 bases and
//! a few million notices a clash is rare, and two codes say nothing about each other.

use rand::Rng;

/// One past the largest 13-digit base.
pub const BASE_LIMIT: u64 = 10_000_000_000_000;

/// A random base at or above `floor` (the first value the old sequence never handed out).
/// `None` when the space above `floor` is exhausted.
pub fn random_base(floor: u64, rng: &mut impl Rng) -> Option<u64> {
    let floor = floor.max(1);
    (floor < BASE_LIMIT).then(|| rng.random_range(floor..BASE_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_above_the_old_sequence_and_fit_13_digits() {
        let mut rng = rand::rng();
        for _ in 0..1000 {
            let b = random_base(500, &mut rng).unwrap();
            assert!((500..BASE_LIMIT).contains(&b));
        }
        assert_eq!(random_base(BASE_LIMIT, &mut rng), None);
        assert_eq!(random_base(BASE_LIMIT - 1, &mut rng), Some(BASE_LIMIT - 1));
    }
}
