//! Time: stored in UTC, shown in Europe/Rome, typed by people as `gg/mm/aaaa`.
//!
//! [`Timestamp`] is how instants cross the storage boundary: TIMESTAMPTZ on PostgreSQL and a
//! fixed-width RFC 3339 text (`2026-11-27T10:15:00.000000Z`) on SQLite, so that text comparison
//! and ordering agree with time order. Both are truncated to microseconds, PostgreSQL's precision,
//! so a value reads back exactly as it was written on either database.

use std::fmt;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset, Weekday};

/// An instant in UTC, with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

const SQLITE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
);

impl Timestamp {
    /// The current instant.
    pub fn now() -> Timestamp {
        Timestamp::from(OffsetDateTime::now_utc())
    }

    /// The instant as a `time` value in UTC.
    pub fn get(self) -> OffsetDateTime {
        self.0
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> i64 {
        self.0.unix_timestamp()
    }

    /// This instant plus a duration.
    pub fn plus(self, d: time::Duration) -> Timestamp {
        Timestamp::from(self.0 + d)
    }

    /// The fixed-width UTC text form used on SQLite and in logs.
    pub fn to_utc_text(self) -> String {
        self.0
            .format(SQLITE_FORMAT)
            .expect("a UTC timestamp formats")
    }

    /// Parses the fixed-width UTC text form, or any RFC 3339 instant.
    pub fn parse(text: &str) -> Result<Timestamp, time::error::Parse> {
        match PrimitiveDateTime::parse(text, SQLITE_FORMAT) {
            Ok(t) => Ok(Timestamp::from(t.assume_utc())),
            Err(_) => OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(Timestamp::from),
        }
    }

    /// The wall-clock time in Rome.
    pub fn in_rome(self) -> OffsetDateTime {
        self.0.to_offset(rome_offset(self.0))
    }

    /// `gg/mm/aaaa` in Rome.
    pub fn rome_date(self) -> String {
        format_date(self.in_rome().date())
    }

    /// `gg/mm/aaaa hh:mm` in Rome.
    pub fn rome_date_time(self) -> String {
        let t = self.in_rome();
        format!(
            "{} {:02}:{:02}",
            format_date(t.date()),
            t.hour(),
            t.minute()
        )
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Timestamp {
        let t = t.to_offset(UtcOffset::UTC);
        let micros = t.microsecond();
        Timestamp(
            t.replace_microsecond(micros)
                .expect("microsecond is in range"),
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_utc_text())
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_utc_text())
    }
}

impl sqlx::Type<sqlx::Sqlite> for Timestamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <String as sqlx::Encode<'q, sqlx::Sqlite>>::encode(self.to_utc_text(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Timestamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
        Ok(Timestamp::parse(text)?)
    }
}

impl sqlx::Type<sqlx::Postgres> for Timestamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for Timestamp {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as sqlx::Encode<'q, sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Timestamp {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Timestamp::from(<OffsetDateTime as sqlx::Decode<
            'r,
            sqlx::Postgres,
        >>::decode(value)?))
    }
}

/// The last Sunday of a month, the day EU summer time starts (March) and ends (October).
fn last_sunday(year: i32, month: Month) -> Date {
    let days = time::util::days_in_month(month, year);
    let mut d = Date::from_calendar_date(year, month, days).expect("valid date");
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day().expect("valid date");
    }
    d
}

/// Rome's UTC offset at an instant: CET (+1), or CEST (+2) from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October (EU rule, directive 2000/84/EC).
pub fn rome_offset(t: OffsetDateTime) -> UtcOffset {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    let start = last_sunday(year, Month::March)
        .with_hms(1, 0, 0)
        .expect("valid time")
        .assume_utc();
    let end = last_sunday(year, Month::October)
        .with_hms(1, 0, 0)
        .expect("valid time")
        .assume_utc();
    let hours = if t >= start && t < end { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).expect("valid offset")
}

/// `gg/mm/aaaa`.
pub fn format_date(d: Date) -> String {
    format!("{:02}/{:02}/{:04}", d.day(), u8::from(d.month()), d.year())
}

/// Parses a date typed by a person as `gg/mm/aaaa` (also `g/m/aaaa`), with an Italian error.
pub fn parse_date(text: &str) -> Result<Date, &'static str> {
    const FORMAT: &str = "La data deve essere nel formato gg/mm/aaaa, per esempio 05/04/2018";
    let mut parts = text.trim().split('/');
    let (Some(d), Some(m), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(FORMAT);
    };
    let num = |s: &str, max_len: usize| -> Result<u32, &'static str> {
        if s.is_empty() || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
            Err(FORMAT)
        } else {
            s.parse().map_err(|_| FORMAT)
        }
    };
    let (day, month, year) = (num(d, 2)?, num(m, 2)?, num(y, 4)?);
    if y.len() != 4 {
        return Err(FORMAT);
    }
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or("Il mese della data non esiste")?;
    Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| "La data non esiste nel calendario")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rome_switches_to_summer_time_on_the_last_sunday_of_march() {
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(
            rome_offset(datetime!(2026-03-29 00:59 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            rome_offset(datetime!(2026-03-29 01:00 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            rome_offset(datetime!(2026-10-25 00:59 UTC)).whole_hours(),
            2
        );
        assert_eq!(
            rome_offset(datetime!(2026-10-25 01:00 UTC)).whole_hours(),
            1
        );
        assert_eq!(
            rome_offset(datetime!(2018-04-05 12:00 UTC)).whole_hours(),
            2
        );
    }

    #[test]
    fn shown_in_rome() {
        let t = Timestamp::from(datetime!(2026-12-31 23:30 UTC));
        assert_eq!(t.rome_date(), "01/01/2027");
        assert_eq!(t.rome_date_time(), "01/01/2027 00:30");
        let summer = Timestamp::from(datetime!(2018-04-05 08:05 UTC));
        assert_eq!(summer.rome_date_time(), "05/04/2018 10:05");
    }

    #[test]
    fn utc_text_is_fixed_width_and_round_trips() {
        let t = Timestamp::from(datetime!(2026-11-27 10:15:00.123456789 UTC));
        assert_eq!(t.to_utc_text(), "2026-11-27T10:15:00.123456Z");
        assert_eq!(Timestamp::parse(&t.to_utc_text()).unwrap(), t);
        let earlier = Timestamp::from(datetime!(2026-11-27 10:15:00 UTC));
        assert!(earlier.to_utc_text() < t.to_utc_text());
        assert_eq!(
            Timestamp::parse("2026-11-27T11:15:00+01:00").unwrap(),
            Timestamp::from(datetime!(2026-11-27 10:15 UTC))
        );
    }

    #[test]
    fn dates_typed_by_people() {
        assert_eq!(
            parse_date("05/04/2018").unwrap(),
            time::macros::date!(2018 - 04 - 05)
        );
        assert_eq!(
            parse_date(" 5/4/2018 ").unwrap(),
            time::macros::date!(2018 - 04 - 05)
        );
        assert_eq!(
            format_date(time::macros::date!(2018 - 04 - 05)),
            "05/04/2018"
        );
        assert!(parse_date("2018-04-05").is_err());
        assert!(parse_date("31/02/2024").unwrap_err().contains("non esiste"));
        assert!(parse_date("01/13/2024").unwrap_err().contains("mese"));
        assert!(parse_date("01/01/24").is_err());
        assert!(parse_date("").is_err());
    }
}
