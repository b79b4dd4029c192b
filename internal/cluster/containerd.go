// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weft-net/weft/internal/netns"
)

// ContainerdOptions shape one node's containerd. Zero values get the
// defaults noted.
type ContainerdOptions struct {
	// CRIBinDir holds containerd, containerd-shim-runc-v2, ctr, crictl
	// and pause (`make cri` builds them into bin/cri). Required.
	CRIBinDir string
	// CNIPath holds the reference plugins containerd's CNI runs (default:
	// the cluster's CNIPath); weft's plugin comes from the cluster's BinDir.
	CNIPath string
	// CNIVersion overrides the conflist's cniVersion; WeftOnly drops every
	// plugin after weft (portmap).
	CNIVersion string
	WeftOnly   bool
}

// Containerd is a containerd with the CRI plugin serving one node: started
// in the node's network namespace, with its own root, state, socket, CNI
// directories and pod cgroup parent, all under Dir. Close removes all of
// it. Its methods are safe for concurrent use.
type Containerd struct {
	Node   *Node
	Dir    string
	Socket string
	opts   ContainerdOptions
	// cgroupParent is the cgroup every pod of this containerd is made in.
	cgroupParent string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	netnss map[string]bool // every pod namespace name seen: removed at Close, checked by Leftovers
	// shimSockets are the shims' sockets Close found: they live outside
	// Dir, in containerd's fixed /run/containerd/s.
	shimSockets []string
}

// containerdStartTimeout bounds the wait for the CRI socket to answer.
const containerdStartTimeout = 90 * time.Second

// StartContainerd installs the node's conflist and the pause image and
// starts containerd in the node's namespace. The caller must Close it
// before the cluster.
func (n *Node) StartContainerd(ctx context.Context, opts ContainerdOptions) (cd *Containerd, err error) {
	if opts.CRIBinDir == "" {
		return nil, errors.New("containerd: CRIBinDir is required")
	}
	if opts.CNIPath == "" {
		opts.CNIPath = n.c.opts.CNIPath
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "crictl", "pause"} {
		if _, err := os.Stat(filepath.Join(opts.CRIBinDir, b)); err != nil {
			return nil, fmt.Errorf("containerd: %w (make cri builds it)", err)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, fmt.Errorf("containerd: runc not on PATH (make deps installs it): %w", err)
	}
	dir := filepath.Join(n.Dir, "containerd")
	cd = &Containerd{
		Node: n, Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), opts: opts,
		cgroupParent: "/weft-" + n.c.id + "-" + n.Name,
		netnss:       map[string]bool{},
	}
	defer func() {
		if err != nil {
			_ = cd.Close()
		}
	}()
	if err := cd.writeFiles(); err != nil {
		return nil, err
	}
	if err := cd.Start(ctx); err != nil {
		return nil, err
	}
	img := filepath.Join(dir, "pause.tar")
	if err := writePauseImage(filepath.Join(opts.CRIBinDir, "pause"), img); err != nil {
		return nil, err
	}
	if _, err := cd.ctr(ctx, "images", "import", img); err != nil {
		return nil, err
	}
	return cd, nil
}

// writeFiles writes containerd's config, crictl's config and the conflist.
func (cd *Containerd) writeFiles() error {
	for _, d := range []string{"root", "state", "tmp", "opt", "net.d", "logs"} {
		if err := os.MkdirAll(filepath.Join(cd.Dir, d), 0o755); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	list, err := cd.Node.confList()
	if err != nil {
		return err
	}
	conf, err := cd.editConfList(list.Bytes)
	if err != nil {
		return err
	}
	files := map[string]string{
		"config.toml": cd.config(),
		"crictl.yaml": "runtime-endpoint: unix://" + cd.Socket + "\nimage-endpoint: unix://" + cd.Socket + "\ntimeout: 60\n",
		filepath.Join("net.d", "10-weft.conflist"): string(conf),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(cd.Dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("containerd: %w", err)
		}
	}
	return nil
}

func (cd *Containerd) editConfList(b []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("containerd: conflist: %w", err)
	}
	if cd.opts.CNIVersion != "" {
		doc["cniVersion"], _ = json.Marshal(cd.opts.CNIVersion)
	}
	if cd.opts.WeftOnly {
		var plugins []json.RawMessage
		if err := json.Unmarshal(doc["plugins"], &plugins); err != nil || len(plugins) == 0 {
			return nil, fmt.Errorf("containerd: conflist plugins: %w", err)
		}
		doc["plugins"], _ = json.Marshal(plugins[:1])
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("containerd: conflist: %w", err)
	}
	return out, nil
}

// config is containerd's config (version 3). Every path is under Dir, and
// no host config is imported: several containerds share one machine.
// NRI is disabled, since its socket has one fixed path per machine.
func (cd *Containerd) config() string {
	q := func(s string) string { return "'" + s + "'" }
	return strings.Join([]string{
		"version = 3",
		"root = " + q(filepath.Join(cd.Dir, "root")),
		"state = " + q(filepath.Join(cd.Dir, "state")),
		"temp = " + q(filepath.Join(cd.Dir, "tmp")),
		"imports = []",
		"disabled_plugins = ['io.containerd.nri.v1.nri']",
		"[grpc]",
		"  address = " + q(cd.Socket),
		"[ttrpc]",
		"  address = " + q(cd.Socket+".ttrpc"),
		"[plugins.'io.containerd.internal.v1.opt']",
		"  path = " + q(filepath.Join(cd.Dir, "opt")),
		"[plugins.'io.containerd.cri.v1.images'.pinned_images]",
		"  sandbox = " + q(PauseImage),
		"[plugins.'io.containerd.cri.v1.runtime']",
		// Without it runc fails "failed to update /proc/self/oom_score_adj:
		// Permission denied" when the test runs in a container.
		"  restrict_oom_score_adj = true",
		"[plugins.'io.containerd.cri.v1.runtime'.cni]",
		"  bin_dirs = [" + q(cd.Node.c.opts.BinDir) + ", " + q(cd.opts.CNIPath) + "]",
		"  conf_dir = " + q(filepath.Join(cd.Dir, "net.d")),
		"  max_conf_num = 1",
		// runc keeps container state under /run/containerd/runc by
		// default, shared by every containerd on the machine.
		"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]",
		"  Root = " + q(filepath.Join(cd.Dir, "runc")),
		"",
	}, "\n")
}

// Start runs containerd in the node's network namespace and waits until
// its CRI answers. It uses nsenter, not `ip netns exec`: the latter also
// remounts /sys in a private mount namespace, which hides the cgroup
// mounts, and runc then fails with "no cgroup mount found in mountinfo".
func (cd *Containerd) Start(ctx context.Context) error {
	cd.mu.Lock()
	if cd.cmd != nil {
		cd.mu.Unlock()
		return fmt.Errorf("containerd %s: already running", cd.Node.Name)
	}
	logf, err := os.OpenFile(cd.LogFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		cd.mu.Unlock()
		return fmt.Errorf("containerd %s: %w", cd.Node.Name, err)
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--net="+netns.Path(cd.Node.NS), "--",
		filepath.Join(cd.opts.CRIBinDir, "containerd"), "--config", filepath.Join(cd.Dir, "config.toml"))
	// containerd finds its shim on PATH.
	cmd.Env = append(os.Environ(), "PATH="+cd.opts.CRIBinDir+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		cd.mu.Unlock()
		return fmt.Errorf("containerd %s: start: %w", cd.Node.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	cd.cmd, cd.done = cmd, done
	cd.mu.Unlock()
	return cd.waitServing(ctx, done)
}

func (cd *Containerd) waitServing(ctx context.Context, done <-chan struct{}) error {
	deadline := time.Now().Add(containerdStartTimeout)
	for {
		_, err := cd.Crictl(ctx, "version")
		if err == nil {
			return cd.CheckNetNS()
		}
		select {
		case <-done:
			return fmt.Errorf("containerd %s exited (log %s)", cd.Node.Name, cd.LogFile())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("containerd %s: CRI not serving after %s: %w (log %s)", cd.Node.Name, containerdStartTimeout, err, cd.LogFile())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CheckNetNS fails unless containerd runs in the node's network
// namespace: it shares the root mount namespace, so a mistake would put
// pods' networking in the wrong place without any other sign.
func (cd *Containerd) CheckNetNS() error {
	cd.mu.Lock()
	cmd := cd.cmd
	cd.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("containerd %s: not running", cd.Node.Name)
	}
	var got, want syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid), &got); err != nil {
		return fmt.Errorf("containerd %s: netns: %w", cd.Node.Name, err)
	}
	if err := syscall.Stat(netns.Path(cd.Node.NS), &want); err != nil {
		return fmt.Errorf("containerd %s: netns: %w", cd.Node.Name, err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev {
		return fmt.Errorf("containerd %s (pid %d) runs in netns inode %d, node namespace %s is %d",
			cd.Node.Name, cmd.Process.Pid, got.Ino, cd.Node.NS, want.Ino)
	}
	return nil
}

// Stop sends SIGTERM to containerd and waits for it to exit (SIGKILL
// after timeout). Pods keep running: their shims are separate processes.
func (cd *Containerd) Stop(timeout time.Duration) error {
	cd.mu.Lock()
	cmd, done := cd.cmd, cd.done
	cd.cmd, cd.done = nil, nil
	cd.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("containerd %s: did not exit within %s of SIGTERM; killed", cd.Node.Name, timeout)
	}
}

// LogFile is containerd's log.
func (cd *Containerd) LogFile() string { return filepath.Join(cd.Dir, "containerd.log") }

// Crictl runs crictl against this containerd and returns its stdout.
func (cd *Containerd) Crictl(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--config", filepath.Join(cd.Dir, "crictl.yaml")}, args...)
	return runTool(ctx, filepath.Join(cd.opts.CRIBinDir, "crictl"), full...)
}

func (cd *Containerd) ctr(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--address", cd.Socket, "--namespace", "k8s.io"}, args...)
	return runTool(ctx, filepath.Join(cd.opts.CRIBinDir, "ctr"), full...)
}

func runTool(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
