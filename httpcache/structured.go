package httpcache

import "strings"

// parseTargeted reads the lines of a targeted field (RFC 9213 §2.1) as one
// Structured Fields Dictionary (RFC 8941 §3.2; lines joined as §4.2 says)
// and returns its members as directives: a Boolean true is a directive
// without an argument, a false one no directive; an Integer, a String or a
// Token is the argument as Cache-Control would carry it; parameters are
// ignored. ok is false when the field is empty or does not parse, or when
// a directive whose argument is delta-seconds (max-age, s-maxage,
// stale-while-revalidate, stale-if-error) has another value than a
// non-negative Integer: RFC 9213 §2.1 tells caches not to consume such a
// value, and the field is ignored as a whole rather than read without it,
// which would set Cache-Control aside for a field that says nothing usable.
func parseTargeted(lines []string) (d directives, ok bool) {
	p := sfParser{rest: strings.Join(lines, ", ")}
	p.skip(" ")
	if p.rest == "" {
		return nil, false
	}
	members := p.dictionary()
	p.skip(" ")
	if p.failed || p.rest != "" {
		return nil, false
	}
	d = directives{}
	for _, m := range members {
		switch m.key {
		case "max-age", "s-maxage", "stale-while-revalidate", "stale-if-error":
			if m.value.kind != sfInteger || strings.HasPrefix(m.value.text, "-") {
				return nil, false
			}
		}
		switch {
		case m.value.kind == sfBoolean && m.value.text == "0":
			delete(d, m.key)
		case m.value.kind == sfBoolean:
			d[m.key] = ""
		default:
			d[m.key] = m.value.text
		}
	}
	return d, true
}

// sfKind is the type of a Structured Fields bare item (RFC 8941 §3.3), or
// an Inner List.
type sfKind int

const (
	sfInteger sfKind = iota
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfInnerList
)

// sfItem is a member's value: its type and its text (an Integer's digits,
// a String unescaped, a Boolean's 0 or 1, an Inner List's items joined by
// commas).
type sfItem struct {
	kind sfKind
	text string
}

// sfMember is a member of a Dictionary.
type sfMember struct {
	key   string
	value sfItem
}

// sfParser reads Structured Fields from rest, left to right (RFC 8941 §4.2).
// The first error sets failed; later reads then return zero values.
type sfParser struct {
	rest   string
	failed bool
}

func (p *sfParser) fail() { p.failed, p.rest = true, "" }

func (p *sfParser) peek() byte {
	if p.rest == "" {
		return 0
	}
	return p.rest[0]
}

// skip drops the leading bytes of rest that are in set.
func (p *sfParser) skip(set string) {
	p.rest = strings.TrimLeft(p.rest, set)
}

// dictionary reads a Dictionary (RFC 8941 §4.2.2). A key given twice keeps
// its last value, in its first place.
func (p *sfParser) dictionary() []sfMember {
	var members []sfMember
	for !p.failed && p.rest != "" {
		m := sfMember{key: p.key()}
		if p.peek() == '=' {
			p.rest = p.rest[1:]
			m.value = p.itemOrInnerList()
		} else {
			m.value = sfItem{kind: sfBoolean, text: "1"}
			p.parameters()
		}
		if i := indexOfKey(members, m.key); i >= 0 {
			members[i] = m
		} else {
			members = append(members, m)
		}
		p.skip(" \t")
		if p.rest == "" {
			break
		}
		if p.peek() != ',' {
			p.fail()
			break
		}
		p.rest = p.rest[1:]
		p.skip(" \t")
		if p.rest == "" {
			p.fail() // a trailing comma
		}
	}
	if p.failed {
		return nil
	}
	return members
}

func indexOfKey(members []sfMember, key string) int {
	for i, m := range members {
		if m.key == key {
			return i
		}
	}
	return -1
}

// key reads a key: lcalpha or "*", then lcalpha, DIGIT, "_", "-", "." or
// "*" (RFC 8941 §4.2.3.3).
func (p *sfParser) key() string {
	c := p.peek()
	if !(c >= 'a' && c <= 'z' || c == '*') {
		p.fail()
		return ""
	}
	n := 1
	for n < len(p.rest) {
		c := p.rest[n]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("_-.*", c) >= 0) {
			break
		}
		n++
	}
	k := p.rest[:n]
	p.rest = p.rest[n:]
	return k
}

// itemOrInnerList reads an Item or an Inner List, with their parameters.
func (p *sfParser) itemOrInnerList() sfItem {
	if p.peek() != '(' {
		it := p.bareItem()
		p.parameters()
		return it
	}
	p.rest = p.rest[1:]
	var items []string
	for !p.failed {
		p.skip(" ")
		if p.rest == "" {
			p.fail()
			break
		}
		if p.peek() == ')' {
			p.rest = p.rest[1:]
			p.parameters()
			break
		}
		items = append(items, p.bareItem().text)
		p.parameters()
		if c := p.peek(); c != ' ' && c != ')' {
			p.fail()
		}
	}
	return sfItem{kind: sfInnerList, text: strings.Join(items, ", ")}
}

// parameters reads and drops the parameters of an item (RFC 8941
// §4.2.3.2): cache directives ignore them (RFC 9213 §2.1).
func (p *sfParser) parameters() {
	for !p.failed && p.peek() == ';' {
		p.rest = p.rest[1:]
		p.skip(" ")
		p.key()
		if p.peek() == '=' {
			p.rest = p.rest[1:]
			p.bareItem()
		}
	}
}

// bareItem reads an Integer, Decimal, String, Token, Byte Sequence or
// Boolean (RFC 8941 §4.2.3.1).
func (p *sfParser) bareItem() sfItem {
	switch c := p.peek(); {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		return p.string()
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*':
		return p.token()
	case c == ':':
		return p.byteSequence()
	case c == '?':
		if len(p.rest) >= 2 && (p.rest[1] == '0' || p.rest[1] == '1') {
			it := sfItem{kind: sfBoolean, text: p.rest[1:2]}
			p.rest = p.rest[2:]
			return it
		}
	}
	p.fail()
	return sfItem{}
}

// number reads an Integer (at most 15 digits) or a Decimal (at most 12
// digits, a dot and 1 to 3 digits) (RFC 8941 §4.2.4).
func (p *sfParser) number() sfItem {
	n := 0
	if p.peek() == '-' {
		n = 1
	}
	digits, dot := 0, -1
	for n < len(p.rest) {
		c := p.rest[n]
		if c == '.' && dot < 0 && digits > 0 {
			dot = digits
		} else if c < '0' || c > '9' {
			break
		} else {
			digits++
		}
		n++
	}
	text := p.rest[:n]
	switch {
	case digits == 0:
	case dot < 0 && digits <= 15:
		p.rest = p.rest[n:]
		return sfItem{kind: sfInteger, text: text}
	case dot >= 0 && dot <= 12 && digits-dot >= 1 && digits-dot <= 3:
		p.rest = p.rest[n:]
		return sfItem{kind: sfDecimal, text: text}
	}
	p.fail()
	return sfItem{}
}

// string reads a String: printable ASCII between quotes, with \" and \\
// the only escapes (RFC 8941 §4.2.5).
func (p *sfParser) string() sfItem {
	var b strings.Builder
	for i := 1; i < len(p.rest); i++ {
		c := p.rest[i]
		switch {
		case c == '\\':
			if i+1 >= len(p.rest) || p.rest[i+1] != '"' && p.rest[i+1] != '\\' {
				p.fail()
				return sfItem{}
			}
			i++
			b.WriteByte(p.rest[i])
		case c == '"':
			p.rest = p.rest[i+1:]
			return sfItem{kind: sfString, text: b.String()}
		case c < 0x20 || c > 0x7e:
			p.fail()
			return sfItem{}
		default:
			b.WriteByte(c)
		}
	}
	p.fail() // no closing quote
	return sfItem{}
}

// token reads a Token: ALPHA or "*", then tchar, ":" or "/" (RFC 8941
// §4.2.6).
func (p *sfParser) token() sfItem {
	n := 1
	for n < len(p.rest) && (isToken(p.rest[n:n+1]) || p.rest[n] == ':' || p.rest[n] == '/') {
		n++
	}
	it := sfItem{kind: sfToken, text: p.rest[:n]}
	p.rest = p.rest[n:]
	return it
}

// byteSequence reads a Byte Sequence: base64 between colons (RFC 8941
// §4.2.7). Its text is kept encoded: no cache directive takes one.
func (p *sfParser) byteSequence() sfItem {
	end := strings.IndexByte(p.rest[1:], ':')
	if end < 0 {
		p.fail()
		return sfItem{}
	}
	b64 := p.rest[1 : 1+end]
	for i := 0; i < len(b64); i++ {
		c := b64[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			p.fail()
			return sfItem{}
		}
	}
	p.rest = p.rest[2+end:]
	return sfItem{kind: sfBytes, text: ":" + b64 + ":"}
}
