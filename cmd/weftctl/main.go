// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command weftctl is the weft operator's CLI: network config, leases,
// reservations and a node doctor. It is built on cobra, as etcdctl and
// kubectl are: global flags go before or after the command, `weftctl help
// CMD` and `--help` print to stdout, `weftctl completion SHELL` writes a
// completion script. Settings come from the flags, then WEFTCTL_*,
// ETCDCTL_*, WEFTD_*, FLANNELD_* and weftd's env file (settings.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // an error, a refusal, or doctor found problems
	exitUsage   = 2 // the command line is wrong
)

// exitError ends weftctl with a status and no further message (doctor: 1
// when unhealthy; the report already said why).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// runError is what a command's own code returned: exit status 1. Anything
// cobra returns that is not one (an unknown command, a bad flag) is a usage
// error.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// getenv is os.Getenv; a variable so tests can inject an environment.
var getenv = os.Getenv

// stdin is where confirmation prompts and `-f -` read; tests replace it.
var stdin io.Reader = os.Stdin

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one weftctl command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var re runError
	if errors.As(err, &re) && !errors.As(err, new(usageError)) {
		fmt.Fprintf(stderr, "weftctl %s: %v\n", commandName(cmd), re.err)
		if hint := a.hint(re.err); hint != "" {
			fmt.Fprintln(stderr, hint)
		}
		return exitFailure
	}
	fmt.Fprintf(stderr, "weftctl: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	return exitUsage
}
