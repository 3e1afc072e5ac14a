package store

import "testing"

func TestInsertChunk(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{1, 1}, {2, 2}, {3, 2}, {12, 8}, {255, 128}, {256, 256}, {257, 256}, {5000, 256},
	} {
		if got := insertChunk(tc.n); got != tc.want {
			t.Errorf("insertChunk(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}
