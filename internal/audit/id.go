package audit

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// idEncoding is base32 with the "extended hex" alphabet (RFC 4648 §7),
// whose characters sort in the order of the values they encode.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewRequestID returns a new request id: 26 characters, the first ten the
// milliseconds since the Unix epoch at now, the rest 80 random bits from
// crypto/rand (RFC 4648 base32, extended-hex alphabet, so ids sort by time).
// Ids made later sort later (to the millisecond), which keeps the audit
// store's index on request_id an append at its right edge instead of a
// random page write per record; the random part keeps them unguessable and
// unique.
func NewRequestID(now time.Time) string {
	var b [16]byte
	ms := uint64(now.UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16) // 48 bits of time, then random
	rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}
