//! Time: stored in UTC, shown in Europe/Rome, typed by people as `gg/mm/aaaa`.
//!
//! Every conversion between a wall-clock time in Rome and an instant goes through
//! [`Timestamp::from_rome`] (wall clock → instant) and [`Timestamp::rome_local`] (instant → wall
//! clock); the ISO 8601 text of GPD's `LocalDateTime` fields is read by
//! [`Timestamp::parse_iso_rome`] and written by [`Timestamp::to_iso_rome`].
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

    /// The wall-clock date and time in Rome, without its offset.
    pub fn rome_local(self) -> PrimitiveDateTime {
        let t = self.in_rome();
        PrimitiveDateTime::new(t.date(), t.time())
    }

    /// The instant a wall-clock date and time in Rome names.
    ///
    /// Twice a year a wall-clock time does not name exactly one instant; both cases take the
    /// offset in force just *before* the change, which is what `java.time` does
    /// (`LocalDateTime.atZone(ZoneId.of("Europe/Rome"))`, the conversion GPD's Java clients make):
    /// - on the last Sunday of October 02:00–02:59:59 happens twice: the first one (summer time,
    ///   +02:00) is meant;
    /// - on the last Sunday of March 02:00–02:59:59 does not exist: it is read with winter time
    ///   (+01:00), i.e. moved forward by the hour the clocks skip (02:30 names 03:30 summer time).
    pub fn from_rome(local: PrimitiveDateTime) -> Timestamp {
        let [winter, summer] = [1, 2].map(|h| UtcOffset::from_hms(h, 0, 0).expect("valid offset"));
        let as_winter = local.assume_offset(winter);
        let as_summer = local.assume_offset(summer);
        let winter_holds = rome_offset(as_winter) == winter;
        let summer_holds = rome_offset(as_summer) == summer;
        Timestamp::from(match (winter_holds, summer_holds) {
            (true, false) => as_winter,
            (false, true) => as_summer,
            // Ambiguous (October): summer time is the offset before the change.
            (true, true) => as_summer,
            // Non-existent (March): winter time is the offset before the change.
            (false, false) => as_winter,
        })
    }

    /// The first instant of a calendar day in Rome (midnight always exists there: the clocks
    /// change at 02:00 and 03:00).
    pub fn rome_day_start(date: Date) -> Timestamp {
        Timestamp::from_rome(date.midnight())
    }

    /// The last instant (to the microsecond) of a calendar day in Rome.
    pub fn rome_day_end(date: Date) -> Timestamp {
        Timestamp::from_rome(
            date.with_hms_micro(23, 59, 59, 999_999)
                .expect("valid time"),
        )
    }

    /// The start of the second this instant falls in. Rome's offsets are whole hours, so this
    /// is also the start of the Roman second.
    pub fn start_of_second(self) -> Timestamp {
        Timestamp(
            self.0
                .replace_nanosecond(0)
                .expect("zero nanoseconds is in range"),
        )
    }

    /// Parses an ISO 8601 date-time as GPD's API carries it (`2031-05-31T23:59:59`):
    /// `yyyy-mm-ddThh:mm`, optionally `:ss` and a fraction of 1 to 9 digits (kept to the
    /// microsecond). Without an offset it is a wall-clock time in Rome, read with
    /// [`Timestamp::from_rome`]; with one (`Z`, `+02:00`) it names that instant.
    pub fn parse_iso_rome(text: &str) -> Result<Timestamp, InvalidDateTime> {
        let text = text.trim();
        let (local, offset) = split_offset(text)?;
        let local = parse_local_iso(local)?;
        Ok(match offset {
            Some(offset) => Timestamp::from(local.assume_offset(offset)),
            None => Timestamp::from_rome(local),
        })
    }

    /// The wall-clock time in Rome in GPD's form, without an offset, as Java's
    /// `LocalDateTime` is written: seconds always, a fraction only when there is one, without
    /// trailing zeros (`2031-05-31T23:59:59`, `2026-11-30T08:21:36.82`).
    pub fn to_iso_rome(self) -> String {
        let t = self.rome_local();
        let mut text = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let micros = t.microsecond();
        if micros != 0 {
            let fraction = format!("{micros:06}");
            text.push('.');
            text.push_str(fraction.trim_end_matches('0'));
        }
        text
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

/// Why a date-time text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "data e ora non valide: usa il formato ISO 8601 aaaa-mm-ggThh:mm:ss, ora di Roma (per esempio 2031-05-31T23:59:59), o con il fuso (2031-05-31T21:59:59Z)"
)]
pub struct InvalidDateTime;

/// Splits a trailing `Z` or `±hh:mm` off an ISO 8601 date-time.
fn split_offset(text: &str) -> Result<(&str, Option<UtcOffset>), InvalidDateTime> {
    if let Some(local) = text.strip_suffix('Z') {
        return Ok((local, Some(UtcOffset::UTC)));
    }
    let bytes = text.as_bytes();
    // The date part has dashes too: an offset sign can only sit six places from the end,
    // after the time.
    if bytes.len() > 16 && matches!(bytes[bytes.len() - 6], b'+' | b'-') {
        let (local, offset) = text.split_at(text.len() - 6);
        let format =
            time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
        let offset = UtcOffset::parse(offset, format).map_err(|_| InvalidDateTime)?;
        return Ok((local, Some(offset)));
    }
    Ok((text, None))
}

/// `yyyy-mm-ddThh:mm[:ss[.f…]]`, the fraction kept to the microsecond.
fn parse_local_iso(text: &str) -> Result<PrimitiveDateTime, InvalidDateTime> {
    let formats: [&[time::format_description::BorrowedFormatItem<'static>]; 3] = [
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]"
        ),
    ];
    // Four-digit years only: `time` would also read a sign or more digits.
    let year_ok = text.len() > 4
        && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && text.as_bytes()[4] == b'-';
    // At most nanoseconds, as Java's `LocalDateTime` (`time` would read more digits).
    let fraction_ok = text
        .split_once('.')
        .is_none_or(|(_, f)| (1..=9).contains(&f.len()));
    if !year_ok || !fraction_ok {
        return Err(InvalidDateTime);
    }
    formats
        .iter()
        .find_map(|f| PrimitiveDateTime::parse(text, f).ok())
        .ok_or(InvalidDateTime)
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

    fn local(text: &str) -> PrimitiveDateTime {
        parse_local_iso(text).unwrap()
    }

    #[test]
    fn rome_wall_clock_names_its_instant() {
        // Winter and summer.
        assert_eq!(
            Timestamp::from_rome(local("2031-01-31T23:59:59")),
            Timestamp::from(datetime!(2031-01-31 22:59:59 UTC))
        );
        assert_eq!(
            Timestamp::from_rome(local("2031-05-31T23:59:59")),
            Timestamp::from(datetime!(2031-05-31 21:59:59 UTC))
        );
        // The evening of the March change is already summer time, the one of October winter.
        assert_eq!(
            Timestamp::from_rome(local("2026-03-29T23:59:59")),
            Timestamp::from(datetime!(2026-03-29 21:59:59 UTC))
        );
        assert_eq!(
            Timestamp::from_rome(local("2026-10-25T23:59:59")),
            Timestamp::from(datetime!(2026-10-25 22:59:59 UTC))
        );
    }

    #[test]
    fn ambiguous_and_skipped_wall_clock_times_take_the_offset_before_the_change() {
        // 25 October 2026: 02:30 happens at 00:30 UTC (summer) and again at 01:30 UTC (winter).
        let twice = Timestamp::from_rome(local("2026-10-25T02:30:00"));
        assert_eq!(twice, Timestamp::from(datetime!(2026-10-25 00:30 UTC)));
        assert_eq!(twice.to_iso_rome(), "2026-10-25T02:30:00");
        let second_time = Timestamp::from(datetime!(2026-10-25 01:30 UTC));
        assert_eq!(second_time.to_iso_rome(), "2026-10-25T02:30:00");
        // Just outside the repeated hour there is one reading only.
        assert_eq!(
            Timestamp::from_rome(local("2026-10-25T01:59:59")),
            Timestamp::from(datetime!(2026-10-24 23:59:59 UTC))
        );
        assert_eq!(
            Timestamp::from_rome(local("2026-10-25T03:00:00")),
            Timestamp::from(datetime!(2026-10-25 02:00 UTC))
        );
        // 29 March 2026: the clocks go from 02:00 to 03:00; 02:30 is read as winter time,
        // i.e. 03:30 summer time, as java.time does.
        let skipped = Timestamp::from_rome(local("2026-03-29T02:30:00"));
        assert_eq!(skipped, Timestamp::from(datetime!(2026-03-29 01:30 UTC)));
        assert_eq!(skipped.to_iso_rome(), "2026-03-29T03:30:00");
        assert_eq!(
            Timestamp::from_rome(local("2026-03-29T01:59:59")),
            Timestamp::from(datetime!(2026-03-29 00:59:59 UTC))
        );
        assert_eq!(
            Timestamp::from_rome(local("2026-03-29T03:00:00")),
            Timestamp::from(datetime!(2026-03-29 01:00 UTC))
        );
    }

    #[test]
    fn iso_date_times_as_gpd_sends_them() {
        let due = Timestamp::from(datetime!(2031-05-31 21:59:59 UTC));
        for text in [
            "2031-05-31T23:59:59",
            " 2031-05-31T23:59:59 ",
            "2031-05-31T21:59:59Z",
            "2031-05-31T23:59:59+02:00",
            "2031-06-01T00:59:59+03:00",
            "2031-05-31T16:59:59-05:00",
        ] {
            assert_eq!(Timestamp::parse_iso_rome(text), Ok(due), "{text}");
        }
        assert_eq!(
            Timestamp::parse_iso_rome("2031-05-31T23:59"),
            Ok(Timestamp::from(datetime!(2031-05-31 21:59 UTC)))
        );
        let fraction = Timestamp::parse_iso_rome("2031-05-31T23:59:59.123456789").unwrap();
        assert_eq!(
            fraction,
            Timestamp::from(datetime!(2031-05-31 21:59:59.123456 UTC))
        );
        assert_eq!(fraction.to_iso_rome(), "2031-05-31T23:59:59.123456");
        assert_eq!(
            Timestamp::parse_iso_rome("2031-05-31T23:59:59.5")
                .unwrap()
                .to_iso_rome(),
            "2031-05-31T23:59:59.5"
        );
        assert_eq!(due.to_iso_rome(), "2031-05-31T23:59:59");
        assert_eq!(
            Timestamp::from(datetime!(2031-01-01 00:00 UTC)).to_iso_rome(),
            "2031-01-01T01:00:00"
        );
        for bad in [
            "",
            "31/05/2031",
            "2031-05-31",
            "2031-05-31 23:59:59",
            "2031-05-31T24:00:00",
            "2031-02-30T10:00:00",
            "2031-05-31T23:59:60",
            "2031-05-31T23:59:59+2",
            "2031-05-31T23:59:59+25:00",
            "+2031-05-31T23:59:59",
            "12031-05-31T23:59:59",
            "2031-05-31T23:59:59.",
            "2031-05-31T23:59:59.1234567891",
            "2031-05-31T23:59:59ZZ",
        ] {
            assert_eq!(
                Timestamp::parse_iso_rome(bad),
                Err(InvalidDateTime),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn days_in_rome() {
        let d = time::macros::date!(2026 - 03 - 29);
        assert_eq!(
            Timestamp::rome_day_start(d),
            Timestamp::from(datetime!(2026-03-28 23:00 UTC))
        );
        assert_eq!(
            Timestamp::rome_day_end(d),
            Timestamp::from(datetime!(2026-03-29 21:59:59.999999 UTC))
        );
        assert_eq!(
            Timestamp::from(datetime!(2026-03-29 21:59:59.999999 UTC)).start_of_second(),
            Timestamp::from(datetime!(2026-03-29 21:59:59 UTC))
        );
    }

    /// Our EU rule against the system's time-zone database (Debian's tzdata, read by `zdump`):
    /// the offset on both sides of every change from 1996, when Italy took the EU rule, to 2100.
    #[test]
    fn rome_offset_agrees_with_the_time_zone_database() {
        let out = std::process::Command::new("zdump")
            .args(["-v", "-c", "1996,2100", "Europe/Rome"])
            .output()
            .expect("zdump (Debian's libc-bin) reads the time-zone database");
        let text = String::from_utf8(out.stdout).unwrap();
        let format = time::macros::format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        );
        let mut checked = 0;
        for line in text.lines().filter(|l| l.contains(" UT = ")) {
            let (_, rest) = line.split_once("  ").unwrap();
            let (ut, _) = rest.split_once(" UT = ").unwrap();
            let gmtoff: i32 = line
                .rsplit_once("gmtoff=")
                .unwrap()
                .1
                .trim()
                .parse()
                .unwrap();
            let instant = PrimitiveDateTime::parse(ut.trim(), format)
                .unwrap_or_else(|e| panic!("{ut}: {e}"))
                .assume_utc();
            assert_eq!(
                rome_offset(instant).whole_seconds(),
                gmtoff,
                "Rome's offset at {ut} UT"
            );
            checked += 1;
        }
        // Two changes a year, each seen from both sides.
        assert!(
            checked >= 4 * 104,
            "only {checked} lines from zdump: {text}"
        );
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// 1996-01-01 to 2100-01-01, in microseconds.
        const FROM: i64 = 820_454_400_000_000;
        const TO: i64 = 4_102_444_800_000_000;

        fn instant() -> impl Strategy<Value = Timestamp> {
            (FROM..TO).prop_map(|us| {
                Timestamp::from(
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap(),
                )
            })
        }

        /// Wall-clock times, half of them on the days of a change between 00:00 and 05:00.
        fn wall_clock() -> impl Strategy<Value = PrimitiveDateTime> {
            let anywhen =
                instant().prop_map(|t| PrimitiveDateTime::new(t.get().date(), t.get().time()));
            let near_change = (1996..2100i32, any::<bool>(), 0..5 * 3_600_000_000i64).prop_map(
                |(year, march, us)| {
                    let day = last_sunday(year, if march { Month::March } else { Month::October });
                    day.midnight() + time::Duration::microseconds(us)
                },
            );
            prop_oneof![anywhen, near_change]
        }

        fn is_skipped(l: PrimitiveDateTime) -> bool {
            l.date() == last_sunday(l.year(), Month::March) && l.hour() == 2
        }

        fn is_repeated(l: PrimitiveDateTime) -> bool {
            l.date() == last_sunday(l.year(), Month::October) && l.hour() == 2
        }

        proptest! {
            #[test]
            fn every_wall_clock_time_reads_back(l in wall_clock()) {
                let back = Timestamp::from_rome(l).rome_local();
                if is_skipped(l) {
                    prop_assert_eq!(back, l + time::Duration::HOUR);
                } else {
                    prop_assert_eq!(back, l);
                }
            }

            #[test]
            fn every_instant_is_named_by_its_wall_clock_time(t in instant()) {
                let l = t.rome_local();
                let named = Timestamp::from_rome(l);
                if is_repeated(l) && rome_offset(t.get()).whole_hours() == 1 {
                    // The second 02:xx of October names the first one.
                    prop_assert_eq!(named, t.plus(-time::Duration::HOUR));
                } else {
                    prop_assert_eq!(named, t);
                }
                prop_assert!(matches!(rome_offset(t.get()).whole_hours(), 1 | 2));
            }

            #[test]
            fn gpd_text_round_trips(t in instant()) {
                let text = t.to_iso_rome();
                let back = Timestamp::parse_iso_rome(&text).unwrap();
                prop_assert_eq!(back.to_iso_rome(), text.clone());
                let l = t.rome_local();
                if !(is_repeated(l) && rome_offset(t.get()).whole_hours() == 1) {
                    prop_assert_eq!(back, t);
                }
                // With its offset the text names the instant exactly, whatever the hour.
                let zoned = format!("{}Z", t.to_utc_text().trim_end_matches('Z'));
                prop_assert_eq!(Timestamp::parse_iso_rome(&zoned).unwrap(), t);
            }

            #[test]
            fn a_day_in_rome_is_23_24_or_25_hours_long(t in instant()) {
                let d = t.rome_local().date();
                let length = Timestamp::rome_day_end(d).get() - Timestamp::rome_day_start(d).get()
                    + time::Duration::MICROSECOND;
                let is_change_day =
                    d == last_sunday(d.year(), Month::March) || d == last_sunday(d.year(), Month::October);
                prop_assert!(Timestamp::rome_day_start(d) <= t && t <= Timestamp::rome_day_end(d));
                if is_change_day {
                    prop_assert!(length == time::Duration::hours(23) || length == time::Duration::hours(25));
                } else {
                    prop_assert_eq!(length, time::Duration::hours(24));
                }
            }
        }
    }
}
