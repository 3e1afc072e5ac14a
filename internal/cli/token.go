package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

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
	}
	cmd.AddCommand(
		newTokenMintCmd(stdio),
		newTokenDecodeCmd(stdio),
		newTokenVerifyCmd(stdio),
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
// HTML escaping, and a final newline.
func prettyJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return buf.Bytes(), nil
}
