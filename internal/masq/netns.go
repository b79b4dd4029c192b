// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// inNetNS runs f with its OS thread in the network namespace fd, or directly
// when fd is 0 (the caller's namespace, as for nftables.Conn). Only f's own
// thread is in the namespace: it must not rely on goroutines it starts, but
// processes it execs inherit the namespace. If switching back fails the
// thread stays locked, so the runtime discards it instead of reusing it in
// the wrong namespace.
func inNetNS(fd int, f func() error) error {
	if fd == 0 {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns fd %d: %w", fd, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("return from netns fd %d: %w", fd, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// sysctlFiles are the forwarding switches per family.
const (
	ipv4ForwardFile = "/proc/sys/net/ipv4/ip_forward"
	ipv6ForwardFile = "/proc/sys/net/ipv6/conf/all/forwarding"
)

// EnsureIPForwarding sets net.ipv4.ip_forward=1 (with an IPv4 pod network)
// and net.ipv6.conf.all.forwarding=1 (with an IPv6 one) in the Manager's
// namespace, and says which of them it found off and turned on (their names,
// e.g. "net.ipv4.ip_forward"), so a caller checking periodically can report
// drift. The node forwards pod traffic only with these set; flanneld leaves
// them to the distribution, weftd sets and keeps them. A value already 1 is
// not rewritten. Safe for concurrent use. An error wraps the syscall error
// (EROFS, EACCES) when /proc/sys cannot be written.
func (m *Manager) EnsureIPForwarding() (restored []string, err error) {
	var files []string
	if _, ok := prefixOf(m.cfg.PodNetworks, true); ok {
		files = append(files, ipv4ForwardFile)
	}
	if _, ok := prefixOf(m.cfg.PodNetworks, false); ok {
		files = append(files, ipv6ForwardFile)
	}
	// /proc/sys/net belongs to the namespace of the thread that opens it.
	err = inNetNS(m.netnsFd, func() error {
		for _, f := range files {
			changed, err := setSysctl(f, "1")
			if err != nil {
				return err
			}
			if changed {
				restored = append(restored, sysctlName(f))
			}
		}
		return nil
	})
	return restored, err
}

func sysctlName(file string) string {
	return strings.ReplaceAll(strings.TrimPrefix(file, "/proc/sys/"), "/", ".")
}

func setSysctl(file, value string) (changed bool, err error) {
	cur, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", file, err)
	}
	if string(cur) == value+"\n" {
		return false, nil
	}
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", file, err)
	}
	return true, nil
}
