// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package netns manages named network namespaces (the ones `ip netns`
// shows) for weft's test topologies, demo and benchmarks: create, delete,
// run a command inside, and run Go code inside on a locked OS thread.
//
// A namespace belongs to an OS thread, not to a goroutine: Do runs its
// function on a fresh locked thread and, if switching back fails, leaves
// that thread locked so the runtime discards it instead of reusing it in the
// wrong namespace.
package netns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
)

// Path returns the bind-mount path of a named namespace.
func Path(name string) string { return "/var/run/netns/" + name }

// OwnerDir records which process created each namespace Create made: a
// file per namespace holding the creator's PID, removed by Delete. A
// process killed before it could clean up (a test binary at go test's
// timeout, which runs no cleanup) leaves its namespaces behind; the next
// Create in any process deletes those whose creator is gone.
var OwnerDir = "/run/weft-netns-owners"

var sweepOnce sync.Once

// Create adds a named namespace, records this process as its owner and
// brings its loopback up. The first Create of a process first deletes the
// namespaces left by dead owners (SweepOrphans).
func Create(name string) error {
	sweepOnce.Do(func() { _, _ = SweepOrphans() })
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	err := os.MkdirAll(OwnerDir, 0o755)
	if err == nil {
		err = os.WriteFile(filepath.Join(OwnerDir, name), []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	if err != nil {
		_ = Delete(name)
		return fmt.Errorf("netns %s: record owner: %w", name, err)
	}
	if _, err := Exec(name, "ip", "link", "set", "lo", "up"); err != nil {
		_ = Delete(name)
		return err
	}
	return nil
}

// Delete removes a named namespace and its owner record; a missing one is
// not an error.
func Delete(name string) error {
	out, err := exec.Command("ip", "netns", "del", name).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns del %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if err := os.Remove(filepath.Join(OwnerDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("netns %s: remove owner record: %w", name, err)
	}
	return nil
}

// SweepOrphans deletes the namespaces Create made in processes that no
// longer exist, and returns their names. A namespace whose owner's PID is
// in use (by its owner, or by another process since) is left alone, as is
// every namespace Create did not make.
func SweepOrphans() ([]string, error) {
	ents, err := os.ReadDir(OwnerDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netns owners: %w", err)
	}
	var gone []string
	var errs []error
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(OwnerDir, e.Name()))
		if err != nil {
			continue // deleted meanwhile by its owner
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || alive(pid) {
			continue
		}
		if err := Delete(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		gone = append(gone, e.Name())
	}
	return gone, errors.Join(errs...)
}

// alive reports whether a process with pid exists (EPERM: it exists, not ours).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Exec runs a command inside the namespace (ip netns exec) and returns its
// combined output.
func Exec(name string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in netns %s: %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Command returns an unstarted command that runs inside the namespace.
func Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", name}, args...)...)
}

// Do runs f with the calling OS thread inside the named namespace. f must
// not rely on goroutines it starts being in the namespace.
func Do(name string, f func() error) error {
	h, err := netns.GetFromName(name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer func() { _ = h.Close() }()
	return DoHandle(h, name, f)
}

// DoHandle is Do for an already open namespace handle.
func DoHandle(h netns.NsHandle, name string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer func() { _ = orig.Close() }()
		if err := netns.Set(h); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			// Stay locked: the thread exits with this goroutine rather than
			// serving other goroutines from the wrong namespace.
			errc <- fmt.Errorf("leave netns %s: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// DialContext connects from inside the named namespace. The socket belongs
// to the namespace it was created in, so the connection may be used from
// any goroutine afterwards.
func DialContext(ctx context.Context, name, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := Do(name, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen opens a listener inside the named namespace.
func Listen(name, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := Do(name, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	return ln, err
}
