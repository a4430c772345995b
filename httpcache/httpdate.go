package httpcache

import (
	"strings"
	"time"
)

// httpDate reads an HTTP-date (see parseHTTPDate) received at ref, in
// nanoseconds since the epoch; ok is false for a malformed one.
func httpDate(v string, ref int64) (time.Time, bool) {
	return parseHTTPDate(v, time.Unix(0, ref))
}

// parseHTTPDate reads an HTTP-date (RFC 9110 §5.6.7) in exactly one of its
// three formats, and nothing more lenient:
//
//	IMF-fixdate   Sun, 06 Nov 1994 08:49:37 GMT
//	rfc850-date   Sunday, 06-Nov-94 08:49:37 GMT
//	asctime-date  Sun Nov  6 08:49:37 1994
//
// Names are matched case-insensitively, as RFC 9111 §4.2 asks of caches;
// the day name is not checked against the date. A two-digit year is in the
// century that puts the date at most 50 years after ref, the time the
// value was received (RFC 9110 §5.6.7). ok is false for anything else: a
// date that does not exist, an hour of 24, spaces doubled or missing, a
// one-digit hour, another zone than GMT.
func parseHTTPDate(v string, ref time.Time) (t time.Time, ok bool) {
	if t, ok := parseIMFFixdate(v); ok {
		return t, true
	}
	if t, ok := parseRFC850Date(v, ref); ok {
		return t, true
	}
	return parseASCTimeDate(v)
}

var (
	dayNames     = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	longDayNames = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	monthNames   = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// parseIMFFixdate reads day-name "," SP day SP month SP year SP
// time-of-day SP "GMT".
func parseIMFFixdate(v string) (time.Time, bool) {
	s := dateScanner{rest: v}
	s.name(dayNames)
	s.literal(", ")
	day := s.digits(2)
	s.literal(" ")
	month := s.name(monthNames) + 1
	s.literal(" ")
	year := s.digits(4)
	s.literal(" ")
	hour, minute, second := s.timeOfDay()
	s.literal(" GMT")
	return s.date(year, month, day, hour, minute, second)
}

// parseRFC850Date reads day-name-l "," SP day "-" month "-" 2DIGIT SP
// time-of-day SP "GMT".
func parseRFC850Date(v string, ref time.Time) (time.Time, bool) {
	s := dateScanner{rest: v}
	s.name(longDayNames)
	s.literal(", ")
	day := s.digits(2)
	s.literal("-")
	month := s.name(monthNames) + 1
	s.literal("-")
	yy := s.digits(2)
	s.literal(" ")
	hour, minute, second := s.timeOfDay()
	s.literal(" GMT")
	// The latest year ending in yy that is at most 50 years after ref.
	limit := ref.UTC().Year() + 50
	year := limit - ((limit-yy)%100+100)%100
	return s.date(year, month, day, hour, minute, second)
}

// parseASCTimeDate reads day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
// time-of-day SP year.
func parseASCTimeDate(v string) (time.Time, bool) {
	s := dateScanner{rest: v}
	s.name(dayNames)
	s.literal(" ")
	month := s.name(monthNames) + 1
	s.literal(" ")
	var day int
	if strings.HasPrefix(s.rest, " ") {
		s.literal(" ")
		day = s.digits(1)
	} else {
		day = s.digits(2)
	}
	s.literal(" ")
	hour, minute, second := s.timeOfDay()
	s.literal(" ")
	year := s.digits(4)
	return s.date(year, month, day, hour, minute, second)
}

// dateScanner reads a date from rest, left to right. The first mismatch
// sets failed; later reads then do nothing.
type dateScanner struct {
	rest   string
	failed bool
}

// literal consumes lit, matched case-insensitively.
func (s *dateScanner) literal(lit string) {
	if s.failed || len(s.rest) < len(lit) || !strings.EqualFold(s.rest[:len(lit)], lit) {
		s.failed = true
		return
	}
	s.rest = s.rest[len(lit):]
}

// digits consumes exactly n decimal digits and returns their value.
func (s *dateScanner) digits(n int) int {
	if s.failed || len(s.rest) < n {
		s.failed = true
		return 0
	}
	v := 0
	for i := range n {
		c := s.rest[i]
		if c < '0' || c > '9' {
			s.failed = true
			return 0
		}
		v = v*10 + int(c-'0')
	}
	s.rest = s.rest[n:]
	return v
}

// name consumes one of names, matched case-insensitively, and returns its
// index. No name is a prefix of another of its list, so the first match is
// the only one.
func (s *dateScanner) name(names []string) int {
	for i, n := range names {
		if len(s.rest) >= len(n) && strings.EqualFold(s.rest[:len(n)], n) {
			s.literal(n)
			return i
		}
	}
	s.failed = true
	return 0
}

// timeOfDay consumes hour ":" minute ":" second, two digits each.
func (s *dateScanner) timeOfDay() (hour, minute, second int) {
	hour = s.digits(2)
	s.literal(":")
	minute = s.digits(2)
	s.literal(":")
	second = s.digits(2)
	return hour, minute, second
}

// date returns the time read, ok only when the whole value was read and
// names a day that exists and a time of it (a leap second, :60, is the
// next minute's first).
func (s *dateScanner) date(year, month, day, hour, minute, second int) (time.Time, bool) {
	if s.failed || s.rest != "" || hour > 23 || minute > 59 || second > 60 {
		return time.Time{}, false
	}
	if d := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC); d.Day() != day {
		return time.Time{}, false // the 31st of a 30-day month, 29 February of a common year, day 00
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC), true
}
