package main

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder fills a configuration from a parsed YAML node tree, field by field,
// so that every problem is placed at the node it is about, and one bad value
// does not hide the others: a field that cannot be read is left at its zero
// value, recorded as failed, and decoding goes on.
type decoder struct {
	problems []problem
	// maps holds the mapping node each struct was read from, keyed by a
	// pointer to the struct (*aggregate.Endpoint, *aggregate.Backend, ...).
	maps map[any]*yaml.Node
	// failed holds the fields that were given but could not be read.
	failed map[fieldKey]bool
}

// fieldKey names one field of a decoded struct: the struct's pointer and the
// field's config name.
type fieldKey struct {
	owner any    // pointer to the struct
	name  string // the yaml name, such as "timeout"
}

func newDecoder() *decoder {
	return &decoder{maps: map[any]*yaml.Node{}, failed: map[fieldKey]bool{}}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// decode reads node into v (addressable). place prefixes its problems
// ("server: ", "endpoint /a: backend b: "), and name is the field's config
// name for messages ("" at the top).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, place, name string) bool {
	n = resolve(n)
	if n.Tag == "!!null" && n.Kind == yaml.ScalarNode {
		return true // null leaves the zero value, as yaml does
	}
	fail := func(format string, args ...any) bool {
		d.add(n, place+name+": "+fmt.Sprintf(format, args...))
		return false
	}
	if v.Addr().Type().Implements(textUnmarshaler) {
		if n.Kind != yaml.ScalarNode {
			return fail("want a single value, not %s", kindName(n))
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			return fail("%v", err)
		}
		return true
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping of fields, not %s", kindName(n))
		}
		if place == "" {
			place = name + ": " // a section of the file: "server: "
		} else {
			place += name + "." // a nested mapping: "endpoint /a: cache.ttl"
		}
		d.decodeStruct(n, v, place)
		return true
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fail("want a list, not %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if s.Index(i).Kind() == reflect.Struct {
				// An endpoint or a backend: named by its path or name.
				d.decodeItem(item, s.Index(i), place, name, i)
			} else {
				d.decode(item, s.Index(i), place, fmt.Sprintf("%s[%d]", name, i))
			}
		}
		v.Set(s)
		return true
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fail("want a mapping, not %s", kindName(n))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			kn := resolve(n.Content[i])
			if !d.decode(kn, k, place, name) || !d.decode(n.Content[i+1], val, place, name+"."+kn.Value) {
				continue
			}
			if m.MapIndex(k).IsValid() {
				d.add(kn, place+name+": "+kn.Value+" is given twice")
			}
			m.SetMapIndex(k, val)
		}
		v.Set(m)
		return true
	}
	if n.Kind != yaml.ScalarNode {
		return fail("want %s, not %s", scalarName(v.Kind()), kindName(n))
	}
	if v.Kind() == reflect.String {
		v.SetString(n.Value) // any scalar reads as its text, as yaml does
		return true
	}
	p := reflect.New(v.Type())
	if err := n.Decode(p.Interface()); err != nil {
		return fail("%q is not %s", n.Value, scalarName(v.Kind()))
	}
	v.Set(p.Elem())
	return true
}

// decodeItem reads the i-th item of list name, a mapping, into struct v. Its
// problems are placed as aggregate places them: "endpoint /a: " (its path, or
// "#2" without one), then "backend b: ".
func (d *decoder) decodeItem(n *yaml.Node, v reflect.Value, place, name string, i int) {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		if n.Tag != "!!null" {
			d.add(n, fmt.Sprintf("%s%s[%d]: want a mapping of fields, not %s", place, name, i, kindName(n)))
		}
		return
	}
	kind, key := strings.TrimSuffix(name, "s"), "name"
	if name == "endpoints" {
		key = "path"
	}
	label := "#" + strconv.Itoa(i+1)
	for j := 0; j+1 < len(n.Content); j += 2 {
		if k, val := n.Content[j], resolve(n.Content[j+1]); k.Value == key && val.Kind == yaml.ScalarNode && val.Value != "" {
			label = val.Value
		}
	}
	d.decodeStruct(n, v, place+kind+" "+label+": ")
}

// decodeStruct reads mapping n into struct v, field by field.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, place string) {
	owner := v.Addr().Interface()
	d.maps[owner] = n
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		idx, ok := fields[k.Value]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.add(k, place+"want a field name, not "+kindName(k))
			continue
		case !ok:
			d.add(k, place+k.Value+": unknown field")
			continue
		case seen[k.Value]:
			d.add(k, place+k.Value+": given twice")
			continue
		}
		seen[k.Value] = true
		if !d.decode(n.Content[i+1], v.Field(idx), place, k.Value) {
			d.failed[fieldKey{owner, k.Value}] = true
		}
	}
}

// add records a problem at node n.
func (d *decoder) add(n *yaml.Node, text string) {
	d.problems = append(d.problems, problem{line: n.Line, col: n.Column, text: text})
}

// field returns the key and value nodes of the field named name (dotted for
// nested mappings, such as "cache.ttl") in the mapping that owner was read
// from; nil for what is absent.
func (d *decoder) field(owner any, name string) (key, val *yaml.Node) {
	m := d.maps[owner]
	for first, rest, more := strings.Cut(name, "."); m != nil; first, rest, more = strings.Cut(rest, ".") {
		key, val = nil, nil
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == first {
				key, val = m.Content[i], resolve(m.Content[i+1])
			}
		}
		if !more || val == nil || val.Kind != yaml.MappingNode {
			return key, val
		}
		m = val
	}
	return nil, nil
}

// at returns the node a problem about owner's field name is placed at: the
// field's value, else the mapping it would be in, else nil.
func (d *decoder) at(owner any, name string) *yaml.Node {
	if _, val := d.field(owner, name); val != nil {
		return val
	}
	return d.maps[owner]
}

// yamlFields maps the yaml names of t's fields to their indexes.
func yamlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name != "" && name != "-" && f.IsExported() {
			fields[name] = i
		}
	}
	return fields
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// kindName describes what node n is, for problems.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

// scalarName describes what a field of kind k wants.
func scalarName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return "a single value"
	}
}
