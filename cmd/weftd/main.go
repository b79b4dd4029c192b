// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weftd is the weft node daemon: it leases this node's pod subnet
// from etcd, programs the VXLAN overlay to every other node and writes
// subnet.env for the CNI plugin. It is a drop-in replacement for flanneld in
// etcd + vxlan mode and takes flanneld's flags and FLANNELD_* environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/internal/daemon"
	"github.com/weft-net/weft/internal/version"
)

// gcPercent is weftd's GOGC unless the environment sets one. Its heap is
// small and mostly long-lived (the peer set) and it allocates little once
// programmed, so a quarter of headroom instead of Go's default 100 % keeps
// the resident size near what it uses (issue 8: under 25 MiB with 5,000
// peers, 21 MiB of it the binary and runtime) for a few milliseconds of CPU.
const gcPercent = 25

// weftd serves no profiles, yet the gRPC client links runtime/pprof, which
// keeps heap profiling on: a sample per 512 KiB allocated, each in a bucket
// of its own stack in a 1.4 MB table that the samples touch page by page.
// Off from the first allocation.
func init() { runtime.MemProfileRate = 0 }

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "weftd: %v\n", err)
		return 2
	}
	if c.showVersion {
		fmt.Fprintln(stdout, version.Line("weftd"))
		return 0
	}
	log, err := newLogger(c.logLevel, c.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "weftd: %v\n", err)
		return 2
	}
	for _, f := range c.ignored {
		log.WithField("flag", f).Warn("flanneld flag not implemented by weftd; ignored")
	}
	log.WithField("version", version.Get().String()).WithField("options", c.opts.String()).Info("weftd starting")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := daemon.Run(ctx, c.opts, log); err != nil {
		log.WithError(err).Error("weftd stopped")
		return 1
	}
	log.Info("weftd stopped")
	return 0
}

func newLogger(level, format string, out io.Writer) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(out)
	lv, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	l.SetLevel(lv)
	if format == "json" {
		l.SetFormatter(&logrus.JSONFormatter{})
	} else {
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, DisableColors: true})
	}
	return l, nil
}
