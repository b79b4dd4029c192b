// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ImportImage imports an image archive (docker-archive or OCI layout
// tarball) into the CRI's image store with `ctr images import`, and
// returns the names containerd gave it.
func (cd *Containerd) ImportImage(ctx context.Context, path string) ([]string, error) {
	before, err := cd.imageNames(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := cd.ctr(ctx, "images", "import", path); err != nil {
		return nil, err
	}
	after, err := cd.imageNames(ctx)
	if err != nil {
		return nil, err
	}
	var added []string
	for n := range after {
		if !before[n] {
			added = append(added, n)
		}
	}
	if len(added) == 0 {
		return nil, fmt.Errorf("containerd %s: importing %s added no image", cd.Node.Name, path)
	}
	return added, nil
}

func (cd *Containerd) imageNames(ctx context.Context) (map[string]bool, error) {
	out, err := cd.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, n := range strings.Fields(out) {
		names[n] = true
	}
	return names, nil
}

// HostContainer is a container in a sandbox that shares the node's
// network namespace (hostNetwork, as weft's DaemonSet runs weftd).
type HostContainer struct {
	PodID, ID string
	// LogFile is the container's log in the CRI format, one
	// "<time> <stream> <F|P> <line>" per line.
	LogFile string
	cd      *Containerd
}

// HostContainerSpec is what RunHostContainer runs. Mounts map host paths
// to container paths.
type HostContainerSpec struct {
	Name, Image    string
	Args           []string
	Mounts         map[string]string
	Privileged     bool
	ReadOnlyRootFS bool
	AddCaps        []string
	DropCaps       []string
}

// RunHostContainer makes a host-network sandbox through the CRI (crictl
// runp, create, start), as kubelet does for a hostNetwork pod, and starts
// one container in it. Close removes it with the other pods.
func (cd *Containerd) RunHostContainer(ctx context.Context, s HostContainerSpec) (*HostContainer, error) {
	sec := map[string]any{"namespace_options": map[string]any{"network": 2}} // NODE
	if s.Privileged {
		sec["privileged"] = true
	}
	pod := map[string]any{
		"metadata": map[string]any{
			"name": s.Name, "namespace": "kube-system", "uid": cd.Node.c.id + "-" + cd.Node.Name + "-" + s.Name,
		},
		"log_directory": filepath.Join(cd.Dir, "logs", s.Name),
		"linux":         map[string]any{"cgroup_parent": cd.cgroupParent, "security_context": sec},
	}
	var mounts []map[string]any
	for host, ctr := range s.Mounts {
		mounts = append(mounts, map[string]any{"host_path": host, "container_path": ctr})
	}
	csec := map[string]any{"privileged": s.Privileged, "readonly_rootfs": s.ReadOnlyRootFS,
		"namespace_options": map[string]any{"network": 2}}
	if len(s.AddCaps) > 0 || len(s.DropCaps) > 0 {
		csec["capabilities"] = map[string]any{"add_capabilities": s.AddCaps, "drop_capabilities": s.DropCaps}
	}
	ctr := map[string]any{
		"metadata": map[string]any{"name": s.Name},
		"image":    map[string]any{"image": s.Image},
		"args":     s.Args,
		"mounts":   mounts,
		"log_path": s.Name + ".log",
		"linux":    map[string]any{"security_context": csec},
	}
	podFile := filepath.Join(cd.Dir, "hostpod-"+s.Name+".json")
	ctrFile := filepath.Join(cd.Dir, "hostctr-"+s.Name+".json")
	for f, v := range map[string]any{podFile: pod, ctrFile: ctr} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", s.Name, err)
		}
		if err := os.WriteFile(f, b, 0o644); err != nil {
			return nil, fmt.Errorf("container %s: %w", s.Name, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(cd.Dir, "logs", s.Name), 0o755); err != nil {
		return nil, fmt.Errorf("container %s: %w", s.Name, err)
	}
	out, err := cd.Crictl(ctx, "runp", podFile)
	if err != nil {
		return nil, fmt.Errorf("node %s: sandbox %s: %w", cd.Node.Name, s.Name, err)
	}
	hc := &HostContainer{PodID: strings.TrimSpace(out), cd: cd,
		LogFile: filepath.Join(cd.Dir, "logs", s.Name, s.Name+".log")}
	if out, err = cd.Crictl(ctx, "create", hc.PodID, ctrFile, podFile); err != nil {
		return nil, fmt.Errorf("node %s: container %s: %w", cd.Node.Name, s.Name, err)
	}
	hc.ID = strings.TrimSpace(out)
	if _, err := cd.Crictl(ctx, "start", hc.ID); err != nil {
		return nil, fmt.Errorf("node %s: container %s: %w", cd.Node.Name, s.Name, err)
	}
	return hc, nil
}

// Logs returns the container's output so far, stdout and stderr, without
// the CRI log format's prefixes. It reads the log file: crictl logs would
// split the streams.
func (hc *HostContainer) Logs() (string, error) {
	b, err := os.ReadFile(hc.LogFile)
	if err != nil {
		return "", fmt.Errorf("container log: %w", err)
	}
	var out strings.Builder
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.SplitN(l, " ", 4); len(f) == 4 {
			out.WriteString(f[3])
			if f[2] == "F" {
				out.WriteString("\n")
			}
		}
	}
	return out.String(), nil
}

// State returns the container's state as crictl reports it
// (CONTAINER_RUNNING, CONTAINER_EXITED, ...).
func (hc *HostContainer) State(ctx context.Context) (string, error) {
	out, err := hc.cd.Crictl(ctx, "inspect", "-o", "json", hc.ID)
	if err != nil {
		return "", err
	}
	var in struct {
		Status struct {
			State    string `json:"state"`
			ExitCode int    `json:"exitCode"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		return "", fmt.Errorf("crictl inspect: %w", err)
	}
	return fmt.Sprintf("%s (exit %d)", in.Status.State, in.Status.ExitCode), nil
}
