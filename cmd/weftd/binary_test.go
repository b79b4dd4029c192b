// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildWeftd builds weftd as the Makefile does, linking in version and
// commit, into a temporary directory.
func buildWeftd(t *testing.T, version, commit string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds weftd; skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "weftd")
	ldflags := "-X github.com/weft-net/weft/internal/version.Version=" + version +
		" -X github.com/weft-net/weft/internal/version.Commit=" + commit
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryVersionLine: the linked-in version and commit and the Go
// version that built the binary make up the one line --version prints.
func TestBinaryVersionLine(t *testing.T) {
	bin := buildWeftd(t, "v0.2.0-3-g1a2b3c4d5e6f", "1a2b3c4d5e6f")
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("weftd --version: %v", err)
	}
	want := "weftd v0.2.0-3-g1a2b3c4d5e6f (commit 1a2b3c4d5e6f, " + runtime.Version() + ")\n"
	if string(out) != want {
		t.Errorf("weftd --version printed %q, want %q", out, want)
	}

	t.Run("usage error exits 2", func(t *testing.T) {
		cmd := exec.Command(bin, "--healthz-port=99999")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "-healthz-port") {
			t.Errorf("exit %v, stderr %q; want status 2 naming -healthz-port", err, stderr.String())
		}
	})

	t.Run("ignored flanneld flags warned once each", func(t *testing.T) {
		// etcd on a closed loopback port: weftd waits for it and touches
		// no network state, so the test stops it after its start-up lines.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "--etcd-endpoints=http://127.0.0.1:1", "-v=2", "-v", "3",
			"--log_backtrace_at=main.go:1", "--logtostderr", "--set-node-network-unavailable=false")
		cmd.Env = append(os.Environ(), "FLANNELD_V=5", "FLANNELD_IP_BLACKHOLE_ROUTE=true", "FLANNELD_IPTABLES_RESYNC=5")
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		var lines []string
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), `msg="weftd starting"`) {
				break
			}
		}
		if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], `msg="weftd starting"`) {
			t.Fatalf("no start-up line from weftd:\n%s", strings.Join(lines, "\n"))
		}
		count := map[string]int{}
		for _, l := range lines {
			if !strings.Contains(l, "flanneld flag not implemented by weftd; ignored") {
				continue
			}
			for _, f := range strings.Fields(l) {
				if name, ok := strings.CutPrefix(f, "flag="); ok {
					count[name]++
				}
			}
		}
		for _, f := range []string{"v", "log_backtrace_at", "logtostderr", "set-node-network-unavailable", "iptables-resync"} {
			if count[f] != 1 {
				t.Errorf("--%s warned %d times, want once:\n%s", f, count[f], strings.Join(lines, "\n"))
			}
		}
		if len(count) != 5 {
			t.Errorf("warnings for %v, want exactly the five ignored flags given", count)
		}
		if start := lines[len(lines)-1]; !strings.Contains(start, "ip-blackhole-route=true") {
			t.Errorf("FLANNELD_IP_BLACKHOLE_ROUTE=true not in the options: %s", start)
		}
	})
}

// heavyPackages are packages weftd must not link: text/template (with
// html/template) calls reflect's Method and MethodByName, and a binary
// that can reach those keeps every exported method of every type it
// links, 4 MB of weftd, all of it mapped at run time. gRPC reaches them
// through golang.org/x/net/trace unless built with the grpcnotrace tag.
var heavyPackages = []string{"text/template", "html/template", "golang.org/x/net/trace"}

// TestBinaryDependencies: the Makefile builds weftd with the grpcnotrace
// tag, and with the Makefile's tags weftd links none of heavyPackages.
func TestBinaryDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var tags string
	for line := range strings.Lines(string(mk)) {
		if k, v, ok := strings.Cut(line, ":="); ok && strings.TrimSpace(k) == "GOTAGS" {
			tags = strings.TrimSpace(v)
		}
	}
	if !strings.Contains(","+strings.ReplaceAll(tags, " ", ",")+",", ",grpcnotrace,") {
		t.Fatalf("Makefile GOTAGS = %q, want it to hold grpcnotrace", tags)
	}
	out, err := exec.Command("go", "list", "-deps", "-tags", tags, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, p := range heavyPackages {
		if slices.Contains(deps, p) {
			t.Errorf("weftd built with tags %q links %s", tags, p)
		}
	}
}
