// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weftctl is the weft operator's CLI: network config, leases,
// reservations, a node doctor and a one-command demo cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/weft-net/weft/internal/version"
)

// command is one weftctl subcommand; run gets the arguments after its name.
type command struct {
	summary string
	hidden  bool
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// exitError carries a specific exit code (doctor: 1 when unhealthy).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func commands() map[string]command {
	return map[string]command{
		"config":      {summary: "show (get) or change (set -f net-conf.json) the network config", run: runConfig},
		"leases":      {summary: "list every lease and reservation (--watch streams changes)", run: runLeases},
		"lease":       {summary: "show or release one lease (show|release SUBNET)", run: runLease},
		"reserve":     {summary: "reserve a subnet for a node's public IP (a permanent key)", run: runReserve},
		"unreserve":   {summary: "delete a reservation", run: runUnreserve},
		"doctor":      {summary: "check this node's kernel, subnet.env and lease against etcd; exit 1 on problems", run: runDoctor},
		"demo":        {summary: "run a 3-node weft cluster in network namespaces and show it working (root)", run: runDemo},
		"install-cni": {summary: "install weft's CNI plugin, missing reference plugins and the conflist (the DaemonSet's init step)", run: runInstallCNI},
		"etcd-server": {summary: "run an etcd member (for the demo and test topologies)", hidden: true, run: runEtcdServer},
		"version": {summary: "print the version", run: func(_ context.Context, _ []string, out, _ io.Writer) error {
			_, err := fmt.Fprintln(out, version.Line("weftctl"))
			return err
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		return 2
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "weftctl: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		var e exitError
		if errors.As(err, &e) {
			return e.code
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "weftctl %s: %v\n", args[0], err)
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "etcd did not answer in time: check --etcd-endpoints (WEFTCTL_ETCD_ENDPOINTS), the TLS flags and that etcd runs")
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: weftctl <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n, c := range cmds {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun `weftctl <command> --help` for its flags.")
}
