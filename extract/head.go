package extract

import "bytes"

// The tags of a page's head that a pass reads: <base>, <link rel=canonical> and <meta>.

// base handles the first <base>; only one with an href attribute counts.
func (p *pass) base(z tokens) {
	href, ok := attrValue(z, "href")
	if !ok {
		return
	}
	p.baseDone = true
	if ref := parseRef(href); ref != nil {
		if u := resolve(p.doc.Base, ref); u != nil {
			p.doc.Base = u
		}
	}
}

// canonical handles a <link>, looking for the first rel=canonical with href.
func (p *pass) canonical(z tokens) {
	var href []byte
	var canon, found bool
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "rel":
			canon = hasToken(v, "canonical")
		case "href":
			href, found = v, true
		}
	}
	if canon && found {
		p.canonDone = true
		p.canonRef = parseRef(href)
	}
}

// meta handles <meta name=robots|agent content=...>, whose directives are
// separated by commas (and, leniently, whitespace) and add up over several
// tags, and <meta http-equiv=refresh content=...>.
func (p *pass) meta(z tokens) {
	var name, content, equiv []byte
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "name":
			name = v
		case "content":
			content = v
		case "http-equiv":
			equiv = v
		}
	}
	if equalFoldASCII(equiv, "refresh") {
		if u, ok := refreshURL(content); ok {
			p.addLink(u, tagMetaRefresh, false)
		}
	}
	name = bytes.Trim(name, asciiSpace)
	if !equalFoldASCII(name, "robots") && !equalFoldASCII(name, p.e.agent) {
		return
	}
	for len(content) > 0 {
		var tok []byte
		tok, content = nextToken(content, ",\t\n\f\r ")
		switch {
		case equalFoldASCII(tok, "nofollow"):
			p.doc.NoFollow = true
		case equalFoldASCII(tok, "noindex"):
			p.doc.NoIndex = true
		case equalFoldASCII(tok, "none"):
			p.doc.NoFollow, p.doc.NoIndex = true, true
		}
	}
}
