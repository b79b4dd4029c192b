// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weft-net/weft/internal/netns"
)

// Close removes everything the containerd made, also after a failure
// half-way: its pods (through CRI while it runs, so CNI DEL releases their
// addresses), the containerd process, the shims it started, processes
// left in its pods' cgroups and the cgroups themselves, mounts under its
// root and state, the pods' network namespaces, and Dir. It only touches
// what this containerd owns: shims are matched by its socket path, pod
// processes by its own cgroup parent. Safe to call more than once.
func (cd *Containerd) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	cd.mu.Lock()
	running := cd.cmd != nil
	cd.mu.Unlock()
	if running {
		ids, err := cd.PodIDs(ctx)
		if err != nil {
			errs = append(errs, err)
		}
		for _, id := range ids {
			p := &CRIPod{ID: id, cd: cd, Pod: &Pod{Node: cd.Node, Name: id}}
			_ = p.inspect(ctx) // only to learn its namespace
			if err := p.Remove(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := cd.Stop(30 * time.Second); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, cd.killShims(), cd.removeShimSockets(), cd.removeCgroups(), unmountUnder(cd.Dir))
	cd.mu.Lock()
	var nss []string
	for ns := range cd.netnss {
		nss = append(nss, ns)
	}
	cd.mu.Unlock()
	for _, ns := range nss {
		errs = append(errs, netns.Delete(ns))
	}
	if err := os.RemoveAll(cd.Dir); err != nil {
		errs = append(errs, fmt.Errorf("containerd %s: %w", cd.Node.Name, err))
	}
	return errors.Join(errs...)
}

// killShims kills the containerd-shim-runc-v2 processes serving this
// containerd: their command line names its socket.
func (cd *Containerd) killShims() error {
	pids, err := findProcs(func(cmdline []string) bool {
		if len(cmdline) == 0 || filepath.Base(cmdline[0]) != "containerd-shim-runc-v2" {
			return false
		}
		for i := 0; i+1 < len(cmdline); i++ {
			if cmdline[i] == "-address" && cmdline[i+1] == cd.Socket {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	return killAndWait(pids)
}

// removeShimSockets removes the sockets of this containerd's shims. A
// shim removes its own when it exits cleanly, but not when killed. The
// socket lives in containerd's fixed /run/containerd/s; containerd records
// its address in the shim's bundle, under our state dir (bootstrap.json).
func (cd *Containerd) removeShimSockets() error {
	files, err := filepath.Glob(filepath.Join(cd.Dir, "state", "io.containerd.runtime.v2.task", "*", "*", "bootstrap.json"))
	if err != nil {
		return fmt.Errorf("containerd %s: shim addresses: %w", cd.Node.Name, err)
	}
	var errs []error
	for _, f := range files {
		var boot struct {
			Address string `json:"address"`
		}
		b, err := os.ReadFile(f)
		if err != nil || json.Unmarshal(b, &boot) != nil {
			continue
		}
		sock, ok := strings.CutPrefix(boot.Address, "unix://")
		if !ok {
			continue
		}
		cd.mu.Lock()
		cd.shimSockets = append(cd.shimSockets, sock)
		cd.mu.Unlock()
		if err := os.Remove(sock); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("containerd %s: remove shim socket: %w", cd.Node.Name, err))
		}
	}
	return errors.Join(errs...)
}

// findProcs returns the PIDs whose command line match accepts.
func findProcs(match func(cmdline []string) bool) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue // exited meanwhile, or a kernel thread
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func killAndWait(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d still alive 10s after SIGKILL", pid)
			}
			// A shim or pause process is not our child: init reaps it.
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// cgroupRoot is where the cgroup hierarchies are mounted (v1: one per
// controller; v2: the single unified one).
const cgroupRoot = "/sys/fs/cgroup"

// CgroupDirs returns this containerd's pod cgroup parent in every
// hierarchy where it exists.
func (cd *Containerd) CgroupDirs() []string {
	var dirs []string
	if fi, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.procs")); err == nil && !fi.IsDir() {
		dirs = append(dirs, filepath.Join(cgroupRoot, cd.cgroupParent)) // v2
	}
	entries, _ := os.ReadDir(cgroupRoot)
	for _, e := range entries {
		if e.IsDir() { // skips the cpu,cpuacct style symlinks: same hierarchy
			dirs = append(dirs, filepath.Join(cgroupRoot, e.Name(), cd.cgroupParent))
		}
	}
	var existing []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			existing = append(existing, d)
		}
	}
	return existing
}

// removeCgroups kills what is left in this containerd's cgroups (pause
// processes whose shim was killed) and removes them, deepest first.
func (cd *Containerd) removeCgroups() error {
	var errs []error
	for _, root := range cd.CgroupDirs() {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := killCgroupProcs(d); err != nil {
				errs = append(errs, err)
			}
			if err := rmdirRetry(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func killCgroupProcs(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil // gone, or not a leaf we can read: rmdir says more
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return killAndWait(pids)
}

// rmdirRetry removes a cgroup directory; the kernel answers EBUSY for a
// moment after its last process died.
func rmdirRetry(dir string) error {
	var err error
	for range 50 {
		err = syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

// unmountUnder detaches every mount below dir (snapshots, sandbox
// /dev/shm), deepest first.
func unmountUnder(dir string) error {
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, mp := range mps {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	sort.Slice(mps, func(i, j int) bool { return len(mps[i]) > len(mps[j]) })
	return mps, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Leftovers reports what of this containerd survives after Close: running
// shims, mounts under Dir, its cgroups, pod network namespaces. Tests
// assert it is empty.
func (cd *Containerd) Leftovers() []string {
	var left []string
	if pids, _ := findProcs(func(c []string) bool { return strings.Contains(strings.Join(c, " "), cd.Socket) }); len(pids) > 0 {
		left = append(left, fmt.Sprintf("processes naming %s: %v", cd.Socket, pids))
	}
	if mps, _ := mountsUnder(cd.Dir); len(mps) > 0 {
		left = append(left, fmt.Sprintf("mounts: %v", mps))
	}
	if dirs := cd.CgroupDirs(); len(dirs) > 0 {
		left = append(left, fmt.Sprintf("cgroups: %v", dirs))
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	for ns := range cd.netnss {
		if _, err := os.Stat(netns.Path(ns)); err == nil {
			left = append(left, "netns "+ns)
		}
	}
	for _, sock := range cd.shimSockets {
		if _, err := os.Stat(sock); err == nil {
			left = append(left, "shim socket "+sock)
		}
	}
	if _, err := os.Stat(cd.Dir); err == nil {
		left = append(left, "dir "+cd.Dir)
	}
	return left
}
