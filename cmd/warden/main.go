// Command warden is an AI governance gateway: it verifies the JWT on every
// call to a model endpoint or an internal AI tool, judges the call against a
// signed Cedar policy bundle, and records every decision.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/wardenhq/warden/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.Std())
	stop()
	os.Exit(code)
}
