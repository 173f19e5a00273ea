package format

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ProtobufConfig names a Protobuf message type and where its description
// is: a .proto file, compiled when the format is made, or a descriptor set.
// Exactly one of File, DescriptorSet and DescriptorSetBytes is set.
type ProtobufConfig struct {
	// File is a .proto file. Its imports are looked for in ImportPaths;
	// the well-known types (google/protobuf/*.proto) need no path.
	File string
	// ImportPaths are the directories File's imports are found in, as
	// protoc's --proto_path: File's own directory when empty.
	ImportPaths []string
	// DescriptorSet is a file holding a serialized
	// google.protobuf.FileDescriptorSet, as `protoc --include_imports
	// --descriptor_set_out=FILE` writes it.
	DescriptorSet string
	// DescriptorSetBytes is a serialized FileDescriptorSet.
	DescriptorSetBytes []byte
	// Message is the message's full name: "package.Name", or
	// "package.Outer.Inner" for a nested one.
	Message string
}

// Validate says which field of c is missing or in conflict.
func (c ProtobufConfig) Validate() error {
	n := 0
	for _, set := range []bool{c.File != "", c.DescriptorSet != "", c.DescriptorSetBytes != nil} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return errors.New("protobuf: set File, DescriptorSet or DescriptorSetBytes")
	case n > 1:
		return errors.New("protobuf: set only one of File, DescriptorSet and DescriptorSetBytes")
	case c.Message == "":
		return errors.New("protobuf: Message is empty, want a full name such as pkg.Event")
	case len(c.ImportPaths) > 0 && c.File == "":
		return errors.New("protobuf: ImportPaths is for File")
	}
	return nil
}

// ProtobufFormat is the Protobuf format of a Record, for a message type
// known only at run time (see Protobuf). It is safe for concurrent use.
type ProtobufFormat struct {
	desc protoreflect.MessageDescriptor
}

// Protobuf returns the Protobuf format of the message cfg names. A message
// decodes into a Record whose keys are the field names of the .proto file
// and whose values are:
//
//   - int32, sint32, sfixed32, int64, sint64, sfixed64, uint32 and
//     fixed32: int64; uint64 and fixed64: uint64; float and double: float64
//   - bool: bool; string: string; bytes: []byte
//   - an enum: the name of its value (its number, an int64, when the
//     value is not one the descriptor names)
//   - a message: a Record; google.protobuf.Timestamp: time.Time (UTC);
//     google.protobuf.Duration: time.Duration; a wrapper (Int64Value, …):
//     the value it wraps; Struct, Value and ListValue: the JSON value
//     they stand for, as JSONRecord reads it
//   - a repeated field: []any; a map: a Record keyed by the map key in
//     text form ("7", "true"), as in Protobuf's JSON mapping
//
// A field without presence (a proto3 scalar, a repeated field, a map) is
// always in the Record, with its zero value when it is not set; a field
// with presence (a message, a oneof member, an optional field) only when
// it is set. Encoding takes the same values, and also any Go integer or
// float that fits the field, a string for bytes, an enum's number, and
// map[string]any for a message or a map; a key that is not a field is an
// error.
func Protobuf(cfg ProtobufConfig) (*ProtobufFormat, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		files []protoreflect.FileDescriptor // where the message may be, imports too
		own   []protoreflect.FileDescriptor // what the error of an unknown name lists
		where string
		err   error
	)
	switch {
	case cfg.File != "":
		files, own, err = compileProto(cfg.File, cfg.ImportPaths)
		where = cfg.File
	case cfg.DescriptorSet != "":
		var b []byte
		if b, err = os.ReadFile(cfg.DescriptorSet); err != nil {
			return nil, fmt.Errorf("protobuf: DescriptorSet: %w", err)
		}
		files, own, err = loadDescriptorSet(b)
		if err != nil {
			err = fmt.Errorf("%s: %w", cfg.DescriptorSet, err)
		}
		where = cfg.DescriptorSet
	default:
		files, own, err = loadDescriptorSet(cfg.DescriptorSetBytes)
		where = "the descriptor set"
	}
	if err != nil {
		return nil, fmt.Errorf("protobuf: %w", err)
	}
	name := protoreflect.FullName(strings.TrimPrefix(cfg.Message, "."))
	for _, fd := range files {
		if md := findMessage(fd.Messages(), name); md != nil {
			return &ProtobufFormat{desc: md}, nil
		}
	}
	var names []string
	for _, fd := range own {
		names = appendMessageNames(names, fd.Messages())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("protobuf: %s has no message %q; it defines no messages", where, cfg.Message)
	}
	return nil, fmt.Errorf("protobuf: %s has no message %q; it has %s", where, cfg.Message, strings.Join(names, ", "))
}

// compileProto compiles the .proto file at path and returns it with every
// file it imports, directly or not.
func compileProto(path string, importPaths []string) (files, own []protoreflect.FileDescriptor, err error) {
	name := ""
	if len(importPaths) == 0 {
		importPaths = []string{filepath.Dir(path)}
		name = filepath.Base(path)
	} else {
		// As protoc, the file is named relative to the import path that
		// holds it.
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, nil, err
		}
		for _, dir := range importPaths {
			d, err := filepath.Abs(dir)
			if err != nil {
				continue
			}
			if rel, err := filepath.Rel(d, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				name = filepath.ToSlash(rel)
				break
			}
		}
		if name == "" {
			importPaths = append([]string{filepath.Dir(path)}, importPaths...)
			name = filepath.Base(path)
		}
	}
	if _, err := os.Stat(path); err != nil {
		return nil, nil, err
	}
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
		MaxParallelism: 1,
	}
	res, err := c.Compile(context.Background(), name)
	if err != nil {
		var ewp reporter.ErrorWithPos
		if errors.As(err, &ewp) {
			pos := ewp.GetPosition()
			file := pos.Filename
			for _, dir := range importPaths {
				if _, serr := os.Stat(filepath.Join(dir, file)); serr == nil {
					file = filepath.Join(dir, file)
					break
				}
			}
			return nil, nil, fmt.Errorf("%s:%d:%d: %w", file, pos.Line, pos.Col, ewp.Unwrap())
		}
		return nil, nil, fmt.Errorf("compile %s: %w", path, err)
	}
	own = []protoreflect.FileDescriptor{res[0]}
	return withImports(own), own, nil
}

// loadDescriptorSet reads a serialized FileDescriptorSet. Imports of the
// well-known types that the set lacks are taken from the ones linked into
// Weir.
func loadDescriptorSet(b []byte) (files, own []protoreflect.FileDescriptor, err error) {
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("not a serialized FileDescriptorSet: %w", err)
	}
	have := map[string]bool{}
	for _, f := range set.File {
		have[f.GetName()] = true
	}
	for _, f := range set.File {
		for _, dep := range f.Dependency {
			if have[dep] {
				continue
			}
			if wkt, err := protoregistry.GlobalFiles.FindFileByPath(dep); err == nil {
				set.File = append(set.File, protodesc.ToFileDescriptorProto(wkt))
				have[dep] = true
			}
		}
	}
	reg, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (a set written by protoc needs --include_imports)", err)
	}
	for _, f := range set.File {
		fd, err := reg.FindFileByPath(f.GetName())
		if err != nil {
			return nil, nil, err
		}
		files = append(files, fd)
		if !strings.HasPrefix(f.GetName(), "google/protobuf/") {
			own = append(own, fd)
		}
	}
	return files, own, nil
}

func withImports(roots []protoreflect.FileDescriptor) []protoreflect.FileDescriptor {
	seen := map[string]bool{}
	var out []protoreflect.FileDescriptor
	var visit func(fd protoreflect.FileDescriptor)
	visit = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		out = append(out, fd)
		imps := fd.Imports()
		for i := range imps.Len() {
			visit(imps.Get(i).FileDescriptor)
		}
	}
	for _, fd := range roots {
		visit(fd)
	}
	return out
}

func findMessage(mds protoreflect.MessageDescriptors, name protoreflect.FullName) protoreflect.MessageDescriptor {
	for i := range mds.Len() {
		md := mds.Get(i)
		if md.FullName() == name {
			return md
		}
		if strings.HasPrefix(string(name), string(md.FullName())+".") {
			if m := findMessage(md.Messages(), name); m != nil {
				return m
			}
		}
	}
	return nil
}

func appendMessageNames(names []string, mds protoreflect.MessageDescriptors) []string {
	for i := range mds.Len() {
		md := mds.Get(i)
		if md.IsMapEntry() {
			continue
		}
		names = append(names, string(md.FullName()))
		names = appendMessageNames(names, md.Messages())
	}
	return names
}

// Descriptor returns the descriptor of f's message.
func (f *ProtobufFormat) Descriptor() protoreflect.MessageDescriptor { return f.desc }

// Decode decodes one message into a Record. An error names the message
// type and, when the wire data is broken, the field and the byte offset.
func (f *ProtobufFormat) Decode(data []byte) (Record, error) {
	m := dynamicpb.NewMessage(f.desc)
	if err := unmarshal(data, m); err != nil {
		return nil, protoDecodeError(f.desc, data, err)
	}
	r, err := messageRecord(m, "")
	if err != nil {
		return nil, fmt.Errorf("protobuf: decode %s: %w", f.desc.FullName(), err)
	}
	return r, nil
}

// unmarshal is proto.Unmarshal, turning a panic into an error: a job must
// not stop on a malformed message, and google.golang.org/protobuf
// v1.36.12 panics on some (a dynamic map entry whose key has the wrong
// wire type).
func unmarshal(data []byte, m proto.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed message: %v", p)
		}
	}()
	return proto.Unmarshal(data, m)
}

// Encode appends the Protobuf encoding of r, deterministic (map entries
// sorted by key).
func (f *ProtobufFormat) Encode(dst []byte, r Record) ([]byte, error) {
	m := dynamicpb.NewMessage(f.desc)
	if err := fillMessage(m, r, ""); err != nil {
		return dst, fmt.Errorf("protobuf: encode %s: %w", f.desc.FullName(), err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, m)
	if err != nil {
		return dst, fmt.Errorf("protobuf: encode %s: %w", f.desc.FullName(), err)
	}
	return b, nil
}

// ProtobufMessage is the Protobuf format of a generated message type M,
// such as *pb.Event. Encoding is deterministic (map entries sorted by key).
// It panics when M is not a concrete message type.
func ProtobufMessage[M proto.Message]() Format[M] {
	var zero M
	if any(zero) == nil {
		panic(fmt.Sprintf("format.ProtobufMessage: %v is an interface; use a generated message type such as *pb.Event", reflect.TypeFor[M]()))
	}
	return protoMessageFormat[M]{typ: zero.ProtoReflect().Type()}
}

type protoMessageFormat[M proto.Message] struct {
	typ protoreflect.MessageType
}

func (f protoMessageFormat[M]) Decode(data []byte) (M, error) {
	m := f.typ.New().Interface().(M)
	if err := unmarshal(data, m); err != nil {
		var zero M
		return zero, protoDecodeError(f.typ.Descriptor(), data, err)
	}
	return m, nil
}

func (f protoMessageFormat[M]) Encode(dst []byte, v M) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend(dst, v)
	if err != nil {
		return dst, fmt.Errorf("protobuf: encode %s: %w", f.typ.Descriptor().FullName(), err)
	}
	return b, nil
}

// protoDecodeError says where data, a md, does not decode: the field
// (its path from md and its number) and the byte offset when the wire
// format is broken, else protobuf's own error (which names the field of
// a string that is not UTF-8 or of a required field that is missing).
func protoDecodeError(md protoreflect.MessageDescriptor, data []byte, err error) error {
	if where := wireError(md, data, 0, ""); where != "" {
		return fmt.Errorf("protobuf: decode %s: %s", md.FullName(), where)
	}
	return fmt.Errorf("protobuf: decode %s: %w", md.FullName(), err)
}

func wireError(md protoreflect.MessageDescriptor, b []byte, base int, path string) string {
	off := 0
	for off < len(b) {
		num, typ, n := protowire.ConsumeTag(b[off:])
		if n < 0 {
			return fmt.Sprintf("%sbad field tag at byte %d: %v", inField(path), base+off, protowire.ParseError(n))
		}
		var fd protoreflect.FieldDescriptor
		name := "unknown field " + strconv.Itoa(int(num))
		if md != nil {
			if fd = md.Fields().ByNumber(num); fd != nil {
				name = string(fd.Name())
			}
		}
		if path != "" {
			name = path + "." + name
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+n:])
		if m < 0 {
			return fmt.Sprintf("field %s (%d) at byte %d: %v", name, num, base+off, protowire.ParseError(m))
		}
		if fd != nil && typ == protowire.BytesType && (fd.Kind() == protoreflect.MessageKind) {
			v, k := protowire.ConsumeBytes(b[off+n:])
			if where := wireError(fd.Message(), v, base+off+n+k-len(v), name); where != "" {
				return where
			}
		}
		off += n + m
	}
	return ""
}

func inField(path string) string {
	if path == "" {
		return ""
	}
	return "field " + path + ": "
}

const (
	timestampName = "google.protobuf.Timestamp"
	durationName  = "google.protobuf.Duration"
	structName    = "google.protobuf.Struct"
	valueName     = "google.protobuf.Value"
	listName      = "google.protobuf.ListValue"
)

// messageRecord is m as a Record; path is m's place in the message being
// decoded, for errors.
func messageRecord(m protoreflect.Message, path string) (Record, error) {
	fields := m.Descriptor().Fields()
	r := make(Record, fields.Len())
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.HasPresence() && !m.Has(fd) {
			continue
		}
		x, err := fieldValue(fd, m.Get(fd), path+string(fd.Name()))
		if err != nil {
			return nil, err
		}
		r[string(fd.Name())] = x
	}
	return r, nil
}

func fieldValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) (any, error) {
	switch {
	case fd.IsList():
		l := v.List()
		out := make([]any, l.Len())
		for i := range l.Len() {
			x, err := singularValue(fd, l.Get(i), name+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out[i] = x
		}
		return out, nil
	case fd.IsMap():
		mm := v.Map()
		out := make(Record, mm.Len())
		vd := fd.MapValue()
		var err error
		mm.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			var x any
			x, err = singularValue(vd, v, name+"["+strconv.Quote(k.String())+"]")
			out[k.String()] = x
			return err == nil
		})
		return out, err
	}
	return singularValue(fd, v, name)
}

// The range of google.protobuf.Timestamp: years 1 to 9999.
const (
	minTimestamp = -62135596800
	maxTimestamp = 253402300799
)

func singularValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, name string) (any, error) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return v.Bool(), nil
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name()), nil
		}
		return int64(v.Enum()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return v.Int(), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint()), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return v.Uint(), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return v.Float(), nil
	case protoreflect.StringKind:
		return v.String(), nil
	case protoreflect.BytesKind:
		return v.Bytes(), nil
	}
	// A message or a group.
	m := v.Message()
	switch m.Descriptor().FullName() {
	case timestampName:
		f := m.Descriptor().Fields()
		sec, nsec := m.Get(f.ByNumber(1)).Int(), m.Get(f.ByNumber(2)).Int()
		if sec < minTimestamp || sec > maxTimestamp || nsec < 0 || nsec >= 1e9 {
			return nil, fmt.Errorf("field %s: %s{seconds: %d, nanos: %d} is out of range", name, timestampName, sec, nsec)
		}
		return time.Unix(sec, nsec).UTC(), nil
	case durationName:
		f := m.Descriptor().Fields()
		sec, nsec := m.Get(f.ByNumber(1)).Int(), m.Get(f.ByNumber(2)).Int()
		d := time.Duration(sec)*time.Second + time.Duration(nsec)
		if sec > math.MaxInt64/int64(time.Second) || sec < math.MinInt64/int64(time.Second) ||
			nsec <= -1e9 || nsec >= 1e9 || sec > 0 && nsec < 0 || sec < 0 && nsec > 0 || (d < 0) != (sec < 0 || nsec < 0) {
			return nil, fmt.Errorf("field %s: %s{seconds: %d, nanos: %d} does not fit a time.Duration", name, durationName, sec, nsec)
		}
		return d, nil
	case structName:
		return structRecord(m, name)
	case valueName:
		return structValue(m, name)
	case listName:
		return structList(m, name)
	}
	if isWrapper(m.Descriptor()) {
		vf := m.Descriptor().Fields().ByNumber(1)
		return singularValue(vf, m.Get(vf), name)
	}
	return messageRecord(m, name+".")
}

// isWrapper says whether md is one of the wrappers of
// google/protobuf/wrappers.proto (Int64Value, StringValue, …), which a
// Record holds as the value they wrap.
func isWrapper(md protoreflect.MessageDescriptor) bool {
	if md.ParentFile().Path() != "google/protobuf/wrappers.proto" {
		return false
	}
	f := md.Fields()
	return f.Len() == 1 && f.Get(0).Name() == "value"
}

// structRecord is a google.protobuf.Struct as a Record.
func structRecord(m protoreflect.Message, name string) (Record, error) {
	mm := m.Get(m.Descriptor().Fields().ByNumber(1)).Map()
	r := make(Record, mm.Len())
	var err error
	mm.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		var x any
		x, err = structValue(v.Message(), name+"["+strconv.Quote(k.String())+"]")
		r[k.String()] = x
		return err == nil
	})
	return r, err
}

// structList is a google.protobuf.ListValue as a []any.
func structList(m protoreflect.Message, name string) ([]any, error) {
	l := m.Get(m.Descriptor().Fields().ByNumber(1)).List()
	out := make([]any, l.Len())
	for i := range l.Len() {
		x, err := structValue(l.Get(i).Message(), name+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	return out, nil
}

// structValue is a google.protobuf.Value as what JSONRecord makes of the
// JSON value it stands for: nil, a number (an int64 when integral and in
// range, else a float64), a string, a bool, a Record or a []any.
func structValue(m protoreflect.Message, name string) (any, error) {
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("kind"))
	if fd == nil {
		return nil, nil
	}
	v := m.Get(fd)
	switch fd.Name() {
	case "number_value":
		x := v.Float()
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			return int64(x), nil
		}
		return x, nil
	case "string_value":
		return v.String(), nil
	case "bool_value":
		return v.Bool(), nil
	case "struct_value":
		return structRecord(v.Message(), name)
	case "list_value":
		return structList(v.Message(), name)
	}
	return nil, nil // null_value
}

// fillMessage sets m's fields from r; path is m's place in the record
// being encoded, for errors.
func fillMessage(m protoreflect.Message, r map[string]any, path string) error {
	md := m.Descriptor()
	fields := md.Fields()
	// Sorted keys make the first error the same from one run to the next.
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		x := r[k]
		fd := fields.ByName(protoreflect.Name(k))
		name := path + k
		if fd == nil {
			names := make([]string, fields.Len())
			for i := range fields.Len() {
				names[i] = string(fields.Get(i).Name())
			}
			return fmt.Errorf("field %s: %s has no field %q (it has %s)", name, md.FullName(), k, strings.Join(names, ", "))
		}
		if x == nil {
			continue
		}
		if err := setField(m, fd, x, name); err != nil {
			return err
		}
	}
	return nil
}

func setField(m protoreflect.Message, fd protoreflect.FieldDescriptor, x any, name string) error {
	switch {
	case fd.IsList():
		rv := reflect.ValueOf(x)
		if rv.Kind() != reflect.Slice {
			return fmt.Errorf("field %s: %s, want a list", name, describe(x))
		}
		l := m.Mutable(fd).List()
		for i := range rv.Len() {
			e := rv.Index(i).Interface()
			iname := name + "[" + strconv.Itoa(i) + "]"
			if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
				v, err := messageValue(l.NewElement().Message(), e, iname)
				if err != nil {
					return err
				}
				l.Append(v)
				continue
			}
			v, err := scalarValue(fd, e, iname)
			if err != nil {
				return err
			}
			l.Append(v)
		}
		return nil
	case fd.IsMap():
		entries, ok := asMap(x)
		if !ok {
			return fmt.Errorf("field %s: %s, want a map (a Record)", name, describe(x))
		}
		mm := m.Mutable(fd).Map()
		kd, vd := fd.MapKey(), fd.MapValue()
		keys := make([]string, 0, len(entries))
		for k := range entries {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, ks := range keys {
			e := entries[ks]
			kname := name + "[" + strconv.Quote(ks) + "]"
			kv, err := scalarValue(kd, ks, kname+" key")
			if err != nil {
				return err
			}
			if e == nil {
				return fmt.Errorf("field %s: nil, want a value", kname)
			}
			var v protoreflect.Value
			if vd.Kind() == protoreflect.MessageKind {
				v, err = messageValue(mm.NewValue().Message(), e, kname)
			} else {
				v, err = scalarValue(vd, e, kname)
			}
			if err != nil {
				return err
			}
			mm.Set(kv.MapKey(), v)
		}
		return nil
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		v, err := messageValue(m.NewField(fd).Message(), x, name)
		if err != nil {
			return err
		}
		m.Set(fd, v)
		return nil
	}
	v, err := scalarValue(fd, x, name)
	if err != nil {
		return err
	}
	m.Set(fd, v)
	return nil
}

func asMap(x any) (map[string]any, bool) {
	switch x := x.(type) {
	case Record:
		return x, true
	case map[string]any:
		return x, true
	}
	return nil, false
}

// messageValue fills m, a new message, from x.
func messageValue(m protoreflect.Message, x any, name string) (protoreflect.Value, error) {
	switch m.Descriptor().FullName() {
	case timestampName:
		t, ok := x.(time.Time)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("field %s: %s, want a time.Time", name, describe(x))
		}
		ts := timestamppb.New(t)
		if err := ts.CheckValid(); err != nil {
			return protoreflect.Value{}, fmt.Errorf("field %s: %w", name, err)
		}
		f := m.Descriptor().Fields()
		m.Set(f.ByNumber(1), protoreflect.ValueOfInt64(ts.Seconds))
		m.Set(f.ByNumber(2), protoreflect.ValueOfInt32(ts.Nanos))
		return protoreflect.ValueOfMessage(m), nil
	case durationName:
		d, ok := x.(time.Duration)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("field %s: %s, want a time.Duration", name, describe(x))
		}
		dp := durationpb.New(d)
		f := m.Descriptor().Fields()
		m.Set(f.ByNumber(1), protoreflect.ValueOfInt64(dp.Seconds))
		m.Set(f.ByNumber(2), protoreflect.ValueOfInt32(dp.Nanos))
		return protoreflect.ValueOfMessage(m), nil
	case structName, valueName, listName:
		if err := fillStruct(m, x, name); err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfMessage(m), nil
	}
	if isWrapper(m.Descriptor()) {
		vf := m.Descriptor().Fields().ByNumber(1)
		v, err := scalarValue(vf, x, name)
		if err != nil {
			return protoreflect.Value{}, err
		}
		m.Set(vf, v)
		return protoreflect.ValueOfMessage(m), nil
	}
	r, ok := asMap(x)
	if !ok {
		return protoreflect.Value{}, fmt.Errorf("field %s: %s, want a message (a Record)", name, describe(x))
	}
	if err := fillMessage(m, r, name+"."); err != nil {
		return protoreflect.Value{}, err
	}
	return protoreflect.ValueOfMessage(m), nil
}

// fillStruct fills m, a new google.protobuf.Struct, Value or ListValue,
// from x, a value as JSONRecord makes them.
func fillStruct(m protoreflect.Message, x any, name string) error {
	md := m.Descriptor()
	switch md.FullName() {
	case structName:
		r, ok := asMap(x)
		if !ok {
			return fmt.Errorf("field %s: %s, want a Record", name, describe(x))
		}
		mm := m.Mutable(md.Fields().ByNumber(1)).Map()
		for k, e := range r {
			v := mm.NewValue()
			if err := fillStruct(v.Message(), e, name+"["+strconv.Quote(k)+"]"); err != nil {
				return err
			}
			mm.Set(protoreflect.ValueOfString(k).MapKey(), v)
		}
		return nil
	case listName:
		rv := reflect.ValueOf(x)
		if rv.Kind() != reflect.Slice {
			return fmt.Errorf("field %s: %s, want a list", name, describe(x))
		}
		l := m.Mutable(md.Fields().ByNumber(1)).List()
		for i := range rv.Len() {
			v := l.NewElement()
			if err := fillStruct(v.Message(), rv.Index(i).Interface(), name+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
			l.Append(v)
		}
		return nil
	}
	// A Value: set the member of its oneof that x is.
	f := md.Fields()
	switch v := x.(type) {
	case nil:
		m.Set(f.ByName("null_value"), protoreflect.ValueOfEnum(0))
	case string:
		m.Set(f.ByName("string_value"), protoreflect.ValueOfString(v))
	case bool:
		m.Set(f.ByName("bool_value"), protoreflect.ValueOfBool(v))
	case Record, map[string]any:
		sf := f.ByName("struct_value")
		sv := m.NewField(sf)
		if err := fillStruct(sv.Message(), v, name); err != nil {
			return err
		}
		m.Set(sf, sv)
	default:
		if n, ok := toFloat(x); ok {
			m.Set(f.ByName("number_value"), protoreflect.ValueOfFloat64(n))
			return nil
		}
		if reflect.ValueOf(x).Kind() != reflect.Slice {
			return fmt.Errorf("field %s: %s, want a JSON value (nil, a number, a string, a bool, a Record or a list)", name, describe(x))
		}
		lf := f.ByName("list_value")
		lv := m.NewField(lf)
		if err := fillStruct(lv.Message(), x, name); err != nil {
			return err
		}
		m.Set(lf, lv)
	}
	return nil
}

// scalarValue converts x to the kind of fd.
func scalarValue(fd protoreflect.FieldDescriptor, x any, name string) (protoreflect.Value, error) {
	bad := func(want string) (protoreflect.Value, error) {
		return protoreflect.Value{}, fmt.Errorf("field %s: %s, want %s", name, describe(x), want)
	}
	if s, ok := x.(string); ok && fd.ContainingMessage().IsMapEntry() && fd.Number() == 1 {
		// A map's key, which a Record holds in text form.
		x = mapKey(fd.Kind(), s)
	}
	switch k := fd.Kind(); k {
	case protoreflect.BoolKind:
		if b, ok := x.(bool); ok {
			return protoreflect.ValueOfBool(b), nil
		}
		return bad("a bool")
	case protoreflect.StringKind:
		if s, ok := x.(string); ok {
			return protoreflect.ValueOfString(s), nil
		}
		return bad("a string")
	case protoreflect.BytesKind:
		switch b := x.(type) {
		case []byte:
			return protoreflect.ValueOfBytes(b), nil
		case string:
			return protoreflect.ValueOfBytes([]byte(b)), nil
		}
		return bad("bytes")
	case protoreflect.EnumKind:
		if s, ok := x.(string); ok {
			if ev := fd.Enum().Values().ByName(protoreflect.Name(s)); ev != nil {
				return protoreflect.ValueOfEnum(ev.Number()), nil
			}
			vals := fd.Enum().Values()
			names := make([]string, vals.Len())
			for i := range vals.Len() {
				names[i] = string(vals.Get(i).Name())
			}
			return bad("one of " + string(fd.Enum().FullName()) + " " + strings.Join(names, ", "))
		}
		if n, ok := toInt(x, math.MinInt32, math.MaxInt32); ok {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), nil
		}
		return bad("a value of " + string(fd.Enum().FullName()))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if n, ok := toInt(x, math.MinInt32, math.MaxInt32); ok {
			return protoreflect.ValueOfInt32(int32(n)), nil
		}
		return bad("an int32")
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if n, ok := toInt(x, math.MinInt64, math.MaxInt64); ok {
			return protoreflect.ValueOfInt64(n), nil
		}
		return bad("an int64")
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if n, ok := toUint(x, math.MaxUint32); ok {
			return protoreflect.ValueOfUint32(uint32(n)), nil
		}
		return bad("a uint32")
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n, ok := toUint(x, math.MaxUint64); ok {
			return protoreflect.ValueOfUint64(n), nil
		}
		return bad("a uint64")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f, ok := toFloat(x)
		if !ok {
			return bad("a number")
		}
		if k == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	}
	return bad(fd.Kind().String())
}

func describe(x any) string {
	switch x := x.(type) {
	case string:
		if len(x) > 64 {
			x = x[:64] + "…"
		}
		return fmt.Sprintf("string %q", x)
	case Record, map[string]any, []any:
		return fmt.Sprintf("a %T", x)
	}
	return fmt.Sprintf("%T %v", x, x)
}

// mapKey is the map key s, in text form, as a value of kind k; s itself
// when it is not one.
func mapKey(k protoreflect.Kind, s string) any {
	switch k {
	case protoreflect.BoolKind:
		if b, err := strconv.ParseBool(s); err == nil {
			return b
		}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			return n
		}
	}
	return s
}

// toInt is x as an integer in [lo, hi]: a Go integer or an integral float.
func toInt(x any, lo, hi int64) (int64, bool) {
	var n int64
	switch v := reflect.ValueOf(x); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if v.Uint() > math.MaxInt64 {
			return 0, false
		}
		n = int64(v.Uint())
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
			return 0, false
		}
		n = int64(f)
	default:
		return 0, false
	}
	return n, n >= lo && n <= hi
}

func toUint(x any, hi uint64) (uint64, bool) {
	var n uint64
	switch v := reflect.ValueOf(x); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() < 0 {
			return 0, false
		}
		n = uint64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n = v.Uint()
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		if f != math.Trunc(f) || f < 0 || f >= 1<<64 {
			return 0, false
		}
		n = uint64(f)
	default:
		return 0, false
	}
	return n, n <= hi
}

func toFloat(x any) (float64, bool) {
	switch v := reflect.ValueOf(x); v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(v.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(v.Uint()), true
	case reflect.Float32, reflect.Float64:
		return v.Float(), true
	}
	return 0, false
}
