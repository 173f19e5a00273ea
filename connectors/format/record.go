package format

// Record is a message whose shape is known only at run time: a JSON
// object, a CSV row without a struct, a Protobuf message read through its
// descriptor. Its keys are field or column names; its values are nil,
// string, bool, int64, float64, uint64 (Protobuf's unsigned 64-bit fields
// only), time.Time, []byte (Protobuf bytes), []any for arrays and repeated
// fields, and Record for nested objects, messages and maps.
//
// Integers are int64 rather than float64 so that identifiers and counters
// above 2^53 keep every digit and compare exactly; a JSON number is an
// int64 when it is written without a fraction or an exponent and fits,
// else a float64. Nested objects are Records, not map[string]any, so that
// code walking a Record meets one map type at every depth.
type Record map[string]any
