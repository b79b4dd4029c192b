// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weft-demo runs a weft cluster in network namespaces and shows it
// working (`make demo`). Its hidden `etcd-server` command runs one etcd
// member; internal/cluster starts every etcd of the demo, the e2e tests and
// the cluster benchmarks with it. Its hidden `watch-load` command holds
// many etcd clients with a watch each for internal/scalebench. Both live here, not in weftctl, so the
// operator's CLI links neither the cluster fixture nor an etcd server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-net/weft/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	switch {
	case len(args) > 0 && args[0] == "etcd-server":
		err = runEtcdServer(ctx, args[1:], stderr)
	case len(args) > 0 && args[0] == "watch-load":
		err = runWatchLoad(ctx, args[1:], os.Stdin, stdout, stderr)
	case len(args) > 0 && (args[0] == "version" || args[0] == "--version"):
		fmt.Fprintln(stdout, version.Line("weft-demo"))
	default:
		err = runDemo(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		if err.Error() != "" { // flag has printed its own message
			fmt.Fprintf(stderr, "weft-demo: %v\n", err)
		}
		return 2
	}
	fmt.Fprintf(stderr, "weft-demo: %v\n", err)
	return 1
}

// usageError is a command-line mistake: exit status 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// parseFlags parses args; a bad flag (already reported by fs) is a usage
// error, --help is not an error at all.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil && fs.NArg() > 0:
		return usageError(fmt.Sprintf("unexpected argument %q (flags only; see --help)", fs.Arg(0)))
	case err == nil, errors.Is(err, flag.ErrHelp):
		return err
	}
	return usageError("")
}
