package kafka

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/weirstream/weir/codec"
)

// A committable is laid out as
//
//	magic    4 bytes  "WKTX"
//	version  1 byte   1
//	body     the codec encoding of committableV1 (codec.For)
//	crc      4 bytes  CRC-32C (Castagnoli) of magic, version and body, big-endian
//
// A new layout gets a new version and a new body type; decode keeps
// reading every old one, since a checkpoint may outlive a release.
const (
	committableMagic   = "WKTX"
	committableVersion = 1
)

// committableV1 names the transaction a writer prepared: what a raw
// EndTxn request needs to commit it, from any client, after any restart.
// A writer that wrote nothing since its previous Prepare prepares an
// empty one (TransactionalID "").
type committableV1 struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Subtask         int   // that prepared it
	Checkpoint      int64 // the Prepare's checkpoint ID
	Records         int64 // written in the transaction, for errors
}

var (
	committableCodec = codec.MustFor[committableV1]()
	castagnoli       = crc32.MakeTable(crc32.Castagnoli)
)

func encodeCommittable(c committableV1) []byte {
	b := append([]byte(committableMagic), committableVersion)
	b = committableCodec.Append(b, c)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCommittable(b []byte) (committableV1, error) {
	var c committableV1
	head := len(committableMagic) + 1
	if len(b) < head+4 {
		return c, fmt.Errorf("committable of %d bytes is too short", len(b))
	}
	if !bytes.Equal(b[:len(committableMagic)], []byte(committableMagic)) {
		return c, fmt.Errorf("committable does not start with %q: not made by this sink", committableMagic)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return c, fmt.Errorf("committable checksum %08x does not match its contents (%08x): it is corrupt", sum, got)
	}
	if v := b[len(committableMagic)]; v != committableVersion {
		return c, fmt.Errorf("committable version %d is not supported (this sink reads version %d)", v, committableVersion)
	}
	c, n, err := committableCodec.Decode(body[head:])
	if err != nil {
		return c, fmt.Errorf("committable: %w", err)
	}
	if head+n != len(body) {
		return c, fmt.Errorf("committable has %d bytes after its contents", len(body)-head-n)
	}
	if c.TransactionalID != "" && (c.ProducerID < 0 || c.ProducerEpoch < 0) {
		return c, fmt.Errorf("committable of transaction %s names producer ID %d, epoch %d: not a valid producer", c.TransactionalID, c.ProducerID, c.ProducerEpoch)
	}
	return c, nil
}
