package extract

import (
	"bytes"
)

// The readable text (Config.Readable) and the declared language (Document.Lang), read in
// the same tokenizer pass as the rest.

// lang reads the lang attribute of <html>.
func (p *pass) lang(z tokens) {
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if string(k) == "lang" {
			p.doc.Lang = string(bytes.Trim(v, asciiSpace))
			return
		}
	}
}

// readableStart notes the start of an element that Config.Readable looks for.
func (p *pass) readableStart(name string) {
	switch name {
	case "main", "article":
		if p.main == 0 && !p.mainSeen {
			p.mainSeen, p.mainStart, p.mainEnd = true, len(p.text.buf), -1
		}
		p.main++
	case "header", "footer":
		if p.main == 0 {
			p.chrome++
		}
	default:
		p.chrome++
	}
}

// readableEnd notes the end of an element that Config.Readable looks for.
func (p *pass) readableEnd(name string) {
	switch name {
	case "main", "article":
		if p.main > 0 {
			p.main--
			if p.main == 0 && p.mainEnd < 0 {
				p.mainEnd = len(p.text.buf)
			}
		}
	case "header", "footer":
		if p.main == 0 && p.chrome > 0 {
			p.chrome--
		}
	default:
		if p.chrome > 0 {
			p.chrome--
		}
	}
}
