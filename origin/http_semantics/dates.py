"""HTTP-date parsing and formatting (RFC 9110 section 5.6.7).

Parsing is deliberately strict: a value that is not exactly one of the three
formats a recipient must accept yields ``None`` so that callers can *ignore*
the field, which is what RFC 9110 sections 13.1.3 and 13.1.4 require for an
invalid date.
"""

from __future__ import annotations

import re
import time

__all__ = ["format_http_date", "parse_http_date"]

_SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: i for i, name in enumerate(_MONTHS, start=1)}

# The grammar is case-sensitive (RFC 9110 section 5.6.7: "HTTP-date is case
# sensitive") and uses ASCII digits only, so the patterns avoid \d (which
# matches any Unicode digit) and re.IGNORECASE.
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
_MONTH = "(" + "|".join(_MONTHS) + ")"
# IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT
_IMF_FIXDATE = re.compile("(?:" + "|".join(_SHORT_DAYS) + r"), ([0-9]{2}) " + _MONTH + r" ([0-9]{4}) " + _TIME + " GMT")
# rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT; date2 = 2DIGIT "-" month "-" 2DIGIT
_RFC850 = re.compile("(?:" + "|".join(_LONG_DAYS) + r"), ([0-9]{2})-" + _MONTH + r"-([0-9]{2}) " + _TIME + " GMT")
# asctime-date = day-name SP date3 SP time-of-day SP year; date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
_ASCTIME = re.compile("(?:" + "|".join(_SHORT_DAYS) + ") " + _MONTH + r" ([0-9]{2}| [0-9]) " + _TIME + r" ([0-9]{4})")

_OWS = " \t"


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 for a proleptic Gregorian date.

    Hand-rolled (H. Hinnant's algorithm) because ``calendar.timegm`` goes via
    ``datetime.date`` and raises for year 0, and this module must never raise.
    """
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _to_epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int | None:
    """Validate calendar fields and convert them to POSIX seconds, or None."""
    days_in_month = (31, 29 if _is_leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not 1 <= day <= days_in_month[month - 1]:
        return None
    # time-of-day allows second 60 for a leap second (RFC 9110 section 5.6.7);
    # POSIX time has no leap seconds, so it folds into the next minute.
    if hour > 23 or minute > 59 or second > 60:
        return None
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def _rfc850_year(yy: int, fields: tuple[int, int, int, int, int], now: float) -> int:
    """Expand a two-digit year per RFC 9110 section 5.6.7.

    A timestamp that "appears to be more than 50 years in the future" is taken
    as the most recent past year with the same last two digits; i.e. pick the
    latest year ending in ``yy`` that is at most 50 years after ``now``.
    """
    c = time.gmtime(now)
    limit = (c.tm_year + 50, c.tm_mon, c.tm_mday, c.tm_hour, c.tm_min, c.tm_sec)
    year = (c.tm_year + 50) // 100 * 100 + yy
    if (year, *fields) > limit:
        year -= 100
    return year


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Parse an HTTP-date into POSIX seconds (UTC), or return None if invalid.

    Accepts IMF-fixdate, rfc850-date and asctime-date, as RFC 9110 section
    5.6.7 requires of recipients. The weekday name must be a valid name but is
    not checked against the date (senders get it wrong, and it carries no
    information). ``now`` (POSIX seconds) only matters for the rfc850 two-digit
    year; it defaults to the current time and exists for testability.
    """
    value = value.strip(_OWS)
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hour, minute, second = m.groups()
    elif m := _RFC850.fullmatch(value):
        day, month, yy, hour, minute, second = m.groups()
        rest = (_MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second))
        year = str(_rfc850_year(int(yy), rest, time.time() if now is None else now))
    elif m := _ASCTIME.fullmatch(value):
        month, day, hour, minute, second, year = m.groups()
    else:
        return None
    return _to_epoch(int(year), _MONTH_NUMBER[month], int(day), int(hour), int(minute), int(second))


def format_http_date(epoch_seconds: int) -> str:
    """Format POSIX seconds as an IMF-fixdate, the only form senders may generate.

    Avoids ``email.utils``/``datetime`` and locale-dependent ``strftime`` names
    because Last-Modified/Date are produced for every response.
    """
    t = time.gmtime(epoch_seconds)
    return (
        f"{_SHORT_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
