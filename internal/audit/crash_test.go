package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// crashChildEnv, when set to a store URL, makes TestCrashDurability the
// child: it appends records under load until it is killed.
const crashChildEnv = "WARDEN_AUDIT_CRASH_CHILD_STORE"

// TestCrashDurability kills a writer with SIGKILL under load, twice, and
// checks that the chain still verifies and that every record whose Append
// had returned (with DurabilityBatch) is in the store.
func TestCrashDurability(t *testing.T) {
	if url := os.Getenv(crashChildEnv); url != "" {
		crashChild(t, url, os.Getenv(crashChildEnv+"_ROUND"))
		return
	}
	if testing.Short() {
		t.Skip("starts child processes")
	}
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		acked := map[string]bool{}
		for round := range 2 {
			for _, id := range runCrashChild(t, b.URL, round, 1500) {
				acked[id] = true
			}
			st, err := store.Open(context.Background(), b.URL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Verify(context.Background(), st, "crash")
			if err != nil || !rep.OK() {
				t.Fatalf("round %d: chain after kill -9: %+v, %v", round, rep, err)
			}
			stored := map[string]bool{}
			for _, r := range chainRows(t, st, "crash") {
				stored[r.RequestID] = true
			}
			missing := 0
			for id := range acked {
				if !stored[id] {
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("round %d: %d of %d acknowledged records are missing", round, missing, len(acked))
			}
			t.Logf("round %d: %d acknowledged, %d stored, chain intact", round, len(acked), rep.Records)
			st.Close()
		}
	})
}

// runCrashChild starts the child, reads its acknowledgements until it has
// at least n, kills it with SIGKILL, and returns every acknowledged request
// id it printed.
func runCrashChild(t *testing.T, url string, round, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+url, fmt.Sprintf("%s_ROUND=%d", crashChildEnv, round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var ids []string
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		ids = append(ids, id)
		if len(ids) >= n && !killed {
			cmd.Process.Kill() // SIGKILL, mid-load; acks already in the pipe still count
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acks: %v\n%s", len(ids), err, stderr.String())
	}
	return ids
}

// crashChild appends from 16 goroutines with DurabilityBatch and prints
// "ack <request id>" for each Append that returned nil, until killed.
func crashChild(t *testing.T, url, round string) {
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(ctx, Config{Store: st, Node: "crash", Durability: DurabilityBatch, BatchSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				rec := testRecord(i)
				rec.Time = time.Time{}
				rec.RequestID = fmt.Sprintf("r%s-g%d-%d", round, g, i)
				if err := l.Append(ctx, rec); err != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(w, "ack %s\n", rec.RequestID)
				w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
