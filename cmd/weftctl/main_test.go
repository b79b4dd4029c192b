// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/testbin"
)

func runArgs(args ...string) result {
	var out, errb strings.Builder
	code := run(context.Background(), args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestUsage(t *testing.T) {
	r := runArgs()
	if r.code != 2 {
		t.Errorf("no arguments: exit %d, want 2", r.code)
	}
	for _, cmd := range []string{"config", "leases", "lease", "reserve", "unreserve", "doctor", "demo", "version"} {
		if !strings.Contains(r.stderr, "\n  "+cmd+" ") {
			t.Errorf("usage lacks %q:\n%s", cmd, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "etcd-server") {
		t.Error("usage lists the hidden etcd-server command")
	}
	if r := runArgs("frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"leases", "--help"}, {"doctor", "-h"}, {"config", "get", "--help"}, {"reserve", "--help"}} {
		r := runArgs(args...)
		if r.code != 0 || !strings.Contains(r.stderr, "--etcd-endpoints") || !strings.Contains(r.stderr, "WEFTCTL_<FLAG>") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, r.code, r.stderr)
		}
	}
	if r := runArgs("leases", "--bogus"); r.code != 2 || !strings.Contains(r.stderr, "flag provided but not defined: -bogus") {
		t.Errorf("bad flag: exit %d, %q", r.code, r.stderr)
	}
	if r := runArgs("leases", "-o", "xml"); r.code != 1 || !strings.Contains(r.stderr, `--output "xml": want table, json or yaml`) {
		t.Errorf("bad format: exit %d, %q", r.code, r.stderr)
	}
	if r := runArgs("leases", "extra"); r.code != 1 || !strings.Contains(r.stderr, `unexpected argument "extra"`) {
		t.Errorf("extra argument: exit %d, %q", r.code, r.stderr)
	}
}

// TestEnvironment sets the connection flags and -o from WEFTCTL_* only.
func TestEnvironment(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	pw := writeFile(t, "pw", "secret\n")
	env := map[string]string{
		"WEFTCTL_ETCD_ENDPOINTS": strings.Join(e.srv.Endpoints(), ","),
		"WEFTCTL_ETCD_PREFIX":    e.prefix,
		"WEFTCTL_OUTPUT":         "json",
	}
	old := getenv
	getenv = func(k string) string { return env[k] }
	t.Cleanup(func() { getenv = old })

	r := runArgs("lease", "show", "10.244.1.0/24")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "{") {
		t.Fatalf("with WEFTCTL_*: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// A flag beats the environment.
	if r := runArgs("lease", "show", "10.244.1.0/24", "-o", "table"); r.code != 0 || !strings.HasPrefix(r.stdout, "KEY") {
		t.Errorf("-o table over WEFTCTL_OUTPUT=json: %q %q", r.stdout, r.stderr)
	}
	env["WEFTCTL_ETCD_PASSWORD_FILE"] = filepath.Join(t.TempDir(), "missing")
	if r := runArgs("leases"); r.code != 1 || !strings.Contains(r.stderr, "--etcd-password-file") {
		t.Errorf("missing password file: exit %d, %q", r.code, r.stderr)
	}
	// etcd without auth ignores credentials; the file is read.
	env["WEFTCTL_ETCD_PASSWORD_FILE"] = pw
	env["WEFTCTL_ETCD_USERNAME"] = "root"
	if r := runArgs("leases"); r.code != 0 {
		t.Errorf("with a password file: exit %d, %q", r.code, r.stderr)
	}
	env["WEFTCTL_OUTPUT"] = "xml"
	if r := runArgs("leases"); r.code != 1 || !strings.Contains(r.stderr, `--output "xml"`) {
		t.Errorf("WEFTCTL_OUTPUT=xml: exit %d, %q", r.code, r.stderr)
	}
}

func TestTLSFlags(t *testing.T) {
	e := newEnv(t)
	e.wantFail([]string{"etcd CA file"}, "leases", "--etcd-cafile", filepath.Join(t.TempDir(), "missing.pem"))
	e.wantFail([]string{"give both the cert file and the key file"}, "leases", "--etcd-certfile", writeFile(t, "c.pem", "x"))
}

// TestBinaryHelp is the one test of the built binary.
func TestBinaryHelp(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: runs the built binary")
	}
	bin := testbin.Path(t, "weftctl")
	out, err := exec.Command(bin, "--help").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("%s --help: %v, want exit status 2 (usage)", bin, err)
	}
	if !strings.Contains(string(out), "doctor") {
		t.Errorf("%s --help (rebuild with `make build`):\n%s", bin, out)
	}
}

func TestEtcdUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb strings.Builder
	// Port 1 on loopback: nothing listens, the request waits until ctx ends.
	code := run(ctx, []string{"leases", "--etcd-endpoints", "http://127.0.0.1:1"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "etcd did not answer in time: check --etcd-endpoints") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
