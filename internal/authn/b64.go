package authn

import "fmt"

// b64Invalid marks a byte outside the base64url alphabet in b64Table.
const b64Invalid = 0xFF

// b64Table maps each base64url character (RFC 4648 §5) to its 6-bit value.
// It is built once and only ever read.
var b64Table = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// b64DecodedLen is the decoded size of n base64url characters without padding.
func b64DecodedLen(n int) int { return n/4*3 + [4]int{0, 0, 1, 2}[n%4] }

// b64Decode decodes the unpadded base64url text s into dst, which must have
// room for b64DecodedLen(len(s)) bytes, and returns the number of bytes
// written. It is strict where encoding/base64 is lenient: no padding, no
// line breaks, no characters outside the URL-safe alphabet, and the unused
// low bits of the last character must be zero, so that encoding the result
// gives back exactly s (one token has one spelling).
func b64Decode(dst []byte, s string) (int, error) {
	n := 0
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a, b, c, d := b64Table[s[i]], b64Table[s[i+1]], b64Table[s[i+2]], b64Table[s[i+3]]
		if (a|b|c|d)&0xC0 != 0 {
			return 0, b64CharError(s, i)
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	switch len(s) - i {
	case 0:
	case 1:
		return 0, fmt.Errorf("base64url text of %d characters is truncated", len(s))
	case 2:
		a, b := b64Table[s[i]], b64Table[s[i+1]]
		if (a|b)&0xC0 != 0 {
			return 0, b64CharError(s, i)
		}
		if b&0x0F != 0 {
			return 0, fmt.Errorf("base64url text is not canonical (non-zero trailing bits)")
		}
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		a, b, c := b64Table[s[i]], b64Table[s[i+1]], b64Table[s[i+2]]
		if (a|b|c)&0xC0 != 0 {
			return 0, b64CharError(s, i)
		}
		if c&0x03 != 0 {
			return 0, fmt.Errorf("base64url text is not canonical (non-zero trailing bits)")
		}
		dst[n], dst[n+1] = a<<2|b>>4, b<<4|c>>2
		n += 2
	}
	return n, nil
}

// b64CharError names the first invalid character at or after offset i.
func b64CharError(s string, i int) error {
	for ; i < len(s); i++ {
		if b64Table[s[i]] == b64Invalid {
			return fmt.Errorf("invalid base64url character %s at offset %d", describeByte(s[i]), i)
		}
	}
	return fmt.Errorf("invalid base64url text")
}

// describeByte names a byte for an error message, with a hint for the
// characters of other base64 flavours.
func describeByte(c byte) string {
	switch c {
	case '=':
		return "'=' (padding is not allowed)"
	case '+', '/':
		return fmt.Sprintf("%q (standard base64 alphabet; want base64url)", c)
	}
	if c >= 0x20 && c < 0x7F {
		return fmt.Sprintf("%q", c)
	}
	return fmt.Sprintf("0x%02x", c)
}
