package mcp_test

import (
	"fmt"

	"github.com/wardenhq/warden/internal/mcp"
)

// Parse is the strict parser the proxy runs on every request body: a batch
// with two messages of the same id is refused before anything is judged.
func ExampleParse() {
	msgs, batch, err := mcp.Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"query":"q"}}}`), mcp.Limits{})
	fmt.Println(len(msgs), batch, err, msgs[0].Method, string(msgs[0].ID))

	_, _, err = mcp.Parse([]byte(`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":1,"method":"ping"}]`), mcp.Limits{})
	fmt.Println(err)
	// Output:
	// 1 false <nil> tools/call 1
	// -32600: batch message 1: duplicate id 1
}
