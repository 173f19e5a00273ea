package format

import (
	"encoding"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CSVConfig configures a CSV format.
type CSVConfig struct {
	// Columns are the names of the row's columns, in order. Empty means
	// every column of T in the order of its struct fields; a Record then
	// takes its columns from WithHeader.
	Columns []string
	// Comma separates the fields of a row: ',' when zero. It may not be a
	// quote, a line break or an invalid rune.
	Comma rune
	// TimeLayout is the layout of time.Time cells (see time.Layout):
	// time.RFC3339Nano when empty, which also reads RFC 3339 times without
	// fractional seconds.
	TimeLayout string
	// Types gives columns of a Record a type: their cells are decoded into
	// that type (an empty cell into nil) and encoded from it. Columns not
	// named here are strings. Struct fields have the type of the field, so
	// Types is an error for them.
	Types map[string]ColumnType
}

// ColumnType is the type of a Record's column in CSV.
type ColumnType int

// The types of a Record's CSV columns.
const (
	// TypeString is a string: the cell as it is (the default).
	TypeString ColumnType = iota
	// TypeInt is an int64 (strconv.ParseInt, base 10).
	TypeInt
	// TypeFloat is a float64 (strconv.ParseFloat).
	TypeFloat
	// TypeBool is a bool (strconv.ParseBool: 1, t, true, 0, f, false, …).
	TypeBool
	// TypeTime is a time.Time in CSVConfig.TimeLayout.
	TypeTime
)

func (t ColumnType) String() string {
	switch t {
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeFloat:
		return "float"
	case TypeBool:
		return "bool"
	case TypeTime:
		return "time"
	}
	return "ColumnType(" + strconv.Itoa(int(t)) + ")"
}

// CSVError is a cell that does not decode into its column's type, or a
// value that does not encode into a cell.
type CSVError struct {
	Column string // the column's name
	Index  int    // the column's position in the row, from 1
	Value  string // the cell (cut to 64 bytes); empty when encoding
	Err    error  // why
}

func (e *CSVError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("csv: column %d %q: %v", e.Index, e.Column, e.Err)
	}
	return fmt.Sprintf("csv: column %d %q: value %q: %v", e.Index, e.Column, e.Value, e.Err)
}

func (e *CSVError) Unwrap() error { return e.Err }

// CSVFormat is the CSV format of T: one message is one row. T is a struct,
// whose exported fields are the columns (named by a `csv:"name"` tag, else
// by the field's name; `csv:"-"` leaves a field out; the fields of an
// embedded struct without a tag are columns too), or a Record. It is safe
// for concurrent use.
//
// A struct field may be a string, an integer, an unsigned integer, a
// float, a bool, a time.Time (CSVConfig.TimeLayout), a time.Duration
// (time.ParseDuration and Duration.String), a type whose pointer
// implements encoding.TextUnmarshaler and which implements
// encoding.TextMarshaler, or a pointer to any of these, which an empty cell
// leaves nil. An empty cell is an error for the other numbers, bools and
// times, and the empty string for strings.
type CSVFormat[T any] struct {
	comma   string
	layout  string
	record  bool
	fields  map[string]*csvField  // every column T has, by name
	columns []string              // the row's columns, in order
	cells   []*csvField           // for each column, its field; nil: ignored
	needed  []string              // the columns a header must hold
	types   map[string]ColumnType // a Record's typed columns
}

// csvField is one column of T: a struct field or a Record's key.
type csvField struct {
	name  string
	index []int // the struct field; nil for a Record
	typ   reflect.Type
	ptr   bool // the field is a pointer to typ: an empty cell is nil
	kind  csvKind
	rtype ColumnType // for a Record's column
}

type csvKind int

const (
	csvString csvKind = iota
	csvInt
	csvUint
	csvFloat
	csvBool
	csvTime
	csvDuration
	csvText
)

var (
	timeType            = reflect.TypeFor[time.Time]()
	durationType        = reflect.TypeFor[time.Duration]()
	recordType          = reflect.TypeFor[Record]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
)

// Validate says what in c is wrong whatever the row type: a Comma that
// cannot separate fields, a column named twice, an unknown ColumnType.
func (c CSVConfig) Validate() error {
	if c.Comma != 0 && (c.Comma == '"' || c.Comma == '\r' || c.Comma == '\n' || !utf8.ValidRune(c.Comma) || c.Comma == utf8.RuneError) {
		return fmt.Errorf("csv: Comma %q cannot separate fields", c.Comma)
	}
	seen := make(map[string]int, len(c.Columns))
	for i, name := range c.Columns {
		if j, dup := seen[name]; dup {
			return fmt.Errorf("csv: Columns: %q is both column %d and column %d", name, j+1, i+1)
		}
		seen[name] = i
	}
	for _, name := range slices.Sorted(maps.Keys(c.Types)) {
		if ct := c.Types[name]; ct < TypeString || ct > TypeTime {
			return fmt.Errorf("csv: Types[%q]: unknown %v", name, ct)
		}
	}
	return nil
}

// CSV returns the CSV format of T with cfg. It fails when T is not a
// struct or a Record, a field's type has no CSV form, a column is not one
// of T's, a column is named twice, or Comma cannot separate fields.
func CSV[T any](cfg CSVConfig) (*CSVFormat[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &CSVFormat[T]{comma: ",", layout: cfg.TimeLayout}
	if cfg.Comma != 0 {
		f.comma = string(cfg.Comma)
	}
	if f.layout == "" {
		f.layout = time.RFC3339Nano
	}
	t := reflect.TypeFor[T]()
	var order []string
	switch {
	case t == recordType:
		f.record = true
		f.fields = map[string]*csvField{}
		for _, name := range cfg.Columns {
			f.fields[name] = &csvField{name: name, rtype: cfg.Types[name]}
		}
		for _, name := range slices.Sorted(maps.Keys(cfg.Types)) {
			if len(cfg.Columns) > 0 && f.fields[name] == nil {
				return nil, fmt.Errorf("csv: Types[%q]: not one of the Columns %s", name, strings.Join(cfg.Columns, ", "))
			}
		}
		f.types = maps.Clone(cfg.Types)
	case t.Kind() == reflect.Struct:
		if len(cfg.Types) > 0 {
			return nil, fmt.Errorf("csv: Types is for Record; the columns of %v have the types of its fields", t)
		}
		var err error
		if f.fields, order, err = csvStructFields(t); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("csv: %v is neither a struct nor a format.Record", t)
	}
	cols := slices.Clone(cfg.Columns)
	if len(cols) == 0 {
		cols = order
	}
	for _, name := range cols {
		if f.fields[name] == nil {
			return nil, fmt.Errorf("csv: Columns: %v has no column %q (it has %s)", t, name, strings.Join(order, ", "))
		}
	}
	f.setColumns(cols)
	f.needed = f.columns
	return f, nil
}

func (f *CSVFormat[T]) setColumns(cols []string) {
	f.columns = cols
	f.cells = make([]*csvField, len(cols))
	for i, name := range cols {
		f.cells[i] = f.fields[name]
	}
}

// csvStructFields lists the columns of struct type t in field order. The
// fields of an embedded struct without a csv tag are columns of t, as
// encoding/json promotes them.
func csvStructFields(t reflect.Type) (map[string]*csvField, []string, error) {
	fields := map[string]*csvField{}
	var order []string
	if err := addCSVFields(t, t, nil, fields, &order); err != nil {
		return nil, nil, err
	}
	if len(order) == 0 {
		return nil, nil, fmt.Errorf("csv: %v has no exported fields", t)
	}
	return fields, order, nil
}

func addCSVFields(top, t reflect.Type, index []int, fields map[string]*csvField, order *[]string) error {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("csv")
		if tag == "-" {
			continue
		}
		at := slices.Concat(index, []int{i})
		if sf.Anonymous && !tagged && sf.Type.Kind() == reflect.Struct {
			if _, scalar := csvKindOf(sf.Type); !scalar {
				if err := addCSVFields(top, sf.Type, at, fields, order); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if sf.Anonymous && !tagged && sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct {
			if _, scalar := csvKindOf(sf.Type.Elem()); !scalar {
				return fmt.Errorf("csv: %v.%s: an embedded pointer to a struct cannot hold columns; embed the struct itself", top, sf.Name)
			}
		}
		name := sf.Name
		if n, _, _ := strings.Cut(tag, ","); n != "" {
			name = n
		}
		cf := &csvField{name: name, index: at, typ: sf.Type}
		if cf.typ.Kind() == reflect.Pointer {
			cf.ptr = true
			cf.typ = cf.typ.Elem()
		}
		kind, ok := csvKindOf(cf.typ)
		if !ok {
			return fmt.Errorf("csv: %v.%s: %v has no CSV form (want a string, number, bool, time.Time, time.Duration, a text (un)marshaler or a pointer to one)", top, fieldPath(top, at), sf.Type)
		}
		cf.kind = kind
		if prev := fields[name]; prev != nil {
			return fmt.Errorf("csv: %v.%s: column %q is also field %s", top, fieldPath(top, at), name, fieldPath(top, prev.index))
		}
		fields[name] = cf
		*order = append(*order, name)
	}
	return nil
}

// fieldPath names the field of t at index: "Base.ID".
func fieldPath(t reflect.Type, index []int) string {
	var names []string
	for _, i := range index {
		sf := t.Field(i)
		names = append(names, sf.Name)
		t = sf.Type
	}
	return strings.Join(names, ".")
}

func csvKindOf(t reflect.Type) (csvKind, bool) {
	switch {
	case t == timeType:
		return csvTime, true
	case t == durationType:
		return csvDuration, true
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if !t.Implements(textMarshalerType) && !reflect.PointerTo(t).Implements(textMarshalerType) {
			return 0, false
		}
		return csvText, true
	}
	switch t.Kind() {
	case reflect.String:
		return csvString, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return csvInt, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return csvUint, true
	case reflect.Float32, reflect.Float64:
		return csvFloat, true
	case reflect.Bool:
		return csvBool, true
	}
	return 0, false
}

// Comma returns the rune that separates fields, for a reader that splits
// rows itself (encoding/csv.Reader.Comma).
func (f *CSVFormat[T]) Comma() rune {
	r, _ := utf8.DecodeRuneInString(f.comma)
	return r
}

// Columns returns the names of the row's columns in order: the header row
// a writer puts first. The caller must not change it.
func (f *CSVFormat[T]) Columns() []string { return f.columns }

// WithHeader returns a format with f's mapping that reads and writes the
// columns in header's order, as a file's header row gives them. Columns of
// the header that f does not have are ignored when decoding and written
// empty (for a Record with no configured columns, the header is the
// columns). It fails when the header lacks one of f's columns (or, for
// such a Record, one of its Types) or names a column twice.
func (f *CSVFormat[T]) WithHeader(header []string) (*CSVFormat[T], error) {
	g := *f
	seen := make(map[string]int, len(header))
	for i, name := range header {
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("csv: header: column %q is both column %d and column %d", name, j+1, i+1)
		}
		seen[name] = i
	}
	needed := f.needed
	if f.record && len(f.needed) == 0 {
		g.fields = make(map[string]*csvField, len(header))
		for _, name := range header {
			g.fields[name] = &csvField{name: name, rtype: f.types[name]}
		}
		// A typed column the header lacks is a mistake in the types or in
		// the file.
		for name := range f.types {
			needed = append(needed, name)
		}
		slices.Sort(needed)
	}
	var missing []string
	for _, name := range needed {
		if _, ok := seen[name]; !ok {
			missing = append(missing, strconv.Quote(name))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("csv: header (%s) lacks column %s", strings.Join(header, ", "), strings.Join(missing, ", "))
	}
	header = append([]string(nil), header...)
	g.setColumns(header)
	return &g, nil
}

// Decode decodes one row. A trailing line break ends the row; a quoted
// field may hold line breaks.
func (f *CSVFormat[T]) Decode(data []byte) (T, error) {
	var buf [16]string
	fields, err := splitCSV(buf[:0], string(data), f.comma)
	if err != nil {
		var zero T
		return zero, err
	}
	return f.DecodeFields(fields)
}

// DecodeFields decodes a row already split into its fields, as
// encoding/csv.Reader returns them. The row must have one field per
// column. It does not keep fields.
func (f *CSVFormat[T]) DecodeFields(fields []string) (T, error) {
	var v T
	if len(f.columns) == 0 {
		return v, errors.New("csv: no columns: set CSVConfig.Columns or read the header with WithHeader")
	}
	if len(fields) != len(f.columns) {
		return v, fmt.Errorf("csv: row has %d fields, want %d (%s)", len(fields), len(f.columns), strings.Join(f.columns, ", "))
	}
	if f.record {
		r := make(Record, len(fields))
		for i, s := range fields {
			c := f.cells[i]
			if c == nil {
				continue
			}
			x, err := decodeRecordCell(c.rtype, s, f.layout)
			if err != nil {
				return v, f.cellError(i, s, err)
			}
			r[c.name] = x
		}
		*(any(&v).(*Record)) = r
		return v, nil
	}
	rv := reflect.ValueOf(&v).Elem()
	for i, s := range fields {
		c := f.cells[i]
		if c == nil {
			continue
		}
		fv := rv.FieldByIndex(c.index)
		if c.ptr {
			if s == "" {
				continue
			}
			p := reflect.New(c.typ)
			fv.Set(p)
			fv = p.Elem()
		}
		if err := decodeCell(fv, c.kind, s, f.layout); err != nil {
			var zero T
			return zero, f.cellError(i, s, err)
		}
	}
	return v, nil
}

func (f *CSVFormat[T]) cellError(i int, s string, err error) error {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	if s == "" {
		err = fmt.Errorf("empty cell: %w", err)
	}
	return &CSVError{Column: f.columns[i], Index: i + 1, Value: s, Err: err}
}

// unwrapNum strips strconv's "strconv.ParseInt: parsing "x": " prefix,
// which repeats the value the CSVError already shows.
func unwrapNum(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}

func decodeCell(fv reflect.Value, kind csvKind, s string, layout string) error {
	switch kind {
	case csvString:
		fv.SetString(s)
	case csvInt:
		n, err := strconv.ParseInt(s, 10, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("not an %v: %w", fv.Type(), unwrapNum(err))
		}
		fv.SetInt(n)
	case csvUint:
		n, err := strconv.ParseUint(s, 10, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a %v: %w", fv.Type(), unwrapNum(err))
		}
		fv.SetUint(n)
	case csvFloat:
		x, err := strconv.ParseFloat(s, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a %v: %w", fv.Type(), unwrapNum(err))
		}
		fv.SetFloat(x)
	case csvBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a bool: %w", unwrapNum(err))
		}
		fv.SetBool(b)
	case csvTime:
		t, err := time.Parse(layout, s)
		if err != nil {
			return fmt.Errorf("not a time in layout %q: %w", layout, err)
		}
		fv.Set(reflect.ValueOf(t))
	case csvDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
	case csvText:
		if err := fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("%v: %w", fv.Type(), err)
		}
	}
	return nil
}

func decodeRecordCell(t ColumnType, s string, layout string) (any, error) {
	if t == TypeString {
		return s, nil
	}
	if s == "" {
		return nil, nil
	}
	switch t {
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not an int64: %w", unwrapNum(err))
		}
		return n, nil
	case TypeFloat:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("not a float64: %w", unwrapNum(err))
		}
		return x, nil
	case TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("not a bool: %w", unwrapNum(err))
		}
		return b, nil
	default: // TypeTime
		tm, err := time.Parse(layout, s)
		if err != nil {
			return nil, fmt.Errorf("not a time in layout %q: %w", layout, err)
		}
		return tm, nil
	}
}

// Encode appends v as one row, without a line break, quoting fields as
// RFC 4180 says.
func (f *CSVFormat[T]) Encode(dst []byte, v T) ([]byte, error) {
	var buf [16]string
	fields, err := f.AppendFields(buf[:0], v)
	if err != nil {
		return dst, err
	}
	for i, s := range fields {
		if i > 0 {
			dst = append(dst, f.comma...)
		}
		dst = appendCSVField(dst, s, f.comma, len(fields) == 1)
	}
	return dst, nil
}

// AppendFields appends v's fields, one per column, to dst, for an
// encoding/csv.Writer.
func (f *CSVFormat[T]) AppendFields(dst []string, v T) ([]string, error) {
	if len(f.columns) == 0 {
		return dst, errors.New("csv: no columns: set CSVConfig.Columns or WithHeader")
	}
	if f.record {
		r := any(v).(Record)
		for i, name := range f.columns {
			x, ok := r[name]
			if !ok || f.cells[i] == nil {
				dst = append(dst, "")
				continue
			}
			s, err := encodeRecordCell(x, f.layout)
			if err != nil {
				return dst, &CSVError{Column: name, Index: i + 1, Err: err}
			}
			dst = append(dst, s)
		}
		return dst, nil
	}
	rv := reflect.ValueOf(&v).Elem()
	for i, c := range f.cells {
		if c == nil {
			dst = append(dst, "")
			continue
		}
		fv := rv.FieldByIndex(c.index)
		if c.ptr {
			if fv.IsNil() {
				dst = append(dst, "")
				continue
			}
			fv = fv.Elem()
		}
		s, err := encodeCell(fv, c.kind, f.layout)
		if err != nil {
			return dst, &CSVError{Column: c.name, Index: i + 1, Err: err}
		}
		dst = append(dst, s)
	}
	return dst, nil
}

func encodeCell(fv reflect.Value, kind csvKind, layout string) (string, error) {
	switch kind {
	case csvString:
		return fv.String(), nil
	case csvInt:
		return strconv.FormatInt(fv.Int(), 10), nil
	case csvUint:
		return strconv.FormatUint(fv.Uint(), 10), nil
	case csvFloat:
		return formatFloat(fv.Float(), fv.Type().Bits()), nil
	case csvBool:
		return strconv.FormatBool(fv.Bool()), nil
	case csvTime:
		return fv.Interface().(time.Time).Format(layout), nil
	case csvDuration:
		return time.Duration(fv.Int()).String(), nil
	default: // csvText
		var m encoding.TextMarshaler
		if fv.CanAddr() {
			m = fv.Addr().Interface().(encoding.TextMarshaler)
		} else if mm, ok := fv.Interface().(encoding.TextMarshaler); ok {
			m = mm
		} else {
			p := reflect.New(fv.Type())
			p.Elem().Set(fv)
			m = p.Interface().(encoding.TextMarshaler)
		}
		b, err := m.MarshalText()
		if err != nil {
			return "", fmt.Errorf("%v: %w", fv.Type(), err)
		}
		return string(b), nil
	}
}

// formatFloat writes x as encoding/json does: plain decimals for
// ordinary magnitudes, an exponent for very small or large ones, and the
// fewest digits that read back as x.
func formatFloat(x float64, bits int) string {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return strconv.FormatFloat(x, 'g', -1, bits)
	}
	a := math.Abs(x)
	fmtc := byte('f')
	if a != 0 && (bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21)) {
		fmtc = 'e'
	}
	return strconv.FormatFloat(x, fmtc, -1, bits)
}

func encodeRecordCell(x any, layout string) (string, error) {
	switch x := x.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.FormatInt(int64(x), 10), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float32:
		return formatFloat(float64(x), 32), nil
	case float64:
		return formatFloat(x, 64), nil
	case time.Time:
		return x.Format(layout), nil
	case time.Duration:
		return x.String(), nil
	case []byte:
		return string(x), nil
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return "", fmt.Errorf("%T: %w", x, err)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("a %T has no CSV form", x)
}
