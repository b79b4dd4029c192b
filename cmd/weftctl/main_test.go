// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-net/weft/internal/testbin"
)

func TestMain(m *testing.M) {
	// The machine's own weftd env file, if any, must not leak into tests.
	defaultNodeEnv = "/nonexistent/weftctl-test/weftd.env"
	os.Exit(m.Run())
}

func runArgs(args ...string) result {
	var out, errb strings.Builder
	code := run(context.Background(), args, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// withEnv makes weftctl see only env as its environment.
func withEnv(t *testing.T, env map[string]string) {
	t.Helper()
	old := getenv
	getenv = func(k string) string { return env[k] }
	t.Cleanup(func() { getenv = old })
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"-h"}, {"help"}} {
		r := runArgs(args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("weftctl %v: exit %d, stderr %q; want help on stdout, exit 0", args, r.code, r.stderr)
		}
		for _, cmd := range []string{"config", "leases", "lease", "reserve", "unreserve", "doctor", "version", "completion"} {
			if !strings.Contains(r.stdout, "\n  "+cmd+" ") {
				t.Errorf("weftctl %v: help lacks %q:\n%s", args, cmd, r.stdout)
			}
		}
		for _, hidden := range []string{"etcd-server", "\n  demo "} {
			if strings.Contains(r.stdout, hidden) {
				t.Errorf("weftctl %v: help lists %q", args, hidden)
			}
		}
	}
	if r := runArgs("leasse"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "leasse"`) || !strings.Contains(r.stderr, "leases") {
		t.Errorf("unknown command: exit %d, %q", r.code, r.stderr)
	}
	for _, args := range [][]string{{"leases", "--help"}, {"doctor", "-h"}, {"config", "get", "--help"}, {"reserve", "--help"},
		{"help", "leases"}, {"help", "config", "set"}} {
		r := runArgs(args...)
		if r.code != 0 || !strings.Contains(r.stdout, "--etcd-endpoints") || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("%v: exit %d, stdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := runArgs("help", "leases"); !strings.Contains(r.stdout, "weftctl leases [flags]") || !strings.Contains(r.stdout, "--watch") {
		t.Errorf("help leases shows another command's help:\n%s", r.stdout)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"leases", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"leases", "-o", "xml"}, `--output "xml": want table, wide, json or yaml`},
		{[]string{"leases", "extra"}, `unexpected argument "extra"`},
		{[]string{"-etcd-endpoints=http://127.0.0.1:2379", "leases"}, "unknown shorthand flag: 'e' in -etcd-endpoints"},
		{[]string{"leases", "--timeout", "soon"}, `invalid argument "soon" for "--timeout"`},
		{[]string{"demo"}, "the demo moved out of weftctl: run `make demo`"},
	} {
		if r := runArgs(tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "--help' for usage") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-v"}, {"version"}} {
		r := runArgs(args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "weftctl ") || !strings.Contains(r.stdout, "(commit ") || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

// TestCompletion: every shell's script generates and names weftctl's
// commands (or the function that completes them).
func TestCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r := runArgs("completion", sh)
		if r.code != 0 || len(r.stdout) < 1000 || !strings.Contains(r.stdout, "weftctl") || r.stderr != "" {
			t.Errorf("completion %s: exit %d, %d bytes, stderr %q", sh, r.code, len(r.stdout), r.stderr)
		}
	}
	// The completion engine the scripts call: commands, then -o's values.
	r := runArgs("__complete", "lea")
	if r.code != 0 || !strings.Contains(r.stdout, "lease\t") || !strings.Contains(r.stdout, "leases\t") {
		t.Errorf("__complete lea: %q", r.stdout)
	}
	r = runArgs("__complete", "leases", "-o", "")
	for _, f := range []string{"table", "wide", "json", "yaml"} {
		if !strings.Contains(r.stdout, f+"\n") {
			t.Errorf("__complete leases -o: %q lacks %s", r.stdout, f)
		}
	}
	if r := runArgs("completion", "tcsh"); r.code != 2 {
		t.Errorf("completion tcsh: exit %d, want 2", r.code)
	}
}

// TestFlagPositions: global flags work before the command, between its
// words and after its arguments, in both --flag=value and --flag value
// form, as with etcdctl and kubectl.
func TestFlagPositions(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	ep := strings.Join(e.srv.Endpoints(), ",")
	want := e.scrub(e.mustRun("leases", "-o", "json"))
	for _, args := range [][]string{
		{"--etcd-endpoints=" + ep, "--etcd-prefix=" + e.prefix, "leases", "-o", "json"},
		{"-o", "json", "--etcd-endpoints", ep, "--etcd-prefix", e.prefix, "leases"},
		{"--output=json", "leases", "--etcd-endpoints", ep, "--etcd-prefix", e.prefix},
		{"leases", "-ojson", "--etcd-endpoints=" + ep, "--timeout", "5s", "--etcd-prefix", e.prefix},
	} {
		r := runArgs(args...)
		if r.code != 0 || e.scrub(r.stdout) != want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	wantShow := e.scrub(e.mustRun("lease", "show", "10.244.1.0/24", "-o", "json"))
	for _, args := range [][]string{
		{"-o", "json", "--etcd-endpoints", ep, "lease", "--etcd-prefix", e.prefix, "show", "10.244.1.0/24"},
		{"lease", "show", "-o", "json", "10.244.1.0/24", "--etcd-endpoints", ep, "--etcd-prefix=" + e.prefix},
	} {
		r := runArgs(args...)
		if r.code != 0 || e.scrub(r.stdout) != wantShow {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
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
	withEnv(t, env)

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
	if r := runArgs("leases"); r.code != 2 || !strings.Contains(r.stderr, `--output "xml"`) {
		t.Errorf("WEFTCTL_OUTPUT=xml: exit %d, %q", r.code, r.stderr)
	}
	env["WEFTCTL_OUTPUT"] = ""
	env["WEFTCTL_TIMEOUT"] = "ages"
	if r := runArgs("leases"); r.code != 1 || !strings.Contains(r.stderr, `WEFTCTL_TIMEOUT="ages"`) {
		t.Errorf("WEFTCTL_TIMEOUT=ages: exit %d, %q", r.code, r.stderr)
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
	out, err := exec.Command(bin, "--help").Output()
	if err != nil {
		t.Fatalf("%s --help: %v, want exit status 0 (rebuild with `make build`)", bin, err)
	}
	if !strings.Contains(string(out), "doctor") {
		t.Errorf("%s --help (rebuild with `make build`):\n%s", bin, out)
	}
	err = exec.Command(bin, "frobnicate").Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("%s frobnicate: %v, want exit status 2", bin, err)
	}
}

func TestEtcdUnreachable(t *testing.T) {
	// Port 1 on loopback: nothing listens, the request waits for --timeout.
	r := runArgs("leases", "--etcd-endpoints", "http://127.0.0.1:1", "--timeout", "300ms")
	if r.code != 1 || !strings.Contains(r.stderr, "etcd did not answer within --timeout 300ms: check --etcd-endpoints http://127.0.0.1:1 (from flag --etcd-endpoints)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	withEnv(t, map[string]string{"ETCDCTL_ENDPOINTS": "127.0.0.1:1", "WEFTCTL_TIMEOUT": "200ms"})
	r = runArgs("leases")
	if r.code != 1 || !strings.Contains(r.stderr, "within --timeout 200ms: check --etcd-endpoints 127.0.0.1:1 (from ETCDCTL_ENDPOINTS)") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestOperatorBinaryDeps: weftctl links neither the cluster fixture nor
// an etcd server (they live in weft-demo).
func TestOperatorBinaryDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		for _, banned := range []string{"github.com/weft-net/weft/internal/cluster", "github.com/weft-net/weft/internal/etcdserver", "go.etcd.io/etcd/server/"} {
			if strings.HasPrefix(p.ImportPath, banned) {
				t.Errorf("weftctl links %s", p.ImportPath)
			}
		}
	}
	if n < 100 {
		t.Errorf("go list -deps listed %d packages: not weftctl's dependency graph", n)
	}
	t.Logf("weftctl links %d packages", n)
}
