package mcpdemo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/mcpdemo"
)

// The demo server on a test listener, reached with the official Go SDK's
// client: its tools, each with its annotations.
func ExampleServer_Handler() {
	srv := httptest.NewServer(mcpdemo.New(mcpdemo.Config{}).Handler())
	defer srv.Close()

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: &http.Client{Timeout: 10 * time.Second}}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cs.Close()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range res.Tools {
		fmt.Printf("%s readOnly=%v destructive=%v\n", t.Name, t.Annotations.ReadOnlyHint, *t.Annotations.DestructiveHint)
	}
	// Output:
	// delete_records readOnly=false destructive=true
	// get_trace readOnly=true destructive=false
	// rebuild_index readOnly=false destructive=false
	// replay_trace readOnly=false destructive=false
	// search_traces readOnly=true destructive=false
}
