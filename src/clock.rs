//! Wall-clock times as IRC shows them: the `time` tag of IRCv3 server-time
//! (`2026-12-03T06:45:19.123Z`), the dates of numerics, and the timestamps
//! that draft/chathistory selectors carry. Pure conversions, no clock reads
//! except [`now_ms`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A UTC date and time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    secs_of_day: i64,
}

/// Days since 1970-01-01 to a date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The inverse of [`civil_from_days`] (`days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(secs: i64) -> Civil {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    Civil {
        year,
        month,
        day,
        secs_of_day: secs.rem_euclid(86_400),
    }
}

/// `2026-11-25 09:14:03 UTC`, for numerics such as RPL_CREATED.
pub fn format_date(secs: i64) -> String {
    let c = civil(secs);
    let s = c.secs_of_day;
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        c.year,
        c.month,
        c.day,
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `2026-11-25T09:14:03.250Z`, the IRCv3 `time` tag.
pub fn format_iso(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_iso(&mut out, ms);
    out
}

/// Appends [`format_iso`]'s text to `out`, for lines built in one buffer.
/// Digit by digit rather than through `format!`: every stored line a
/// CHATHISTORY answer sends carries one, and the formatter was a tenth of
/// the loop's time answering them.
pub fn write_iso(out: &mut String, ms: i64) {
    let c = civil(ms.div_euclid(1000));
    let s = c.secs_of_day;
    let fields = [
        (c.year, 4, b'-'),
        (c.month, 2, b'-'),
        (c.day, 2, b'T'),
        (s / 3600, 2, b':'),
        (s % 3600 / 60, 2, b':'),
        (s % 60, 2, b'.'),
        (ms.rem_euclid(1000), 3, b'Z'),
    ];
    if !(0..=9999).contains(&c.year) {
        // Years of five digits or before 0 (never a time here): as format!.
        use std::fmt::Write;
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year,
            c.month,
            c.day,
            s / 3600,
            s % 3600 / 60,
            s % 60,
            ms.rem_euclid(1000)
        );
        return;
    }
    let mut text = [0u8; 24];
    let mut at = 0;
    for (value, width, after) in fields {
        let mut n = value;
        for slot in text[at..at + width].iter_mut().rev() {
            // A digit: n is 0..=9999 here, so n % 10 is 0..=9.
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        text[at + width] = after;
        at += width + 1;
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

/// `HH:MM` of a time, for history played back as notices.
pub fn format_hh_mm(ms: i64) -> String {
    let s = civil(ms.div_euclid(1000)).secs_of_day;
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

/// Parses an IRCv3 timestamp, `YYYY-MM-DDThh:mm:ss[.sss]Z`, to Unix
/// milliseconds; `None` for anything else.
pub fn parse_iso(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year = number(date.next()?, 4)?;
    let month = number(date.next()?, 2)?;
    let day = number(date.next()?, 2)?;
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.splitn(3, ':');
    let hour = number(hms.next()?, 2)?;
    let minute = number(hms.next()?, 2)?;
    let second = number(hms.next()?, 2)?;
    let millis = match fraction.len() {
        0 => 0,
        1..=3 => number(fraction, fraction.len())? * 10_i64.pow(3 - fraction.len() as u32),
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs * 1000 + millis)
}

/// Exactly `digits` ASCII digits.
fn number(text: &str, digits: usize) -> Option<i64> {
    if text.len() != digits || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_date(1_764_062_043), "2025-11-25 09:14:03 UTC");
        assert_eq!(format_iso(1_764_062_043_250), "2025-11-25T09:14:03.250Z");
        assert_eq!(format_hh_mm(1_764_062_043_250), "09:14");
        // A leap day.
        assert_eq!(format_iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_timestamps_and_refuses_the_rest() {
        assert_eq!(
            parse_iso("2025-11-25T09:14:03.250Z"),
            Some(1_764_062_043_250)
        );
        assert_eq!(parse_iso("2025-11-25T09:14:03Z"), Some(1_764_062_043_000));
        assert_eq!(parse_iso("2025-11-25T09:14:03.5Z"), Some(1_764_062_043_500));
        for bad in [
            "",
            "2025-11-25T09:14:03",
            "2025-13-25T09:14:03Z",
            "2025-11-25 09:14:03Z",
            "25-11-25T09:14:03Z",
            "2025-11-25T09:14:03.1234Z",
            "2025-11-25T24:00:00Z",
            "+025-11-25T09:14:03Z",
        ] {
            assert_eq!(parse_iso(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn iso_round_trips(ms in 0i64..8_000_000_000_000) {
            prop_assert_eq!(parse_iso(&format_iso(ms)), Some(ms));
        }
    }
}
