package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wardenhq/warden/internal/store"
)

// Open creates (or opens) the store and applies the embedded migrations; the
// same call takes a postgres:// URL.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "store-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "warden.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Driver(), v == store.LatestSchemaVersion())
	// Output: sqlite true
}
