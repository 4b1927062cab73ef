package aggregate

import (
	"bytes"
	"fmt"
)

// shape turns a backend's body into the members it contributes to the
// merge. Without shaping rules the members index body itself (no copy);
// with them shape writes the shaped object into out and the members index
// that. data is what the members index; out is returned for reuse.
// An error makes the backend invalid.
func (b *backend) shape(body []byte, dst []member, out []byte) (data []byte, ms []member, outBuf []byte, err error) {
	if !b.shaped {
		if b.group.key != nil {
			// Validate only; the whole value goes under the group key.
			_, vs, ve, _, err := parseTop(body, nil, false)
			if err != nil {
				return nil, dst, out, err
			}
			return body, append(dst, member{keySrc: fromGroup, valOff: vs, valEnd: ve}), out, nil
		}
		dst, _, _, kind, err := parseTop(body, dst, true)
		if err != nil {
			return nil, dst[:0], out, err
		}
		if kind != '{' {
			return nil, dst[:0], out, wrongShape(kind, "")
		}
		return body, dst, out, nil
	}

	dst, vs, ve, kind, err := parseTop(body, dst, true)
	if err != nil {
		return nil, dst[:0], out, err
	}
	for depth, seg := range b.target {
		if kind != '{' {
			where := "the response"
			if depth > 0 {
				where = string(bytes.Join(b.target[:depth], []byte(".")))
			}
			return nil, dst[:0], out, fmt.Errorf("target %s: %s is %s, not an object", b.targetPath(), where, kindName(kind))
		}
		found := -1
		for i := range dst {
			if bytes.Equal(b.memberName(body, &dst[i]), seg) {
				found = i
				break
			}
		}
		if found < 0 {
			return nil, dst[:0], out, fmt.Errorf("target %s: no field %q", b.targetPath(), seg)
		}
		vs, ve = dst[found].valOff, dst[found].valEnd
		kind = body[vs]
		dst = dst[:0]
		if kind == '{' {
			dst, _, _ = scanMembers(body, vs, dst) // validated with the body
		}
	}
	plain := b.allow == nil && b.deny == nil && b.mapping == nil // only Target (and Group)
	switch kind {
	case '{':
		if b.collection.key != nil {
			return nil, dst[:0], out, fmt.Errorf("response is an object, but collection %q wants an array", b.collection.name)
		}
	case '[':
		if b.collection.key == nil {
			if b.group.key != nil && plain {
				return body, append(dst[:0], member{keySrc: fromGroup, valOff: vs, valEnd: ve}), out, nil
			}
			return nil, dst[:0], out, wrongShape(kind, "collection")
		}
		dst = append(dst[:0], member{keySrc: fromCollection, valOff: vs, valEnd: ve})
	default:
		if b.group.key != nil && plain && b.collection.key == nil {
			return body, append(dst[:0], member{keySrc: fromGroup, valOff: vs, valEnd: ve}), out, nil
		}
		return nil, dst[:0], out, wrongShape(kind, "")
	}
	if b.group.key != nil && plain && b.collection.key == nil {
		// Target and Group alone: the sub-object goes under the group as is.
		return body, append(dst[:0], member{keySrc: fromGroup, valOff: vs, valEnd: ve}), out, nil
	}

	// Filter and rename in place, keeping the upstream's order.
	kept := dst[:0]
	renamed := false
	for _, m := range dst {
		name := b.memberName(body, &m)
		if b.allow != nil {
			if _, ok := b.allow[string(name)]; !ok {
				continue
			}
		}
		if b.deny != nil {
			if _, ok := b.deny[string(name)]; ok {
				continue
			}
		}
		if b.mapping != nil {
			if idx, ok := b.mapping[string(name)]; ok {
				m.keySrc, m.mapIdx = fromMapping, idx
				renamed = true
			}
		}
		kept = append(kept, m)
	}
	if renamed {
		kept = b.dropShadowed(body, kept)
	}

	// Write the shaped object; the members now index it.
	out = append(out[:0], '{')
	for i := range kept {
		m := &kept[i]
		if i > 0 {
			out = append(out, ',')
		}
		key, val := b.memberKey(body, m), body[m.valOff:m.valEnd]
		*m = member{keyOff: len(out), escaped: bytes.IndexByte(key, '\\') >= 0}
		out = append(out, key...)
		m.keyEnd = len(out)
		out = append(out, ':')
		m.valOff = len(out)
		out = append(out, val...)
		m.valEnd = len(out)
	}
	out = append(out, '}')
	if b.group.key != nil {
		return out, append(kept[:0], member{keySrc: fromGroup, valOff: 0, valEnd: len(out)}), out, nil
	}
	return out, kept, out, nil
}

// memberName returns the name m stands for, unescaped, for comparisons.
func (b *backend) memberName(data []byte, m *member) []byte {
	switch m.keySrc {
	case fromGroup:
		return b.group.name
	case fromCollection:
		return b.collection.name
	case fromMapping:
		return b.mapTo[m.mapIdx].name
	}
	key := data[m.keyOff:m.keyEnd]
	if m.escaped {
		return unescapeKey(key)
	}
	return key[1 : len(key)-1]
}

// memberKey returns m's key as JSON, with its quotes.
func (b *backend) memberKey(data []byte, m *member) []byte {
	switch m.keySrc {
	case fromGroup:
		return b.group.key
	case fromCollection:
		return b.collection.key
	case fromMapping:
		return b.mapTo[m.mapIdx].key
	}
	return data[m.keyOff:m.keyEnd]
}

// dropShadowed removes the members that kept their own name when a renamed
// member took that name: the renamed one replaces them.
func (b *backend) dropShadowed(data []byte, ms []member) []member {
	out := ms[:0]
	for i := range ms {
		m := ms[i]
		if m.keySrc != fromMapping && b.shadowed(data, ms, &m) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// shadowed reports whether a renamed member in ms has m's name. ms may be
// being compacted: renamed members are never dropped, so each is still there.
func (b *backend) shadowed(data []byte, ms []member, m *member) bool {
	name := b.memberName(data, m)
	for j := range ms {
		if ms[j].keySrc == fromMapping && bytes.Equal(b.mapTo[ms[j].mapIdx].name, name) {
			return true
		}
	}
	return false
}

func (b *backend) targetPath() string {
	return string(bytes.Join(b.target, []byte(".")))
}

// wrongShape explains why a value that is not an object cannot be merged.
func wrongShape(kind byte, want string) error {
	if kind == '[' {
		if want == "" {
			want = "collection or group"
		}
		return fmt.Errorf("response is an array; set %s to use it", want)
	}
	return fmt.Errorf("response is %s, not an object; set group to use it", kindName(kind))
}

func kindName(kind byte) string {
	switch kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
