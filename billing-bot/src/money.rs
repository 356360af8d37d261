//! Money and months: integer minor units, billing periods (`YYYY-MM`), dates (`YYYY-MM-DD`),
//! proration, and the conversion of an amount into satoshis at the configured rate.

use std::fmt;
use std::str::FromStr;

use time::{Date, Month, OffsetDateTime};

use crate::error::BillingError;

/// The largest amount accepted anywhere: 10^12 minor units.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Check an amount of minor units: a positive integer up to [`MAX_AMOUNT`] (zero too when
/// `zero_ok`). Refusals name the field.
pub fn check_amount(field: &str, amount: i64, zero_ok: bool) -> Result<i64, BillingError> {
    let low = if zero_ok { 0 } else { 1 };
    if (low..=MAX_AMOUNT).contains(&amount) {
        Ok(amount)
    } else {
        Err(BillingError::Unprocessable(format!(
            "{field} must be an integer number of minor units from {low} to {MAX_AMOUNT}"
        )))
    }
}

/// A calendar month, the unit of billing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: Month,
}

impl Period {
    /// The month containing the Unix time `at` (UTC).
    pub fn containing(at: i64) -> Self {
        let date = OffsetDateTime::from_unix_timestamp(at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            .date();
        Self::of(date)
    }

    /// The month of `date`.
    pub fn of(date: Date) -> Self {
        Self {
            year: date.year(),
            month: date.month(),
        }
    }

    /// Its first day.
    pub fn first_day(self) -> Date {
        Date::from_calendar_date(self.year, self.month, 1).unwrap_or(Date::MIN)
    }

    /// Its last day.
    pub fn last_day(self) -> Date {
        let days = self.month.length(self.year);
        Date::from_calendar_date(self.year, self.month, days).unwrap_or(Date::MAX)
    }

    /// How many days it has.
    pub fn days(self) -> i64 {
        i64::from(self.month.length(self.year))
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

impl FromStr for Period {
    type Err = BillingError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BillingError::BadRequest("a period is written YYYY-MM".to_owned());
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u8 = month.parse().map_err(|_| bad())?;
        let month = Month::try_from(month).map_err(|_| bad())?;
        Ok(Self { year, month })
    }
}

/// Parse a `YYYY-MM-DD` date; the refusal names `field`.
pub fn parse_date(field: &str, text: &str) -> Result<Date, BillingError> {
    let bad = || BillingError::BadRequest(format!("{field} must be a date, YYYY-MM-DD"));
    let mut parts = text.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let year: i32 = year.parse().map_err(|_| bad())?;
    let month: u8 = month.parse().map_err(|_| bad())?;
    let day: u8 = day.parse().map_err(|_| bad())?;
    let month = Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// A date as `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// The UTC date of a Unix time.
pub fn date_of(at: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(at)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .date()
}

/// The part of a monthly `amount` owed for `period` by someone who joined on `joined`: the
/// whole amount when they joined before it began, else the days from `joined` to the month's
/// end over the month's days, rounded half up. Also returns the days billed.
pub fn prorate(amount: i64, period: Period, joined: Date) -> (i64, i64) {
    let days = period.days();
    if joined <= period.first_day() {
        return (amount, days);
    }
    if joined > period.last_day() {
        return (0, 0);
    }
    let billed = i64::from(period.last_day().day()) - i64::from(joined.day()) + 1;
    let numerator = i128::from(amount) * i128::from(billed) * 2 + i128::from(days);
    let share = numerator / (i128::from(days) * 2);
    (i64::try_from(share).unwrap_or(amount), billed)
}

/// `amount` minor units in satoshis at `minor_per_btc` minor units per bitcoin, rounded up.
pub fn to_sats(amount: i64, minor_per_btc: u64) -> u64 {
    let amount = u128::try_from(amount.max(0)).unwrap_or(0);
    let rate = u128::from(minor_per_btc.max(1));
    let sats = (amount * 100_000_000).div_ceil(rate);
    u64::try_from(sats).unwrap_or(u64::MAX)
}

/// An amount for people: `12.50 USD` with `digits` decimals.
pub fn format_amount(amount: i64, digits: u32, currency: &str) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{magnitude} {currency}");
    }
    let unit = 10u64.pow(digits);
    let width = usize::try_from(digits).unwrap_or(2);
    format!(
        "{sign}{}.{:0width$} {currency}",
        magnitude / unit,
        magnitude % unit
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn periods_dates_and_proration() {
        let march: Period = "2025-03".parse().unwrap();
        assert_eq!(march.to_string(), "2025-03");
        assert_eq!(march.days(), 31);
        assert_eq!("2024-02".parse::<Period>().unwrap().days(), 29);
        for bad in ["2025-3", "2025-13", "25-03", "2025/03", ""] {
            assert!(bad.parse::<Period>().is_err(), "{bad}");
        }
        let day = |d: &str| parse_date("joined_on", d).unwrap();
        assert_eq!(prorate(3100, march, day("2025-02-10")), (3100, 31));
        assert_eq!(prorate(3100, march, day("2025-03-01")), (3100, 31));
        assert_eq!(prorate(3100, march, day("2025-03-15")), (1700, 17));
        assert_eq!(prorate(3100, march, day("2025-03-31")), (100, 1));
        assert_eq!(prorate(3100, march, day("2025-04-01")), (0, 0));
        // Half a cent rounds up: 1000 * 16 / 31 = 516.13; 1 * 1 / 31 rounds to 0.
        assert_eq!(prorate(1000, march, day("2025-03-16")).0, 516);
        assert_eq!(prorate(1, march, day("2025-03-31")).0, 0);
        assert!(parse_date("joined_on", "2025-02-30").is_err());
        assert_eq!(format_date(day("2025-03-05")), "2025-03-05");
        assert_eq!(Period::containing(1_741_000_000).to_string(), "2025-03");
    }

    #[test]
    fn amounts_and_sats() {
        assert_eq!(format_amount(15000, 2, "USD"), "150.00 USD");
        assert_eq!(format_amount(5, 2, "USD"), "0.05 USD");
        assert_eq!(format_amount(1234, 0, "JPY"), "1234 JPY");
        assert_eq!(format_amount(123_456, 8, "BTC"), "0.00123456 BTC");
        // $150.00 at $65,000.00 per bitcoin: 230,769.2 sats, rounded up.
        assert_eq!(to_sats(15000, 6_500_000), 230_770);
        assert_eq!(to_sats(123_456, 100_000_000), 123_456);
        assert!(check_amount("amount_minor", 0, false).is_err());
        assert!(check_amount("amount_minor", -5, true).is_err());
        assert!(check_amount("amount_minor", MAX_AMOUNT + 1, true).is_err());
        assert_eq!(check_amount("amount_minor", 0, true).unwrap(), 0);
    }
}
