package format_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirstream/weir/connectors/format"
)

func viewFormat(t testing.TB) *format.ProtobufFormat {
	t.Helper()
	f, err := format.Protobuf(format.ProtobufConfig{File: "testdata/proto/view.proto", Message: "weir.test.View"})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// A View with every kind of field set.
func fullView() format.Record {
	return format.Record{
		"id": "v-1", "n": int64(-9007199254740993), "small": int64(-7), "big": uint64(18446744073709551615),
		"u": int64(4294967295), "rate": 0.125, "f": 1.5, "ended": true, "blob": []byte{0, 1, 0xff},
		"kind":   "KIND_VOD",
		"player": format.Record{"name": "hls.js", "version": "1.5"},
		"tags":   []any{"a", "b"},
		"events": []any{format.Record{"type": "play", "at_ms": int64(1)}, format.Record{"type": "end", "at_ms": int64(2)}},
		"counts": format.Record{"x": int64(1), "y": int64(-2)},
		"names":  format.Record{"-3": "minus three", "7": "seven"},
		"at":     time.Date(2026, 12, 7, 13, 10, 0, 5, time.UTC),
		"note":   "",
		"other":  format.Record{"name": "dash.js", "version": ""},
		"took":   90*time.Second + 5,
		"s":      int64(-1), "fx": uint64(1 << 63),
		"kinds":   []any{"KIND_LIVE", "KIND_UNSPECIFIED"},
		"maybe_n": int64(0), "maybe_s": "s", "maybe_b": false,
		"attrs": format.Record{
			"n": int64(3), "x": 0.5, "s": "t", "ok": true, "none": nil,
			"nested": format.Record{"list": []any{int64(1), "two", nil, []any{}}},
		},
		"anything": "just a string",
		"list":     []any{int64(-1), format.Record{}},
	}
}

func TestProtobufRoundTrip(t *testing.T) {
	f := viewFormat(t)
	in := fullView()
	b, err := f.Encode([]byte("x"), in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Decode(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("Decode(Encode(r)) =\n%#v\nwant\n%#v", out, in)
	}
	// Deterministic: the same record encodes to the same bytes.
	if b2, _ := f.Encode([]byte("x"), in); !bytes.Equal(b, b2) {
		t.Fatal("two encodings of one record differ")
	}
}

// Fields without presence are in the Record with their zero values; fields
// with presence only when set; an enum number no value names is a number.
func TestProtobufUnsetFields(t *testing.T) {
	f := viewFormat(t)
	// Field 10 (kind) = 9, a number Kind does not name.
	r, err := f.Decode(protowire.AppendVarint(protowire.AppendTag(nil, 10, protowire.VarintType), 9))
	if err != nil {
		t.Fatal(err)
	}
	want := format.Record{
		"id": "", "n": int64(0), "small": int64(0), "big": uint64(0), "u": int64(0), "rate": 0.0, "f": 0.0,
		"ended": false, "blob": []byte(nil), "kind": int64(9), "tags": []any{}, "events": []any{},
		"counts": format.Record{}, "names": format.Record{}, "s": int64(0), "fx": uint64(0), "kinds": []any{},
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("Decode =\n%#v\nwant\n%#v", r, want)
	}
}

func TestProtobufEncodeLenient(t *testing.T) {
	f := viewFormat(t)
	// Go integers and floats that fit, enum numbers, strings for bytes,
	// map[string]any for messages and maps.
	b, err := f.Encode(nil, format.Record{
		"small": 3.0, "u": 7, "big": int64(5), "rate": int64(2), "kind": int32(1), "blob": "hi",
		"player": map[string]any{"name": "p"}, "counts": map[string]any{"k": 1}, "tags": []string{"t"},
		"names": format.Record{"12": "twelve"}, "note": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"small": int64(3), "u": int64(7), "big": uint64(5), "rate": 2.0, "kind": "KIND_LIVE", "blob": []byte("hi"),
		"player": format.Record{"name": "p", "version": ""}, "counts": format.Record{"k": int64(1)}, "tags": []any{"t"},
		"names": format.Record{"12": "twelve"},
	} {
		if !reflect.DeepEqual(r[k], want) {
			t.Errorf("%s = %#v, want %#v", k, r[k], want)
		}
	}
	if _, ok := r["note"]; ok {
		t.Error("note, set to nil, is in the record")
	}
}

func TestProtobufEncodeErrors(t *testing.T) {
	f := viewFormat(t)
	for _, tc := range []struct {
		r    format.Record
		want string
	}{
		{format.Record{"nope": 1}, `protobuf: encode weir.test.View: field nope: weir.test.View has no field "nope" (it has id, n, small,`},
		{format.Record{"small": int64(1) << 40}, "field small: int64 1099511627776, want an int32"},
		{format.Record{"u": -1}, "field u: int -1, want a uint32"},
		{format.Record{"n": 1.5}, "field n: float64 1.5, want an int64"},
		{format.Record{"id": 3}, "field id: int 3, want a string"},
		{format.Record{"kind": "KIND_SOON"}, `field kind: string "KIND_SOON", want one of weir.test.Kind KIND_UNSPECIFIED, KIND_LIVE, KIND_VOD`},
		{format.Record{"player": format.Record{"name": 1}}, "field player.name: int 1, want a string"},
		{format.Record{"player": "p"}, `field player: string "p", want a message (a Record)`},
		{format.Record{"events": []any{format.Record{}, format.Record{"at_ms": "x"}}}, `field events[1].at_ms: string "x", want an int64`},
		{format.Record{"names": format.Record{"x": "y"}}, `field names["x"] key: string "x", want an int32`},
		{format.Record{"counts": format.Record{"x": nil}}, `field counts["x"]: nil, want a value`},
		{format.Record{"tags": "t"}, `field tags: string "t", want a list`},
		{format.Record{"maybe_n": "x"}, `field maybe_n: string "x", want an int64`},
		{format.Record{"attrs": "x"}, `field attrs: string "x", want a Record`},
		{format.Record{"attrs": format.Record{"a": []any{1, struct{}{}}}}, `field attrs["a"][1]: struct {} {}, want a JSON value`},
		{format.Record{"list": 1}, `field list: int 1, want a list`},
		{format.Record{"at": "2026-12-07"}, `field at: string "2026-12-07", want a time.Time`},
		{format.Record{"at": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "field at: "},
	} {
		_, err := f.Encode(nil, tc.r)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Encode(%v) = %v, want %q", tc.r, err, tc.want)
		}
	}
}

// wkt is field num of View holding a Timestamp or a Duration.
func wkt(num protowire.Number, sec, nsec int64) []byte {
	inner := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(sec))
	inner = protowire.AppendVarint(protowire.AppendTag(inner, 2, protowire.VarintType), uint64(nsec))
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), inner)
}

func TestProtobufDecodeErrors(t *testing.T) {
	f := viewFormat(t)
	good, err := f.Encode(nil, format.Record{"id": "v", "player": format.Record{"name": "hls.js"}})
	if err != nil {
		t.Fatal(err)
	}
	// player (11) is at byte 3: tag, length, then name (1) at byte 5.
	cut := good[:len(good)-2]
	badUTF8 := []byte{1<<3 | 2, 1, 0xff}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"a message cut short", cut, "protobuf: decode weir.test.View: field player (11) at byte 3: unexpected EOF"},
		{"a nested field cut short", []byte{11<<3 | 2, 2, 1<<3 | 2, 5}, "protobuf: decode weir.test.View: field player.name (1) at byte 2: unexpected EOF"},
		{"a bad tag", []byte{0x80}, "protobuf: decode weir.test.View: bad field tag at byte 0: unexpected EOF"},
		{"an unknown field cut", append(protowire.AppendTag(nil, 99, protowire.BytesType), 1), "field unknown field 99 (99) at byte 0: unexpected EOF"},
		{"invalid UTF-8", badUTF8, "protobuf: decode weir.test.View: "},
		{"a timestamp out of range", wkt(16, 1<<40, 0), "protobuf: decode weir.test.View: field at: google.protobuf.Timestamp{seconds: 1099511627776, nanos: 0} is out of range"},
		{"a duration too long", wkt(20, 1<<40, 0), "protobuf: decode weir.test.View: field took: google.protobuf.Duration{seconds: 1099511627776, nanos: 0} does not fit a time.Duration"},
		{"a duration of mixed signs", wkt(20, 1, -1), "field took: google.protobuf.Duration{seconds: 1, nanos: -1} does not fit"},
		{"a map key of another wire type", []byte{14<<3 | 2, 5, 1<<3 | 2, 1, '0', 1 << 3, '0'}, "protobuf: decode weir.test.View: malformed message: "},
	} {
		_, err := f.Decode(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Decode(% x) = %v, want %q", tc.name, tc.data, err, tc.want)
		}
	}
	if _, err := f.Decode(badUTF8); err == nil || !strings.Contains(err.Error(), "weir.test.View.id") {
		t.Errorf("invalid UTF-8: %v, want the field named", err)
	}
}

func TestProtobufConfigErrors(t *testing.T) {
	dir := t.TempDir()
	// view.proto without the directory of its import.
	lone := filepath.Join(dir, "view.proto")
	if b, err := os.ReadFile("testdata/proto/view.proto"); err != nil || os.WriteFile(lone, b, 0o644) != nil {
		t.Fatal(err)
	}
	// A file that parses but does not link.
	unknownType := filepath.Join(dir, "unknown.proto")
	if err := os.WriteFile(unknownType, []byte("syntax = \"proto3\";\npackage a;\nmessage A { Missing m = 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  format.ProtobufConfig
		want string
	}{
		{"nothing", format.ProtobufConfig{Message: "a.B"}, "protobuf: set File, DescriptorSet or DescriptorSetBytes"},
		{"two sources", format.ProtobufConfig{File: "x.proto", DescriptorSet: "x.pb", Message: "a.B"}, "protobuf: set only one of"},
		{"no message", format.ProtobufConfig{File: "testdata/proto/view.proto"}, "protobuf: Message is empty"},
		{"unknown message", format.ProtobufConfig{File: "testdata/proto/view.proto", Message: "weir.test.Veiw"},
			`protobuf: testdata/proto/view.proto has no message "weir.test.Veiw"; it has weir.test.View, weir.test.View.Event`},
		{"syntax error", format.ProtobufConfig{File: "testdata/proto/bad.proto", Message: "weir.test.Broken"},
			"protobuf: testdata/proto/bad.proto:7:3: syntax error: expecting ';'"},
		{"missing file", format.ProtobufConfig{File: filepath.Join(dir, "none.proto"), Message: "a.B"}, "protobuf: stat "},
		{"missing import", format.ProtobufConfig{File: lone, Message: "weir.test.View"},
			lone + ":9:8: open " + filepath.Join(dir, "weir/common/player.proto") + ": no such file or directory"},
		{"unknown type", format.ProtobufConfig{File: unknownType, Message: "a.A"}, unknownType + ":3:13: field a.A.m: unknown type Missing"},
		{"not a descriptor set", format.ProtobufConfig{DescriptorSetBytes: []byte("junk"), Message: "a.B"}, "protobuf: not a serialized FileDescriptorSet"},
		{"missing descriptor set", format.ProtobufConfig{DescriptorSet: filepath.Join(dir, "none.pb"), Message: "a.B"}, "protobuf: DescriptorSet: open "},
	} {
		_, err := format.Protobuf(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A file found under an import path is named relative to it, so that its
// imports resolve from there.
func TestProtobufImportPaths(t *testing.T) {
	f, err := format.Protobuf(format.ProtobufConfig{
		File: "testdata/proto/weir/common/player.proto", ImportPaths: []string{"testdata/proto"}, Message: ".weir.common.Player",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Descriptor().ParentFile().Path(); got != "weir/common/player.proto" {
		t.Fatalf("file path = %q", got)
	}
	// view.proto names its import relative to testdata/proto.
	if _, err := format.Protobuf(format.ProtobufConfig{
		File: "testdata/proto/view.proto", ImportPaths: []string{"testdata/proto"}, Message: "weir.test.View.Event",
	}); err != nil {
		t.Fatal(err)
	}
	// A message of an import is found too.
	if _, err := format.Protobuf(format.ProtobufConfig{File: "testdata/proto/view.proto", Message: "weir.common.Player"}); err != nil {
		t.Fatal(err)
	}
}

// descriptorSet compiles view.proto as protoc would and serializes it with
// its imports, as `protoc --include_imports --descriptor_set_out` does.
func descriptorSet(t *testing.T, withImports bool) []byte {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"testdata/proto"}})}
	files, err := c.Compile(context.Background(), "view.proto")
	if err != nil {
		t.Fatal(err)
	}
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			if imp := fd.Imports().Get(i); withImports && !strings.HasPrefix(imp.Path(), "google/") {
				add(imp.FileDescriptor)
			}
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(files[0])
	b, err := proto.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestProtobufDescriptorSet(t *testing.T) {
	set := descriptorSet(t, true)
	path := filepath.Join(t.TempDir(), "view.pb")
	if err := os.WriteFile(path, set, 0o644); err != nil {
		t.Fatal(err)
	}
	fromSet, err := format.Protobuf(format.ProtobufConfig{DescriptorSet: path, Message: "weir.test.View"})
	if err != nil {
		t.Fatal(err)
	}
	fromBytes, err := format.Protobuf(format.ProtobufConfig{DescriptorSetBytes: set, Message: "weir.test.View"})
	if err != nil {
		t.Fatal(err)
	}
	// What one format writes, the others read the same.
	b, err := viewFormat(t).Encode(nil, fullView())
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]*format.ProtobufFormat{"DescriptorSet": fromSet, "DescriptorSetBytes": fromBytes} {
		r, err := f.Decode(b)
		if err != nil || !reflect.DeepEqual(r, fullView()) {
			t.Fatalf("%s: Decode = %#v, %v", name, r, err)
		}
	}
	_, err = format.Protobuf(format.ProtobufConfig{DescriptorSet: path, Message: "weir.test.Nope"})
	if want := `protobuf: ` + path + ` has no message "weir.test.Nope"; it has weir.common.Player, weir.test.View, weir.test.View.Event`; err == nil || err.Error() != want {
		t.Fatalf("unknown message: %v\nwant %s", err, want)
	}
	// Without its imports the set does not link, and the error says how
	// protoc writes one that does.
	_, err = format.Protobuf(format.ProtobufConfig{DescriptorSetBytes: descriptorSet(t, false), Message: "weir.test.View"})
	if err == nil || !strings.Contains(err.Error(), "weir/common/player.proto") || !strings.Contains(err.Error(), "--include_imports") {
		t.Fatalf("a set without its imports: %v", err)
	}
}

func TestProtobufMessage(t *testing.T) {
	f := format.ProtobufMessage[*descriptorpb.FieldDescriptorProto]()
	in := &descriptorpb.FieldDescriptorProto{Name: proto.String("id"), Number: proto.Int32(1), Label: descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()}
	b, err := f.Encode([]byte("x"), in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Decode(b[1:])
	if err != nil || !proto.Equal(out, in) {
		t.Fatalf("Decode = %v, %v", out, err)
	}
	// The typed and the dynamic format read the same bytes alike.
	ts := timestamppb.New(time.Date(2026, 12, 7, 13, 10, 0, 5, time.UTC))
	tb, _ := format.ProtobufMessage[*timestamppb.Timestamp]().Encode(nil, ts)
	dyn, err := format.Protobuf(format.ProtobufConfig{DescriptorSetBytes: descriptorSet(t, true), Message: "google.protobuf.Timestamp"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := dyn.Decode(tb); err != nil || !reflect.DeepEqual(r, format.Record{"seconds": ts.Seconds, "nanos": int64(5)}) {
		t.Fatalf("Timestamp as a Record = %#v, %v", r, err)
	}
	if _, err := f.Decode([]byte{1<<3 | 2, 5, 'a'}); err == nil || err.Error() != "protobuf: decode google.protobuf.FieldDescriptorProto: field name (1) at byte 0: unexpected EOF" {
		t.Fatalf("Decode of a cut message: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("ProtobufMessage[proto.Message] did not panic")
		}
	}()
	format.ProtobufMessage[proto.Message]()
}

func FuzzProtobufDecode(f *testing.F) {
	pf := viewFormat(f)
	full, err := pf.Encode(nil, fullView())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add([]byte{})
	f.Add([]byte{11<<3 | 2, 2, 1<<3 | 2, 5})
	f.Add([]byte{14<<3 | 2, 3, 1<<3 | 2, 1, 'k'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := pf.Decode(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "protobuf: decode weir.test.View: ") {
				t.Fatalf("Decode(% x): %v, want an error naming the message", data, err)
			}
			return
		}
		// Whatever decodes encodes, and reads back the same.
		b, err := pf.Encode(nil, r)
		if err != nil {
			t.Fatalf("Encode(%#v): %v", r, err)
		}
		r2, err := pf.Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(% x))): %v", data, err)
		}
		if b2, _ := pf.Encode(nil, r2); !bytes.Equal(b, b2) {
			t.Fatalf("% x encodes as % x, then as % x", data, b, b2)
		}
	})
}

func BenchmarkProtobufDecode(b *testing.B) {
	f := viewFormat(b)
	data, _ := f.Encode(nil, fullView())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProtobufMessageDecode(b *testing.B) {
	f := format.ProtobufMessage[*descriptorpb.FileDescriptorProto]()
	data, _ := proto.Marshal(protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
