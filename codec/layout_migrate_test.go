package codec_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

type allKinds struct {
	B   bool
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	S   string
	Bs  []byte
	T   time.Time
	A   [2]int16
	BA  [3]byte
	Sl  []string
	M   map[string]int
	P   *int
	E   struct{}
	N   struct{ X int32 }
}

func layoutOf[T any](t *testing.T) []byte {
	t.Helper()
	l, ok := codec.LayoutOf(codec.MustFor[T]())
	if !ok {
		t.Fatalf("no layout for %T", *new(T))
	}
	return l
}

// A migration between a layout and itself copies; one to a struct with
// every field added writes each field's zero encoding, which must be what
// For writes for a zero value.
func TestMigrationZeroValues(t *testing.T) {
	from := layoutOf[struct{}](t)
	m, err := codec.Migration(from, layoutOf[allKinds](t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := m(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := codec.MustFor[allKinds]().Append(nil, allKinds{})
	if string(got) != string(want) {
		t.Fatalf("zero encoding\n got %x\nwant %x", got, want)
	}
	v := allKinds{B: true, I: -3, S: "x", Sl: []string{"a"}, M: map[string]int{"k": 1}, T: time.Unix(5, 0)}
	same, err := codec.Migration(layoutOf[allKinds](t), layoutOf[allKinds](t))
	if err != nil {
		t.Fatal(err)
	}
	enc := codec.MustFor[allKinds]().Append(nil, v)
	if got, err := same(nil, enc); err != nil || string(got) != string(enc) {
		t.Fatalf("identity migration: %x, %v", got, err)
	}
}

type innerV1 struct {
	Name string
	Old  int64
}

type innerV2 struct {
	Name  string
	Added []string
}

type stateV1 struct {
	Count   int64
	Removed string
	Items   []innerV1
	ByKey   map[string]*innerV1
}

type stateV2 struct {
	Items []innerV2
	Count int64
	Since time.Time
	ByKey map[string]*innerV2
}

func TestMigrationAddsDropsAndReorders(t *testing.T) {
	old := stateV1{Count: 7, Removed: "gone", Items: []innerV1{{"a", 1}, {"b", 2}},
		ByKey: map[string]*innerV1{"x": {"c", 3}, "y": nil}}
	m, err := codec.Migration(layoutOf[stateV1](t), layoutOf[stateV2](t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m(nil, codec.MustFor[stateV1]().Append(nil, old))
	if err != nil {
		t.Fatal(err)
	}
	got, n, err := codec.MustFor[stateV2]().Decode(b)
	if err != nil || n != len(b) {
		t.Fatalf("decode migrated: %v (%d of %d bytes)", err, n, len(b))
	}
	want := stateV2{Count: 7, Items: []innerV2{{Name: "a"}, {Name: "b"}},
		ByKey: map[string]*innerV2{"x": {Name: "c"}, "y": nil}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("migrated %+v, want %+v", got, want)
	}
	if _, err := m(nil, []byte{1, 2}); err == nil {
		t.Fatal("migration accepted a truncated value")
	}
}

type changedV2 struct {
	Count   string
	Removed string
}

type keyV1 struct{ M map[string]int }
type keyV2 struct{ M map[int64]int }

func TestMigrationRefusesChangedTypes(t *testing.T) {
	for name, tc := range map[string]struct {
		from, to []byte
		want     string
	}{
		"field":    {layoutOf[stateV1](t), layoutOf[changedV2](t), "field Count changed type from int64 to string"},
		"nested":   {layoutOf[[]innerV1](t), layoutOf[[]struct{ Name int }](t), "field [].Name changed type from string to int"},
		"map key":  {layoutOf[keyV1](t), layoutOf[keyV2](t), "map key of field M changed type from string to int64"},
		"root":     {layoutOf[int64](t), layoutOf[string](t), "type changed from int64 to string"},
		"array":    {layoutOf[[2]int](t), layoutOf[[3]int](t), "type changed from [2]int to [3]int"},
		"no codec": {[]byte{99}, layoutOf[int](t), "malformed layout"},
	} {
		_, err := codec.Migration(tc.from, tc.to)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
}

type title string

func TestLayoutOf(t *testing.T) {
	if a, b := layoutOf[title](t), layoutOf[string](t); string(a) != string(b) {
		t.Errorf("a defined string's layout %x differs from string's %x", a, b)
	}
	if _, ok := codec.LayoutOf(codec.Slice(codec.String())); ok {
		t.Error("LayoutOf knows the layout of a hand-built Slice codec")
	}
	if got := codec.DescribeLayout(layoutOf[stateV1](t)); got != "struct{Count int64; Removed string; Items []struct{Name string; Old int64}; ByKey map[string]*struct{Name string; Old int64}}" {
		t.Errorf("DescribeLayout: %s", got)
	}
}
