// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package nstest gives tests their own network namespaces, so that kernel
// tests never touch the root namespace. Each namespace is a named one (ip
// netns add), so `ip netns exec` works on it too, and is deleted in
// t.Cleanup even when the test fails.
//
// Do runs work on a fresh locked OS thread (see internal/netns).
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	wnetns "github.com/weft-net/weft/internal/netns"
)

// RequireRoot skips the test, with a message saying why, under -short (make
// unit: no root, no namespaces) or unless it runs as root. CI runs make test
// as root, so these tests run there.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: needs root and network namespaces (make test runs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces (CI runs it as root; try `sudo make test`)")
	}
}

// NS is a network namespace owned by one test.
type NS struct {
	Name   string
	Handle netns.NsHandle
}

// New creates a namespace named "wt-<random>" with loopback up, deleted at
// cleanup.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	name := "wt-" + randHex(4)
	// Through internal/netns, which records this process as the owner: a
	// test binary killed at go test's timeout runs no cleanup, and the
	// next test process that creates a namespace deletes what it left.
	if err := wnetns.Create(name); err != nil {
		t.Fatalf("nstest: %v", err)
	}
	n := &NS{Name: name}
	t.Cleanup(func() {
		if n.Handle.IsOpen() {
			_ = n.Handle.Close()
		}
		if err := wnetns.Delete(name); err != nil {
			t.Errorf("nstest: %v", err)
		}
	})
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("nstest: open netns %s: %v", name, err)
	}
	n.Handle = h
	return n
}

// Path is the namespace's bind-mount path, for CNI_NETNS and the like.
func (n *NS) Path() string { return "/var/run/netns/" + n.Name }

// Run executes a command inside the namespace (ip netns exec) and returns its
// combined output.
func (n *NS) Run(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in netns %s: %s: %w: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (n *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Do runs f with the calling thread in the namespace. f must not start
// goroutines that expect to stay in the namespace: only its own thread is.
func (n *NS) Do(f func() error) error { return wnetns.DoHandle(n.Handle, n.Name, f) }

// Veth connects namespace a (interface aName) to namespace b (bName) with a
// veth pair; both ends are left down and unaddressed.
func Veth(t testing.TB, a *NS, aName string, b *NS, bName string) {
	t.Helper()
	tmp := "wtv" + randHex(4)
	a.MustRun(t, "ip", "link", "add", aName, "type", "veth", "peer", "name", tmp)
	a.MustRun(t, "ip", "link", "set", tmp, "netns", b.Name)
	b.MustRun(t, "ip", "link", "set", tmp, "name", bName)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
