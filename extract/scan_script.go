package extract

// The scanner's end of script data.

// scriptEnd returns where the script data that starts at p ends: its part
// of html.Tokenizer.readScript, the states of the HTML standard's script
// data (where "<!--" hides a "</script>" that follows "<script"), carried
// over state for state, with p for the tokenizer's read position.
func scriptEnd(b []byte, p int) int {
	n := len(b)
	var c byte

scriptData:
	if c, p = next(b, p); p > n {
		return n
	}
	if c == '<' {
		goto scriptDataLessThanSign
	}
	goto scriptData

scriptDataLessThanSign:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '/':
		if closesRaw(b, p-2, "script") {
			return p - 2
		}
		goto scriptData // a failed "</scr..." has only letters, which script data passes over
	case '!':
		goto scriptDataEscapeStart
	}
	p--
	goto scriptData

scriptDataEscapeStart:
	if c, p = next(b, p); p > n {
		return n
	}
	if c == '-' {
		goto scriptDataEscapeStartDash
	}
	p--
	goto scriptData

scriptDataEscapeStartDash:
	if c, p = next(b, p); p > n {
		return n
	}
	if c == '-' {
		goto scriptDataEscapedDashDash
	}
	p--
	goto scriptData

scriptDataEscaped:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataEscapedDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDash:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDashDash:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataEscaped

scriptDataEscapedLessThanSign:
	if c, p = next(b, p); p > n {
		return n
	}
	if c == '/' {
		if closesRaw(b, p-2, "script") {
			return p - 2
		}
		goto scriptDataEscaped
	}
	if isLetter(c) {
		goto scriptDataDoubleEscapeStart
	}
	p--
	goto scriptData

scriptDataDoubleEscapeStart:
	p--
	for i := range len("script") {
		if c, p = next(b, p); p > n {
			return n
		}
		if c != "script"[i] && c != "SCRIPT"[i] {
			p--
			goto scriptDataEscaped
		}
	}
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		goto scriptDataDoubleEscaped
	}
	p--
	goto scriptDataEscaped

scriptDataDoubleEscaped:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDash:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDashDash:
	if c, p = next(b, p); p > n {
		return n
	}
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	case '>':
		goto scriptData
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedLessThanSign:
	if c, p = next(b, p); p > n {
		return n
	}
	if c == '/' {
		if closesRaw(b, p-2, "script") {
			p += len("script>")
			goto scriptDataEscaped
		}
		goto scriptDataDoubleEscaped
	}
	p--
	goto scriptDataDoubleEscaped
}

// next reads the byte at p, as html.Tokenizer.readByte: it returns it and
// p+1, or len(b)+1 past the end of b (the tokenizer's error).
func next(b []byte, p int) (byte, int) {
	if p == len(b) {
		return 0, p + 1
	}
	return b[p], p + 1
}
