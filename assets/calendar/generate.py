#!/usr/bin/env python3
"""Writes heyan's business-day calendar files (cn-YEAR.toml) from the PyPI package
`chinesecalendar` (import name `chinese_calendar`, MIT licence).

The package lists every statutory day off and every make-up working day (调休) published
by the State Council General Office. This script groups the days off of each year into
holiday periods named as in the notice, attaches each make-up working day to its period,
checks the result against the package day by day, and writes one TOML file per year.

Usage (see README.md beside this file):

    python3 -m venv /tmp/cal-venv
    /tmp/cal-venv/bin/pip install 'chinesecalendar==1.11.0'
    /tmp/cal-venv/bin/python assets/calendar/generate.py 2025 2026

A year that is not in NOTICES below needs its notice on the command line (one year only):

    generate.py 2027 --notice "国务院办公厅关于2027年部分节假日安排的通知" \
        --number "国办发明电〔2026〕N号" --published 2026-11-XX

The package has no notice titles or numbers, so they come from the notice itself.
"""

import argparse
import datetime
import json
import os
import sys

import chinese_calendar

# The notice behind each year: title, document number, publication date (gov.cn).
NOTICES = {
    2025: (
        "国务院办公厅关于2025年部分节假日安排的通知",
        "国办发明电〔2024〕12号",
        "2024-11-12",
    ),
    2026: (
        "国务院办公厅关于2026年部分节假日安排的通知",
        "国办发明电〔2025〕7号",
        "2025-11-04",
    ),
}

# The package abbreviates some Chinese names; the notices use these.
NOTICE_NAMES = {"清明": "清明节", "端午": "端午节", "中秋": "中秋节"}

ONE_DAY = datetime.timedelta(days=1)


def main():
    args = parse_args()
    for year in args.years:
        notice = notice_for(year, args)
        text = render(year, notice, holiday_periods(year))
        path = os.path.join(args.out_dir, "cn-%d.toml" % year)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print("wrote %s" % path)


def parse_args():
    parser = argparse.ArgumentParser(description="Write cn-YEAR.toml calendar files.")
    parser.add_argument("years", nargs="+", type=int)
    parser.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--notice", help="notice title, for a year not in NOTICES")
    parser.add_argument("--number", help="notice document number, e.g. 国办发明电〔2026〕N号")
    parser.add_argument("--published", help="notice publication date, YYYY-MM-DD")
    args = parser.parse_args()
    given = [args.notice, args.number, args.published]
    if any(given) and (not all(given) or len(args.years) != 1):
        parser.error("--notice, --number and --published go together, with exactly one year")
    return args


def notice_for(year, args):
    if args.notice:
        datetime.date.fromisoformat(args.published)
        return args.notice, args.number, args.published
    if year not in NOTICES:
        sys.exit("no notice known for %d: pass --notice, --number and --published" % year)
    return NOTICES[year]


def holiday_periods(year):
    """Days off grouped into runs of consecutive days, each with its make-up days."""
    days_off = sorted(d for d in chinese_calendar.holidays if d.year == year)
    if not days_off:
        sys.exit(
            "chinesecalendar %s has no holidays for %d: wait for a release that has them"
            % (chinese_calendar.__version__, year)
        )
    periods = []
    for day in days_off:
        if periods and periods[-1]["days_off"][-1] + ONE_DAY == day:
            periods[-1]["days_off"].append(day)
        else:
            periods.append({"days_off": [day], "names": [], "makeup_workdays": []})
        name = chinese_calendar.holidays[day]
        if name not in periods[-1]["names"]:
            periods[-1]["names"].append(name)
    for day in sorted(d for d in chinese_calendar.workdays if d.year == year):
        period_for_makeup(periods, day, chinese_calendar.workdays[day])["makeup_workdays"].append(day)
    check_against_package(year, periods)
    return periods


def period_for_makeup(periods, day, name):
    """The nearest period of the same holiday: a make-up day belongs to the holiday it pays for."""
    candidates = [p for p in periods if name in p["names"]]
    if not candidates:
        sys.exit("make-up working day %s names %r, which has no days off that year" % (day, name))
    return min(candidates, key=lambda p: min(abs((d - day).days) for d in p["days_off"]))


def check_against_package(year, periods):
    """The grouped data must give the package's answer for every day of the year."""
    off = {d for p in periods for d in p["days_off"]}
    makeup = {d for p in periods for d in p["makeup_workdays"]}
    day = datetime.date(year, 1, 1)
    while day.year == year:
        working = day in makeup if day.weekday() >= 5 else day not in off
        if working != chinese_calendar.is_workday(day):
            sys.exit("generated data disagrees with chinesecalendar on %s" % day)
        day += ONE_DAY


def render(year, notice, periods):
    title, number, published = notice
    lines = [
        "# Generated by assets/calendar/generate.py; regenerate rather than edit (README.md).",
        "year = %d" % year,
        "notice = %s" % quote(title),
        "notice_number = %s" % quote(number),
        "published = %s" % quote(published),
        "data_from = %s"
        % quote("PyPI package chinesecalendar %s (MIT licence)" % chinese_calendar.__version__),
    ]
    for period in periods:
        lines += ["", "[[holidays]]"]
        lines.append("name = %s" % quote("、".join(chinese_name(n) for n in period["names"])))
        lines.append("name_en = %s" % quote(" and ".join(period["names"])))
        lines.append("days_off = %s" % date_list(period["days_off"]))
        lines.append("makeup_workdays = %s" % date_list(period["makeup_workdays"]))
    return "\n".join(lines) + "\n"


def chinese_name(english):
    chinese = chinese_calendar.Holiday(english).chinese
    return NOTICE_NAMES.get(chinese, chinese)


def date_list(days):
    return "[%s]" % ", ".join(quote(d.isoformat()) for d in days)


def quote(text):
    # A JSON string with non-ASCII kept is also a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


if __name__ == "__main__":
    main()
