package kafka

import "testing"

// TestSplitOffset: a checkpointed position reads back as the split's
// topic, partition and next offset; a damaged one or a split ID that is
// not topic-partition is an error.
func TestSplitOffset(t *testing.T) {
	for _, tc := range []struct {
		split   string
		pos     []byte
		topic   string
		part    int32
		next    int64
		wantErr bool
	}{
		{"clicks-3", encodePosition(1234, noStop), "clicks", 3, 1234, false},
		{"a-b-0", encodePosition(0, 99), "a-b", 0, 0, false},
		{"clicks-1", nil, "clicks", 1, earliestOffset, false},
		{"clicks-1", encodePosition(earliestOffset, noStop), "clicks", 1, earliestOffset, false},
		{"clicks", encodePosition(1, noStop), "", 0, 0, true},
		{"clicks-0", []byte{9, 1}, "", 0, 0, true},
	} {
		topic, part, next, err := SplitOffset(tc.split, tc.pos)
		if (err != nil) != tc.wantErr || topic != tc.topic || part != tc.part || next != tc.next {
			t.Errorf("SplitOffset(%q, %x) = %q, %d, %d, %v", tc.split, tc.pos, topic, part, next, err)
		}
	}
}
