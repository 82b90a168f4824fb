//! The mainland China business-day calendar and the review due time built on it
//! (DESIGN.md "Business days").
//!
//! Saturdays and Sundays are off and weekdays are working days, except where the State
//! Council's yearly holiday arrangement says otherwise: statutory days off, and make-up
//! working days (调休) on a Saturday or Sunday. Those come from one TOML file per year:
//! the shipped `assets/calendar/cn-YYYY.toml` (compiled in) plus any files operators add
//! through `calendar.extra_files` (see `assets/calendar/README.md`).
//!
//! This module only parses text it is given: reading files, the clock and warning about
//! the end of the data are the caller's job. A date outside the years it holds is an
//! error, never a guess, because a missed 调休 would silently move a reviewer's deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Asia::Shanghai;
use serde::Deserialize;

/// The shipped year files, named as in the repository so errors point at the file.
const BUILTIN: &[(&str, &str)] = &[
    (
        "assets/calendar/cn-2025.toml",
        include_str!("../../assets/calendar/cn-2025.toml"),
    ),
    (
        "assets/calendar/cn-2026.toml",
        include_str!("../../assets/calendar/cn-2026.toml"),
    ),
];

/// Years a file may declare. Asia/Shanghai has been UTC+8 without daylight saving since
/// 1991, so within these years every local time is exactly one instant.
const SUPPORTED_YEARS: RangeInclusive<i32> = 2000..=2999;

/// When a case submitted on a day off falls due on the next business day: the last whole
/// second of that day, local time. 23:59:59 rather than 24:00 keeps the due date on the
/// business day itself, so queues and reports show the day the review belongs to.
const END_OF_BUSINESS_DAY: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(time) => time,
    None => panic!("23:59:59 is a valid time of day"),
};

/// Which dates are working days in mainland China, for an unbroken run of years.
///
/// Built from year files; always holds at least one year, and never a gap between years.
#[derive(Clone)]
pub struct BusinessCalendar {
    years: BTreeMap<i32, YearArrangement>,
    covered_from: NaiveDate,
    covered_until: NaiveDate,
}

/// Why a calendar could not be built, or a date could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The file is not TOML of the calendar shape (syntax, unknown key, missing field, wrong type).
    #[error("calendar file {source_name} cannot be read as a calendar year: {message}")]
    Parse {
        /// The name the file was given under (its path, for operator files).
        source_name: String,
        /// What the TOML reader reported, with line and column.
        message: String,
    },
    /// The file is well-formed but breaks a rule of the holiday arrangement.
    #[error("calendar file {source_name} is invalid: {message}")]
    Invalid {
        /// The name the file was given under (its path, for operator files).
        source_name: String,
        /// Which rule is broken, naming the holiday and date.
        message: String,
    },
    /// The date lies in a year the calendar has no data for.
    #[error(
        "no business-day calendar for {date}: the calendar covers {covered_from} to \
         {covered_until}; add that year's State Council holiday arrangement with \
         calendar.extra_files (see assets/calendar/README.md)"
    )]
    OutOfRange {
        /// The date that was asked about.
        date: NaiveDate,
        /// First day with data.
        covered_from: NaiveDate,
        /// Last day with data.
        covered_until: NaiveDate,
    },
    /// The years are not contiguous: a date in between would have to be guessed.
    #[error(
        "calendar years jump from {last_year} ({last_source}) to {next_year} ({next_source}): \
         add a file for every year in between, since dates there cannot be guessed"
    )]
    Gap {
        /// The year before the gap.
        last_year: i32,
        /// The file that year comes from.
        last_source: String,
        /// The year after the gap.
        next_year: i32,
        /// The file that year comes from.
        next_source: String,
    },
    /// No year file was given at all.
    #[error("no calendar year files were given")]
    Empty,
}

impl BusinessCalendar {
    /// The calendar shipped with heyan: every year in `assets/calendar/`.
    pub fn builtin() -> Result<Self, CalendarError> {
        Self::from_sources(BUILTIN)
    }

    /// Builds a calendar from `(name, toml)` pairs; the name is only used in errors. When
    /// two files declare the same year, the later one wins.
    pub fn from_sources(texts: &[(&str, &str)]) -> Result<Self, CalendarError> {
        let mut years = BTreeMap::new();
        for (source_name, text) in texts {
            let arrangement = YearArrangement::parse(source_name, text)?;
            years.insert(arrangement.year, arrangement);
        }
        Self::assemble(years)
    }

    /// Adds one more year file, e.g. an operator's file for a year published after the
    /// release. A file for a year already present replaces that whole year.
    pub fn with_extra(self, source_name: &str, text: &str) -> Result<Self, CalendarError> {
        let arrangement = YearArrangement::parse(source_name, text)?;
        let mut years = self.years;
        years.insert(arrangement.year, arrangement);
        Self::assemble(years)
    }

    fn assemble(years: BTreeMap<i32, YearArrangement>) -> Result<Self, CalendarError> {
        check_contiguous(&years)?;
        let (Some(first), Some(last)) = (years.values().next(), years.values().next_back()) else {
            return Err(CalendarError::Empty);
        };
        Ok(Self {
            covered_from: first.first_day,
            covered_until: last.last_day,
            years,
        })
    }

    /// The first day the calendar has data for (1 January of its first year).
    pub fn covered_from(&self) -> NaiveDate {
        self.covered_from
    }

    /// The last day the calendar has data for (31 December of its last year).
    pub fn covered_until(&self) -> NaiveDate {
        self.covered_until
    }

    /// Days from `today` to [`covered_until`](Self::covered_until): 0 on the last covered
    /// day, negative once past it. Readiness checks warn when this runs low.
    pub fn days_left(&self, today: NaiveDate) -> i64 {
        self.covered_until.signed_duration_since(today).num_days()
    }

    /// Each covered year with the notice and file its data comes from, for operators.
    pub fn sources(&self) -> impl Iterator<Item = (i32, &str)> + '_ {
        self.years
            .values()
            .map(|arrangement| (arrangement.year, arrangement.description.as_str()))
    }

    /// Whether `date` is a working day: a weekday that is not a day off, or a Saturday or
    /// Sunday that is a make-up working day.
    pub fn is_business_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        let arrangement = self.year_of(date)?;
        Ok(if is_weekend(date) {
            arrangement.makeup_workdays.contains(&date)
        } else {
            !arrangement.days_off.contains(&date)
        })
    }

    /// The first business day strictly after `date`. Both `date` and every day looked at
    /// must be covered, otherwise [`CalendarError::OutOfRange`].
    pub fn next_business_day(&self, date: NaiveDate) -> Result<NaiveDate, CalendarError> {
        self.year_of(date)?;
        let mut day = date;
        loop {
            // Ends: each step either finds a business day or leaves the covered years.
            day = day.succ_opt().ok_or_else(|| self.out_of_range(date))?;
            if self.is_business_day(day)? {
                return Ok(day);
            }
        }
    }

    /// When a case submitted at `submitted` is due, in Asia/Shanghai local time: on a
    /// business day at local time T, at T on the next business day; on a day off, at
    /// 23:59:59 local on the next business day.
    pub fn due_time(&self, submitted: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        let local = submitted.with_timezone(&Shanghai).naive_local();
        let due_day = self.next_business_day(local.date())?;
        let due_time = if self.is_business_day(local.date())? {
            local.time()
        } else {
            END_OF_BUSINESS_DAY
        };
        Ok(shanghai_to_utc(due_day.and_time(due_time)))
    }

    /// Hours between `from` and `to` that fall on business days (whole local days in
    /// Asia/Shanghai): the review SLA's clock, which stops over weekends and holidays.
    /// Zero when `to` is not after `from`.
    pub fn business_hours_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<f64, CalendarError> {
        if to <= from {
            return Ok(0.0);
        }
        let (start, end) = (
            from.with_timezone(&Shanghai).naive_local(),
            to.with_timezone(&Shanghai).naive_local(),
        );
        let mut seconds = 0i64;
        let mut day = start.date();
        while day <= end.date() {
            if self.is_business_day(day)? {
                let day_start = day.and_hms_opt(0, 0, 0).unwrap_or(start);
                let next_start = day_start + chrono::Duration::days(1);
                let overlap = end.min(next_start) - start.max(day_start);
                seconds += overlap.num_seconds().max(0);
            }
            day = day.succ_opt().ok_or_else(|| self.out_of_range(day))?;
        }
        Ok(seconds as f64 / 3600.0)
    }

    fn year_of(&self, date: NaiveDate) -> Result<&YearArrangement, CalendarError> {
        self.years
            .get(&date.year())
            .ok_or_else(|| self.out_of_range(date))
    }

    fn out_of_range(&self, date: NaiveDate) -> CalendarError {
        CalendarError::OutOfRange {
            date,
            covered_from: self.covered_from,
            covered_until: self.covered_until,
        }
    }
}

impl fmt::Debug for BusinessCalendar {
    // The day lists are long and in the files; the covered range is what matters in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusinessCalendar")
            .field("covered_from", &self.covered_from)
            .field("covered_until", &self.covered_until)
            .field("years", &self.years.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn check_contiguous(years: &BTreeMap<i32, YearArrangement>) -> Result<(), CalendarError> {
    let pairs = years.values().zip(years.values().skip(1));
    for (last, next) in pairs {
        if next.year != last.year + 1 {
            return Err(CalendarError::Gap {
                last_year: last.year,
                last_source: last.source_name.clone(),
                next_year: next.year,
                next_source: next.source_name.clone(),
            });
        }
    }
    Ok(())
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

fn shanghai_to_utc(local: NaiveDateTime) -> DateTime<Utc> {
    Shanghai
        .from_local_datetime(&local)
        .single()
        .expect("Asia/Shanghai has no DST since 1991 and calendar years start at 2000")
        .with_timezone(&Utc)
}

/// One year file as written: a DTO, validated into [`YearArrangement`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    notice: String,
    notice_number: String,
    published: String,
    // Provenance for people reading the file; the calendar does not use it.
    #[serde(default, rename = "data_from")]
    _data_from: Option<String>,
    holidays: Vec<HolidayEntry>,
}

/// One holiday period of a year file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HolidayEntry {
    name: String,
    #[serde(default, rename = "name_en")]
    _name_en: Option<String>,
    days_off: Vec<String>,
    #[serde(default)]
    makeup_workdays: Vec<String>,
}

/// One validated year: which of its dates deviate from the plain weekday/weekend rule.
#[derive(Clone)]
struct YearArrangement {
    year: i32,
    first_day: NaiveDate,
    last_day: NaiveDate,
    source_name: String,
    description: String,
    days_off: BTreeSet<NaiveDate>,
    makeup_workdays: BTreeSet<NaiveDate>,
}

impl YearArrangement {
    fn parse(source_name: &str, text: &str) -> Result<Self, CalendarError> {
        let file: YearFile = toml::from_str(text).map_err(|e| CalendarError::Parse {
            source_name: source_name.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Self::from_file(source_name, file).map_err(|message| CalendarError::Invalid {
            source_name: source_name.to_owned(),
            message,
        })
    }

    fn from_file(source_name: &str, file: YearFile) -> Result<Self, String> {
        let (first_day, last_day) = year_bounds(file.year)?;
        let description = describe(source_name, &file)?;
        if file.holidays.is_empty() {
            // Every year has statutory holidays, so an empty list means a truncated file.
            return Err(format!("year {} lists no holidays", file.year));
        }
        let mut arrangement = Self {
            year: file.year,
            first_day,
            last_day,
            source_name: source_name.to_owned(),
            description,
            days_off: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
        };
        for holiday in &file.holidays {
            arrangement.add_holiday(holiday)?;
        }
        Ok(arrangement)
    }

    fn add_holiday(&mut self, holiday: &HolidayEntry) -> Result<(), String> {
        let name = holiday.name.trim();
        if name.is_empty() {
            return Err("a holiday has an empty name".to_owned());
        }
        if holiday.days_off.is_empty() {
            return Err(format!("holiday {name} lists no days off"));
        }
        for raw in &holiday.days_off {
            self.add_day_off(name, self.date_in_year(name, raw)?)?;
        }
        for raw in &holiday.makeup_workdays {
            self.add_makeup_workday(name, self.date_in_year(name, raw)?)?;
        }
        Ok(())
    }

    fn add_day_off(&mut self, name: &str, date: NaiveDate) -> Result<(), String> {
        if self.makeup_workdays.contains(&date) {
            return Err(format!(
                "{date} ({name}) is listed both as a day off and as a make-up working day"
            ));
        }
        if !self.days_off.insert(date) {
            return Err(format!("day off {date} ({name}) is listed twice"));
        }
        Ok(())
    }

    fn add_makeup_workday(&mut self, name: &str, date: NaiveDate) -> Result<(), String> {
        if !is_weekend(date) {
            return Err(format!(
                "make-up working day {date} ({name}) is a {}, but make-up working days are \
                 Saturdays or Sundays (weekdays are working days already)",
                date.weekday()
            ));
        }
        if self.days_off.contains(&date) {
            return Err(format!(
                "{date} ({name}) is listed both as a day off and as a make-up working day"
            ));
        }
        if !self.makeup_workdays.insert(date) {
            return Err(format!(
                "make-up working day {date} ({name}) is listed twice"
            ));
        }
        Ok(())
    }

    fn date_in_year(&self, name: &str, raw: &str) -> Result<NaiveDate, String> {
        let date = parse_date(raw)
            .ok_or_else(|| format!("{raw:?} ({name}) is not a date written YYYY-MM-DD"))?;
        if date.year() != self.year {
            return Err(format!(
                "{date} ({name}) is outside the file's year {}",
                self.year
            ));
        }
        Ok(date)
    }
}

fn year_bounds(year: i32) -> Result<(NaiveDate, NaiveDate), String> {
    let bounds = NaiveDate::from_ymd_opt(year, 1, 1).zip(NaiveDate::from_ymd_opt(year, 12, 31));
    match bounds {
        Some(bounds) if SUPPORTED_YEARS.contains(&year) => Ok(bounds),
        _ => Err(format!(
            "year {year} is outside the supported years {}..={}",
            SUPPORTED_YEARS.start(),
            SUPPORTED_YEARS.end()
        )),
    }
}

/// "notice（number）, published date, from file": which notice an answer rests on.
fn describe(source_name: &str, file: &YearFile) -> Result<String, String> {
    let (notice, number) = (file.notice.trim(), file.notice_number.trim());
    if notice.is_empty() || number.is_empty() {
        return Err("notice and notice_number must name the State Council notice".to_owned());
    }
    let published = parse_date(&file.published).ok_or_else(|| {
        format!(
            "published {:?} is not a date written YYYY-MM-DD",
            file.published
        )
    })?;
    Ok(format!(
        "{notice}（{number}）, published {published}, from {source_name}"
    ))
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").expect("test date")
    }

    /// A Shanghai wall-clock time ("2025-03-07 15:30:00") as the instant it denotes.
    fn shanghai(raw: &str) -> DateTime<Utc> {
        let local = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S").expect("test time");
        shanghai_to_utc(local)
    }

    fn builtin() -> BusinessCalendar {
        BusinessCalendar::builtin().expect("shipped calendar is valid")
    }

    /// A hand-written year file for tests; its dates are fixtures, not a real arrangement.
    fn year_file(year: i32, days_off: &str, makeup: &str) -> String {
        format!(
            "year = {year}\nnotice = \"test fixture\"\nnotice_number = \"none\"\n\
             published = \"{}-11-01\"\n\n[[holidays]]\nname = \"test holiday\"\n\
             days_off = [{days_off}]\nmakeup_workdays = [{makeup}]\n",
            year - 1
        )
    }

    fn expect_invalid(text: &str) -> String {
        match BusinessCalendar::from_sources(&[("test.toml", text)]) {
            Err(CalendarError::Invalid { message, .. }) => message,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_shipped_year_parses_and_together_they_cover_2025_and_2026() {
        for (name, text) in BUILTIN {
            let calendar = BusinessCalendar::from_sources(&[(name, text)]);
            assert!(calendar.is_ok(), "{name}: {calendar:?}");
        }
        let calendar = builtin();

        assert_eq!(calendar.covered_from(), date("2025-01-01"));
        assert_eq!(calendar.covered_until(), date("2026-12-31"));
        let years: Vec<i32> = calendar.sources().map(|(year, _)| year).collect();
        assert_eq!(years, [2025, 2026]);
    }

    #[test]
    fn sources_name_each_year_s_notice_and_file() {
        let calendar = builtin();
        let sources: Vec<(i32, &str)> = calendar.sources().collect();

        assert!(
            sources[0].1.contains("国办发明电〔2024〕12号"),
            "{}",
            sources[0].1
        );
        assert!(
            sources[0].1.contains("published 2024-11-12"),
            "{}",
            sources[0].1
        );
        assert!(
            sources[1].1.contains("国办发明电〔2025〕7号"),
            "{}",
            sources[1].1
        );
        assert!(
            sources[1].1.contains("assets/calendar/cn-2026.toml"),
            "{}",
            sources[1].1
        );
    }

    /// Asserts that `year` in the shipped calendar has exactly these days off (inclusive
    /// ranges) and make-up working days.
    fn assert_year_matches(year: i32, off_ranges: &[(&str, &str)], makeup: &[&str]) {
        let expected_off: BTreeSet<NaiveDate> = off_ranges
            .iter()
            .flat_map(|(from, to)| date(from).iter_days().take_while(|d| *d <= date(to)))
            .collect();
        let expected_makeup: BTreeSet<NaiveDate> = makeup.iter().map(|d| date(d)).collect();

        let calendar = builtin();
        let arrangement = &calendar.years[&year];

        assert_eq!(arrangement.days_off, expected_off, "days off in {year}");
        assert_eq!(
            arrangement.makeup_workdays, expected_makeup,
            "make-up days in {year}"
        );
    }

    #[test]
    fn shipped_2025_matches_the_state_council_notice_for_2025() {
        // Typed in from the notice's text, independently of the generated file.
        let off = [
            ("2025-01-01", "2025-01-01"),
            ("2025-01-28", "2025-02-04"),
            ("2025-04-04", "2025-04-06"),
            ("2025-05-01", "2025-05-05"),
            ("2025-05-31", "2025-06-02"),
            ("2025-10-01", "2025-10-08"),
        ];
        let makeup = [
            "2025-01-26",
            "2025-02-08",
            "2025-04-27",
            "2025-09-28",
            "2025-10-11",
        ];
        assert_year_matches(2025, &off, &makeup);
    }

    #[test]
    fn shipped_2026_matches_the_state_council_notice_for_2026() {
        // Typed in from the notice's text, independently of the generated file.
        let off = [
            ("2026-01-01", "2026-01-03"),
            ("2026-02-15", "2026-02-23"),
            ("2026-04-04", "2026-04-06"),
            ("2026-05-01", "2026-05-05"),
            ("2026-06-19", "2026-06-21"),
            ("2026-09-25", "2026-09-27"),
            ("2026-10-01", "2026-10-07"),
        ];
        let makeup = [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ];
        assert_year_matches(2026, &off, &makeup);
    }

    #[test]
    fn is_business_day_follows_weekdays_days_off_and_make_up_days() {
        let cases = [
            ("an ordinary Wednesday", "2025-03-05", true),
            ("an ordinary Saturday", "2025-03-08", false),
            ("an ordinary Sunday", "2025-03-09", false),
            ("New Year's Day 2025, a Wednesday", "2025-01-01", false),
            (
                "the Sunday make-up day before Spring Festival 2025",
                "2025-01-26",
                true,
            ),
            ("Spring Festival eve 2025, a Tuesday", "2025-01-28", false),
            (
                "a Saturday inside Spring Festival 2025",
                "2025-02-01",
                false,
            ),
            (
                "the Saturday make-up day after Spring Festival 2025",
                "2025-02-08",
                true,
            ),
            (
                "the Sunday after that make-up Saturday",
                "2025-02-09",
                false,
            ),
            ("Mid-autumn inside National Day 2025", "2025-10-06", false),
            ("the last day of National Day 2025", "2025-10-08", false),
            (
                "the Saturday make-up day after National Day 2025",
                "2025-10-11",
                true,
            ),
            ("New Year 2026, a Friday", "2026-01-02", false),
            (
                "the Sunday make-up day after New Year 2026",
                "2026-01-04",
                true,
            ),
        ];
        let calendar = builtin();
        for (description, day, expected) in cases {
            assert_eq!(
                calendar.is_business_day(date(day)),
                Ok(expected),
                "{description}"
            );
        }
    }

    #[test]
    fn due_time_is_the_next_business_day_at_the_same_time_or_its_end_after_a_day_off() {
        let cases = [
            (
                "Friday afternoon in a normal week: Monday, same time",
                "2025-03-07 15:30:00",
                "2025-03-10 15:30:00",
            ),
            (
                "Tuesday: Wednesday, same time",
                "2025-03-11 09:15:42",
                "2025-03-12 09:15:42",
            ),
            (
                "late Thursday evening: Friday, same time",
                "2025-03-06 23:30:00",
                "2025-03-07 23:30:00",
            ),
            (
                "ordinary Sunday: end of Monday",
                "2025-03-09 10:00:00",
                "2025-03-10 23:59:59",
            ),
            (
                "ordinary Saturday just after midnight: end of Monday",
                "2025-03-08 00:00:01",
                "2025-03-10 23:59:59",
            ),
            (
                "make-up Sunday before Spring Festival 2025: Monday, same time",
                "2025-01-26 10:00:00",
                "2025-01-27 10:00:00",
            ),
            (
                "eve of Spring Festival 2025 (Monday): the Wednesday after the holiday",
                "2025-01-27 16:00:00",
                "2025-02-05 16:00:00",
            ),
            (
                "inside Spring Festival 2025: end of the first day back",
                "2025-01-30 11:00:00",
                "2025-02-05 23:59:59",
            ),
            (
                "Friday before the make-up Saturday: that Saturday, same time",
                "2025-02-07 17:00:00",
                "2025-02-08 17:00:00",
            ),
            (
                "make-up Saturday 2025-02-08: Monday, same time",
                "2025-02-08 09:00:00",
                "2025-02-10 09:00:00",
            ),
            (
                "Thursday before Qingming 2025: Monday, same time",
                "2025-04-03 14:00:00",
                "2025-04-07 14:00:00",
            ),
            (
                "Friday before the make-up Sunday of National Day 2025: that Sunday",
                "2025-09-26 10:00:00",
                "2025-09-28 10:00:00",
            ),
            (
                "make-up Sunday 2025-09-28: Monday, same time",
                "2025-09-28 10:00:00",
                "2025-09-29 10:00:00",
            ),
            (
                "eve of National Day 2025: 9 October, same time",
                "2025-09-30 10:00:00",
                "2025-10-09 10:00:00",
            ),
            (
                "inside National Day 2025: end of 9 October",
                "2025-10-05 20:00:00",
                "2025-10-09 23:59:59",
            ),
            (
                "Friday before the make-up Saturday 2025-10-11: that Saturday",
                "2025-10-10 15:00:00",
                "2025-10-11 15:00:00",
            ),
            (
                "make-up Saturday 2025-10-11: Monday, same time",
                "2025-10-11 15:00:00",
                "2025-10-13 15:00:00",
            ),
            (
                "New Year's Eve 2025: the make-up Sunday 2026-01-04",
                "2025-12-31 14:00:00",
                "2026-01-04 14:00:00",
            ),
            (
                "New Year's Day 2026: end of the make-up Sunday",
                "2026-01-01 08:00:00",
                "2026-01-04 23:59:59",
            ),
            (
                "Friday before Spring Festival 2026: the make-up Saturday",
                "2026-02-13 11:00:00",
                "2026-02-14 11:00:00",
            ),
            (
                "make-up Saturday before Spring Festival 2026: after the holiday",
                "2026-02-14 11:00:00",
                "2026-02-24 11:00:00",
            ),
        ];
        let calendar = builtin();
        for (description, submitted, due) in cases {
            assert_eq!(
                calendar.due_time(shanghai(submitted)),
                Ok(shanghai(due)),
                "{description}"
            );
        }
    }

    #[test]
    fn due_time_uses_the_shanghai_date_not_the_utc_date() {
        // 2025-03-06T20:00Z is Thursday in UTC but already Friday 04:00 in Shanghai.
        let submitted = DateTime::parse_from_rfc3339("2025-03-06T20:00:00Z").expect("rfc3339");
        let expected = DateTime::parse_from_rfc3339("2025-03-09T20:00:00Z").expect("rfc3339");

        let due = builtin().due_time(submitted.with_timezone(&Utc));

        assert_eq!(
            due,
            Ok(expected.with_timezone(&Utc)),
            "Friday 04:00 → Monday 04:00 local"
        );
    }

    #[test]
    fn due_time_counts_a_utc_new_year_s_eve_evening_as_new_year_s_day_in_shanghai() {
        // 2024-12-31T17:00Z is 2025-01-01 01:00 in Shanghai: covered, and a day off.
        let submitted = DateTime::parse_from_rfc3339("2024-12-31T17:00:00Z").expect("rfc3339");

        let due = builtin().due_time(submitted.with_timezone(&Utc));

        assert_eq!(due, Ok(shanghai("2025-01-02 23:59:59")));
    }

    #[test]
    fn dates_outside_the_data_are_out_of_range_errors() {
        let calendar = builtin();
        let out_of_range = |day: &str| CalendarError::OutOfRange {
            date: date(day),
            covered_from: date("2025-01-01"),
            covered_until: date("2026-12-31"),
        };
        let cases = [
            (
                "submitted on the last covered day, next business day beyond the data",
                calendar.due_time(shanghai("2026-12-31 10:00:00")),
                "2027-01-01",
            ),
            (
                "submitted the day before the data starts",
                calendar.due_time(shanghai("2024-12-31 10:00:00")),
                "2024-12-31",
            ),
            (
                "next business day asked for a date before the data",
                calendar
                    .next_business_day(date("2024-12-31"))
                    .map(|d| shanghai_to_utc(d.and_time(NaiveTime::MIN))),
                "2024-12-31",
            ),
        ];
        for (description, result, day) in cases {
            assert_eq!(result, Err(out_of_range(day)), "{description}");
        }
        assert_eq!(
            calendar.is_business_day(date("2027-01-04")),
            Err(out_of_range("2027-01-04"))
        );
    }

    #[test]
    fn out_of_range_message_tells_the_operator_what_to_add() {
        let error = builtin()
            .is_business_day(date("2027-01-04"))
            .expect_err("not covered");

        let message = error.to_string();

        assert!(message.contains("2027-01-04"), "{message}");
        assert!(message.contains("2025-01-01 to 2026-12-31"), "{message}");
        assert!(message.contains("calendar.extra_files"), "{message}");
    }

    #[test]
    fn an_extra_file_for_the_next_year_extends_the_covered_range() {
        let extra = year_file(2027, "\"2027-01-01\"", "");

        let calendar = builtin()
            .with_extra("extra/cn-2027.toml", &extra)
            .expect("valid extra year");

        assert_eq!(calendar.covered_until(), date("2027-12-31"));
        assert_eq!(calendar.covered_from(), date("2025-01-01"));
        assert_eq!(
            calendar.next_business_day(date("2026-12-31")),
            Ok(date("2027-01-04"))
        );
        assert_eq!(
            calendar.due_time(shanghai("2026-12-31 10:00:00")),
            Ok(shanghai("2027-01-04 10:00:00"))
        );
    }

    #[test]
    fn an_extra_file_for_a_covered_year_replaces_that_whole_year() {
        let extra = year_file(2026, "\"2026-03-02\"", "\"2026-03-07\"");

        let calendar = builtin()
            .with_extra("extra/cn-2026.toml", &extra)
            .expect("valid extra year");

        let cases = [
            ("the new day off", "2026-03-02", false),
            ("the new make-up Saturday", "2026-03-07", true),
            (
                "a Spring Festival day of the replaced file",
                "2026-02-16",
                true,
            ),
            ("2025 is untouched", "2025-01-28", false),
        ];
        for (description, day, expected) in cases {
            assert_eq!(
                calendar.is_business_day(date(day)),
                Ok(expected),
                "{description}"
            );
        }
    }

    #[test]
    fn years_with_a_gap_between_them_are_refused() {
        let file_2027 = year_file(2027, "\"2027-01-01\"", "");
        let file_2028 = year_file(2028, "\"2028-01-03\"", "");
        let gap = |last_year, last_source: &str, next_year, next_source: &str| CalendarError::Gap {
            last_year,
            last_source: last_source.to_owned(),
            next_year,
            next_source: next_source.to_owned(),
        };
        let cases = [
            (
                "an extra year after a missing one",
                builtin().with_extra("cn-2028.toml", &file_2028),
                gap(2026, "assets/calendar/cn-2026.toml", 2028, "cn-2028.toml"),
            ),
            (
                "two sources with a year missing between them",
                BusinessCalendar::from_sources(&[("a.toml", BUILTIN[1].1), ("b.toml", &file_2028)]),
                gap(2026, "a.toml", 2028, "b.toml"),
            ),
            (
                "sources out of order with a year missing between them",
                BusinessCalendar::from_sources(&[("b.toml", &file_2027), ("a.toml", BUILTIN[0].1)]),
                gap(2025, "a.toml", 2027, "b.toml"),
            ),
        ];
        for (description, result, expected) in cases {
            assert_eq!(
                result.map(|c| c.covered_until()),
                Err(expected),
                "{description}"
            );
        }
    }

    #[test]
    fn sources_given_out_of_order_are_sorted_by_year() {
        let calendar =
            BusinessCalendar::from_sources(&[BUILTIN[1], BUILTIN[0]]).expect("contiguous");

        assert_eq!(calendar.covered_from(), date("2025-01-01"));
        assert_eq!(calendar.covered_until(), date("2026-12-31"));
    }

    #[test]
    fn no_sources_at_all_is_an_error() {
        assert_eq!(
            BusinessCalendar::from_sources(&[]).map(|c| c.covered_until()),
            Err(CalendarError::Empty)
        );
    }

    #[test]
    fn files_breaking_the_arrangement_rules_are_invalid_with_a_precise_message() {
        let no_holidays = "year = 2027\nnotice = \"n\"\nnotice_number = \"x\"\n\
                           published = \"2026-11-01\"\nholidays = []\n";
        let bad_published =
            year_file(2027, "\"2027-01-01\"", "").replace("2026-11-01", "1 Nov 2026");
        let cases = [
            (
                "a make-up day on a weekday",
                year_file(2027, "\"2027-01-01\"", "\"2027-01-06\""),
                "is a Wed",
            ),
            (
                "a day off in another year",
                year_file(2027, "\"2026-12-31\"", ""),
                "outside the file's year 2027",
            ),
            (
                "a make-up day in another year",
                year_file(2027, "\"2027-01-01\"", "\"2028-01-01\""),
                "outside the file's year",
            ),
            (
                "a day both off and make-up",
                year_file(2027, "\"2027-01-02\"", "\"2027-01-02\""),
                "both as a day off and as a make-up",
            ),
            (
                "a day off listed twice",
                year_file(2027, "\"2027-01-01\", \"2027-01-01\"", ""),
                "listed twice",
            ),
            (
                "a make-up day listed twice",
                year_file(2027, "\"2027-01-01\"", "\"2027-01-09\", \"2027-01-09\""),
                "listed twice",
            ),
            (
                "a day that is not a date",
                year_file(2027, "\"2027-02-30\"", ""),
                "not a date",
            ),
            (
                "a holiday with no days off",
                year_file(2027, "", ""),
                "lists no days off",
            ),
            (
                "a year far outside the supported range",
                year_file(1990, "\"1990-01-01\"", ""),
                "outside the supported years",
            ),
            (
                "no holidays at all",
                no_holidays.to_owned(),
                "lists no holidays",
            ),
            (
                "a publication date that is not a date",
                bad_published,
                "published",
            ),
        ];
        for (description, text, fragment) in cases {
            let message = expect_invalid(&text);
            assert!(message.contains(fragment), "{description}: {message}");
        }
    }

    #[test]
    fn files_of_the_wrong_shape_are_parse_errors_naming_the_file() {
        let cases = [
            ("not TOML", "year = = 2027".to_owned(), "expected"),
            (
                "a misspelt key",
                year_file(2027, "\"2027-01-01\"", "").replace("makeup_workdays", "makeup_days"),
                "unknown field",
            ),
            (
                "a missing notice number",
                year_file(2027, "\"2027-01-01\"", "").replace("notice_number = \"none\"\n", ""),
                "notice_number",
            ),
            (
                "a year that is not a number",
                year_file(2027, "\"2027-01-01\"", "").replace("year = 2027", "year = \"2027\""),
                "year",
            ),
        ];
        for (description, text, fragment) in cases {
            match BusinessCalendar::from_sources(&[("extra/cn-2027.toml", &text)]) {
                Err(error @ CalendarError::Parse { .. }) => {
                    let message = error.to_string();
                    assert!(
                        message.contains("extra/cn-2027.toml"),
                        "{description}: {message}"
                    );
                    assert!(message.contains(fragment), "{description}: {message}");
                }
                other => panic!("{description}: expected Parse, got {other:?}"),
            }
        }
    }

    #[test]
    fn days_left_counts_down_to_the_last_covered_day_and_goes_negative_after() {
        let calendar = builtin();
        let cases = [
            ("a month before the end", "2026-12-01", 30),
            ("the last covered day", "2026-12-31", 0),
            ("the day after the data", "2027-01-01", -1),
            ("the first covered day", "2025-01-01", 729),
        ];
        for (description, today, expected) in cases {
            assert_eq!(calendar.days_left(date(today)), expected, "{description}");
        }
    }

    #[test]
    fn debug_shows_the_covered_range_not_every_day() {
        let debug = format!("{:?}", builtin());

        assert_eq!(
            debug,
            "BusinessCalendar { covered_from: 2025-01-01, covered_until: 2026-12-31, \
             years: [2025, 2026] }"
        );
    }

    proptest! {
        #[test]
        fn due_time_is_later_on_a_business_day_with_none_skipped(
            offset in 0i64..(2 * 366 * 86_400)
        ) {
            let calendar = builtin();
            let submitted = shanghai("2025-01-01 00:00:00") + chrono::Duration::seconds(offset);
            let local_day = submitted.with_timezone(&Shanghai).date_naive();
            prop_assume!(local_day <= calendar.covered_until());
            let later_days = local_day.iter_days().skip(1);

            match calendar.due_time(submitted) {
                Ok(due) => {
                    let due_day = due.with_timezone(&Shanghai).date_naive();
                    prop_assert!(due > submitted);
                    prop_assert_eq!(calendar.is_business_day(due_day), Ok(true));
                    for day in later_days.take_while(|d| *d < due_day) {
                        prop_assert_eq!(calendar.is_business_day(day), Ok(false), "{}", day);
                    }
                }
                // Only allowed when no business day follows within the data.
                Err(CalendarError::OutOfRange { .. }) => {
                    for day in later_days.take_while(|d| *d <= calendar.covered_until()) {
                        prop_assert_eq!(calendar.is_business_day(day), Ok(false), "{}", day);
                    }
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }

    #[test]
    fn business_hours_skip_weekends_and_count_partial_days() {
        let cal = BusinessCalendar::builtin().expect("calendar");
        let at = |d: u32, h: u32| {
            shanghai_to_utc(
                NaiveDate::from_ymd_opt(2026, 3, d)
                    .expect("date")
                    .and_hms_opt(h, 0, 0)
                    .expect("time"),
            )
        };
        // Friday 2026-03-06 15:00 → Monday 2026-03-09 15:00: 9 h on Friday, 15 h on Monday.
        let hours = cal
            .business_hours_between(at(6, 15), at(9, 15))
            .expect("covered");
        assert!((hours - 24.0).abs() < 1e-9, "{hours}");
        // Within one business day.
        let hours = cal
            .business_hours_between(at(10, 9), at(10, 11))
            .expect("covered");
        assert!((hours - 2.0).abs() < 1e-9, "{hours}");
        // All weekend.
        let hours = cal
            .business_hours_between(at(7, 9), at(8, 20))
            .expect("covered");
        assert_eq!(hours, 0.0);
        assert_eq!(
            cal.business_hours_between(at(9, 10), at(9, 9))
                .expect("covered"),
            0.0
        );
    }
}
