package state

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/codec"
)

// A table's layout is the fingerprint of its types that a snapshot keeps
// in the table's header (format version 3): the codec layouts (see
// codec.LayoutOf) of its key, namespace, user key and value, each empty
// when its codec cannot tell it:
//
//	layout = key:bytes namespace:bytes userKey:bytes value:bytes
//
// or no bytes at all when none is known. An operator list has only a value
// layout. When a table is created again from a restored one whose layout
// differs, the keys must be the same, and the values are rewritten into
// the new layout by codec.Migration, once, before the table loads them;
// the per-entry loops of loading and snapshotting do not change.

// partLayout returns the layout of c, or nil.
func partLayout[T any](c codec.Codec[T]) []byte {
	l, _ := codec.LayoutOf(c)
	return l
}

// encodeLayout joins the layouts of a table's parts.
func encodeLayout(key, ns, uk, value []byte) []byte {
	if len(key)+len(ns)+len(uk)+len(value) == 0 {
		return nil
	}
	var b []byte
	for _, p := range [][]byte{key, ns, uk, value} {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

func keyedLayout[K, N comparable, V any](d TableDesc[K, N, V]) []byte {
	return encodeLayout(partLayout(d.Key), partLayout(d.Namespace), nil, partLayout(d.Value))
}

func mapLayout[K, N, UK comparable, UV any](d MapDesc[K, N, UK, UV]) []byte {
	return encodeLayout(partLayout(d.Key), partLayout(d.Namespace), partLayout(d.UserKey), partLayout(d.Value))
}

func listLayout[T any](c codec.Codec[T]) []byte {
	return encodeLayout(nil, nil, nil, partLayout(c))
}

// layoutParts splits a table's layout into its four parts.
func layoutParts(b []byte) ([4][]byte, error) {
	var parts [4][]byte
	for i := range parts {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return parts, fmt.Errorf("malformed table layout")
		}
		parts[i], b = b[k:k+int(n)], b[k+int(n):]
	}
	if len(b) > 0 {
		return parts, fmt.Errorf("malformed table layout: %d bytes after it", len(b))
	}
	return parts, nil
}

// describeLayout renders a table's layout for messages.
func describeLayout(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	parts, err := layoutParts(b)
	if err != nil {
		return "(malformed)"
	}
	var s bytes.Buffer
	for i, name := range layoutPartNames {
		if len(parts[i]) > 0 {
			if s.Len() > 0 {
				s.WriteString(", ")
			}
			fmt.Fprintf(&s, "%s %s", name, codec.DescribeLayout(parts[i]))
		}
	}
	return s.String()
}

var layoutPartNames = [4]string{"key", "namespace", "user key", "value"}

// migrateRaw returns the restored table raw ready to be loaded by a table
// created with layout: raw itself when the layouts agree or either is
// unknown (a snapshot older than version 3, or a codec without a layout),
// else a copy whose values are rewritten in the new layout. A key,
// namespace or user key whose layout changed, and a value whose change
// codec.Migration cannot carry over, are errors naming the table and the
// field.
func migrateRaw(raw *rawTable, layout []byte) (*rawTable, error) {
	if len(raw.layout) == 0 || len(layout) == 0 || bytes.Equal(raw.layout, layout) {
		return raw, nil
	}
	old, err := layoutParts(raw.layout)
	if err != nil {
		return nil, &FormatError{Snapshot: raw.snap, Table: raw.name, KeyGroup: -1, Err: err}
	}
	now, err := layoutParts(layout)
	if err != nil {
		return nil, fmt.Errorf("state: table %q: %w", raw.name, err)
	}
	for i := range 3 {
		if len(old[i]) > 0 && len(now[i]) > 0 && !bytes.Equal(old[i], now[i]) {
			return nil, fmt.Errorf("state: table %q: the %s type changed from %s to %s since the snapshot; keys cannot be migrated",
				raw.name, layoutPartNames[i], codec.DescribeLayout(old[i]), codec.DescribeLayout(now[i]))
		}
	}
	if len(old[3]) == 0 || len(now[3]) == 0 || bytes.Equal(old[3], now[3]) {
		return raw, nil
	}
	m, err := codec.Migration(old[3], now[3])
	if err != nil {
		return nil, fmt.Errorf("state: table %q: the value type changed since the snapshot and cannot be migrated: %w", raw.name, err)
	}
	t := &rawTable{tableHeader: raw.tableHeader, snap: raw.snap}
	t.layout = layout
	if raw.kind == kindOperatorList {
		for j, e := range raw.entries {
			v, err := m(nil, e)
			if err != nil {
				return nil, fmt.Errorf("state: operator list %q: entry %d: migrate: %w", raw.name, j, err)
			}
			t.entries = append(t.entries, v)
		}
		return t, nil
	}
	for _, s := range raw.sections {
		ms, err := migrateSection(raw, s, m)
		if err != nil {
			return nil, err
		}
		t.sections = append(t.sections, ms)
	}
	return t, nil
}

// migrateSection rewrites the values of one restored section. The key
// part of each entry is unchanged, so the entries keep their order.
func migrateSection(raw *rawTable, s rawSection, m func(dst, src []byte) ([]byte, error)) (rawSection, error) {
	rr := &recordReader{t: raw, s: s}
	out := make([]byte, 0, len(s.data)+len(s.data)/4)
	var val []byte
	for range s.count {
		rec, err := rr.record()
		if err != nil {
			return s, err
		}
		out = appendBytes(appendBytes(out, rec.key), rec.ns)
		if raw.kind == kindMap {
			out = appendBytes(out, rec.uk)
		}
		val = val[:0]
		if raw.kind == kindList {
			n, k := binary.Uvarint(rec.value)
			if k <= 0 {
				return s, rr.fail(rec.off, "entry value: malformed list count")
			}
			val = binary.AppendUvarint(val, n)
			b := rec.value[k:]
			for j := range n {
				l, k := binary.Uvarint(b)
				if k <= 0 || l > uint64(len(b)-k) {
					return s, rr.fail(rec.off, "list element %d: malformed length", j)
				}
				var e []byte
				if e, err = m(nil, b[k:k+int(l)]); err != nil {
					return s, rr.fail(rec.off, "list element %d: migrate: %w", j, err)
				}
				val = appendBytes(val, e)
				b = b[k+int(l):]
			}
		} else if val, err = m(val, rec.value); err != nil {
			return s, rr.fail(rec.off, "entry value: migrate: %w", err)
		}
		out = appendBytes(out, val)
		if raw.ttl > 0 {
			out = binary.LittleEndian.AppendUint64(out, uint64(rec.at))
		}
	}
	s.data = out
	return s, nil
}

func appendBytes(dst, p []byte) []byte {
	return append(binary.AppendUvarint(dst, uint64(len(p))), p...)
}
