package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf16"

	"github.com/spf13/cobra"
)

// defaultMaxTokenBytes is the size cap decode and verify apply before any
// decoding, the same default as the gateway's verifier.
const defaultMaxTokenBytes = 8192

// newTokenCmd is the "token" command group: mint, decode, verify.
func newTokenCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint, decode and verify JWTs, as separate jobs",
		Long: `Mint short-lived test tokens, look inside a token without trusting it
(decode), and check a token against trusted keys (verify). Decoding never
verifies; only "warden token verify" tells you whether a token can be trusted.`,
		Example: `  TOKEN=$(warden token mint --key ./keys/private.jwk --iss https://issuer.example --aud warden --sub alice --role evaluator)
  warden token decode "$TOKEN"
  warden token verify --jwks ./keys/jwks.json --iss https://issuer.example --aud warden "$TOKEN"`,
		Args: usageArgs(cobra.NoArgs),
		// Runnable, so that "warden token bogus" is an unknown command (exit 2)
		// rather than help with exit 0.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newTokenMintCmd(stdio),
		newTokenDecodeCmd(stdio),
		newTokenVerifyCmd(stdio),
		newTokenRevokeCmd(stdio),
	)
	return cmd
}

// readToken returns the token from args[0], or from stdin when there is no
// argument or it is "-". Surrounding white space and a leading "Bearer " are
// removed. At most limit+1 bytes are read from stdin, so that an oversized
// token is still reported as too large by the parser without reading an
// unbounded stream.
func readToken(stdio IO, args []string, limit int) (string, error) {
	var tok string
	if len(args) == 1 && args[0] != "-" {
		tok = args[0]
	} else {
		b, err := io.ReadAll(io.LimitReader(stdio.Stdin, int64(limit)+1024))
		if err != nil {
			return "", usageErrorf("read token from stdin: %w", err)
		}
		tok = string(b)
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > 7 && strings.EqualFold(tok[:7], "bearer ") {
		tok = strings.TrimSpace(tok[7:])
	}
	if tok == "" {
		return "", usageErrorf("no token given (pass it as an argument, or on stdin with -)")
	}
	return tok, nil
}

// prettyJSON renders v as indented JSON with sorted object keys, without
// HTML escaping, and a final newline. Runes that are not printable (bidi
// overrides and other format characters, which encoding/json leaves as they
// are) are written as \u escapes, so that token content printed to a
// terminal cannot reorder or hide text.
func prettyJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return escapeUnprintable(buf.Bytes()), nil
}

// escapeUnprintable replaces every rune of b that is neither printable nor
// a newline with its JSON \u escape (a surrogate pair above U+FFFF). In
// encoding/json output such runes only occur inside strings, so the result
// is equivalent JSON.
func escapeUnprintable(b []byte) []byte {
	clean := true
	for _, r := range string(b) {
		if r != '\n' && !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	var out bytes.Buffer
	out.Grow(len(b) + 32)
	for _, r := range string(b) {
		switch {
		case r == '\n' || unicode.IsPrint(r):
			out.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.Bytes()
}
