package extract

// The scanner's end of script data.

// scriptEnd returns where the script data that starts at p ends: its part
// of html.Tokenizer.readScript, the states of the HTML standard's script
// data (where "<!--" hides a "</script>" that follows "<script"), carried
// over state for state, with p for the tokenizer's read position.
func scriptEnd(b []byte, p int) int {
	n := len(b)
	var c byte
	// endTag is readRawEndTag with "</" read: whether "script" and a
	// delimiter follow, at p, and where to read on (the '<' when they do).
	endTag := func(p int) (bool, int) {
		for i := range len("script") {
			if p == n {
				return false, n
			}
			if c := b[p]; c != "script"[i] && c != "SCRIPT"[i] {
				return false, p
			}
			p++
		}
		if p == n {
			return false, n
		}
		switch b[p] {
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			return true, p - len("</script")
		}
		return false, p
	}
	var found bool

scriptData:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	if c == '<' {
		goto scriptDataLessThanSign
	}
	goto scriptData

scriptDataLessThanSign:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case '/':
		if found, p = endTag(p); found || p == n {
			return p
		}
		goto scriptData
	case '!':
		goto scriptDataEscapeStart
	}
	p--
	goto scriptData

scriptDataEscapeStart:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	if c == '-' {
		goto scriptDataEscapeStartDash
	}
	p--
	goto scriptData

scriptDataEscapeStartDash:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	if c == '-' {
		goto scriptDataEscapedDashDash
	}
	p--
	goto scriptData

scriptDataEscaped:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case '-':
		goto scriptDataEscapedDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDash:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case '-':
		goto scriptDataEscapedDashDash
	case '<':
		goto scriptDataEscapedLessThanSign
	}
	goto scriptDataEscaped

scriptDataEscapedDashDash:
	if p == n {
		return n
	}
	c, p = b[p], p+1
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
	if p == n {
		return n
	}
	c, p = b[p], p+1
	if c == '/' {
		if found, p = endTag(p); found || p == n {
			return p
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
		if p == n {
			return n
		}
		c, p = b[p], p+1
		if c != "script"[i] && c != "SCRIPT"[i] {
			p--
			goto scriptDataEscaped
		}
	}
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		goto scriptDataDoubleEscaped
	}
	p--
	goto scriptDataEscaped

scriptDataDoubleEscaped:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDash:
	if p == n {
		return n
	}
	c, p = b[p], p+1
	switch c {
	case '-':
		goto scriptDataDoubleEscapedDashDash
	case '<':
		goto scriptDataDoubleEscapedLessThanSign
	}
	goto scriptDataDoubleEscaped

scriptDataDoubleEscapedDashDash:
	if p == n {
		return n
	}
	c, p = b[p], p+1
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
	if p == n {
		return n
	}
	c, p = b[p], p+1
	if c == '/' {
		if found, p = endTag(p); found {
			p += len("</script>")
			goto scriptDataEscaped
		}
		if p == n {
			return n
		}
		goto scriptDataDoubleEscaped
	}
	p--
	goto scriptDataDoubleEscaped
}
