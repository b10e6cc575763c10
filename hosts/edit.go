package hosts

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// Doc is an inventory file held for editing: every line as it was
// written, so that an edit changes only the lines it must. Comments, blank
// lines, spacing, line endings and the order of hosts stay as they were;
// new hosts go at the end. Edit it with Add, SetTags and Delete and write
// out Bytes; UpdateFile does that under a lock.
type Doc struct {
	name  string
	lines []docLine
	inv   *Inventory // the file as parsed, for merged tags and errors
	nl    string     // line ending for new lines: "\n", or "\r\n" if the file uses it
	dirty bool
}

// docLine is one line of a Doc: its text without the line ending, the
// ending ("" on a last line without one), and for a host line the host's
// name and where its fields are.
type docLine struct {
	text string
	eol  string
	name string // "" for blank and comment lines
	// fields are the [start, end) offsets of the host field and then of
	// each tag, up to the first '#' field.
	fields [][2]int
}

// ParseDoc parses data, an inventory file named name, for editing. A file
// ParseInventory rejects is rejected with the same *ParseError: a
// malformed inventory is never edited.
func ParseDoc(data []byte, name string) (*Doc, error) {
	inv, err := ParseInventory(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	d := &Doc{name: name, inv: inv, nl: "\n"}
	rest := string(data)
	for i := 0; rest != ""; i++ {
		line, eol := rest, ""
		if j := strings.IndexByte(rest, '\n'); j >= 0 {
			line, eol, rest = rest[:j], "\n", rest[j+1:]
		} else {
			rest = ""
		}
		if strings.HasSuffix(line, "\r") {
			line, eol = line[:len(line)-1], "\r"+eol
			if eol == "\r\n" && i == 0 {
				d.nl = "\r\n"
			}
		}
		l := docLine{text: line, eol: eol}
		start := 0
		if i == 0 && strings.HasPrefix(line, "\ufeff") {
			start = len("\ufeff")
		}
		l.fields = fieldOffsets(line, start)
		if len(l.fields) > 0 {
			h, _ := parseHostSpec(line[l.fields[0][0]:l.fields[0][1]])
			l.name = h.Name
		}
		d.lines = append(d.lines, l)
	}
	return d, nil
}

// fieldOffsets returns the offsets of the space- or tab-separated fields
// of line from start on, stopping at the first field that starts with '#'.
func fieldOffsets(line string, start int) [][2]int {
	var out [][2]int
	i := start
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) || line[i] == '#' {
			return out
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
}

// Name is the file name the Doc was parsed as.
func (d *Doc) Name() string { return d.name }

// Changed reports whether an edit changed the Doc since it was parsed.
func (d *Doc) Changed() bool { return d.dirty }

// Lookup returns the host called name as the file defines it, its tags
// merged over every line that lists it, reflecting the edits made so far.
func (d *Doc) Lookup(name string) (Host, bool) {
	first := -1
	var tags []string
	for i := range d.lines {
		l := &d.lines[i]
		if l.name != name {
			continue
		}
		if first < 0 {
			first = i
		}
		for _, f := range l.fields[1:] {
			if t := l.text[f[0]:f[1]]; !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
	}
	if first < 0 {
		return Host{}, false
	}
	l := &d.lines[first]
	h, _ := parseHostSpec(l.text[l.fields[0][0]:l.fields[0][1]])
	h.Tags = tags
	h.Where = fmt.Sprintf("%s:%d", d.name, first+1)
	return h, true
}

// Add adds h with tags to the Doc and reports whether the host is new.
// A new host gets a line of its own at the end, "HOST TAG...", with its
// user, port and jump hosts as h has them. A host already there keeps
// its line and gets the tags it lacks; h must then not name a different
// user, port or jump chain (the error says where the host is defined).
func (d *Doc) Add(h Host, tags []string) (added bool, err error) {
	if err := checkTags(tags); err != nil {
		return false, err
	}
	if old, ok := d.Lookup(h.Name); ok {
		if h.User != "" && h.User != old.User || h.Port != "" && h.Port != old.Port ||
			len(h.Jump) > 0 && !slices.Equal(h.Jump, old.Jump) {
			return false, fmt.Errorf("%s is already in the inventory as %q at %s, with a different user, port or jump host; change that line, or del the host first",
				h.Name, old.String(), old.Where)
		}
		d.SetTags(h.Name, tags, nil)
		return false, nil
	}
	if _, msg := parseHostSpec(h.String()); msg != "" {
		return false, fmt.Errorf("cannot add %q: %s", h.String(), msg)
	}
	var b strings.Builder
	b.WriteString(h.String())
	for _, t := range appendNewTags(nil, tags) {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	// Never glue a new line onto a last line that lacks its newline.
	if n := len(d.lines); n > 0 && d.lines[n-1].eol == "" {
		d.lines[n-1].eol = d.nl
	}
	line := b.String()
	d.lines = append(d.lines, docLine{text: line, eol: d.nl, name: h.Name, fields: fieldOffsets(line, 0)})
	d.dirty = true
	return true, nil
}

// SetTags adds the tags in add that host name lacks (to the first line
// that lists it) and removes every tag in remove (from every line that
// lists it). It reports false when the Doc has no such host. A tag in
// both lists is removed.
func (d *Doc) SetTags(name string, add, remove []string) bool {
	first := -1
	have := map[string]bool{}
	for i := range d.lines {
		l := &d.lines[i]
		if l.name != name {
			continue
		}
		if first < 0 {
			first = i
		}
		for k := len(l.fields) - 1; k >= 1; k-- {
			t := l.text[l.fields[k][0]:l.fields[k][1]]
			if slices.Contains(remove, t) {
				l.cutField(k)
				d.dirty = true
				continue
			}
			have[t] = true
		}
	}
	if first < 0 {
		return false
	}
	var missing []string
	for _, t := range add {
		if !have[t] && !slices.Contains(remove, t) {
			have[t] = true
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		d.lines[first].appendFields(missing)
		d.dirty = true
	}
	return true
}

// Delete removes every line that lists host name and reports whether
// there was one.
func (d *Doc) Delete(name string) bool {
	kept := d.lines[:0]
	found := false
	for _, l := range d.lines {
		if l.name == name {
			found = true
			continue
		}
		kept = append(kept, l)
	}
	clear(d.lines[len(kept):])
	d.lines = kept
	if found {
		d.dirty = true
	}
	return found
}

// cutField removes field k (a tag) and the blanks before it.
func (l *docLine) cutField(k int) {
	from, to := l.fields[k-1][1], l.fields[k][1]
	l.text = l.text[:from] + l.text[to:]
	n := to - from
	for j := k + 1; j < len(l.fields); j++ {
		l.fields[j][0] -= n
		l.fields[j][1] -= n
	}
	l.fields = slices.Delete(l.fields, k, k+1)
}

// appendFields adds words after the line's last field, each after one
// space; what followed that field (blanks, a comment) stays after them.
func (l *docLine) appendFields(words []string) {
	at := l.fields[len(l.fields)-1][1]
	var b strings.Builder
	for _, w := range words {
		b.WriteByte(' ')
		l.fields = append(l.fields, [2]int{at + b.Len(), at + b.Len() + len(w)})
		b.WriteString(w)
	}
	l.text = l.text[:at] + b.String() + l.text[at:]
}

// Bytes returns the file as edited.
func (d *Doc) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range d.lines {
		b.WriteString(l.text)
		b.WriteString(l.eol)
	}
	return b.Bytes()
}

// checkTags reports the first tag that is not valid.
func checkTags(tags []string) error {
	for _, t := range tags {
		if !validTag(t) {
			return fmt.Errorf("%s", badTagMsg(t))
		}
	}
	return nil
}

// CheckTag reports why t cannot be a tag, or nil.
func CheckTag(t string) error {
	if validTag(t) {
		return nil
	}
	return fmt.Errorf("%s", badTagMsg(t))
}
